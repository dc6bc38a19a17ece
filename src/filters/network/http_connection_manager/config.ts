/**
 * Config of `envoy.filters.network.http_connection_manager` (control side): validates the
 * HttpConnectionManager typed_config into an HcmModel and registers the extension by `@type`.
 */
import * as v from "valibot";
import { parseAccessLogs } from "../../../config/access_log.ts";
import type { HcmModel, HttpFilterModel } from "../../../config/model.ts";
import { parseRouteConfiguration } from "../../../config/route.ts";
import { any, bool, duration, enumOf, isMapping, list, message, parseWith, str, uint32 } from "../../../config/schema.ts";
import { type ConfigExtension, type ParseContext, registerConfigExtension } from "../../../registry/registry.ts";

/** The HttpConnectionManager `@type` URL. */
export const HCM_TYPE_URL = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager";

/** Our `server` header default (Envoy's is "envoy"). */
export const DEFAULT_SERVER_NAME = "legate";

const commonHttpProtocolOptionsSchema = message(
  {
    idle_timeout: v.optional(duration()),
    max_headers_count: v.optional(uint32({ min: 1, wrapper: true })),
    max_requests_per_connection: v.optional(uint32({ wrapper: true })),
  },
  { unsupported: ["max_connection_duration", "max_response_headers_kb", "max_stream_duration", "headers_with_underscores_action"] },
);

const hcmSchema = message(
  {
    stat_prefix: str({ nonEmpty: true }),
    codec_type: v.optional(enumOf(["AUTO", "HTTP1"], ["HTTP2", "HTTP3"]), "AUTO"),
    route_config: v.optional(any),
    http_filters: v.optional(list, []),
    use_remote_address: v.optional(bool({ wrapper: true }), false),
    generate_request_id: v.optional(bool({ wrapper: true }), true),
    preserve_external_request_id: v.optional(bool(), false),
    server_name: v.optional(str(), ""),
    stream_idle_timeout: v.optional(duration(), "300s"),
    request_timeout: v.optional(duration(), "0s"),
    request_headers_timeout: v.optional(duration(), "0s"),
    common_http_protocol_options: v.optional(commonHttpProtocolOptionsSchema),
    max_request_headers_kb: v.optional(uint32({ min: 1, max: 8192, wrapper: true }), 60),
    access_log: v.optional(list, []),
  },
  {
    unsupported: [
      "rds",
      "scoped_routes",
      "add_user_agent",
      "tracing",
      "http1_safe_max_connection_duration",
      "http_protocol_options",
      "http2_protocol_options",
      "http3_protocol_options",
      "server_header_transformation",
      "scheme_header_transformation",
      "drain_timeout",
      "delayed_close_timeout",
      "access_log_flush_interval",
      "flush_access_log_on_new_request",
      "access_log_options",
      "xff_num_trusted_hops",
      "original_ip_detection_extensions",
      "early_header_mutation_extensions",
      "internal_address_config",
      "skip_xff_append",
      "via",
      "always_set_request_id_in_response",
      "forward_client_cert_details",
      "set_current_client_cert_details",
      "proxy_100_continue",
      "represent_ipv4_remote_address_as_ipv4_mapped_ipv6",
      "upgrade_configs",
      "normalize_path",
      "merge_slashes",
      "path_with_escaped_slashes_action",
      "request_id_extension",
      "local_reply_config",
      "strip_matching_host_port",
      "strip_any_host_port",
      "stream_error_on_invalid_http_message",
      "path_normalization_options",
      "strip_trailing_host_dot",
      "proxy_status_config",
      "typed_header_validation_config",
      "append_x_forwarded_port",
      "append_local_overload",
      "add_proxy_protocol_connection_state",
    ],
    oneofs: [{ members: ["rds", "route_config", "scoped_routes"], supported: ["route_config"], required: true }],
  },
);

const httpFilterSchema = message(
  { name: str({ nonEmpty: true }), typed_config: v.optional(any) },
  { unsupported: ["config_discovery", "is_optional", "disabled"] },
);

/** Control side: parses `http_filters` and applies Envoy's terminal-filter rule (the terminal
 *  filter, the router, must be last, and the last filter must be terminal; an empty list is
 *  accepted, as Envoy does). */
function parseHttpFilters(raw: unknown[], ctx: ParseContext): HttpFilterModel[] | undefined {
  const out: HttpFilterModel[] = [];
  let ok = true;
  raw.forEach((entry, i) => {
    const c = ctx.child(`[${i}]`);
    const f = parseWith(c, httpFilterSchema, entry);
    const typed = c.parseTypedConfig(isMapping(entry) ? entry.typed_config : undefined, "typed_config", "http_filter");
    if (!f || !typed) {
      ok = false;
      return;
    }
    const last = i === raw.length - 1;
    const terminal = typed.extension.terminal === true;
    if (terminal && !last) {
      c.issue("", `terminal filter named ${JSON.stringify(f.name)} of type ${typed.extension.name} must be the last filter in a http filter chain`);
      ok = false;
    } else if (!terminal && last) {
      c.issue("", `non-terminal filter named ${JSON.stringify(f.name)} of type ${typed.extension.name} is the last filter in a http filter chain`);
      ok = false;
    }
    out.push({ name: f.name, typeUrl: typed.typeUrl, config: typed.config });
  });
  return ok ? out : undefined;
}

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
    const httpFilters = Array.isArray(raw.http_filters) ? parseHttpFilters(raw.http_filters, ctx.child("http_filters")) : [];
    const accessLog = Array.isArray(raw.access_log) ? parseAccessLogs(raw.access_log, ctx.child("access_log")) : [];
    if (!hcm || !routeConfig || !httpFilters || !accessLog) return undefined;
    const common = hcm.common_http_protocol_options;
    return {
      statPrefix: hcm.stat_prefix,
      codecType: hcm.codec_type,
      routeConfig,
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
    };
  },
};

registerConfigExtension(httpConnectionManagerExtension);
