/**
 * `envoy.config.cluster.v3.Cluster` (control side): the supported subset of a cluster — discovery
 * type, load assignment (localities, priorities, weights, health status), load balancer options,
 * circuit breakers, active health checks, outlier detection, DNS and upstream pool settings — and
 * Envoy's checks (IP endpoints for STATIC, one endpoint for LOGICAL_DNS, no port 0).
 * https://www.envoyproxy.io/docs/envoy/latest/api-v3/config/cluster/v3/cluster.proto
 */
import * as v from "valibot";
import { parseConfigSource } from "./config_source.ts";
import type { ParseContext } from "../registry/registry.ts";
import { addressSchema, DEFAULT_BUFFER_LIMIT_BYTES } from "./address.ts";
import { isIpLiteral } from "./ip.ts";
import type {
  CircuitBreakerModel,
  ClusterModel,
  EndpointModel,
  HealthCheckModel,
  OutlierDetectionModel,
  PemSourceModel,
  UpstreamTlsModel,
} from "./model.ts";
import { any, bool, decodeBase64Utf8, describe, duration, enumOf, isMapping, leaf, message, parseWith, Problem, str, uint32 } from "./schema.ts";

/** `type.v3.Percent` ({value: 0..100}) as a number. */
const percent = v.pipe(
  message({ value: leaf((x) => (typeof x === "number" && x >= 0 && x <= 100 ? x : new Problem(`expected a number between 0 and 100, got ${JSON.stringify(x)}`))) }),
  v.transform((p) => p.value),
);

const endpointSchema = message(
  {
    address: addressSchema,
    health_check_config: v.optional(message({ port_value: v.optional(uint32({ max: 65535 }), 0) }, { unsupported: ["hostname", "address", "disable_active_health_check"] })),
    hostname: v.optional(str(), ""),
  },
  { unsupported: ["additional_addresses"] },
);

const HEALTH = ["UNKNOWN", "HEALTHY", "UNHEALTHY", "DRAINING", "TIMEOUT", "DEGRADED"] as const;

const lbEndpointSchema = message(
  {
    endpoint: v.optional(endpointSchema),
    load_balancing_weight: v.optional(uint32({ min: 1, wrapper: true }), 1),
    health_status: v.optional(enumOf(HEALTH), "UNKNOWN"),
  },
  {
    unsupported: ["endpoint_name", "metadata"],
    oneofs: [{ members: ["endpoint", "endpoint_name"], supported: ["endpoint"], required: true }],
  },
);

const localitySchema = message({
  region: v.optional(str(), ""),
  zone: v.optional(str(), ""),
  sub_zone: v.optional(str(), ""),
});

const localityLbEndpointsSchema = message(
  {
    locality: v.optional(localitySchema),
    lb_endpoints: v.optional(v.array(lbEndpointSchema), []),
    load_balancing_weight: v.optional(uint32({ min: 1, wrapper: true })),
    priority: v.optional(uint32({ max: 127 }), 0),
  },
  { unsupported: ["metadata", "load_balancer_endpoints", "leds_cluster_locality_config", "proximity"] },
);

const loadAssignmentSchema = message(
  {
    cluster_name: str({ nonEmpty: true }),
    endpoints: v.optional(v.array(localityLbEndpointsSchema), []),
    policy: v.optional(message(
      { overprovisioning_factor: v.optional(uint32({ min: 1, wrapper: true }), 140) },
      { unsupported: ["drop_overloads", "endpoint_stale_after", "weighted_priority_health"] },
    )),
  },
  { unsupported: ["named_endpoints"] },
);

const thresholdsSchema = message(
  {
    priority: v.optional(enumOf(["DEFAULT", "HIGH"]), "DEFAULT"),
    max_connections: v.optional(uint32({ wrapper: true }), 1024),
    max_pending_requests: v.optional(uint32({ wrapper: true }), 1024),
    max_requests: v.optional(uint32({ wrapper: true }), 1024),
    max_retries: v.optional(uint32({ wrapper: true }), 3),
  },
  { unsupported: ["retry_budget", "track_remaining", "max_connection_pools"] },
);

const headerValueOptionSchema = message(
  {
    header: message({ key: str({ nonEmpty: true }), value: v.optional(str(), "") }, { unsupported: ["raw_value"] }),
    append: v.optional(bool({ wrapper: true })),
    append_action: v.optional(enumOf(["APPEND_IF_EXISTS_OR_ADD", "OVERWRITE_IF_EXISTS_OR_ADD"], ["ADD_IF_ABSENT", "OVERWRITE_IF_EXISTS"])),
  },
  { unsupported: ["keep_empty_value"] },
);

const int64Range = message({
  start: leaf((x) => (typeof x === "number" || (typeof x === "string" && /^\d+$/.test(x)) ? Number(x) : new Problem(`expected an integer, got ${JSON.stringify(x)}`))),
  end: leaf((x) => (typeof x === "number" || (typeof x === "string" && /^\d+$/.test(x)) ? Number(x) : new Problem(`expected an integer, got ${JSON.stringify(x)}`))),
});

const payloadSchema = message({ text: v.optional(str()) }, { unsupported: ["binary"], oneofs: [{ members: ["text", "binary"], supported: ["text"], required: true }] });

const httpHealthCheckSchema = message(
  {
    host: v.optional(str(), ""),
    path: str({ nonEmpty: true }),
    request_headers_to_add: v.optional(v.array(headerValueOptionSchema), []),
    request_headers_to_remove: v.optional(v.array(str()), []),
    expected_statuses: v.optional(v.array(int64Range)),
    codec_client_type: v.optional(enumOf(["HTTP1"], ["HTTP2", "HTTP3"]), "HTTP1"),
  },
  { unsupported: ["send", "receive", "response_buffer_size", "retriable_statuses", "service_name_matcher", "method"] },
);

const tcpHealthCheckSchema = message(
  { send: v.optional(payloadSchema), receive: v.optional(v.array(payloadSchema), []) },
  { unsupported: ["proxy_protocol_config"] },
);

const healthCheckSchema = message(
  {
    timeout: duration({ positive: true }),
    interval: duration({ positive: true }),
    initial_jitter: v.optional(duration(), "0s"),
    interval_jitter: v.optional(duration(), "0s"),
    interval_jitter_percent: v.optional(uint32(), 0),
    unhealthy_threshold: uint32({ wrapper: true }),
    healthy_threshold: uint32({ wrapper: true }),
    no_traffic_interval: v.optional(duration({ positive: true })),
    unhealthy_interval: v.optional(duration({ positive: true })),
    unhealthy_edge_interval: v.optional(duration({ positive: true })),
    healthy_edge_interval: v.optional(duration({ positive: true })),
    http_health_check: v.optional(httpHealthCheckSchema),
    tcp_health_check: v.optional(tcpHealthCheckSchema),
  },
  {
    unsupported: [
      "alt_port", "reuse_connection", "no_traffic_healthy_interval", "event_log_path", "event_logger",
      "event_service", "always_log_health_check_failures", "always_log_health_check_success", "tls_options",
      "transport_socket_match_criteria", "grpc_health_check", "custom_health_check", "initial_jitter_percent",
    ],
    oneofs: [{
      members: ["http_health_check", "tcp_health_check", "grpc_health_check", "custom_health_check"],
      supported: ["http_health_check", "tcp_health_check"],
      required: true,
    }],
  },
);

const outlierSchema = message(
  {
    consecutive_5xx: v.optional(uint32({ wrapper: true }), 5),
    interval: v.optional(duration({ positive: true }), "10s"),
    base_ejection_time: v.optional(duration({ positive: true }), "30s"),
    max_ejection_time: v.optional(duration({ positive: true }), "300s"),
    max_ejection_percent: v.optional(uint32({ max: 100, wrapper: true }), 10),
    enforcing_consecutive_5xx: v.optional(uint32({ max: 100, wrapper: true }), 100),
    consecutive_gateway_failure: v.optional(uint32({ wrapper: true }), 5),
    enforcing_consecutive_gateway_failure: v.optional(uint32({ max: 100, wrapper: true }), 0),
    split_external_local_origin_errors: v.optional(bool(), false),
    consecutive_local_origin_failure: v.optional(uint32({ wrapper: true }), 5),
    enforcing_consecutive_local_origin_failure: v.optional(uint32({ max: 100, wrapper: true }), 100),
    // Success-rate and failure-percentage ejection are not implemented; their enforcing knobs are
    // accepted only as 0 (off) so a config that disables them explicitly still loads.
    enforcing_success_rate: v.optional(uint32({ max: 0, wrapper: true })),
    enforcing_local_origin_success_rate: v.optional(uint32({ max: 0, wrapper: true })),
    enforcing_failure_percentage: v.optional(uint32({ max: 0, wrapper: true })),
    enforcing_failure_percentage_local_origin: v.optional(uint32({ max: 0, wrapper: true })),
  },
  {
    unsupported: [
      "success_rate_minimum_hosts", "success_rate_request_volume", "success_rate_stdev_factor",
      "failure_percentage_threshold", "failure_percentage_minimum_hosts", "failure_percentage_request_volume",
      "max_ejection_time_jitter", "successful_active_health_check_uneject_host", "monitors", "always_eject_one_host",
    ],
  },
);

const httpProtocolOptionsSchema = message(
  {
    idle_timeout: v.optional(duration()),
    max_requests_per_connection: v.optional(uint32({ wrapper: true })),
  },
  { unsupported: ["max_connection_duration", "max_headers_count", "max_response_headers_kb", "max_stream_duration", "headers_with_underscores_action"] },
);

// ---- transport_socket: envoy.transport_sockets.tls (UpstreamTlsContext) ----
// https://www.envoyproxy.io/docs/envoy/latest/api-v3/extensions/transport_sockets/tls/v3/tls.proto

/** The UpstreamTlsContext type URL. */
export const UPSTREAM_TLS_CONTEXT_TYPE = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext";
export const RAW_BUFFER_TYPE = "type.googleapis.com/envoy.extensions.transport_sockets.raw_buffer.v3.RawBuffer";

/** A DataSource holding PEM: a file name (read by the control side when the config is applied)
 *  or inline text (`inline_string`, or `inline_bytes` in base64). */
export const pemSourceSchema = v.pipe(
  message(
    { filename: v.optional(str({ nonEmpty: true })), inline_string: v.optional(str({ nonEmpty: true })), inline_bytes: v.optional(str({ nonEmpty: true })) },
    {
      unsupported: ["environment_variable", "watched_directory"],
      oneofs: [{ members: ["filename", "inline_bytes", "inline_string", "environment_variable"], supported: ["filename", "inline_string", "inline_bytes"], required: true }],
    },
  ),
  v.rawTransform(({ dataset, addIssue, NEVER }): PemSourceModel => {
    const d = dataset.value;
    if (d.filename !== undefined) return { filename: d.filename };
    if (d.inline_string !== undefined) return { inline: d.inline_string };
    const text = decodeBase64Utf8(d.inline_bytes ?? "");
    if (text instanceof Problem) {
      addIssue({ message: text.message, path: [{ type: "object", origin: "value", input: d, key: "inline_bytes", value: d.inline_bytes }] });
      return NEVER;
    }
    return { inline: text };
  }),
);

export const tlsCertificateSchema = message(
  { certificate_chain: pemSourceSchema, private_key: pemSourceSchema },
  { unsupported: ["pkcs12", "watched_directory", "private_key_provider", "password", "ocsp_staple", "signed_certificate_timestamp"] },
);

export const validationContextSchema = message(
  { trusted_ca: v.optional(pemSourceSchema) },
  {
    unsupported: [
      "ca_certificate_provider_instance", "system_root_certs", "watched_directory", "verify_certificate_spki",
      "verify_certificate_hash", "match_typed_subject_alt_names", "match_subject_alt_names",
      "require_signed_certificate_timestamp", "crl", "allow_expired_certificate", "trust_chain_verification",
      "custom_validator_config", "only_verify_leaf_cert_crl", "max_verify_depth",
    ],
  },
);

export const TLS_VERSIONS = ["TLS_AUTO", "TLSV1_0", "TLSV1_1", "TLSV1_2", "TLSV1_3"] as const;
export const NODE_TLS_VERSION = { TLS_AUTO: undefined, TLSV1_0: "TLSv1", TLSV1_1: "TLSv1.1", TLSV1_2: "TLSv1.2", TLSV1_3: "TLSv1.3" } as const;

const tlsParamsSchema = message(
  {
    tls_minimum_protocol_version: v.optional(enumOf(TLS_VERSIONS), "TLS_AUTO"),
    tls_maximum_protocol_version: v.optional(enumOf(TLS_VERSIONS), "TLS_AUTO"),
    // TLS 1.2 and below, as in Envoy; names are checked by the runtime (loadClusterTlsFiles).
    cipher_suites: v.optional(v.array(str({ nonEmpty: true })), []),
    ecdh_curves: v.optional(v.array(str({ nonEmpty: true })), []),
  },
  { unsupported: ["signature_algorithms", "compliance_policies"] },
);

const commonTlsContextSchema = message(
  {
    tls_params: v.optional(tlsParamsSchema),
    tls_certificates: v.optional(v.array(tlsCertificateSchema), []),
    validation_context: v.optional(validationContextSchema),
    alpn_protocols: v.optional(v.array(str()), []),
  },
  {
    unsupported: [
      "tls_certificate_sds_secret_configs", "tls_certificate_provider_instance", "tls_certificate_certificate_provider",
      "tls_certificate_certificate_provider_instance", "validation_context_sds_secret_config", "combined_validation_context",
      "validation_context_certificate_provider", "validation_context_certificate_provider_instance", "custom_handshaker",
      "key_log", "custom_tls_certificate_selector",
    ],
  },
);

const upstreamTlsContextSchema = message(
  {
    common_tls_context: v.optional(commonTlsContextSchema),
    sni: v.optional(str(), ""),
  },
  { unsupported: ["auto_host_sni", "auto_sni_san_validation", "allow_renegotiation", "max_session_keys", "enforce_rsa_key_usage"] },
);

export const transportSocketSchema = message({ name: v.optional(str(), ""), typed_config: v.optional(any) }, { unsupported: ["config"] });

/** Control side: parses `transport_socket` (at `at`); null = plain TCP (raw_buffer); undefined
 *  = problems reported. */
/**
 * Control side: the shared first half of parsing a `transport_socket` (cluster or filter chain):
 * `null` for raw_buffer (plain TCP), the TLS context's fields (without `@type`) when it is
 * `tlsType`, undefined after reporting a problem. `what` names the TLS context in messages.
 */
export function transportSocketTlsFields(
  ctx: ParseContext,
  raw: unknown,
  at: string,
  tlsType: string,
  what: string,
  refuse: (url: string) => string,
): Record<string, unknown> | null | undefined {
  const ts = parseWith(ctx, transportSocketSchema, raw, at);
  if (!ts) return undefined;
  const typed = ts.typed_config;
  const url = isMapping(typed) ? typed["@type"] : undefined;
  if (url === RAW_BUFFER_TYPE || (typed === undefined && ts.name === "envoy.transport_sockets.raw_buffer")) {
    const { "@type": _, ...rest } = (typed ?? {}) as Record<string, unknown>;
    for (const k of Object.keys(rest)) ctx.issue(`${at}.typed_config`, `unknown field ${JSON.stringify(k)}`);
    return Object.keys(rest).length ? undefined : null;
  }
  if (typed === undefined) {
    ctx.issue(`${at}.typed_config`, ts.name === "envoy.transport_sockets.tls"
      ? `is required (${what}: "@type": "${tlsType}")`
      : `is required; supported transport sockets: envoy.transport_sockets.tls, envoy.transport_sockets.raw_buffer`);
    return undefined;
  }
  if (url !== tlsType) {
    ctx.issue(`${at}.typed_config.@type`, typeof url === "string" ? refuse(url) : "is required");
    return undefined;
  }
  const { "@type": _, ...fields } = typed as Record<string, unknown>;
  return fields;
}

function parseTransportSocket(ctx: ParseContext, raw: unknown, at: string): UpstreamTlsModel | null | undefined {
  const fields = transportSocketTlsFields(ctx, raw, at, UPSTREAM_TLS_CONTEXT_TYPE, "an UpstreamTlsContext", (url) =>
    `${JSON.stringify(url)} is not supported yet (supported: ${UPSTREAM_TLS_CONTEXT_TYPE}, ${RAW_BUFFER_TYPE})`);
  if (fields === null || fields === undefined) return fields;
  const t = parseWith(ctx, upstreamTlsContextSchema, fields, `${at}.typed_config`);
  if (!t) return undefined;
  let ok = true;
  const c = t.common_tls_context;
  const base = `${at}.typed_config.common_tls_context`;
  c?.alpn_protocols.forEach((p, i) => {
    if (p !== "http/1.1") {
      // Only the HTTP/1.1 codec exists upstream; offering h2 would let the server pick it.
      ctx.issue(`${base}.alpn_protocols[${i}]`, `${JSON.stringify(p)} is not supported yet (only "http/1.1")`);
      ok = false;
    }
  });
  if ((c?.tls_certificates.length ?? 0) > 1) {
    ctx.issue(`${base}.tls_certificates`, `more than one client certificate is not supported yet (got ${c!.tls_certificates.length})`);
    ok = false;
  }
  const min = NODE_TLS_VERSION[c?.tls_params?.tls_minimum_protocol_version ?? "TLS_AUTO"];
  const max = NODE_TLS_VERSION[c?.tls_params?.tls_maximum_protocol_version ?? "TLS_AUTO"];
  if (min !== undefined && max !== undefined && min > max) {
    ctx.issue(`${base}.tls_params`, `tls_minimum_protocol_version (${min}) is above tls_maximum_protocol_version (${max})`);
    ok = false;
  }
  if (!ok) return undefined;
  const cert = c?.tls_certificates[0];
  return {
    sni: t.sni,
    trustedCa: c?.validation_context?.trusted_ca,
    clientCertificate: cert ? { certificateChain: cert.certificate_chain, privateKey: cert.private_key } : undefined,
    alpn: c?.alpn_protocols ?? [],
    minVersion: min,
    maxVersion: max,
    cipherSuites: c?.tls_params?.cipher_suites ?? [],
    ecdhCurves: c?.tls_params?.ecdh_curves ?? [],
  };
}

const clusterSchema = message(
  {
    name: str({ nonEmpty: true }),
    type: v.optional(enumOf(["STATIC", "STRICT_DNS", "LOGICAL_DNS", "EDS"], ["ORIGINAL_DST"]), "STATIC"),
    eds_cluster_config: v.optional(message({ eds_config: v.optional(any), service_name: v.optional(str(), "") })),
    http2_protocol_options: v.optional(any),
    typed_extension_protocol_options: v.optional(leaf((x) => isMapping(x) ? x : new Problem(`expected a mapping, got ${describe(x)}`))),
    connect_timeout: v.optional(duration({ positive: true }), "5s"),
    lb_policy: v.optional(
      enumOf(["ROUND_ROBIN", "LEAST_REQUEST", "RANDOM", "RING_HASH", "MAGLEV"], ["CLUSTER_PROVIDED", "LOAD_BALANCING_POLICY_CONFIG"]),
      "ROUND_ROBIN",
    ),
    load_assignment: v.optional(loadAssignmentSchema),
    per_connection_buffer_limit_bytes: v.optional(uint32({ wrapper: true }), DEFAULT_BUFFER_LIMIT_BYTES),
    common_lb_config: v.optional(message(
      {
        healthy_panic_threshold: v.optional(percent),
        locality_weighted_lb_config: v.optional(message({})),
      },
      { unsupported: ["zone_aware_lb_config", "update_merge_window", "ignore_new_hosts_until_first_hc", "close_connections_on_host_set_change", "consistent_hashing_lb_config", "override_host_status"] },
    )),
    least_request_lb_config: v.optional(message(
      {
        choice_count: v.optional(uint32({ min: 2, wrapper: true }), 2),
        active_request_bias: v.optional(message({ default_value: leaf((x) => (typeof x === "number" && x >= 0 ? x : new Problem("expected a number >= 0"))), runtime_key: v.optional(str()) })),
      },
      { unsupported: ["slow_start_config", "locality_lb_config", "selection_method"] },
    )),
    ring_hash_lb_config: v.optional(message(
      {
        minimum_ring_size: v.optional(uint32({ min: 1, max: 8388608, wrapper: true }), 1024),
        maximum_ring_size: v.optional(uint32({ min: 1, max: 8388608, wrapper: true }), 8388608),
        hash_function: v.optional(enumOf(["XX_HASH"], ["MURMUR_HASH_2"]), "XX_HASH"),
      },
    )),
    maglev_lb_config: v.optional(message({ table_size: v.optional(uint32({ min: 1, max: 5000011, wrapper: true }), 65537) })),
    circuit_breakers: v.optional(message({ thresholds: v.optional(v.array(thresholdsSchema), []) }, { unsupported: ["per_host_thresholds"] })),
    health_checks: v.optional(v.array(healthCheckSchema), []),
    outlier_detection: v.optional(outlierSchema),
    dns_refresh_rate: v.optional(duration({ positive: true }), "5s"),
    dns_failure_refresh_rate: v.optional(message({ base_interval: duration({ positive: true }), max_interval: v.optional(duration({ positive: true })) })),
    respect_dns_ttl: v.optional(bool(), false),
    dns_lookup_family: v.optional(enumOf(["AUTO", "V4_ONLY", "V6_ONLY", "V4_PREFERRED", "ALL"]), "AUTO"),
    max_requests_per_connection: v.optional(uint32({ wrapper: true })),
    common_http_protocol_options: v.optional(httpProtocolOptionsSchema),
    // Parsed by parseTransportSocket (its own error paths).
    transport_socket: v.optional(any),
  },
  {
    unsupported: [
      "transport_socket_matches",
      "alt_stat_name",
      "cluster_type",
      "upstream_http_protocol_options",
      "http_protocol_options",
      "dns_jitter",
      "dns_resolvers",
      "use_tcp_for_dns_lookups",
      "dns_resolution_config",
      "typed_dns_resolver_config",
      "wait_for_warm_on_init",
      "cleanup_interval",
      "upstream_bind_config",
      "lb_subset_config",
      "original_dst_lb_config",
      "round_robin_lb_config",
      "metadata",
      "protocol_selection",
      "upstream_connection_options",
      "close_connections_on_host_health_failure",
      "ignore_health_on_host_removal",
      "filters",
      "load_balancing_policy",
      "lrs_server",
      "lrs_report_endpoint_metrics",
      "track_timeout_budgets",
      "upstream_config",
      "track_cluster_stats",
      "preconnect_policy",
      "connection_pool_per_downstream_connection",
    ],
  },
);

const DEFAULT_THRESHOLDS: CircuitBreakerModel = Object.freeze({ maxConnections: 1024, maxPendingRequests: 1024, maxRequests: 1024, maxRetries: 3 });

/** Control side: parses one cluster; problems are reported on `ctx`; undefined if any. */
/** Control side: the endpoints of a load assignment (static `load_assignment` or an EDS
 *  ClusterLoadAssignment); `ips` demands IP addresses. Undefined after reporting a problem. */
function loadAssignmentEndpoints(la: v.InferOutput<typeof loadAssignmentSchema> | undefined, ctx: ParseContext, ips: boolean, base = "load_assignment"): EndpointModel[] | undefined {
  let ok = true;
  const pre = base === "" ? "" : `${base}.`;
  const endpoints: EndpointModel[] = [];
  la?.endpoints.forEach((locality, i) => {
    locality.lb_endpoints.forEach((lbe, j) => {
      const at = `${pre}endpoints[${i}].lb_endpoints[${j}].endpoint.address`;
      const ep = lbe.endpoint!;
      const address = ep.address;
      if (ips && !isIpLiteral(address.address)) {
        ctx.issue(
          `${at}.socket_address.address`,
          `malformed IP address: ${JSON.stringify(address.address)}; a STATIC cluster needs IP addresses (use STRICT_DNS or LOGICAL_DNS for host names)`,
        );
        ok = false;
      }
      if (address.port === 0) {
        ctx.issue(`${at}.socket_address.port_value`, "an endpoint needs a port other than 0");
        ok = false;
      }
      endpoints.push({
        address,
        weight: lbe.load_balancing_weight,
        priority: locality.priority,
        locality: { region: locality.locality?.region ?? "", zone: locality.locality?.zone ?? "", subZone: locality.locality?.sub_zone ?? "" },
        localityWeight: locality.load_balancing_weight ?? 0,
        healthStatus: lbe.health_status,
        healthCheckPort: ep.health_check_config?.port_value ?? 0,
        hostname: ep.hostname,
      });
    });
  });
  // Envoy refuses priorities with gaps (P0, P2 without P1).
  const prios = [...new Set(endpoints.map((e) => e.priority))].sort((a, b) => a - b);
  prios.forEach((p, k) => {
    if (p !== k) {
      ctx.issue(`${pre}endpoints`, `priorities must be contiguous from 0: priority ${p} is set but ${k} is not`);
      ok = false;
    }
  });
  return ok ? endpoints : undefined;
}

/** An EDS resource (`envoy.config.endpoint.v3.ClusterLoadAssignment`), parsed. */
export interface ClusterLoadAssignmentModel {
  readonly clusterName: string;
  readonly endpoints: readonly EndpointModel[];
  readonly overprovisioningFactor: number;
}

/** Control side: parses an EDS ClusterLoadAssignment (endpoints must be IP addresses). */
export function parseClusterLoadAssignment(raw: unknown, ctx: ParseContext): ClusterLoadAssignmentModel | undefined {
  const la = parseWith(ctx, loadAssignmentSchema, raw);
  if (!la) return undefined;
  const endpoints = loadAssignmentEndpoints(la, ctx, true, "");
  if (!endpoints) return undefined;
  return { clusterName: la.cluster_name, endpoints, overprovisioningFactor: la.policy?.overprovisioning_factor ?? 140 };
}

export function parseCluster(raw: unknown, ctx: ParseContext): ClusterModel | undefined {
  const c = parseWith(ctx, clusterSchema, raw);
  if (!c) return undefined;
  let ok = true;
  const dns = c.type === "STRICT_DNS" || c.type === "LOGICAL_DNS";
  const endpoints = loadAssignmentEndpoints(c.load_assignment, ctx, !dns) ?? (ok = false, []);
  if (c.type === "LOGICAL_DNS" && endpoints.length !== 1) {
    ctx.issue("load_assignment", `LOGICAL_DNS clusters must have a single locality_lb_endpoint and a single lb_endpoint (got ${endpoints.length} endpoints)`);
    ok = false;
  }
  const byPrio: { default: CircuitBreakerModel; high: CircuitBreakerModel } = { default: DEFAULT_THRESHOLDS, high: DEFAULT_THRESHOLDS };
  const seen = new Set<string>();
  for (const t of c.circuit_breakers?.thresholds ?? []) {
    if (seen.has(t.priority)) continue; // Envoy: the first Thresholds for a priority wins.
    seen.add(t.priority);
    const m = Object.freeze({ maxConnections: t.max_connections, maxPendingRequests: t.max_pending_requests, maxRequests: t.max_requests, maxRetries: t.max_retries });
    if (t.priority === "DEFAULT") byPrio.default = m;
    else byPrio.high = m;
  }
  const healthChecks: HealthCheckModel[] = [];
  (c.health_checks ?? []).forEach((h, i) => {
    const expected: [number, number][] = [];
    for (const [k, r] of (h.http_health_check?.expected_statuses ?? []).entries()) {
      if (!(r.start >= 100 && r.start < r.end && r.end <= 600)) {
        ctx.issue(`health_checks[${i}].http_health_check.expected_statuses[${k}]`, `invalid range [${r.start}, ${r.end}): statuses must be within [100, 600) and start < end`);
        ok = false;
      }
      expected.push([r.start, r.end]);
    }
    if (expected.length === 0) expected.push([200, 201]);
    const hex = (text: string, at: string): Uint8Array => {
      const b = hexBytes(text);
      if (b === null) {
        ctx.issue(at, "must be hex-encoded bytes (an even number of hex digits)");
        ok = false;
        return new Uint8Array(0);
      }
      return b;
    };
    healthChecks.push({
      timeoutMs: h.timeout,
      intervalMs: h.interval,
      initialJitterMs: h.initial_jitter,
      intervalJitterMs: h.interval_jitter,
      intervalJitterPercent: h.interval_jitter_percent,
      unhealthyThreshold: h.unhealthy_threshold,
      healthyThreshold: h.healthy_threshold,
      noTrafficIntervalMs: h.no_traffic_interval ?? 60_000,
      unhealthyIntervalMs: h.unhealthy_interval ?? h.interval,
      unhealthyEdgeIntervalMs: h.unhealthy_edge_interval ?? h.unhealthy_interval ?? h.interval,
      healthyEdgeIntervalMs: h.healthy_edge_interval ?? h.interval,
      http: h.http_health_check
        ? {
          host: h.http_health_check.host,
          path: h.http_health_check.path,
          requestHeadersToAdd: h.http_health_check.request_headers_to_add.map((o) => ({
            key: o.header.key.toLowerCase(),
            value: o.header.value,
            append: o.append_action !== undefined ? o.append_action === "APPEND_IF_EXISTS_OR_ADD" : (o.append ?? true),
          })),
          requestHeadersToRemove: h.http_health_check.request_headers_to_remove.map((x) => x.toLowerCase()),
          expectedStatuses: expected,
        }
        : undefined,
      tcp: h.tcp_health_check
        ? {
          send: hex(h.tcp_health_check.send?.text ?? "", `health_checks[${i}].tcp_health_check.send.text`),
          receive: h.tcp_health_check.receive.map((p, k) => hex(p.text ?? "", `health_checks[${i}].tcp_health_check.receive[${k}].text`)),
        }
        : undefined,
    });
  });
  let outlier: OutlierDetectionModel | undefined;
  if (c.outlier_detection) {
    const o = c.outlier_detection;
    outlier = {
      consecutive5xx: o.consecutive_5xx,
      consecutiveGatewayFailure: o.consecutive_gateway_failure,
      consecutiveLocalOriginFailure: o.consecutive_local_origin_failure,
      intervalMs: o.interval,
      baseEjectionTimeMs: o.base_ejection_time,
      maxEjectionTimeMs: Math.max(o.max_ejection_time, o.base_ejection_time),
      maxEjectionPercent: o.max_ejection_percent,
      enforcingConsecutive5xx: o.enforcing_consecutive_5xx,
      enforcingConsecutiveGatewayFailure: o.enforcing_consecutive_gateway_failure,
      enforcingConsecutiveLocalOriginFailure: o.enforcing_consecutive_local_origin_failure,
      splitExternalLocalOriginErrors: o.split_external_local_origin_errors,
    };
  }
  const ring = c.ring_hash_lb_config;
  if (ring && ring.minimum_ring_size > ring.maximum_ring_size) {
    ctx.issue("ring_hash_lb_config.minimum_ring_size", `minimum_ring_size (${ring.minimum_ring_size}) must not exceed maximum_ring_size (${ring.maximum_ring_size})`);
    ok = false;
  }
  if (ring && c.lb_policy !== "RING_HASH") {
    ctx.issue("ring_hash_lb_config", "is set but lb_policy is not RING_HASH");
    ok = false;
  }
  if (c.maglev_lb_config && c.lb_policy !== "MAGLEV") {
    ctx.issue("maglev_lb_config", "is set but lb_policy is not MAGLEV");
    ok = false;
  }
  if (c.least_request_lb_config && c.lb_policy !== "LEAST_REQUEST") {
    ctx.issue("least_request_lb_config", "is set but lb_policy is not LEAST_REQUEST");
    ok = false;
  }
  if (c.maglev_lb_config && !isPrime(c.maglev_lb_config.table_size)) {
    ctx.issue("maglev_lb_config.table_size", `must be a prime number, got ${c.maglev_lb_config.table_size}`);
    ok = false;
  }
  const tls = c.transport_socket === undefined ? null : parseTransportSocket(ctx, c.transport_socket, "transport_socket");
  if (tls === undefined) ok = false;
  let eds: ClusterModel["eds"];
  if (c.type === "EDS") {
    if (c.load_assignment?.endpoints.length) {
      ctx.issue("load_assignment", "an EDS cluster gets its endpoints from EDS; load_assignment must not list endpoints");
      ok = false;
    }
    const rawEds = isMapping(raw) && isMapping(raw.eds_cluster_config) ? raw.eds_cluster_config.eds_config : undefined;
    if (rawEds === undefined) {
      ctx.issue("eds_cluster_config.eds_config", "is required for an EDS cluster");
      ok = false;
    } else {
      const src = parseConfigSource(rawEds, ctx.child("eds_cluster_config.eds_config"));
      if (!src) ok = false;
      else eds = { serviceName: c.eds_cluster_config?.service_name || c.name, configSource: src };
    }
  } else if (c.eds_cluster_config) {
    ctx.issue("eds_cluster_config", `is only for clusters of type EDS (this one is ${c.type})`);
    ok = false;
  }
  const http2 = upstreamHttp2(c.http2_protocol_options, c.typed_extension_protocol_options, ctx);
  if (http2 === undefined) ok = false;
  if (!ok) return undefined;
  const hpo = c.common_http_protocol_options;
  return {
    name: c.name,
    type: c.type,
    connectTimeoutMs: c.connect_timeout,
    lbPolicy: c.lb_policy,
    endpoints,
    perConnectionBufferLimitBytes: c.per_connection_buffer_limit_bytes,
    overprovisioningFactor: c.load_assignment?.policy?.overprovisioning_factor ?? 140,
    healthyPanicThreshold: c.common_lb_config?.healthy_panic_threshold ?? 50,
    localityWeightedLb: c.common_lb_config?.locality_weighted_lb_config !== undefined,
    leastRequest: {
      choiceCount: c.least_request_lb_config?.choice_count ?? 2,
      activeRequestBias: c.least_request_lb_config?.active_request_bias?.default_value ?? 1,
    },
    ringHash: { minimumRingSize: ring?.minimum_ring_size ?? 1024, maximumRingSize: ring?.maximum_ring_size ?? 8388608 },
    maglev: { tableSize: c.maglev_lb_config?.table_size ?? 65537 },
    circuitBreakers: byPrio,
    healthChecks,
    outlierDetection: outlier,
    dnsRefreshRateMs: c.dns_refresh_rate,
    dnsFailureRefreshRateMs: c.dns_failure_refresh_rate?.base_interval ?? c.dns_refresh_rate,
    respectDnsTtl: c.respect_dns_ttl,
    dnsLookupFamily: c.dns_lookup_family,
    maxRequestsPerConnection: hpo?.max_requests_per_connection ?? c.max_requests_per_connection ?? 0,
    idleTimeoutMs: hpo?.idle_timeout ?? 3_600_000,
    ...(tls ? { tls } : {}),
    ...(eds ? { eds } : {}),
    ...(http2 ? { http2 } : {}),
  };
}

const HTTP_PROTOCOL_OPTIONS_TYPE = "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions";
const HTTP_PROTOCOL_OPTIONS_NAME = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions";

/** Control side: whether the cluster speaks HTTP/2 upstream (legacy http2_protocol_options, or
 *  typed_extension_protocol_options' HttpProtocolOptions.explicit_http_config.http2_protocol_options).
 *  Only the xDS/gRPC client uses HTTP/2 upstream so far; undefined after reporting a problem. */
function upstreamHttp2(legacy: unknown, typed: Record<string, unknown> | undefined, ctx: ParseContext): boolean | undefined {
  if (legacy !== undefined && !isMapping(legacy)) {
    ctx.issue("http2_protocol_options", `expected a mapping, got ${describe(legacy)}`);
    return undefined;
  }
  let http2 = legacy !== undefined;
  for (const [key, value] of Object.entries(typed ?? {})) {
    const at = `typed_extension_protocol_options.${key}`;
    const t = isMapping(value) ? value["@type"] : undefined;
    if (key !== HTTP_PROTOCOL_OPTIONS_NAME || t !== HTTP_PROTOCOL_OPTIONS_TYPE) {
      ctx.issue(at, `only ${HTTP_PROTOCOL_OPTIONS_NAME} (@type ${HTTP_PROTOCOL_OPTIONS_TYPE}) is supported`);
      return undefined;
    }
    const { "@type": _, ...fields } = value as Record<string, unknown>;
    const o = parseWith(ctx, httpProtocolOptionsExtSchema, fields, at);
    if (!o) return undefined;
    if (o.explicit_http_config?.http2_protocol_options !== undefined) http2 = true;
  }
  return http2;
}

const httpProtocolOptionsExtSchema = message(
  {
    explicit_http_config: v.optional(message(
      { http_protocol_options: v.optional(any), http2_protocol_options: v.optional(any) },
      { unsupported: ["http3_protocol_options"], oneofs: [{ members: ["http_protocol_options", "http2_protocol_options", "http3_protocol_options"], supported: ["http_protocol_options", "http2_protocol_options"], required: true }] },
    )),
  },
  { unsupported: ["common_http_protocol_options", "upstream_http_protocol_options", "use_downstream_protocol_config", "auto_config", "http_filters", "header_validation_config", "outlier_detection"] },
);

/** Hex text → bytes, or null when it is not hex. */
function hexBytes(text: string): Uint8Array | null {
  if (!/^([0-9a-fA-F]{2})*$/.test(text)) return null;
  const out = new Uint8Array(text.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(text.slice(i * 2, i * 2 + 2), 16);
  return out;
}

function isPrime(n: number): boolean {
  if (n < 2) return false;
  for (let i = 2; i * i <= n; i++) if (n % i === 0) return false;
  return true;
}


/** Control side: the model fields a cluster gets when its config sets none of the optional
 *  load-balancing, breaker, health, DNS and pool options (for tests and callers building models). */
export function clusterModelDefaults(): Omit<ClusterModel, "name" | "type" | "connectTimeoutMs" | "lbPolicy" | "endpoints" | "perConnectionBufferLimitBytes"> {
  return {
    overprovisioningFactor: 140,
    healthyPanicThreshold: 50,
    localityWeightedLb: false,
    leastRequest: { choiceCount: 2, activeRequestBias: 1 },
    ringHash: { minimumRingSize: 1024, maximumRingSize: 8388608 },
    maglev: { tableSize: 65537 },
    circuitBreakers: { default: DEFAULT_THRESHOLDS, high: DEFAULT_THRESHOLDS },
    healthChecks: [],
    outlierDetection: undefined,
    dnsRefreshRateMs: 5000,
    dnsFailureRefreshRateMs: 5000,
    respectDnsTtl: false,
    dnsLookupFamily: "AUTO",
    maxRequestsPerConnection: 0,
    idleTimeoutMs: 3_600_000,
  };
}

/** Control side: an endpoint model with the defaults of an endpoint that sets only its address. */
export function endpointModel(address: string, port: number, weight = 1): EndpointModel {
  return {
    address: { address, port },
    weight,
    priority: 0,
    locality: { region: "", zone: "", subZone: "" },
    localityWeight: 0,
    healthStatus: "UNKNOWN",
    healthCheckPort: 0,
    hostname: "",
  };
}
