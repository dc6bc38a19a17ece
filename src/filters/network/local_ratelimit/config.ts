/**
 * Config of `envoy.filters.network.local_ratelimit` (control side): the token bucket every
 * connection through the filter takes one token from. The bucket's state is allocated here, once
 * per config version, as a SharedArrayBuffer inside the model, so every worker that receives the
 * snapshot shares it (Envoy: "the token bucket is shared across all workers"). Filters with the
 * same `share_key` and token_bucket share one bucket, across config versions too.
 * https://www.envoyproxy.io/docs/envoy/latest/api-v3/extensions/filters/network/local_ratelimit/v3/local_rate_limit.proto
 */
import * as v from "valibot";
import { bool, duration, message, parseWith, str, uint32 } from "../../../config/schema.ts";
import { type ConfigExtension, registerConfigExtension } from "../../../registry/registry.ts";
import { allocateTokenBucket } from "./token_bucket.ts";

/** The network LocalRateLimit `@type` URL. */
export const NETWORK_LOCAL_RATELIMIT_TYPE_URL = "type.googleapis.com/envoy.extensions.filters.network.local_ratelimit.v3.LocalRateLimit";

/** Envoy refuses a fill_interval below 50ms for this filter (too aggressive refills). */
export const MIN_FILL_INTERVAL_MS = 50;

/** envoy.extensions.filters.network.local_ratelimit.v3.LocalRateLimit after validation. */
export interface NetworkLocalRateLimitModel {
  /** Stats under `local_ratelimit.<statPrefix>.`. */
  readonly statPrefix: string;
  readonly maxTokens: number;
  readonly tokensPerFill: number;
  readonly fillIntervalMs: number;
  /** `runtime_enabled.default_value` (Legate has no runtime layer to override it); default true. */
  readonly enabled: boolean;
  /** The bucket's shared state (see token_bucket.ts), shared by every worker. */
  readonly bucket: SharedArrayBuffer | ArrayBuffer;
}

/** `config.core.v3.RuntimeFeatureFlag`. */
const runtimeFeatureFlagSchema = message({
  default_value: bool({ wrapper: true }),
  runtime_key: str({ nonEmpty: true }),
});

const schema = message({
  stat_prefix: str({ nonEmpty: true }),
  token_bucket: message({
    max_tokens: uint32({ min: 1 }),
    tokens_per_fill: v.optional(uint32({ min: 1, wrapper: true }), 1),
    fill_interval: duration({ positive: true }),
  }),
  runtime_enabled: v.optional(runtimeFeatureFlagSchema),
  share_key: v.optional(str(), ""),
});

/** Buckets by share key and bucket settings (control side; kept for the process's life). */
const sharedBuckets = new Map<string, SharedArrayBuffer | ArrayBuffer>();

/** Control side: the network local rate limit config extension. */
export const networkLocalRateLimitExtension: ConfigExtension<NetworkLocalRateLimitModel> = {
  name: "envoy.filters.network.local_ratelimit",
  typeUrls: [NETWORK_LOCAL_RATELIMIT_TYPE_URL],
  category: "network_filter",
  parseConfig(json, ctx) {
    const m = parseWith(ctx, schema, json);
    if (!m) return undefined;
    const tb = m.token_bucket;
    if (tb.fill_interval < MIN_FILL_INTERVAL_MS) {
      ctx.issue("token_bucket.fill_interval", `must be at least ${MIN_FILL_INTERVAL_MS}ms, got ${tb.fill_interval}ms`);
      return undefined;
    }
    let bucket: SharedArrayBuffer | ArrayBuffer;
    if (m.share_key !== "") {
      const key = `${m.share_key}\u0000${tb.max_tokens}/${tb.tokens_per_fill}/${tb.fill_interval}`;
      bucket = sharedBuckets.get(key) ?? allocateTokenBucket(tb.max_tokens);
      sharedBuckets.set(key, bucket);
    } else bucket = allocateTokenBucket(tb.max_tokens);
    return {
      statPrefix: m.stat_prefix,
      maxTokens: tb.max_tokens,
      tokensPerFill: tb.tokens_per_fill,
      fillIntervalMs: tb.fill_interval,
      enabled: m.runtime_enabled?.default_value ?? true,
      bucket,
    };
  },
};

registerConfigExtension(networkLocalRateLimitExtension);
