/**
 * Config of `envoy.filters.http.fault` (control side): HTTPFault (delay and abort by percentage
 * or by request header, header matchers, max_active_faults), also its own per-route config.
 * https://www.envoyproxy.io/docs/envoy/latest/configuration/http/http_filters/fault_filter
 */
import * as v from "valibot";
import type { HeaderMatcherModel } from "../../../config/model.ts";
import { buildHeaderMatchers } from "../../../config/route.ts";
import { any, bool, duration, isMapping, list, message, parseWith, str, uint32 } from "../../../config/schema.ts";
import { type ConfigExtension, type ParseContext, registerConfigExtension } from "../../../registry/registry.ts";
import { fractionalPercent, type Percent } from "../percent.ts";

/** The HTTPFault `@type` URL (filter config and per-route config). */
export const FAULT_TYPE_URL = "type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault";

/** The fault filter's frozen model. */
export interface FaultModel {
  /** Fixed delay in ms, or -1 for header_delay (x-envoy-fault-delay-request); undefined: no delay. */
  readonly delayMs: number | undefined;
  readonly delayPercent: Percent;
  /** Abort status, or -1 for header_abort (x-envoy-fault-abort-request); undefined: no abort. */
  readonly abortStatus: number | undefined;
  readonly abortPercent: Percent;
  readonly headers: readonly HeaderMatcherModel[];
  /** max_active_faults; undefined = unlimited. */
  readonly maxActiveFaults: number | undefined;
}

const ZERO: Percent = { numerator: 0, denominator: 100 };

const delaySchema = message(
  { fixed_delay: v.optional(duration()), header_delay: v.optional(message({})), percentage: v.optional(fractionalPercent) },
  { oneofs: [{ members: ["fixed_delay", "header_delay"], supported: ["fixed_delay", "header_delay"], required: true }] },
);

const abortSchema = message(
  { http_status: v.optional(uint32({ min: 200, max: 599 })), header_abort: v.optional(message({})), percentage: v.optional(fractionalPercent) },
  {
    unsupported: ["grpc_status"],
    oneofs: [{ members: ["http_status", "grpc_status", "header_abort"], supported: ["http_status", "header_abort"], required: true }],
  },
);

const faultSchema = message(
  {
    delay: v.optional(delaySchema),
    abort: v.optional(abortSchema),
    headers: v.optional(list),
    max_active_faults: v.optional(uint32({ wrapper: true })),
    // Runtime overrides: Legate has no runtime layer, so Envoy's fallback (the config) applies.
    delay_percent_runtime: v.optional(str()),
    abort_percent_runtime: v.optional(str()),
    delay_duration_runtime: v.optional(str()),
    abort_http_status_runtime: v.optional(str()),
    max_active_faults_runtime: v.optional(str()),
    abort_grpc_status_runtime: v.optional(str()),
    response_rate_limit_percent_runtime: v.optional(str()),
    disable_downstream_cluster_stats: v.optional(bool()),
    filter_metadata: v.optional(any),
  },
  { unsupported: ["upstream_cluster", "downstream_nodes", "response_rate_limit"] },
);

function parseFault(json: unknown, ctx: ParseContext): FaultModel | undefined {
  const f = parseWith(ctx, faultSchema, json);
  const rawHeaders = isMapping(json) && Array.isArray(json.headers) ? json.headers : [];
  const headers = buildHeaderMatchers(rawHeaders, ctx);
  if (!f || !headers) return undefined;
  if (f.filter_metadata !== undefined) {
    ctx.issue("filter_metadata", "is not supported yet");
    return undefined;
  }
  return Object.freeze({
    delayMs: f.delay === undefined ? undefined : f.delay.fixed_delay ?? -1,
    delayPercent: f.delay?.percentage ?? ZERO,
    abortStatus: f.abort === undefined ? undefined : f.abort.http_status ?? -1,
    abortPercent: f.abort?.percentage ?? ZERO,
    headers,
    maxActiveFaults: f.max_active_faults,
  });
}

/** Control side: the fault filter config extension. */
export const faultExtension: ConfigExtension<FaultModel> = {
  name: "envoy.filters.http.fault",
  typeUrls: [FAULT_TYPE_URL],
  category: "http_filter",
  perRouteTypeUrls: [FAULT_TYPE_URL],
  parseConfig: parseFault,
  parsePerRouteConfig: (json, ctx) => parseFault(json, ctx),
};

registerConfigExtension(faultExtension);
