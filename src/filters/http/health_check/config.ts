/**
 * Config of `envoy.filters.http.health_check` (control side): HealthCheck with
 * pass_through_mode and the header matchers that identify health check requests.
 * https://www.envoyproxy.io/docs/envoy/latest/configuration/http/http_filters/health_check_filter
 */
import * as v from "valibot";
import type { HeaderMatcherModel } from "../../../config/model.ts";
import { buildHeaderMatchers } from "../../../config/route.ts";
import { bool, isMapping, list, message, parseWith } from "../../../config/schema.ts";
import { type ConfigExtension, registerConfigExtension } from "../../../registry/registry.ts";

/** The HealthCheck `@type` URL. */
export const HEALTH_CHECK_TYPE_URL = "type.googleapis.com/envoy.extensions.filters.http.health_check.v3.HealthCheck";

/** The health check filter's frozen model. */
export interface HealthCheckModel {
  readonly passThroughMode: boolean;
  readonly headers: readonly HeaderMatcherModel[];
}

const healthCheckSchema = message(
  { pass_through_mode: bool({ wrapper: true }), headers: v.optional(list, []) },
  { unsupported: ["cache_time", "cluster_min_healthy_percentages"] },
);

/** Control side: the health check filter config extension. */
export const healthCheckExtension: ConfigExtension<HealthCheckModel> = {
  name: "envoy.filters.http.health_check",
  typeUrls: [HEALTH_CHECK_TYPE_URL],
  category: "http_filter",
  parseConfig(json, ctx) {
    const h = parseWith(ctx, healthCheckSchema, json);
    const headers = buildHeaderMatchers(isMapping(json) && Array.isArray(json.headers) ? json.headers : [], ctx);
    if (!h || !headers) return undefined;
    return Object.freeze({ passThroughMode: h.pass_through_mode, headers });
  },
};

registerConfigExtension(healthCheckExtension);
