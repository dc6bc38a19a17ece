/**
 * Config of `envoy.filters.http.local_ratelimit` (control side): one token bucket per filter
 * (per listener and worker), filter_enabled / filter_enforced percentages, the local reply status
 * and the headers added to it.
 * https://www.envoyproxy.io/docs/envoy/latest/configuration/http/http_filters/local_rate_limit_filter
 */
import * as v from "valibot";
import type { HeaderValueOptionModel } from "../../../config/model.ts";
import { buildHeaderValueOptions } from "../../../config/route.ts";
import { bool, duration, isMapping, list, message, parseWith, str, uint32 } from "../../../config/schema.ts";
import { type ConfigExtension, registerConfigExtension } from "../../../registry/registry.ts";
import { fractionalPercent, type Percent } from "../percent.ts";

/** The LocalRateLimit `@type` URL. */
export const LOCAL_RATELIMIT_TYPE_URL = "type.googleapis.com/envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit";

/** The local rate limit filter's frozen model. */
export interface LocalRateLimitModel {
  readonly statPrefix: string;
  readonly status: number;
  readonly maxTokens: number;
  readonly tokensPerFill: number;
  readonly fillIntervalMs: number;
  readonly enabled: Percent;
  readonly enforced: Percent;
  readonly responseHeadersToAdd: readonly HeaderValueOptionModel[];
  readonly requestHeadersToAddWhenNotEnforced: readonly HeaderValueOptionModel[];
}

const runtimeFractionalPercent = message({ default_value: fractionalPercent, runtime_key: v.optional(str()) });

const schema = message(
  {
    stat_prefix: str({ nonEmpty: true }),
    status: v.optional(message({ code: uint32({ min: 400, max: 599 }) })),
    token_bucket: v.optional(message({
      max_tokens: uint32({ min: 1 }),
      tokens_per_fill: v.optional(uint32({ min: 1, wrapper: true }), 1),
      fill_interval: duration({ positive: true }),
    })),
    filter_enabled: v.optional(runtimeFractionalPercent),
    filter_enforced: v.optional(runtimeFractionalPercent),
    response_headers_to_add: v.optional(list, []),
    request_headers_to_add_when_not_enforced: v.optional(list, []),
    local_rate_limit_per_downstream_connection: v.optional(bool(), false),
  },
  {
    unsupported: [
      "descriptors",
      "stage",
      "enable_x_ratelimit_headers",
      "vh_rate_limits",
      "always_consume_default_token_bucket",
      "rate_limited_as_resource_exhausted",
      "local_cluster_rate_limit",
      "rate_limits",
      "max_dynamic_descriptors",
    ],
  },
);

const OFF: Percent = { numerator: 0, denominator: 100 };

/** Control side: the local rate limit config extension. */
export const localRateLimitExtension: ConfigExtension<LocalRateLimitModel> = {
  name: "envoy.filters.http.local_ratelimit",
  typeUrls: [LOCAL_RATELIMIT_TYPE_URL],
  category: "http_filter",
  perRouteTypeUrls: [LOCAL_RATELIMIT_TYPE_URL],
  parsePerRouteConfig(json, ctx) {
    return localRateLimitExtension.parseConfig(json, ctx);
  },
  parseConfig(json, ctx) {
    const m = parseWith(ctx, schema, json);
    const raw = isMapping(json) ? json : {};
    const respAdd = buildHeaderValueOptions(Array.isArray(raw.response_headers_to_add) ? raw.response_headers_to_add : [], ctx, "response_headers_to_add");
    const reqAdd = buildHeaderValueOptions(
      Array.isArray(raw.request_headers_to_add_when_not_enforced) ? raw.request_headers_to_add_when_not_enforced : [],
      ctx,
      "request_headers_to_add_when_not_enforced",
    );
    if (!m || !respAdd || !reqAdd) return undefined;
    if (m.local_rate_limit_per_downstream_connection) {
      ctx.issue("local_rate_limit_per_downstream_connection", "true is not supported yet");
      return undefined;
    }
    const enabled = m.filter_enabled?.default_value ?? OFF;
    if (!m.token_bucket && enabled.numerator > 0) {
      // Envoy requires a bucket whenever the filter can be enabled.
      ctx.issue("token_bucket", "is required");
      return undefined;
    }
    return Object.freeze({
      statPrefix: m.stat_prefix,
      status: m.status?.code ?? 429,
      maxTokens: m.token_bucket?.max_tokens ?? 1,
      tokensPerFill: m.token_bucket?.tokens_per_fill ?? 1,
      fillIntervalMs: m.token_bucket?.fill_interval ?? 1000,
      enabled,
      // Envoy: filter_enforced unset means 0% enforced (requests are counted, never limited).
      enforced: m.filter_enforced?.default_value ?? OFF,
      responseHeadersToAdd: respAdd,
      requestHeadersToAddWhenNotEnforced: reqAdd,
    });
  },
};

registerConfigExtension(localRateLimitExtension);
