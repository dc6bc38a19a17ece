/**
 * Config of `envoy.filters.network.http_connection_manager` (control side): validates the
 * HttpConnectionManager typed_config into an HcmModel and registers the extension by `@type`.
 */
import * as v from "valibot";
import { checkFormat, parseAccessLogFilter, parseAccessLogs, substitutionFormatString } from "../../../config/access_log.ts";
import type { HcmModel, LocalReplyMapperModel, LocalReplyModel } from "../../../config/model.ts";
import { parseFilterList } from "../../../config/filter_list.ts";
import { parseRouteConfiguration } from "../../../config/route.ts";
import { parseConfigSource } from "../../../config/config_source.ts";
import { any, bool, duration, enumOf, inlineDataSource, isMapping, leaf, list, message, parseWith, Problem, str, uint32 } from "../../../config/schema.ts";
import { type ConfigExtension, type ParseContext, registerConfigExtension } from "../../../registry/registry.ts";
import { parseIp } from "../../../http/conn_manager/cidr.ts";

/** The HttpConnectionManager `@type` URL. */
export const HCM_TYPE_URL = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager";

/** Our `server` header default (Envoy's is "envoy"). */
export const DEFAULT_SERVER_NAME = "legate";

const commonHttpProtocolOptionsSchema = message(
  {
    idle_timeout: v.optional(duration()),
    max_headers_count: v.optional(uint32({ min: 1, wrapper: true })),
    max_requests_per_connection: v.optional(uint32({ wrapper: true })),
    max_connection_duration: v.optional(duration()),
    max_stream_duration: v.optional(duration()),
    headers_with_underscores_action: v.optional(enumOf(["ALLOW", "REJECT_REQUEST", "DROP_HEADER"] as const), "ALLOW"),
  },
  { unsupported: ["max_response_headers_kb"] },
);

const http1ProtocolOptionsSchema = message(
  {
    accept_http_10: v.optional(bool(), false),
    default_host_for_http_10: v.optional(str(), ""),
    enable_trailers: v.optional(bool(), false),
    // Envoy's default (true) is what we do.
    allow_absolute_url: v.optional(leaf((x) => (x === true || (isMapping(x) && x.value === true) ? true : new Problem("false is not supported yet")))),
  },
  {
    unsupported: [
      "header_key_format", "allow_chunked_length", "override_stream_error_on_invalid_http_message", "send_fully_qualified_url",
      "use_balsa_parser", "allow_custom_methods", "ignore_http_11_upgrade",
    ],
  },
);

const cidrRangeSchema = v.pipe(
  message({ address_prefix: str({ nonEmpty: true }), prefix_len: v.optional(uint32({ max: 128, wrapper: true }), 0) }),
  v.rawCheck(({ dataset, addIssue }) => {
    if (!dataset.typed) return;
    const bytes = parseIp(dataset.value.address_prefix);
    if (bytes === null) addIssue({ message: `address_prefix: not an IP address: ${JSON.stringify(dataset.value.address_prefix)}` });
    else if (dataset.value.prefix_len > bytes.length * 8) addIssue({ message: `prefix_len: must be at most ${bytes.length * 8} for this address, got ${dataset.value.prefix_len}` });
  }),
);

const internalAddressConfigSchema = message(
  { unix_sockets: v.optional(bool(), false), cidr_ranges: v.optional(v.array(cidrRangeSchema), []) },
);

const schemeHeaderTransformationSchema = message(
  // Envoy's validation: the string "http" or "https" (case-sensitive).
  { scheme_to_overwrite: v.optional(leaf((x) => (x === "http" || x === "https" ? x : new Problem(`must be "http" or "https", got ${JSON.stringify(x)}`)))) },
  { unsupported: ["match_upstream"] },
);

const upgradeConfigSchema = v.pipe(
  message({ upgrade_type: str({ nonEmpty: true }), enabled: v.optional(bool({ wrapper: true }), true) }, { unsupported: ["filters"] }),
  v.check((u) => u.upgrade_type.toUpperCase() !== "CONNECT", "upgrade_type CONNECT is not supported yet"),
);

const hcmSchema = message(
  {
    stat_prefix: str({ nonEmpty: true }),
    codec_type: v.optional(enumOf(["AUTO", "HTTP1"], ["HTTP2", "HTTP3"]), "AUTO"),
    route_config: v.optional(any),
    rds: v.optional(message({ config_source: any, route_config_name: str({ nonEmpty: true }) })),
    http_filters: v.optional(list, []),
    use_remote_address: v.optional(bool({ wrapper: true }), false),
    generate_request_id: v.optional(bool({ wrapper: true }), true),
    preserve_external_request_id: v.optional(bool(), false),
    server_name: v.optional(str(), ""),
    stream_idle_timeout: v.optional(duration(), "300s"),
    request_timeout: v.optional(duration(), "0s"),
    request_headers_timeout: v.optional(duration(), "0s"),
    // Envoy's defaults: 5 s (drain grace period) and 1 s (wait for the peer after a local close).
    drain_timeout: v.optional(duration(), "5s"),
    delayed_close_timeout: v.optional(duration(), "1s"),
    common_http_protocol_options: v.optional(commonHttpProtocolOptionsSchema),
    http_protocol_options: v.optional(http1ProtocolOptionsSchema),
    upgrade_configs: v.optional(v.array(upgradeConfigSchema), []),
    internal_address_config: v.optional(internalAddressConfigSchema),
    strip_trailing_host_dot: v.optional(bool(), false),
    append_x_forwarded_port: v.optional(bool(), false),
    scheme_header_transformation: v.optional(schemeHeaderTransformationSchema),
    max_request_headers_kb: v.optional(uint32({ min: 1, max: 8192, wrapper: true }), 60),
    access_log: v.optional(list, []),
    xff_num_trusted_hops: v.optional(uint32(), 0),
    skip_xff_append: v.optional(bool(), false),
    via: v.optional(str(), ""),
    server_header_transformation: v.optional(enumOf(["OVERWRITE", "APPEND_IF_ABSENT", "PASS_THROUGH"] as const), "OVERWRITE"),
    normalize_path: v.optional(bool({ wrapper: true }), false),
    merge_slashes: v.optional(bool(), false),
    path_with_escaped_slashes_action: v.optional(
      enumOf(["IMPLEMENTATION_SPECIFIC_DEFAULT", "KEEP_UNCHANGED", "REJECT_REQUEST", "UNESCAPE_AND_REDIRECT", "UNESCAPE_AND_FORWARD"] as const),
      "IMPLEMENTATION_SPECIFIC_DEFAULT",
    ),
    strip_matching_host_port: v.optional(bool(), false),
    strip_any_host_port: v.optional(bool(), false),
    always_set_request_id_in_response: v.optional(bool(), false),
    local_reply_config: v.optional(any),
    // false (Envoy's default): the HCM answers 100-continue itself; true: it is proxied.
    proxy_100_continue: v.optional(bool(), false),
  },
  {
    unsupported: [
      "scoped_routes",
      "add_user_agent",
      "tracing",
      "http1_safe_max_connection_duration",
      "http2_protocol_options",
      "http3_protocol_options",
      "access_log_flush_interval",
      "flush_access_log_on_new_request",
      "access_log_options",
      "original_ip_detection_extensions",
      "early_header_mutation_extensions",
      "forward_client_cert_details",
      "set_current_client_cert_details",
      "represent_ipv4_remote_address_as_ipv4_mapped_ipv6",
      "request_id_extension",
      "stream_error_on_invalid_http_message",
      "path_normalization_options",
      "proxy_status_config",
      "typed_header_validation_config",
      "append_local_overload",
      "add_proxy_protocol_connection_state",
    ],
    oneofs: [{ members: ["rds", "route_config", "scoped_routes"], supported: ["route_config", "rds"], required: true }],
  },
);

const httpFilterSchema = message(
  { name: str({ nonEmpty: true }), typed_config: v.optional(any) },
  { unsupported: ["config_discovery", "is_optional", "disabled"] },
);

/** Control side: the HttpConnectionManager config extension. */
export const httpConnectionManagerExtension: ConfigExtension<HcmModel> = {
  name: "envoy.filters.network.http_connection_manager",
  typeUrls: [HCM_TYPE_URL],
  category: "network_filter",
  terminal: true,
  parseConfig(json, ctx) {
    const hcm = parseWith(ctx, hcmSchema, json);
    // Nested units are parsed from the raw input even when a sibling field is wrong, so that one
    // run reports every problem.
    const raw = isMapping(json) ? json : {};
    const routeConfig = raw.route_config === undefined ? undefined : parseRouteConfiguration(raw.route_config, ctx.child("route_config"));
    const httpFilters = Array.isArray(raw.http_filters) ? parseFilterList(raw.http_filters, ctx.child("http_filters"), httpFilterSchema, "http_filter", "http") : [];
    const accessLog = Array.isArray(raw.access_log) ? parseAccessLogs(raw.access_log, ctx.child("access_log")) : [];
    const localReply = raw.local_reply_config === undefined
      ? { mappers: [], bodyFormat: "", contentType: "text/plain" }
      : parseLocalReplyConfig(raw.local_reply_config, ctx.child("local_reply_config"));
    if (hcm && hcm.strip_any_host_port && hcm.strip_matching_host_port) {
      ctx.issue("", "only one of strip_matching_host_port, strip_any_host_port may be set");
      return undefined;
    }
    const rds = isMapping(raw.rds) && raw.rds.config_source !== undefined
      ? parseConfigSource(raw.rds.config_source, ctx.child("rds.config_source"))
      : undefined;
    if (!hcm || (!routeConfig && !rds) || !httpFilters || !accessLog || !localReply) return undefined;
    const common = hcm.common_http_protocol_options;
    const escaped = hcm.path_with_escaped_slashes_action;
    return {
      statPrefix: hcm.stat_prefix,
      codecType: hcm.codec_type,
      ...(routeConfig ? { routeConfig } : { rds: { routeConfigName: hcm.rds!.route_config_name, configSource: rds! } }),
      httpFilters,
      useRemoteAddress: hcm.use_remote_address,
      generateRequestId: hcm.generate_request_id,
      preserveExternalRequestId: hcm.preserve_external_request_id,
      serverName: hcm.server_name === "" ? DEFAULT_SERVER_NAME : hcm.server_name,
      streamIdleTimeoutMs: hcm.stream_idle_timeout,
      requestTimeoutMs: hcm.request_timeout,
      requestHeadersTimeoutMs: hcm.request_headers_timeout,
      // Envoy: unset means 1 hour; an explicit 0 disables the idle timeout.
      idleTimeoutMs: common?.idle_timeout ?? 3_600_000,
      maxRequestHeadersKb: hcm.max_request_headers_kb,
      maxHeadersCount: common?.max_headers_count ?? 100,
      maxRequestsPerConnection: common?.max_requests_per_connection ?? 0,
      accessLog,
      // The options below appear in the model only when set to something other than Envoy's
      // default (the runtime resolves defaults), so models of plain configs stay small.
      ...nonDefault({
        maxConnectionDurationMs: [common?.max_connection_duration ?? 0, 0],
        maxStreamDurationMs: [common?.max_stream_duration ?? 0, 0],
        headersWithUnderscoresAction: [common?.headers_with_underscores_action ?? "ALLOW", "ALLOW"],
        xffNumTrustedHops: [hcm.xff_num_trusted_hops, 0],
        skipXffAppend: [hcm.skip_xff_append, false],
        via: [hcm.via, ""],
        serverHeaderTransformation: [hcm.server_header_transformation, "OVERWRITE"],
        normalizePath: [hcm.normalize_path, false],
        mergeSlashes: [hcm.merge_slashes, false],
        pathWithEscapedSlashesAction: [escaped === "IMPLEMENTATION_SPECIFIC_DEFAULT" ? "KEEP_UNCHANGED" : escaped, "KEEP_UNCHANGED"],
        stripHostPort: [(hcm.strip_any_host_port ? "any" : hcm.strip_matching_host_port ? "matching" : "none") as "any" | "matching" | "none", "none"],
        alwaysSetRequestIdInResponse: [hcm.always_set_request_id_in_response, false],
        acceptHttp10: [hcm.http_protocol_options?.accept_http_10 ?? false, false],
        defaultHostForHttp10: [hcm.http_protocol_options?.default_host_for_http_10 ?? "", ""],
        enableTrailers: [hcm.http_protocol_options?.enable_trailers ?? false, false],
        stripTrailingHostDot: [hcm.strip_trailing_host_dot, false],
        appendXForwardedPort: [hcm.append_x_forwarded_port, false],
        schemeToOverwrite: [hcm.scheme_header_transformation?.scheme_to_overwrite ?? "", ""],
        drainTimeoutMs: [hcm.drain_timeout, 5000],
        delayedCloseTimeoutMs: [hcm.delayed_close_timeout, 1000],
        proxy100Continue: [hcm.proxy_100_continue, false],
      }),
      ...(hcm.internal_address_config
        ? { internalCidrRanges: hcm.internal_address_config.cidr_ranges.map((r) => ({ addressPrefix: r.address_prefix, prefixLen: r.prefix_len })) }
        : {}),
      ...(hcm.upgrade_configs.some((u) => u.enabled) ? { upgradeTypes: hcm.upgrade_configs.filter((u) => u.enabled).map((u) => u.upgrade_type.toLowerCase()) } : {}),
      ...(raw.local_reply_config !== undefined ? { localReply } : {}),
    };
  },
};

function nonDefault<T extends Record<string, [unknown, unknown]>>(fields: T): { [K in keyof T]?: T[K][0] } {
  const out: Record<string, unknown> = {};
  for (const [k, [value, dflt]] of Object.entries(fields)) if (value !== dflt) out[k] = value;
  return out as { [K in keyof T]?: T[K][0] };
}

const localReplyMapperSchema = message(
  {
    filter: any,
    status_code: v.optional(uint32({ min: 200, max: 599, wrapper: true })),
    body: v.optional(inlineDataSource),
    body_format_override: v.optional(substitutionFormatString),
  },
  { unsupported: ["headers_to_add"] },
);

const localReplySchema = message({ mappers: v.optional(list, []), body_format: v.optional(substitutionFormatString) });

/** Control side: `local_reply_config` (mappers with filters, status and body rewrites, body_format). */
function parseLocalReplyConfig(raw: unknown, ctx: ParseContext): LocalReplyModel | undefined {
  const c = parseWith(ctx, localReplySchema, raw);
  if (!c) return undefined;
  let ok = true;
  const fmt = (f: { text: string; json?: Readonly<Record<string, unknown>>; contentType?: string } | undefined, path: string) => {
    if (f === undefined) return { bodyFormat: "", contentType: "text/plain" };
    if (f.json) {
      ctx.issue(path + ".json_format", "is not supported yet in local_reply_config");
      ok = false;
    } else if (!checkFormat(ctx, path, f)) ok = false;
    return { bodyFormat: f.text, contentType: f.contentType ?? "text/plain" };
  };
  const top = fmt(c.body_format, "body_format");
  const mappers: LocalReplyMapperModel[] = [];
  c.mappers.forEach((m, i) => {
    const mc = ctx.child(`mappers[${i}]`);
    const parsed = parseWith(mc, localReplyMapperSchema, m);
    if (!parsed) {
      ok = false;
      return;
    }
    const filter = parseAccessLogFilter(parsed.filter, mc.child("filter"));
    const over = fmt(parsed.body_format_override, `mappers[${i}].body_format_override`);
    if (!filter) {
      ok = false;
      return;
    }
    mappers.push({ filter, statusCode: parsed.status_code ?? 0, body: parsed.body, bodyFormat: over.bodyFormat, contentType: over.contentType });
  });
  return ok ? { mappers, bodyFormat: top.bodyFormat, contentType: top.contentType } : undefined;
}

registerConfigExtension(httpConnectionManagerExtension);
