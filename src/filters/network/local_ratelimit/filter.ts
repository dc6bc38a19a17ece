/**
 * Runtime half of `envoy.filters.network.local_ratelimit` (worker side): each new connection takes
 * a token from the bucket all workers share; with none left it is closed at once, before any
 * later filter sees it, and counted in `local_ratelimit.<stat_prefix>.rate_limited`.
 * https://www.envoyproxy.io/docs/envoy/latest/configuration/listeners/network_filters/local_rate_limit_filter
 */
import type { Clock } from "../../../core/clock.ts";
import type { Counter } from "../../../core/stats.ts";
import type { Connection } from "../../../network/connection.ts";
import { type NetworkFilter, type NetworkFilterStatus, registerNetworkFilterRuntime } from "../../../network/filter.ts";
import type { NetworkLocalRateLimitModel } from "./config.ts";
import { allocateTokenBucket, SharedTokenBucket } from "./token_bucket.ts";

/** The network LocalRateLimit @type URL (kept here so the worker does not load the config half). */
export const NETWORK_LOCAL_RATELIMIT_TYPE_URL = "type.googleapis.com/envoy.extensions.filters.network.local_ratelimit.v3.LocalRateLimit";

/** Milliseconds on a clock shared by all threads: each thread's monotonic clock starts at its own
 *  `performance.timeOrigin`, so the origin is added back. */
export function sharedNow(clock: Clock): () => number {
  const origin = performance.timeOrigin;
  return () => origin + clock.now();
}

/** Passes a connection on when it gets a token; closes it otherwise. */
export class NetworkLocalRateLimitFilter implements NetworkFilter {
  #limited = false;
  constructor(readonly conn: Connection, readonly bucket: SharedTokenBucket, readonly rateLimited: Counter, readonly enabled: boolean) {}

  onNewConnection(): NetworkFilterStatus {
    if (!this.enabled || this.bucket.consume()) return "continue";
    this.#limited = true;
    this.rateLimited.inc();
    this.conn.close("now");
    return "stop";
  }

  onData(_data: Uint8Array, _endStream: boolean): NetworkFilterStatus {
    return this.#limited ? "stop" : "continue";
  }
}

registerNetworkFilterRuntime({
  name: "envoy.filters.network.local_ratelimit",
  typeUrls: [NETWORK_LOCAL_RATELIMIT_TYPE_URL],
  createFilterFactory(config, ctx) {
    const m = config as NetworkLocalRateLimitModel;
    // A model that lost its buffer on the way (serialised as JSON) falls back to a bucket per worker.
    const ok = m.bucket instanceof ArrayBuffer || (typeof SharedArrayBuffer === "function" && m.bucket instanceof SharedArrayBuffer);
    const bucket = new SharedTokenBucket(ok ? m.bucket : allocateTokenBucket(m.maxTokens), m.maxTokens, m.tokensPerFill, m.fillIntervalMs, sharedNow(ctx.wheel.clock));
    const rateLimited = ctx.stats.counter(`local_ratelimit.${m.statPrefix}.rate_limited`);
    return (conn) => new NetworkLocalRateLimitFilter(conn, bucket, rateLimited, m.enabled);
  },
});
