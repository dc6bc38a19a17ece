/**
 * Config of `envoy.filters.http.cors` (control side): the filter's own config (`Cors`, empty) and
 * the per-route `CorsPolicy` given in typed_per_filter_config (route, virtual host or route
 * configuration; the most specific wins).
 * https://www.envoyproxy.io/docs/envoy/latest/configuration/http/http_filters/cors_filter
 */
import * as v from "valibot";
import type { StringMatcherModel } from "../../../config/model.ts";
import { parseStringMatcher } from "../../../config/route.ts";
import { bool, isMapping, list, message, parseWith, str } from "../../../config/schema.ts";
import { type ConfigExtension, registerConfigExtension } from "../../../registry/registry.ts";
import { fractionalPercent, type Percent } from "../percent.ts";

/** The Cors (filter) `@type` URL. */
export const CORS_TYPE_URL = "type.googleapis.com/envoy.extensions.filters.http.cors.v3.Cors";
/** The CorsPolicy (per-route) `@type` URL. */
export const CORS_POLICY_TYPE_URL = "type.googleapis.com/envoy.extensions.filters.http.cors.v3.CorsPolicy";

/** A CorsPolicy's frozen model. */
export interface CorsPolicyModel {
  readonly allowOrigins: readonly StringMatcherModel[];
  readonly allowMethods: string | undefined;
  readonly allowHeaders: string | undefined;
  readonly exposeHeaders: string | undefined;
  readonly maxAge: string | undefined;
  readonly allowCredentials: boolean;
  readonly allowPrivateNetworkAccess: boolean;
  readonly forwardNotMatchingPreflights: boolean;
  readonly enabled: Percent;
}

const policySchema = message(
  {
    allow_origin_string_match: v.optional(list, []),
    allow_methods: v.optional(str()),
    allow_headers: v.optional(str()),
    expose_headers: v.optional(str()),
    max_age: v.optional(str()),
    allow_credentials: v.optional(bool({ wrapper: true }), false),
    filter_enabled: v.optional(message({ default_value: fractionalPercent, runtime_key: v.optional(str()) })),
    allow_private_network_access: v.optional(bool({ wrapper: true }), false),
    forward_not_matching_preflights: v.optional(bool({ wrapper: true }), true),
  },
  { unsupported: ["shadow_enabled"] },
);

/** Control side: the CORS filter extension (filter config and per-route CorsPolicy). */
export const corsExtension: ConfigExtension<Record<string, never>> = {
  name: "envoy.filters.http.cors",
  typeUrls: [CORS_TYPE_URL],
  category: "http_filter",
  perRouteTypeUrls: [CORS_POLICY_TYPE_URL],
  parseConfig(json, ctx) {
    return parseWith(ctx, message({}), json) ? Object.freeze({}) : undefined;
  },
  parsePerRouteConfig(json, ctx): CorsPolicyModel | undefined {
    const p = parseWith(ctx, policySchema, json);
    const raw = isMapping(json) && Array.isArray(json.allow_origin_string_match) ? json.allow_origin_string_match : [];
    const origins: StringMatcherModel[] = [];
    let ok = p !== undefined;
    raw.forEach((m, i) => {
      const sm = parseStringMatcher(m, ctx, `allow_origin_string_match[${i}]`);
      if (sm) origins.push(sm);
      else ok = false;
    });
    if (!ok || !p) return undefined;
    if (p.max_age !== undefined && !/^\d+$/.test(p.max_age)) {
      ctx.issue("max_age", `expected a number of seconds, got ${JSON.stringify(p.max_age)}`);
      return undefined;
    }
    return Object.freeze({
      allowOrigins: origins,
      allowMethods: p.allow_methods,
      allowHeaders: p.allow_headers,
      exposeHeaders: p.expose_headers,
      maxAge: p.max_age,
      allowCredentials: p.allow_credentials,
      allowPrivateNetworkAccess: p.allow_private_network_access,
      forwardNotMatchingPreflights: p.forward_not_matching_preflights,
      // Envoy: filter_enabled unset means 100% enabled.
      enabled: p.filter_enabled?.default_value ?? { numerator: 100, denominator: 100 },
    });
  },
};

registerConfigExtension(corsExtension);
