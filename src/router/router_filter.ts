/**
 * The router filter, `envoy.filters.http.router` (worker side): picks the route's cluster and
 * host, streams the request to a pooled upstream connection and the response back, enforces the
 * route timeout, and turns upstream failures into Envoy's local replies and response flags.
 * https://www.envoyproxy.io/docs/envoy/latest/configuration/http/http_filters/router_filter
 */
import type { Counter } from "../core/stats.ts";
import { type TimerTarget, type TimerWheel, WheelTimer } from "../core/timer_wheel.ts";
import type {
  FilterStatus,
  HttpFilterFactoryContext,
  RequestHeaders,
  ResponseHeaders,
  StreamCallbacks,
  StreamFilter,
  StreamFilterFactory,
} from "../http/filter.ts";
import { HeaderMap } from "../http/header_map.ts";
import type { ResponseHead } from "../http/http1/parser.ts";
import { CRLF, encodeChunkHeader, encodeRequestHead, encodeTrailers, LAST_CHUNK } from "../http/http1/encoder.ts";
import { ResponseFlag } from "../http/response_flags.ts";
import type { WatermarkListener } from "../network/write_batch.ts";
import type { ClusterStats } from "../upstream/cluster_stats.ts";
import type { UpstreamRequestHandle, UpstreamResetReason, UpstreamStreamHandler } from "../upstream/conn_pool/http1_pool.ts";
import type { Host } from "../upstream/host.ts";
import type { ThreadLocalCluster, ThreadLocalClusterManager } from "../upstream/thread_local_cluster.ts";
import type { HeaderFormatInput } from "./header_formatter.ts";
import { ShadowRequest, shadowHost } from "./shadow.ts";
import { CompiledRetryPolicy, type CompiledRoute, finalizeRequestHeaders, finalizeResponseHeaders, resolveRoute, rewriteHost } from "./route_table.ts";

const EMPTY = new Uint8Array(0);
/** [cluster-manager] body of the circuit-breaker overflow reply (Envoy's text). */
const OVERFLOW_BODY = new TextEncoder().encode("upstream connect error or disconnect/reset before headers. reset reason: overflow");
const TIMER_ROUTE = 1;
const TIMER_RETRY = 2;
const TIMER_PER_TRY = 3;
const TIMER_IDLE = 4;
const TIMER_MAX_DURATION = 5;

/** The request headers the router consumes (Envoy's "HTTP headers consumed"). */
const ROUTER_HEADERS = [
  "x-envoy-upstream-rq-timeout-ms",
  "x-envoy-upstream-rq-per-try-timeout-ms",
  "x-envoy-retry-on",
  "x-envoy-max-retries",
  "x-envoy-retriable-status-codes",
];

/** One pass over the names: does the request carry one of ROUTER_HEADERS? */
function hasRouterHeader(h: HeaderMap): boolean {
  for (let i = 0, n = h.size; i < n; i++) {
    const name = h.nameAt(i);
    if (name.length > 15 && name.charCodeAt(0) === 120 /* x */ && name.startsWith("x-envoy-") && ROUTER_HEADERS.includes(name)) return true;
  }
  return false;
}

/** Retry stats of one cluster (`cluster.<name>.upstream_rq_retry…`), resolved on first retry. */
class RetryStats {
  readonly retry: Counter;
  readonly success: Counter;
  readonly limitExceeded: Counter;
  readonly perTryTimeout: Counter;
  constructor(ctx: HttpFilterFactoryContext, cluster: string) {
    const p = `cluster.${cluster}.`;
    this.retry = ctx.stats.counter(p + "upstream_rq_retry");
    this.success = ctx.stats.counter(p + "upstream_rq_retry_success");
    this.limitExceeded = ctx.stats.counter(p + "upstream_rq_retry_limit_exceeded");
    this.perTryTimeout = ctx.stats.counter(p + "upstream_rq_per_try_timeout");
  }
}

/** Response headers that describe one hop only (RFC 9110 §7.6.1) and never pass through. */
const HOP_BY_HOP_RESPONSE = ["connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade"];

/** Router stats under `http.<stat_prefix>.` plus shared handles (built once per factory). */
class RouterShared {
  readonly noRoute: Counter;
  readonly noCluster: Counter;
  readonly rqDirectResponse: Counter;
  readonly rqTotal: Counter;
  readonly rqRedirect: Counter;
  #seed = (Math.random() * 0x7fffffff) | 1;
  constructor(readonly ctx: HttpFilterFactoryContext) {
    const p = ctx.statPrefix;
    this.noRoute = ctx.stats.counter(p + "no_route");
    this.noCluster = ctx.stats.counter(p + "no_cluster");
    this.rqDirectResponse = ctx.stats.counter(p + "rq_direct_response");
    this.rqTotal = ctx.stats.counter(p + "rq_total");
    this.rqRedirect = ctx.stats.counter(p + "rq_redirect");
  }
  readonly #retryStats = new Map<string, RetryStats>();
  /** The retry stats of `cluster` (looked up only on retry paths, never per request). */
  retryStats(cluster: string): RetryStats {
    let r = this.#retryStats.get(cluster);
    if (r === undefined) this.#retryStats.set(cluster, (r = new RetryStats(this.ctx, cluster)));
    return r;
  }
  /** A non-negative 31-bit pseudo-random number (xorshift; for weighted cluster choice). */
  random(): number {
    let x = this.#seed;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.#seed = x;
    return x >>> 1;
  }
  get clusterManager(): ThreadLocalClusterManager {
    return this.ctx.clusterManager;
  }
  get wheel(): TimerWheel {
    return this.ctx.wheel;
  }
}

/** Builds the router's per-stream constructor (once per config version). */
export function createRouterFilterFactory(_config: unknown, ctx: HttpFilterFactoryContext): StreamFilterFactory {
  const shared = new RouterShared(ctx);
  return (cb) => new RouterFilter(cb, shared);
}

/** One stream's router: the upstream request and its response. */
class RouterFilter implements StreamFilter, UpstreamStreamHandler, TimerTarget, WatermarkListener {
  #route: CompiledRoute | null = null;
  #cluster: ThreadLocalCluster | null = null;
  #stats: ClusterStats | null = null;
  #conn: UpstreamRequestHandle | null = null;
  #chunked = false;
  #requestDone = false;
  #responseStarted = false;
  #responseDone = false;
  #endedAtHeaders = false;
  #retriedStale = false;
  /** The request is an HTTP/1.1 Upgrade the HCM accepted (upgrade_configs): forwarded with its
   *  `connection: upgrade` / `upgrade` headers and no body framing. */
  #upgrade = false;
  /** The upstream answered the upgrade with 101: bytes now pass raw both ways. */
  #tunnel = false;
  #upstreamStart = 0;
  #method = "";
  /** Input of the route's header formatters (one object per stream, only when routed). */
  #fmt: HeaderFormatInput | null = null;
  readonly #timer: WheelTimer;
  // --- retries (only used when the route has a retry_policy) ---
  #retry: CompiledRetryPolicy | null = null;
  /** Upstream attempts started (1 = the first try). */
  #attempts = 0;
  /** Copies of the request body for retries; null when there is no policy or it overflowed. */
  #body: Uint8Array[] | null = null;
  #bodyBytes = 0;
  #trailers: HeaderMap | null = null;
  #triedHosts: Host[] | null = null;
  #awaitingRetry = false;
  /** The route timeout and per-try timeout of this stream (route config, or request headers). */
  #timeoutMs = 0;
  #perTryMs = 0;
  /** Mirrored copies of this request (request_mirror_policies), or null. */
  #shadows: ShadowRequest[] | null = null;
  /** A hash_policy cookie generated for this client, set on the response. */
  #setCookie: string | undefined = undefined;
  /** The weighted_clusters entry chosen (-1: none). */
  #weighted = -1;
  /** A max_retries circuit breaker slot is held (from scheduling until the retry starts). */
  #holdsRetry = false;
  #retryTimer: WheelTimer | null = null;
  #perTryTimer: WheelTimer | null = null;
  /** Route idle_timeout (no activity either way for that long ends the stream). */
  #idleTimer: WheelTimer | null = null;
  /** Route max_stream_duration. */
  #durationTimer: WheelTimer | null = null;

  constructor(readonly cb: StreamCallbacks, readonly shared: RouterShared) {
    this.#timer = new WheelTimer(this, TIMER_ROUTE);
  }

  decodeHeaders(req: RequestHeaders, endStream: boolean): FilterStatus {
    const cb = this.cb;
    const route = resolveRoute(cb);
    if (route === null) {
      this.shared.noRoute.inc();
      cb.sendLocalReply(404, "", ResponseFlag.NoRouteFound, "route_not_found");
      return "stop";
    }
    this.#route = route;
    // The header formatters' input, only for routes with custom headers (no allocation otherwise).
    if (route.hasRequestMutations || route.hasResponseMutations) this.#fmt = { info: cb.streamInfo, req, resp: null, upstreamHost: "" };
    cb.streamInfo.routeName = route.name;
    if (route.kind === "direct_response") {
      this.shared.rqDirectResponse.inc();
      this.#sendDirect(route);
      return "stop";
    }
    if (route.kind === "redirect") {
      this.shared.rqRedirect.inc();
      const h = new HeaderMap();
      h.set("location", route.redirectLocation(req));
      h.set("content-length", "0");
      cb.streamInfo.responseCodeDetails = "direct_response";
      cb.encodeHeaders({ status: route.redirectCode, headers: h }, true);
      return "stop";
    }
    let clusterName: string;
    if (route.weighted !== null) {
      this.#weighted = route.chooseWeighted(this.shared.random());
      clusterName = route.weighted.names[this.#weighted]!;
    } else clusterName = route.chooseCluster(req, 0);
    const cluster = this.shared.clusterManager.get(clusterName);
    cb.streamInfo.upstreamCluster = clusterName;
    if (cluster === undefined) {
      this.shared.noCluster.inc();
      cb.sendLocalReply(route.clusterNotFoundStatus, "", ResponseFlag.NoClusterFound, "cluster_not_found");
      return "stop";
    }
    this.#cluster = cluster;
    this.#stats = cluster.info.stats;
    this.shared.rqTotal.inc();

    const headers = req.headers;
    this.#timeoutMs = route.timeoutMs;
    let retry = route.retryPolicy;
    this.#perTryMs = retry === null ? 0 : retry.perTryTimeoutMs;
    // Envoy's router request headers (the HCM strips x-envoy-* from external requests, so only
    // trusted clients get here with them): timeouts and retry policy overrides, then removed.
    if (hasRouterHeader(headers)) retry = this.#applyRouterHeaders(headers, retry);
    finalizeRequestHeaders(route, req, this.#fmt, this.#weighted);
    // An upgrade the HCM accepted arrives with `connection: upgrade` + `upgrade` and an open
    // stream: what follows a 101 is the tunnelled protocol, not an HTTP body (RFC 9110 §7.8).
    this.#upgrade = !endStream && headers.has("upgrade");
    // Framing towards the upstream (RFC 9112 §6): keep a known length, else chunk the body.
    // An upgrade request has no body: neither chunked framing nor content-length is added.
    this.#chunked = !endStream && !this.#upgrade && !headers.has("content-length");
    if (this.#chunked) headers.set("transfer-encoding", "chunked");
    const expected = this.#perTryMs > 0 && (this.#timeoutMs === 0 || this.#perTryMs < this.#timeoutMs) ? this.#perTryMs : this.#timeoutMs;
    if (expected > 0) headers.set("x-envoy-expected-rq-timeout-ms", String(expected));
    this.#method = req.method;
    // Upgrades are neither retried nor mirrored: the tunnel's bytes are not a replayable body.
    if (retry !== null && retry.numRetries > 0 && retry.bits !== 0 && !this.#upgrade) {
      this.#retry = retry;
      this.#body = [];
      this.#retryTimer = new WheelTimer(this, TIMER_RETRY);
    }
    if (this.#perTryMs > 0) this.#perTryTimer = new WheelTimer(this, TIMER_PER_TRY);
    if (route.mirrors.length > 0 && !this.#upgrade) this.#startShadows(route, req, endStream);
    if (route.idleTimeoutMs > 0) {
      this.#idleTimer = new WheelTimer(this, TIMER_IDLE);
      this.shared.wheel.arm(this.#idleTimer, route.idleTimeoutMs);
    }
    if (route.maxStreamDurationMs > 0) {
      // max_stream_duration counts from the start of the stream (the request headers).
      const elapsed = this.shared.wheel.clock.now() - cb.streamInfo.startMono;
      this.#durationTimer = new WheelTimer(this, TIMER_MAX_DURATION);
      this.shared.wheel.arm(this.#durationTimer, Math.max(0, route.maxStreamDurationMs - elapsed));
    }
    if (!this.#startUpstream()) return "stop";
    if (endStream) this.#onRequestComplete();
    return "stop";
  }

  /** The router is the first encoder of every response it starts (and of local replies sent
   *  while it runs): the route's response header mutations go on here, as Envoy's router does. */
  encodeHeaders(resp: ResponseHeaders, _endStream: boolean): FilterStatus {
    const route = this.#route;
    if (route !== null && route.hasResponseMutations) finalizeResponseHeaders(route, resp, this.#fmt!, this.#weighted);
    if (this.#setCookie !== undefined) resp.headers.add("set-cookie", this.#setCookie);
    return "continue";
  }

  decodeData(data: Uint8Array, endStream: boolean): FilterStatus {
    if (this.#idleTimer !== null) this.#touch();
    const shadows = this.#shadows;
    if (shadows !== null) {
      for (let i = 0; i < shadows.length; i++) {
        shadows[i]!.data(data, endStream);
        if (endStream) shadows[i]!.arm(this.#timeoutMs);
      }
    }
    if (this.#body !== null) this.#keepForRetry(data);
    if (this.#awaitingRetry) {
      // Between attempts: the body is kept and goes out with the next attempt.
      if (endStream) this.#requestDoneBetweenAttempts();
      return "stop";
    }
    const conn = this.#conn;
    if (conn === null) return "stop";
    if (this.#chunked) {
      if (data.length > 0) {
        conn.write(encodeChunkHeader(data.length));
        conn.write(data);
        conn.write(CRLF);
      }
      if (endStream) conn.write(LAST_CHUNK);
    } else {
      conn.write(data);
    }
    if (endStream) this.#onRequestComplete();
    return "stop";
  }

  decodeTrailers(trailers: HeaderMap): FilterStatus {
    this.#trailers = trailers;
    const shadows = this.#shadows;
    if (shadows !== null) {
      for (let i = 0; i < shadows.length; i++) {
        shadows[i]!.trailers(trailers);
        shadows[i]!.arm(this.#timeoutMs);
      }
    }
    if (this.#awaitingRetry) {
      this.#requestDoneBetweenAttempts();
      return "stop";
    }
    const conn = this.#conn;
    if (conn === null) return "stop";
    // Trailers need chunked framing; with a content-length body HTTP/1.1 cannot carry them.
    if (this.#chunked) conn.write(encodeTrailers(trailers));
    this.#onRequestComplete();
    return "stop";
  }

  onDestroy(): void {
    this.#releaseRetry();
    // Mirrored requests outlive the stream once complete; an incomplete one cannot finish.
    if (this.#shadows !== null && !this.#requestDone) for (const sh of this.#shadows) sh.abort();
    this.shared.wheel.disarm(this.#timer);
    if (this.#idleTimer !== null) this.shared.wheel.disarm(this.#idleTimer);
    if (this.#durationTimer !== null) this.shared.wheel.disarm(this.#durationTimer);
    if (this.#retryTimer !== null) this.shared.wheel.disarm(this.#retryTimer);
    if (this.#perTryTimer !== null) this.shared.wheel.disarm(this.#perTryTimer);
    this.cb.setDownstreamWatermarkListener(null);
    const conn = this.#conn;
    if (conn !== null) {
      this.#conn = null;
      if (!this.#responseDone) {
        // The downstream went away mid-exchange: the upstream connection cannot be reused.
        this.#stats!.upstreamRqTxReset.inc();
        this.#finishUpstreamRq();
        conn.reset();
      }
    }
  }

  // --- upstream -------------------------------------------------------------------------------
  #startUpstream(): boolean {
    const cluster = this.#cluster!;
    const route = this.#route!;
    // hash_policy → the load balancer's hash key (ring hash, Maglev); computed per attempt.
    let lbCtx: { hashKey: number } | undefined;
    if (route.hashPolicy.length > 0) {
      const h = route.requestHash(this.cb.request, this.cb.downstreamRemoteAddress);
      if (h.hashKey !== undefined) lbCtx = { hashKey: h.hashKey };
      if (h.setCookie !== undefined) this.#setCookie = h.setCookie;
    }
    let host = cluster.chooseHost(lbCtx);
    const retry = this.#retry;
    if (retry !== null) {
      // retry_host_predicate previous_hosts: re-pick a host already tried, a bounded number of times.
      const tried = this.#triedHosts;
      if (tried !== null && retry.previousHosts) {
        for (let k = 0; k < retry.hostSelectionMaxAttempts && host !== null && tried.includes(host); k++) host = cluster.chooseHost(lbCtx);
      }
      if (host !== null) (this.#triedHosts ??= []).push(host);
    }
    this.#attempts++;
    if (host === null) {
      this.#stats!.upstreamCxNoneHealthy.inc();
      this.cb.sendLocalReply(503, "no healthy upstream", ResponseFlag.NoHealthyUpstream, "no_healthy_upstream");
      return false;
    }
    this.cb.streamInfo.upstreamHost = host.addressString;
    const req = this.cb.request;
    if (this.#fmt !== null) this.#fmt.upstreamHost = host.addressString;
    // auto_host_rewrite: the upstream host's address becomes the Host.
    if (this.#route!.autoHostRewrite) rewriteHost(this.#route!, req, host.addressString);
    const headers = req.headers;
    if (this.#route!.includeRequestAttemptCount) headers.set("x-envoy-attempt-count", String(this.#attempts));
    // The authority goes out as the Host line. The map normally has none (the HCM moved it to
    // :authority): the line is then written after the others (the bytes headers.set("host")
    // would give) straight into the connection's write batch, without touching the map. A
    // host line a filter added is overwritten in place and then dropped, as always.
    let head: Uint8Array | null = null;
    if (headers.has("host")) {
      headers.set("host", req.authority);
      head = encodeRequestHead(req.method, req.path, headers);
      headers.remove("host");
    }
    const stats = this.#stats!;
    // [cluster-manager] a circuit breaker overflow (max_requests / max_pending_requests) is a
    // 503 with flag UO and `x-envoy-overloaded: true`, as Envoy answers it.
    const conn = cluster.httpPool(host).acquire(this, this.#method, this.#upgrade);
    if (conn === null) {
      this.#sendOverflow();
      return false;
    }
    // [/cluster-manager]
    stats.upstreamRqTotal.inc();
    stats.upstreamRqActive.inc();
    this.#upstreamStart = this.shared.wheel.clock.now();
    this.#conn = conn;
    if (head !== null) conn.write(head);
    else conn.writeHead(req.method, req.path, headers, req.authority);
    if (this.#attempts > 1 && this.#body !== null) this.#replayBody(conn);
    this.cb.setDownstreamWatermarkListener(this);
    return true;
  }

  /** request_mirror_policies: a fire-and-forget copy of the request to each drawn cluster. */
  #startShadows(route: CompiledRoute, req: RequestHeaders, endStream: boolean): void {
    const headers = req.headers;
    for (const m of route.mirrors) {
      if (m.numerator < m.denominator && this.shared.random() % m.denominator >= m.numerator) continue;
      const cluster = this.shared.clusterManager.get(m.cluster);
      const host = cluster?.chooseHost() ?? null;
      if (cluster === undefined || host === null) continue;
      const sh = new ShadowRequest(this.shared.wheel, this.#chunked);
      const conn = cluster.httpPool(host).acquire(sh, req.method);
      if (conn === null) continue;
      sh.conn = conn;
      cluster.info.stats.upstreamRqTotal.inc();
      headers.set("host", m.disableShadowHostSuffixAppend ? req.authority : shadowHost(req.authority));
      conn.write(encodeRequestHead(req.method, req.path, headers));
      headers.remove("host");
      if (endStream) {
        conn.requestComplete();
        sh.arm(this.#timeoutMs);
      }
      (this.#shadows ??= []).push(sh);
    }
  }

  /** Keeps a copy of a request body chunk for retries, until the body outgrows the limit. */
  #keepForRetry(data: Uint8Array): void {
    this.#bodyBytes += data.length;
    if (this.#bodyBytes > this.#route!.retryBufferLimit) {
      this.#body = null; // too long to buffer: no retry for this request (as Envoy)
      return;
    }
    // Chunks may be views of reused read buffers: copy.
    if (data.length > 0) this.#body!.push(data.slice());
  }

  /** A retry attempt: the body received so far (and its end, if the request is complete). */
  #replayBody(conn: UpstreamRequestHandle): void {
    const body = this.#body!;
    for (let i = 0; i < body.length; i++) {
      const c = body[i]!;
      if (this.#chunked) {
        conn.write(encodeChunkHeader(c.length));
        conn.write(c);
        conn.write(CRLF);
      } else {
        conn.write(c);
      }
    }
    if (this.#requestDone) {
      if (this.#chunked) conn.write(this.#trailers !== null ? encodeTrailers(this.#trailers) : LAST_CHUNK);
      conn.requestComplete();
      this.#armPerTry();
    }
  }

  /** The downstream request ended while no attempt was in flight: the route timeout starts. */
  #requestDoneBetweenAttempts(): void {
    this.#requestDone = true;
    const t = this.#timeoutMs;
    if (t > 0) this.shared.wheel.arm(this.#timer, t);
  }

  #disarmAll(): void {
    const w = this.shared.wheel;
    w.disarm(this.#timer);
    if (this.#retryTimer !== null) w.disarm(this.#retryTimer);
    if (this.#perTryTimer !== null) w.disarm(this.#perTryTimer);
    if (this.#idleTimer !== null) w.disarm(this.#idleTimer);
    if (this.#durationTimer !== null) w.disarm(this.#durationTimer);
  }

  /** Route idle_timeout (flag SI) and max_stream_duration (flag DT), as Envoy's stream timeouts:
   *  504 when the request was complete, 408 when it was not; a reset once the response started. */
  #onStreamTimeout(flag: number, text: string, details: string): void {
    this.#disarmAll();
    this.#releaseRetry();
    this.#awaitingRetry = false;
    const conn = this.#conn;
    this.#conn = null;
    if (conn !== null) {
      this.#finishUpstreamRq();
      conn.reset("timeout");
    }
    if (this.#responseStarted) {
      this.cb.resetStream(flag, details);
    } else {
      this.cb.sendLocalReply(this.#requestDone ? 504 : 408, text, flag, details);
    }
  }

  /** Activity on the stream: the route idle_timeout starts over. */
  #touch(): void {
    this.shared.wheel.arm(this.#idleTimer!, this.#route!.idleTimeoutMs);
  }

  #armPerTry(): void {
    const t = this.#perTryTimer;
    if (t !== null) this.shared.wheel.arm(t, this.#perTryMs);
  }

  /** On a retriable outcome: schedules the next attempt and returns true, or returns false
   *  after flagging why not — URX when retries ran out, UO when the cluster's max_retries
   *  circuit breaker is full (Envoy's RetryStatus::NoOverflow). A body too long to keep
   *  disables retries without a flag. */
  #maybeRetry(timeout: boolean): boolean {
    const r = this.#retry;
    if (r === null || this.#body === null) return false;
    if (this.#attempts > r.numRetries) {
      this.#retriesExhausted();
      return false;
    }
    const cluster = this.#cluster as ThreadLocalCluster & { tryRetry?(): boolean };
    if (cluster.tryRetry !== undefined && !cluster.tryRetry()) {
      this.cb.streamInfo.responseFlags |= ResponseFlag.UpstreamOverflow;
      return false;
    }
    this.#holdsRetry = true;
    this.#scheduleRetry(timeout);
    return true;
  }

  /** Gives back the max_retries circuit breaker slot taken for a scheduled retry. */
  #releaseRetry(): void {
    if (!this.#holdsRetry) return;
    this.#holdsRetry = false;
    (this.#cluster as ThreadLocalCluster & { retryDone?(): void }).retryDone?.();
  }

  /** Abandons the current attempt and schedules the next one after the back-off. */
  #scheduleRetry(timeout: boolean): void {
    const conn = this.#conn;
    this.#conn = null;
    if (conn !== null) {
      this.#finishUpstreamRq();
      if (timeout) conn.reset("timeout");
      else conn.reset();
    }
    if (this.#perTryTimer !== null) this.shared.wheel.disarm(this.#perTryTimer);
    this.shared.retryStats(this.cb.streamInfo.upstreamCluster).retry.inc();
    this.#awaitingRetry = true;
    this.shared.wheel.arm(this.#retryTimer!, this.#retry!.backOffMs(this.#attempts, this.shared.random()));
  }

  /** Retries are exhausted on a retriable outcome: URX, as Envoy flags it. */
  #retriesExhausted(): void {
    this.cb.streamInfo.responseFlags |= ResponseFlag.UpstreamRetryLimitExceeded;
    this.shared.retryStats(this.cb.streamInfo.upstreamCluster).limitExceeded.inc();
  }

  /** x-envoy-upstream-rq-timeout-ms, x-envoy-upstream-rq-per-try-timeout-ms, x-envoy-retry-on,
   *  x-envoy-max-retries, x-envoy-retriable-status-codes: read, applied to this stream, removed.
   *  https://www.envoyproxy.io/docs/envoy/latest/configuration/http/http_filters/router_filter#http-headers-consumed */
  #applyRouterHeaders(h: HeaderMap, retry: CompiledRetryPolicy | null): CompiledRetryPolicy | null {
    const num = (name: string): number | undefined => {
      const v = h.get(name);
      h.remove(name);
      return v !== undefined && /^\d+$/.test(v) ? Number(v) : undefined;
    };
    const timeout = num("x-envoy-upstream-rq-timeout-ms");
    if (timeout !== undefined) this.#timeoutMs = timeout;
    const perTry = num("x-envoy-upstream-rq-per-try-timeout-ms");
    // Envoy ignores a per-try timeout that is not below the global one.
    if (perTry !== undefined && (this.#timeoutMs === 0 || perTry < this.#timeoutMs)) this.#perTryMs = perTry;
    const retryOn = h.get("x-envoy-retry-on");
    h.remove("x-envoy-retry-on");
    const maxRetries = num("x-envoy-max-retries");
    const codesText = h.get("x-envoy-retriable-status-codes");
    h.remove("x-envoy-retriable-status-codes");
    if (retryOn === undefined && maxRetries === undefined && codesText === undefined) return retry;
    const codes = codesText === undefined ? [] : codesText.split(",").map((c) => Number(c.trim())).filter((c) => Number.isInteger(c) && c >= 100 && c <= 599);
    return CompiledRetryPolicy.withOverrides(retry, retryOn, maxRetries, codes, this.#perTryMs);
  }

  #onRequestComplete(): void {
    this.#requestDone = true;
    this.#conn?.requestComplete();
    if (this.#conn !== null) this.#armPerTry();
    const t = this.#timeoutMs;
    // The route timeout spans from the end of the downstream request to the end of the response;
    // an established tunnel has no response end to wait for (only the route idle_timeout applies).
    if (t > 0 && !this.#responseDone && !this.#tunnel) this.shared.wheel.arm(this.#timer, t);
  }

  #finishUpstreamRq(): void {
    this.#stats!.upstreamRqActive.dec();
  }

  /** The upstream's 100 Continue (HCM proxy_100_continue relays it downstream). */
  onResponse100Continue(): void {
    this.cb.encode100Continue?.();
  }

  onResponseHead(head: ResponseHead): void {
    const retry = this.#retry;
    if (retry !== null && retry.retriableResponse(head.status, head.headers)) {
      if (this.#maybeRetry(false)) {
        this.#stats!.upstreamRqByClass[(head.status / 100) | 0]?.inc();
        return;
      }
    } else if (this.#attempts > 1 && retry !== null) {
      this.shared.retryStats(this.cb.streamInfo.upstreamCluster).success.inc();
    }
    if (this.#perTryTimer !== null && head.framing === "none") this.shared.wheel.disarm(this.#perTryTimer);
    if (this.#route!.includeAttemptCountInResponse) head.headers.set("x-envoy-attempt-count", String(this.#attempts));
    if (this.#idleTimer !== null) this.#touch();
    this.#responseStarted = true;
    const cb = this.cb;
    const stats = this.#stats!;
    const now = this.shared.wheel.clock.now();
    cb.streamInfo.firstUpstreamRxMono = now;
    const headers = head.headers;
    const upgraded = head.status === 101 && this.#upgrade;
    if (upgraded) {
      // The upgrade succeeded: the upstream connection is this stream's tunnel for life. The
      // route timeout (to the end of a response) no longer applies; the HCM writes the 101 with
      // `connection: upgrade` and keeps the upstream's `upgrade` value.
      this.#tunnel = true;
      this.shared.wheel.disarm(this.#timer);
      const upgradeValue = headers.get("upgrade");
      for (let i = 0; i < HOP_BY_HOP_RESPONSE.length; i++) headers.remove(HOP_BY_HOP_RESPONSE[i]!);
      if (upgradeValue !== undefined) headers.set("upgrade", upgradeValue);
    } else {
      for (let i = 0; i < HOP_BY_HOP_RESPONSE.length; i++) headers.remove(HOP_BY_HOP_RESPONSE[i]!);
    }
    headers.set("x-envoy-upstream-service-time", String(Math.round(now - this.#upstreamStart)));
    stats.upstreamRqByClass[(head.status / 100) | 0]?.inc();
    // A 101 has no body but opens the tunnel: the stream stays open until the upstream's FIN.
    const endStream = head.framing === "none" && !upgraded;
    this.#endedAtHeaders = endStream;
    cb.encodeHeaders({ status: head.status, headers }, endStream);
  }

  onResponseBody(chunk: Uint8Array): void {
    if (this.#idleTimer !== null) this.#touch();
    this.cb.encodeData(chunk, false);
  }

  onResponseTrailers(trailers: HeaderMap): void {
    this.#endedAtHeaders = true; // the trailers end the stream
    this.cb.encodeTrailers(trailers);
  }

  onResponseComplete(): void {
    this.#responseDone = true;
    this.shared.wheel.disarm(this.#timer);
    if (this.#idleTimer !== null) this.shared.wheel.disarm(this.#idleTimer);
    if (this.#perTryTimer !== null) this.shared.wheel.disarm(this.#perTryTimer);
    const stats = this.#stats!;
    stats.upstreamRqCompleted.inc();
    stats.upstreamRqTime.record(this.shared.wheel.clock.now() - this.#upstreamStart);
    this.#finishUpstreamRq();
    const conn = this.#conn;
    this.#conn = null;
    // An early response (e.g. 413 before the whole body was sent) is forwarded as is; the
    // upstream connection cannot carry the rest of the request, so it is closed, and the HCM
    // closes the downstream once the response is out (the request never completed).
    if (!this.#requestDone) conn?.reset();
    if (!this.#endedAtHeaders) this.cb.encodeData(EMPTY, true);
  }

  onUpstreamReset(reason: UpstreamResetReason, detail: string): void {
    const conn = this.#conn;
    this.#conn = null;
    if (!this.#responseStarted && conn !== null && conn.requests > 1 && conn.responseBytes === 0 &&
      !this.#retriedStale && this.#requestDone && !this.#chunked && !this.#upgrade && !this.cb.request.headers.has("content-length")) {
      // A keep-alive connection the upstream closed while idle (the race RFC 9112 §9.3.1
      // describes). The request had no body and nothing came back: send it once more.
      this.#retriedStale = true;
      this.#finishUpstreamRq();
      if (this.#startUpstream()) this.#onRequestComplete();
      return;
    }
    const stats = this.#stats!;
    const connectFailure = reason === "connection_failure" || reason === "connect_timeout";
    if (!this.#responseStarted && this.#retry !== null && this.#retry.retriableReset(connectFailure)) {
      if (this.#maybeRetry(false)) {
        stats.upstreamRqRxReset.inc();
        this.#finishUpstreamRq();
        return;
      }
    }
    this.shared.wheel.disarm(this.#timer);
    if (this.#perTryTimer !== null) this.shared.wheel.disarm(this.#perTryTimer);
    stats.upstreamRqRxReset.inc();
    stats.upstreamRqPendingFailureEject.inc(reason === "connection_failure" || reason === "connect_timeout" ? 1 : 0);
    this.#finishUpstreamRq();
    let flag: number, status: number, text: string;
    switch (reason) {
      case "connection_failure":
      case "connect_timeout":
        flag = ResponseFlag.UpstreamConnectionFailure;
        status = 503;
        text = "connection failure";
        break;
      case "protocol_error":
        flag = ResponseFlag.UpstreamProtocolError;
        status = 502;
        text = "protocol error";
        break;
      default:
        flag = ResponseFlag.UpstreamConnectionTermination;
        status = 503;
        text = "connection termination";
    }
    if (this.#responseStarted) {
      this.cb.resetStream(flag === ResponseFlag.UpstreamConnectionTermination ? ResponseFlag.UpstreamRemoteReset : flag, "upstream_reset_after_response_started{" + reason + "}");
      return;
    }
    this.cb.sendLocalReply(
      status,
      `upstream connect error or disconnect/reset before headers. reset reason: ${text}`,
      flag,
      `upstream_reset_before_response_started{${reason}${detail ? "|" + detail : ""}}`,
    );
  }

  onUpstreamAboveWriteBufferHighWatermark(): void {
    this.cb.readDisable(true);
  }

  onUpstreamBelowWriteBufferLowWatermark(): void {
    this.cb.readDisable(false);
  }

  // --- downstream watermarks: a slow client pauses the upstream read --------------------------
  onAboveWriteBufferHighWatermark(): void {
    this.#conn?.socket.pause();
  }

  onBelowWriteBufferLowWatermark(): void {
    this.#conn?.socket.resume();
  }

  // --- route timeout ------------------------------------------------------------------------
  onTimer(kind: number): void {
    if (kind === TIMER_IDLE) {
      this.#onStreamTimeout(ResponseFlag.StreamIdleTimeout, "stream timeout", "stream_idle_timeout");
      return;
    }
    if (kind === TIMER_MAX_DURATION) {
      this.#onStreamTimeout(ResponseFlag.DurationTimeout, "downstream duration timeout", "max_duration_timeout");
      return;
    }
    if (kind === TIMER_RETRY) {
      this.#awaitingRetry = false;
      this.#releaseRetry();
      if (this.#startUpstream() && this.#requestDone && this.#attempts === 1) this.#onRequestComplete();
      return;
    }
    if (kind === TIMER_PER_TRY) {
      this.shared.retryStats(this.cb.streamInfo.upstreamCluster).perTryTimeout.inc();
      if (!this.#responseStarted && this.#retry !== null && this.#retry.retriableReset(false) && this.#maybeRetry(true)) {
        this.#stats!.upstreamRqTimeout.inc();
        return;
      }
    }
    this.#disarmAll();
    const conn = this.#conn;
    this.#conn = null;
    const stats = this.#stats!;
    stats.upstreamRqTimeout.inc();
    this.#finishUpstreamRq();
    conn?.reset("timeout"); // [cluster-manager] "timeout": counts for outlier detection
    if (this.#responseStarted) {
      this.cb.resetStream(ResponseFlag.UpstreamRequestTimeout, "upstream_response_timeout");
    } else {
      this.cb.sendLocalReply(504, "upstream request timeout", ResponseFlag.UpstreamRequestTimeout, "upstream_response_timeout");
    }
  }

  // [cluster-manager] Envoy's overflow reply: 503, flag UO, `x-envoy-overloaded: true`.
  #sendOverflow(): void {
    const cb = this.cb;
    const body = OVERFLOW_BODY;
    cb.streamInfo.responseFlags |= ResponseFlag.UpstreamOverflow;
    cb.streamInfo.responseCodeDetails = "upstream_overflow";
    const h = new HeaderMap();
    h.set("x-envoy-overloaded", "true");
    h.set("content-length", String(body.length));
    h.set("content-type", "text/plain");
    cb.encodeHeaders({ status: 503, headers: h }, false);
    cb.encodeData(body, true);
  }
  // [/cluster-manager]

  #sendDirect(route: CompiledRoute): void {
    const cb = this.cb;
    const body = route.directBody;
    const h = new HeaderMap();
    if (body !== null && body.length > 0) {
      h.set("content-length", String(body.length));
      h.set("content-type", "text/plain");
    } else {
      h.set("content-length", "0");
    }
    cb.streamInfo.responseCodeDetails = "direct_response";
    const hasBody = body !== null && body.length > 0;
    cb.encodeHeaders({ status: route.directStatus, headers: h }, !hasBody);
    if (hasBody) cb.encodeData(body!, true);
  }
}
