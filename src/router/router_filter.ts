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
import type { Http1UpstreamConnection, UpstreamResetReason, UpstreamStreamHandler } from "../upstream/conn_pool/http1_pool.ts";
import type { ThreadLocalCluster, ThreadLocalClusterManager } from "../upstream/thread_local_cluster.ts";
import type { CompiledRoute } from "./route_table.ts";

const EMPTY = new Uint8Array(0);
const TIMER_ROUTE = 1;

/** Response headers that describe one hop only (RFC 9110 §7.6.1) and never pass through. */
const HOP_BY_HOP_RESPONSE = ["connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade"];

/** Router stats under `http.<stat_prefix>.` plus shared handles (built once per factory). */
class RouterShared {
  readonly noRoute: Counter;
  readonly noCluster: Counter;
  readonly rqDirectResponse: Counter;
  readonly rqTotal: Counter;
  constructor(readonly ctx: HttpFilterFactoryContext) {
    const p = ctx.statPrefix;
    this.noRoute = ctx.stats.counter(p + "no_route");
    this.noCluster = ctx.stats.counter(p + "no_cluster");
    this.rqDirectResponse = ctx.stats.counter(p + "rq_direct_response");
    this.rqTotal = ctx.stats.counter(p + "rq_total");
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
  #conn: Http1UpstreamConnection | null = null;
  #chunked = false;
  #requestDone = false;
  #responseStarted = false;
  #responseDone = false;
  #endedAtHeaders = false;
  #retriedStale = false;
  #upstreamStart = 0;
  #head: Uint8Array | null = null;
  #method = "";
  readonly #timer: WheelTimer;

  constructor(readonly cb: StreamCallbacks, readonly shared: RouterShared) {
    this.#timer = new WheelTimer(this, TIMER_ROUTE);
  }

  decodeHeaders(req: RequestHeaders, endStream: boolean): FilterStatus {
    const cb = this.cb;
    const route = cb.route();
    if (route === null) {
      this.shared.noRoute.inc();
      cb.sendLocalReply(404, "", ResponseFlag.NoRouteFound, "route_not_found");
      return "stop";
    }
    this.#route = route;
    cb.streamInfo.routeName = route.name;
    if (route.kind === "direct_response") {
      this.shared.rqDirectResponse.inc();
      this.#sendDirect(route);
      return "stop";
    }
    const cluster = this.shared.clusterManager.get(route.clusterName);
    cb.streamInfo.upstreamCluster = route.clusterName;
    if (cluster === undefined) {
      this.shared.noCluster.inc();
      cb.sendLocalReply(503, "", ResponseFlag.NoClusterFound, "cluster_not_found");
      return "stop";
    }
    this.#cluster = cluster;
    this.#stats = cluster.info.stats;
    this.shared.rqTotal.inc();

    const headers = req.headers;
    // Framing towards the upstream (RFC 9112 §6): keep a known length, else chunk the body.
    this.#chunked = !endStream && !headers.has("content-length");
    if (this.#chunked) headers.set("transfer-encoding", "chunked");
    if (route.timeoutMs > 0) headers.set("x-envoy-expected-rq-timeout-ms", String(route.timeoutMs));
    const path = route.prefixRewrite === undefined ? req.path : route.rewritePath(req.path);
    headers.set("host", req.authority);
    this.#method = req.method;
    this.#head = encodeRequestHead(req.method, path, headers);
    headers.remove("host");
    if (!this.#startUpstream()) return "stop";
    if (endStream) this.#onRequestComplete();
    return "stop";
  }

  decodeData(data: Uint8Array, endStream: boolean): FilterStatus {
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
    const conn = this.#conn;
    if (conn === null) return "stop";
    // Trailers need chunked framing; with a content-length body HTTP/1.1 cannot carry them.
    if (this.#chunked) conn.write(encodeTrailers(trailers));
    this.#onRequestComplete();
    return "stop";
  }

  onDestroy(): void {
    this.shared.wheel.disarm(this.#timer);
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
    const host = cluster.chooseHost();
    if (host === null) {
      this.#stats!.upstreamCxNoneHealthy.inc();
      this.cb.sendLocalReply(503, "no healthy upstream", ResponseFlag.NoHealthyUpstream, "no_healthy_upstream");
      return false;
    }
    this.cb.streamInfo.upstreamHost = host.addressString;
    const stats = this.#stats!;
    stats.upstreamRqTotal.inc();
    stats.upstreamRqActive.inc();
    this.#upstreamStart = this.shared.wheel.clock.now();
    const conn = cluster.httpPool(host).acquire(this, this.#method);
    this.#conn = conn;
    conn.write(this.#head!);
    this.cb.setDownstreamWatermarkListener(this);
    return true;
  }

  #onRequestComplete(): void {
    this.#requestDone = true;
    this.#conn?.requestComplete();
    const t = this.#route!.timeoutMs;
    // The route timeout spans from the end of the downstream request to the end of the response.
    if (t > 0 && !this.#responseDone) this.shared.wheel.arm(this.#timer, t);
  }

  #finishUpstreamRq(): void {
    this.#stats!.upstreamRqActive.dec();
  }

  onResponseHead(head: ResponseHead): void {
    this.#responseStarted = true;
    const cb = this.cb;
    const stats = this.#stats!;
    const now = this.shared.wheel.clock.now();
    cb.streamInfo.firstUpstreamRxMono = now;
    const headers = head.headers;
    for (let i = 0; i < HOP_BY_HOP_RESPONSE.length; i++) headers.remove(HOP_BY_HOP_RESPONSE[i]!);
    headers.set("x-envoy-upstream-service-time", String(Math.round(now - this.#upstreamStart)));
    stats.upstreamRqByClass[(head.status / 100) | 0]?.inc();
    const endStream = head.framing === "none";
    this.#endedAtHeaders = endStream;
    cb.encodeHeaders({ status: head.status, headers }, endStream);
  }

  onResponseBody(chunk: Uint8Array): void {
    this.cb.encodeData(chunk, false);
  }

  onResponseTrailers(trailers: HeaderMap): void {
    this.#endedAtHeaders = true; // the trailers end the stream
    this.cb.encodeTrailers(trailers);
  }

  onResponseComplete(): void {
    this.#responseDone = true;
    this.shared.wheel.disarm(this.#timer);
    const stats = this.#stats!;
    stats.upstreamRqCompleted.inc();
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
      !this.#retriedStale && this.#requestDone && !this.#chunked && !this.cb.request.headers.has("content-length")) {
      // A keep-alive connection the upstream closed while idle (the race RFC 9112 §9.3.1
      // describes). The request had no body and nothing came back: send it once more.
      this.#retriedStale = true;
      this.#finishUpstreamRq();
      if (this.#startUpstream()) this.#onRequestComplete();
      return;
    }
    this.shared.wheel.disarm(this.#timer);
    const stats = this.#stats!;
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
  onTimer(_kind: number): void {
    const conn = this.#conn;
    this.#conn = null;
    const stats = this.#stats!;
    stats.upstreamRqTimeout.inc();
    this.#finishUpstreamRq();
    conn?.reset();
    if (this.#responseStarted) {
      this.cb.resetStream(ResponseFlag.UpstreamRequestTimeout, "upstream_response_timeout");
    } else {
      this.cb.sendLocalReply(504, "upstream request timeout", ResponseFlag.UpstreamRequestTimeout, "upstream_response_timeout");
    }
  }

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
