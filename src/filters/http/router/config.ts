/**
 * Config of `envoy.filters.http.router` (control side): validates the Router typed_config and
 * registers the extension by `@type`. The router is a terminal HTTP filter.
 */
import * as v from "valibot";
import { bool, message, parseWith } from "../../../config/schema.ts";
import { type ConfigExtension, registerConfigExtension } from "../../../registry/registry.ts";

/** The Router `@type` URL. */
export const ROUTER_TYPE_URL = "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router";

/** The router's validated config: nothing configurable yet. */
export type RouterModel = Readonly<Record<string, never>>;

const routerSchema = message(
  {
    // Accepted and without effect: stats are always emitted, and there is no tracing yet.
    dynamic_stats: v.optional(bool({ wrapper: true })),
    start_child_span: v.optional(bool()),
  },
  {
    unsupported: [
      "upstream_log",
      "upstream_log_options",
      "suppress_envoy_headers",
      "strict_check_headers",
      "respect_expected_rq_timeout",
      "suppress_grpc_request_failure_code_stats",
      "upstream_http_filters",
    ],
  },
);

/** Control side: the Router config extension. */
export const routerExtension: ConfigExtension<RouterModel> = {
  name: "envoy.filters.http.router",
  typeUrls: [ROUTER_TYPE_URL],
  category: "http_filter",
  terminal: true,
  parseConfig(json, ctx) {
    return parseWith(ctx, routerSchema, json) ? Object.freeze({}) : undefined;
  },
};

registerConfigExtension(routerExtension);
