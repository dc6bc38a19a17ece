/**
 * A filter chain's `transport_socket` (control side): envoy.transport_sockets.tls with a
 * DownstreamTlsContext, or raw_buffer. Files stay file names here (the config layer never
 * touches files); src/tls/tls_files.ts reads them, and SDS files, when the server applies
 * the config.
 * https://www.envoyproxy.io/docs/envoy/latest/api-v3/extensions/transport_sockets/tls/v3/tls.proto
 */
import * as v from "valibot";
import type { ParseContext } from "../registry/registry.ts";
import {
  NODE_TLS_VERSION,
  RAW_BUFFER_TYPE,
  TLS_VERSIONS,
  tlsCertificateSchema,
  transportSocketTlsFields,
  validationContextSchema,
} from "./cluster.ts";
import { parseConfigSource } from "./config_source.ts";
import type { DownstreamTlsModel, SdsSecretRefModel } from "./model.ts";
import { any, bool, enumOf, isMapping, message, parseWith, str } from "./schema.ts";

/** The DownstreamTlsContext type URL. */
export const DOWNSTREAM_TLS_CONTEXT_TYPE = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext";

const downstreamTlsParamsSchema = message(
  {
    tls_minimum_protocol_version: v.optional(enumOf(TLS_VERSIONS), "TLS_AUTO"),
    tls_maximum_protocol_version: v.optional(enumOf(TLS_VERSIONS), "TLS_AUTO"),
    // As in Envoy (BoringSSL), cipher_suites govern TLS 1.2 and below only. The names are
    // checked by the runtime when the listener's certificates are loaded (src/tls/tls_files.ts).
    cipher_suites: v.optional(v.array(str({ nonEmpty: true })), []),
    ecdh_curves: v.optional(v.array(str({ nonEmpty: true })), []),
  },
  { unsupported: ["signature_algorithms", "compliance_policies"] },
);

const sdsSecretConfigSchema = message({ name: str({ nonEmpty: true }), sds_config: v.optional(any) });

const downstreamCommonTlsContextSchema = message(
  {
    tls_params: v.optional(downstreamTlsParamsSchema),
    tls_certificates: v.optional(v.array(tlsCertificateSchema), []),
    tls_certificate_sds_secret_configs: v.optional(v.array(sdsSecretConfigSchema), []),
    validation_context: v.optional(validationContextSchema),
    alpn_protocols: v.optional(v.array(str({ nonEmpty: true })), []),
  },
  {
    unsupported: [
      "tls_certificate_provider_instance", "tls_certificate_certificate_provider",
      "tls_certificate_certificate_provider_instance", "validation_context_sds_secret_config", "combined_validation_context",
      "validation_context_certificate_provider", "validation_context_certificate_provider_instance", "custom_handshaker",
      "key_log", "custom_tls_certificate_selector",
    ],
  },
);

const downstreamTlsContextSchema = message(
  {
    common_tls_context: v.optional(downstreamCommonTlsContextSchema),
    require_client_certificate: v.optional(bool({ wrapper: true }), false),
  },
  {
    unsupported: [
      "require_sni", "session_ticket_keys", "session_ticket_keys_sds_secret_config", "disable_stateless_session_resumption",
      "disable_stateful_session_resumption", "session_timeout", "ocsp_staple_policy", "full_scan_certs_on_sni_mismatch",
      "prefer_client_ciphers",
    ],
  },
);

/** Control side: a filter chain's `transport_socket` at `at`; null = raw_buffer (plain TCP);
 *  undefined = problems reported on `ctx`. */
export function parseDownstreamTransportSocket(ctx: ParseContext, raw: unknown, at: string): DownstreamTlsModel | null | undefined {
  const fields = transportSocketTlsFields(ctx, raw, at, DOWNSTREAM_TLS_CONTEXT_TYPE, "a DownstreamTlsContext", (url) =>
    `${JSON.stringify(url)} is not supported on a filter chain (supported: ${DOWNSTREAM_TLS_CONTEXT_TYPE}, ${RAW_BUFFER_TYPE})`);
  if (fields === null || fields === undefined) return fields;
  const t = parseWith(ctx, downstreamTlsContextSchema, fields, `${at}.typed_config`);
  if (!t) return undefined;
  const c = t.common_tls_context;
  const base = `${at}.typed_config.common_tls_context`;
  let ok = true;
  const sdsCertificates: SdsSecretRefModel[] = [];
  c?.tls_certificate_sds_secret_configs.forEach((s, i) => {
    const where = `${base}.tls_certificate_sds_secret_configs[${i}]`;
    if (s.sds_config === undefined) {
      // Envoy would look the name up among static_resources.secrets, which Legate lacks.
      ctx.issue(`${where}.sds_config`, "is required (only SDS from a file, sds_config.path_config_source, is supported)");
      ok = false;
      return;
    }
    const src = parseConfigSource(s.sds_config, ctx.child(`${where}.sds_config`));
    if (!src) {
      ok = false;
      return;
    }
    if (src.kind !== "path") {
      ctx.issue(`${where}.sds_config`, "only path_config_source (SDS from a file) is supported");
      ok = false;
      return;
    }
    sdsCertificates.push({ name: s.name, path: src.path });
  });
  const certificates = (c?.tls_certificates ?? []).map((x) => ({ certificateChain: x.certificate_chain, privateKey: x.private_key }));
  if (certificates.length === 0 && sdsCertificates.length === 0) {
    ctx.issue(base, "a server needs a certificate: tls_certificates or tls_certificate_sds_secret_configs");
    ok = false;
  }
  const trustedCa = c?.validation_context?.trusted_ca;
  if (t.require_client_certificate && trustedCa === undefined) {
    ctx.issue(`${at}.typed_config.require_client_certificate`, "needs common_tls_context.validation_context.trusted_ca to verify client certificates");
    ok = false;
  }
  const min = NODE_TLS_VERSION[c?.tls_params?.tls_minimum_protocol_version ?? "TLS_AUTO"];
  const max = NODE_TLS_VERSION[c?.tls_params?.tls_maximum_protocol_version ?? "TLS_AUTO"];
  for (const [field, val] of [["tls_minimum_protocol_version", min], ["tls_maximum_protocol_version", max]] as const) {
    if (val === "TLSv1" || val === "TLSv1.1") {
      // Bun's BoringSSL build and Deno's both refuse TLS 1.0/1.1 by default; so do we.
      ctx.issue(`${base}.tls_params.${field}`, `${val} is not supported (TLSV1_2 and TLSV1_3 are)`);
      ok = false;
    }
  }
  if (min !== undefined && max !== undefined && min > max) {
    ctx.issue(`${base}.tls_params`, `tls_minimum_protocol_version (${min}) is above tls_maximum_protocol_version (${max})`);
    ok = false;
  }
  if (!ok) return undefined;
  return {
    certificates,
    sdsCertificates,
    trustedCa,
    requireClientCertificate: t.require_client_certificate,
    alpn: c?.alpn_protocols ?? [],
    minVersion: min,
    maxVersion: max,
    cipherSuites: c?.tls_params?.cipher_suites ?? [],
    ecdhCurves: c?.tls_params?.ecdh_curves ?? [],
  };
}
