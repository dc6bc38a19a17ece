/**
 * `envoy.filters.http.local_ratelimit` (worker side): a token bucket refilled by
 * `tokens_per_fill` every `fill_interval` (computed from the clock when a request arrives, no
 * timer), the local reply (429 by default, flag RL, body "local_rate_limited",
 * `x-envoy-ratelimited: true`) with response_headers_to_add, and Envoy's
 * `<stat_prefix>.http_local_rate_limit.*` stats.
 * https://www.envoyproxy.io/docs/envoy/latest/configuration/http/http_filters/local_rate_limit_filter
 */
import type { Clock } from "../../../core/clock.ts";
import type { Counter } from "../../../core/stats.ts";
import {
  type FilterStatus,
  registerHttpFilterRuntime,
  type RequestHeaders,
  type ResponseHeaders,
  type StreamCallbacks,
  type StreamFilter,
} from "../../../http/filter.ts";
import { ResponseFlag } from "../../../http/response_flags.ts";
import { applyHeaderMutations, CompiledHeaderMutations, type HeaderFormatInput } from "../../../router/header_formatter.ts";
import { perRouteConfig } from "../../../router/route_table.ts";
import { draw } from "../percent.ts";

const NAME = "envoy.filters.http.local_ratelimit";
import { LOCAL_RATELIMIT_TYPE_URL, type LocalRateLimitModel } from "./config.ts";

/** The bucket and stats of one filter instance (shared by its streams). */
class Bucket {
  tokens: number;
  lastFill: number;
  readonly enabled: Counter;
  readonly enforced: Counter;
  readonly rateLimited: Counter;
  readonly ok: Counter;
  readonly headers: CompiledHeaderMutations;
  constructor(readonly m: LocalRateLimitModel, readonly clock: Clock, stats: { counter(n: string): Counter }) {
    this.tokens = m.maxTokens;
    this.lastFill = clock.now();
    const p = `${m.statPrefix}.http_local_rate_limit.`;
    this.enabled = stats.counter(p + "enabled");
    this.enforced = stats.counter(p + "enforced");
    this.rateLimited = stats.counter(p + "rate_limited");
    this.ok = stats.counter(p + "ok");
    this.headers = new CompiledHeaderMutations({
      requestHeadersToAdd: m.requestHeadersToAddWhenNotEnforced,
      requestHeadersToRemove: [],
      responseHeadersToAdd: m.responseHeadersToAdd,
      responseHeadersToRemove: [],
    });
  }
  /** Takes a token if there is one (after adding the fills due since the last one). */
  take(): boolean {
    const m = this.m;
    const now = this.clock.now();
    const fills = Math.floor((now - this.lastFill) / m.fillIntervalMs);
    if (fills > 0) {
      this.tokens = Math.min(m.maxTokens, this.tokens + fills * m.tokensPerFill);
      this.lastFill += fills * m.fillIntervalMs;
    }
    if (this.tokens <= 0) return false;
    this.tokens--;
    return true;
  }
}

/** The filter's bucket and the per-route buckets (one per per-route config, made on first use). */
class Shared {
  readonly perRoute = new WeakMap<object, Bucket>();
  constructor(readonly base: Bucket, readonly name: string, readonly clock: Clock, readonly stats: { counter(n: string): Counter }) {}
  bucketFor(m: LocalRateLimitModel): Bucket {
    let b = this.perRoute.get(m);
    if (b === undefined) this.perRoute.set(m, (b = new Bucket(m, this.clock, this.stats)));
    return b;
  }
}

class LocalRateLimitFilter implements StreamFilter {
  #limited = false;
  #bucket: Bucket;
  constructor(readonly cb: StreamCallbacks, readonly shared: Shared) {
    this.#bucket = shared.base;
  }

  get bucket(): Bucket {
    return this.#bucket;
  }

  decodeHeaders(req: RequestHeaders, _endStream: boolean): FilterStatus {
    // A per-route LocalRateLimit has its own bucket (Envoy: per route configuration).
    const pr = perRouteConfig(this.cb, this.shared.name);
    if (pr?.disabled) return "continue";
    if (pr?.config) this.#bucket = this.shared.bucketFor(pr.config as LocalRateLimitModel);
    const b = this.#bucket;
    if (!draw(b.m.enabled)) return "continue";
    b.enabled.inc();
    if (b.take()) {
      b.ok.inc();
      return "continue";
    }
    b.rateLimited.inc();
    if (!draw(b.m.enforced)) {
      if (b.headers.requestAdd.length > 0) applyHeaderMutations(req.headers, [], b.headers.requestAdd, this.#fmt(null));
      return "continue";
    }
    b.enforced.inc();
    this.#limited = true;
    this.cb.sendLocalReply(b.m.status, "local_rate_limited", ResponseFlag.RateLimited, "local_rate_limited");
    return "stop";
  }

  encodeHeaders(resp: ResponseHeaders, _endStream: boolean): FilterStatus {
    if (!this.#limited) return "continue";
    resp.headers.set("x-envoy-ratelimited", "true");
    if (this.bucket.headers.responseAdd.length > 0) applyHeaderMutations(resp.headers, [], this.bucket.headers.responseAdd, this.#fmt(resp));
    return "continue";
  }

  #fmt(resp: ResponseHeaders | null): HeaderFormatInput {
    return { info: this.cb.streamInfo, req: this.cb.request, resp, upstreamHost: "" };
  }

  onDestroy(): void {}
}

registerHttpFilterRuntime({
  name: NAME,
  typeUrls: [LOCAL_RATELIMIT_TYPE_URL],
  createFilterFactory(config, ctx) {
    const shared = new Shared(new Bucket(config as LocalRateLimitModel, ctx.wheel.clock, ctx.stats), ctx.filterName ?? NAME, ctx.wheel.clock, ctx.stats);
    return (cb) => new LocalRateLimitFilter(cb, shared);
  },
});
