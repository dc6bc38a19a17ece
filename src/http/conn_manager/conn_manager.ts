/**
 * The HTTP connection manager, HTTP/1.1 side (worker side): the network filter that owns a
 * downstream connection's bytes, parses requests, runs each through the HTTP filter chain and
 * writes responses back in order. One stream at a time per connection: a pipelined request is
 * parsed only once the one before it has been answered (RFC 9112 §9.3.2).
 * https://www.envoyproxy.io/docs/envoy/latest/intro/arch_overview/http/http_connection_management
 */
import { httpDate } from "../../core/clock.ts";
import { type TimerTarget, WheelTimer } from "../../core/timer_wheel.ts";
import type { Connection } from "../../network/connection.ts";
import type { NetworkFilter, NetworkFilterStatus } from "../../network/filter.ts";
import type { WatermarkListener } from "../../network/write_batch.ts";
import { type CompiledRoute, streamRandom } from "../../router/route_table.ts";
import type {
  FilterStatus,
  RequestHeaders,
  ResponseHeaders,
  StreamCallbacks,
  StreamFilter,
} from "../filter.ts";
import { HeaderMap } from "../header_map.ts";
import { CRLF, encodeChunkHeader, encodeResponseHead, encodeTrailers, LAST_CHUNK, writeResponseHead } from "../http1/encoder.ts";
import { type CodecError, Http1Parser, type Http1ParserHandler, type RequestHead } from "../http1/parser.ts";
import { ResponseFlag } from "../response_flags.ts";
import { StreamInfo } from "../stream_info.ts";
import { setLocalReplyBody } from "./formatter.ts";
import type { HcmConfig } from "./hcm_config.ts";
import { canonicalPath, mergeSlashes, unescapeSlashes } from "./path_utility.ts";

const EMPTY = new Uint8Array(0);
const encoder = new TextEncoder();

// A filter's iteration state (Envoy's IterationState): it passed the last event on, it stopped
// (StopSingleIteration: later events still reach it), or it stopped all (StopAllIterationAndBuffer:
// later body is buffered without reaching it).
const ITER_CONTINUE = 0;
const ITER_STOP = 1;
const ITER_STOP_ALL = 2;

// Timer kinds: one WheelTimer of each per connection, created once and re-armed on the single
// per-thread wheel (DESIGN §7): a slow client costs a list entry, not a setTimeout.
const TIMER_IDLE = 1;
const TIMER_REQUEST_HEADERS = 2;
const TIMER_REQUEST = 3;
const TIMER_STREAM_IDLE = 4;
const TIMER_MAX_DURATION = 5;
const TIMER_MAX_STREAM_DURATION = 6;

/** `HTTP/1.1 100 Continue` and the empty line (RFC 9110 §15.2.1). */
const CONTINUE_100 = encoder.encode("HTTP/1.1 100 Continue\r\n\r\n");

/** Request headers that describe one hop only (RFC 9110 §7.6.1); never forwarded. `te` is
 *  handled apart: "trailers" is kept, as Envoy does. */
const HOP_BY_HOP_REQUEST = ["connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade"];

/** Envoy's internal request headers, removed from requests that come from outside
 *  (ConnectionManagerUtility::cleanInternalHeaders). */
const ENVOY_INTERNAL_REQUEST_HEADERS = new Set([
  "x-envoy-decorator-operation", "x-envoy-downstream-service-cluster", "x-envoy-downstream-service-node",
  "x-envoy-expected-rq-timeout-ms", "x-envoy-external-address", "x-envoy-force-trace", "x-envoy-hedge-on-per-try-timeout",
  "x-envoy-internal", "x-envoy-ip-tags", "x-envoy-max-retries", "x-envoy-retriable-header-names",
  "x-envoy-retriable-status-codes", "x-envoy-retry-grpc-on", "x-envoy-retry-on", "x-envoy-upstream-alt-stat-name",
  "x-envoy-upstream-rq-per-try-timeout-ms", "x-envoy-upstream-rq-timeout-alt-response", "x-envoy-upstream-rq-timeout-ms",
  "x-envoy-upstream-stream-duration-ms",
]);

/** Removes the internal x-envoy-* headers: one pass over the names, allocation only on a hit. */
function cleanInternalHeaders(h: HeaderMap): void {
  let hits: string[] | null = null;
  for (let i = 0; i < h.size; i++) {
    const n = h.nameAt(i);
    // "x-envoy-" is 8 chars; the first char test keeps the common case to one compare.
    if (n.charCodeAt(0) === 120 && n.startsWith("x-envoy-") && ENVOY_INTERNAL_REQUEST_HEADERS.has(n)) (hits ??= []).push(n);
  }
  if (hits !== null) for (let i = 0; i < hits.length; i++) h.remove(hits[i]!);
}

/** Per-worker connection ids for %CONNECTION_ID%. */
let nextConnectionId = 1;

function stripV4Mapped(ip: string): string {
  return ip.startsWith("::ffff:") && ip.includes(".") ? ip.slice(7) : ip;
}

/** The index of the colon before an authority's port, or -1 when it has no port. */
function portColon(authority: string): number {
  const c = authority.lastIndexOf(":");
  if (c < 0) return -1;
  // "[v6]" without a port: the last colon is inside the brackets.
  if (authority.charCodeAt(0) === 91 /* [ */ && authority.indexOf("]") > c) return -1;
  if (authority.charCodeAt(0) !== 91 && authority.indexOf(":") !== c) return -1; // bare IPv6, no port
  return c;
}

/** strip_trailing_host_dot: "example.com." → "example.com", keeping a port. */
function stripTrailingDot(req: RequestHeaders): void {
  const a = req.authority;
  const c = portColon(a);
  const host = c < 0 ? a : a.slice(0, c);
  if (host.length > 1 && host.charCodeAt(host.length - 1) === 46 /* . */) {
    req.authority = host.slice(0, -1) + (c < 0 ? "" : a.slice(c));
  }
}

/** upgrade_configs for an upgrade request (upgrade requests only): the matched route's own
 *  entry for the type overrides the HCM's both ways (Envoy's createUpgradeFilterChain). */
function upgradeAllowed(stream: ActiveStream, config: HcmConfig, value: string): boolean {
  const type = value.toLowerCase();
  const hcmEnabled = config.upgradeTypes.includes(type);
  const route = stream.route();
  return route === null ? hcmEnabled : route.upgradeAllowed(type, hcmEnabled);
}

/** The HCM instance on one downstream connection. */
export class HttpConnectionManager implements NetworkFilter, Http1ParserHandler, TimerTarget {
  readonly #parser: Http1Parser;
  #stream: ActiveStream | null = null;
  /** Bytes received while the parser waits for the current response to finish. */
  #pending: Uint8Array[] = [];
  #resumeScheduled = false;
  #requests = 0;
  #closeAfterResponse = false;
  /** Set once max_connection_duration passed: the connection closes after the current response. */
  #draining = false;
  /** The upgraded stream once its 101 went out: bytes pass through unparsed both ways. */
  #tunnel: ActiveStream | null = null;
  readonly #idleTimer: WheelTimer;
  readonly #headersTimer: WheelTimer;
  readonly #requestTimer: WheelTimer;
  readonly #streamIdleTimer: WheelTimer;
  readonly #durationTimer: WheelTimer;
  readonly #streamDurationTimer: WheelTimer;
  /** True from a request's first byte until its stream ends (headers/request timers armed). */
  #requestStarted = false;
  /** Monotonic time of the last stream activity, for the lazily re-armed stream idle timer. */
  #lastActivity = 0;
  /** stream_idle_timeout in ms (0 = off), read per event. */
  readonly #streamIdleMs: number;
  readonly connectionId = nextConnectionId++;
  readonly #resume = () => this.#resumeParsing();

  constructor(readonly conn: Connection, readonly config: HcmConfig) {
    const m = config.model;
    this.#parser = new Http1Parser(
      { kind: "request", maxHeaderBytes: m.maxRequestHeadersKb * 1024, maxHeadersCount: m.maxHeadersCount },
      this,
    );
    this.#idleTimer = new WheelTimer(this, TIMER_IDLE);
    this.#headersTimer = new WheelTimer(this, TIMER_REQUEST_HEADERS);
    this.#requestTimer = new WheelTimer(this, TIMER_REQUEST);
    this.#streamIdleTimer = new WheelTimer(this, TIMER_STREAM_IDLE);
    this.#streamIdleMs = m.streamIdleTimeoutMs;
    this.#durationTimer = new WheelTimer(this, TIMER_MAX_DURATION);
    this.#streamDurationTimer = new WheelTimer(this, TIMER_MAX_STREAM_DURATION);
    if (config.maxConnectionDurationMs > 0) conn.wheel.arm(this.#durationTimer, config.maxConnectionDurationMs);
    // delayed_close_timeout is the HCM's (other network filters keep the connection's default).
    conn.delayedCloseMs = config.delayedCloseTimeoutMs;
    const s = config.stats;
    s.downstreamCxTotal.inc();
    s.downstreamCxHttp1Total.inc();
    s.downstreamCxActive.inc();
    s.downstreamCxHttp1Active.inc();
    this.#armIdle();
  }

  // --- NetworkFilter -----------------------------------------------------------------------
  onData(data: Uint8Array, endStream: boolean): NetworkFilterStatus {
    // After the HCM decided to close (a local reply ended an unfinished request), input is moot.
    if (this.conn.closing) return "stop";
    const tunnel = this.#tunnel;
    if (tunnel !== null) {
      // An upgraded connection (WebSocket): bytes go to the stream as they come.
      if (!endStream) {
        this.config.stats.downstreamCxRxBytesTotal.inc(data.length);
        tunnel.info.bytesReceived += data.length;
        if (this.#streamIdleMs > 0) this.#lastActivity = this.conn.wheel.clock.now();
      }
      tunnel.decodeData(endStream ? EMPTY : data, endStream);
      return "stop";
    }
    if (endStream) {
      this.#onPeerEnd();
      return "stop";
    }
    this.config.stats.downstreamCxRxBytesTotal.inc(data.length);
    if (!this.#requestStarted && this.#stream === null) this.#onRequestBegin();
    if (this.#parser.paused || this.#pending.length > 0) {
      this.#pending.push(data);
      // Hold further reads until the current response is out (bounded pipelining).
      this.conn.readDisable(true);
      return "stop";
    }
    this.#feed(data);
    return "stop";
  }

  onClose(_local: boolean): void {
    const s = this.config.stats;
    s.downstreamCxActive.dec();
    s.downstreamCxHttp1Active.dec();
    s.downstreamCxDestroy.inc();
    s.downstreamCxTxBytesTotal.inc(this.conn.writer.bytesWritten);
    const wheel = this.conn.wheel;
    wheel.disarm(this.#idleTimer);
    wheel.disarm(this.#durationTimer);
    wheel.disarm(this.#streamIdleTimer);
    this.#disarmStreamTimers();
    if (this.#tunnel !== null) {
      this.#tunnel = null;
      s.downstreamCxUpgradesActive.dec();
    }
    const st = this.#stream;
    if (st !== null) {
      s.downstreamCxDestroyRemoteActiveRq.inc();
      s.downstreamRqRxReset.inc();
      st.onDownstreamReset(ResponseFlag.DownstreamConnectionTermination, "downstream_remote_disconnect");
    }
  }

  /** The listener started draining: every further response carries `connection: close`, and
   *  a connection that stays idle for drain_timeout (default 5 s) is closed. Not at once: a client may
   *  be sending its next request on it right now, and closing under it would lose that
   *  request (RFC 9112 §9.3.1's race). */
  onDrain(): void {
    if (this.conn.closing) return;
    this.config.stats.downstreamCxDrainClose.inc();
    this.#draining = true;
    if (this.#stream === null && !this.#requestStarted) this.conn.wheel.arm(this.#idleTimer, this.config.drainTimeoutMs);
  }

  onAboveWriteBufferHighWatermark(): void {
    this.#stream?.downstreamWatermark?.onAboveWriteBufferHighWatermark();
  }

  onBelowWriteBufferLowWatermark(): void {
    this.#stream?.downstreamWatermark?.onBelowWriteBufferLowWatermark();
  }

  // --- timers ------------------------------------------------------------------------------
  onTimer(kind: number): void {
    if (this.conn.closing) return;
    const s = this.config.stats;
    switch (kind) {
      case TIMER_IDLE:
        // Connection idle timeout (common_http_protocol_options.idle_timeout): no stream active.
        if (this.#stream === null && !this.#requestStarted) {
          s.downstreamCxIdleTimeout.inc();
          this.conn.close("flush");
        }
        return;
      case TIMER_MAX_DURATION:
        // max_connection_duration: close now if idle, else drain (close after this response).
        s.downstreamCxMaxDurationReached.inc();
        if (this.#stream === null && !this.#requestStarted) this.conn.close("flush");
        else this.#draining = true;
        return;
      case TIMER_REQUEST_HEADERS:
        // request_headers_timeout: Envoy answers 408 "request header timeout" and, on HTTP/1,
        // the connection ends with it (the rest of the request can never be read).
        s.downstreamRqHeaderTimeout.inc();
        this.#timeoutReply(408, "request header timeout", 0, "request_header_timeout");
        return;
      case TIMER_MAX_STREAM_DURATION:
        // common_http_protocol_options.max_stream_duration: 408 (504 once the request is in),
        // or a reset once the response started; flag DT.
        s.downstreamRqMaxDurationReached.inc();
        this.#timeoutReply(408, "downstream duration timeout", ResponseFlag.DurationTimeout, "max_duration_timeout");
        return;
      case TIMER_REQUEST:
        s.downstreamRqTimeout.inc();
        this.#timeoutReply(408, "request timeout", 0, "request_overall_timeout");
        return;
      case TIMER_STREAM_IDLE: {
        // The timer stays armed across requests (one arm per connection, not per request);
        // between requests it lapses and the next request arms it again.
        if (!this.#requestStarted && this.#stream === null) return;
        const now = this.conn.wheel.clock.now();
        const left = this.#lastActivity + this.#streamIdleMs - now;
        if (left > 0) {
          // There was activity since the timer was armed: sleep for the rest of the window.
          this.conn.wheel.arm(this.#streamIdleTimer, left);
          return;
        }
        s.downstreamRqIdleTimeout.inc();
        this.#timeoutReply(408, "stream timeout", ResponseFlag.StreamIdleTimeout, "stream_idle_timeout");
        return;
      }
    }
  }

  /** A stream-level timeout: a local reply (408, or 504 once the whole request is in, as Envoy's
   *  maybeRequestTimeoutCode), or a reset when the response has started; then close. */
  #timeoutReply(status: number, body: string, flags: number, details: string): void {
    this.#disarmStreamTimers();
    this.conn.wheel.disarm(this.#streamIdleTimer);
    this.#closeAfterResponse = true;
    let st = this.#stream;
    if (st === null) st = this.#bareStream();
    if (st.responseStarted) {
      st.resetStream(flags, details);
      return;
    }
    st.sendLocalReply(st.requestComplete && status === 408 && details !== "request_header_timeout" ? 504 : status, body, flags, details);
  }

  /** A stream for a request whose head never completed (parse errors, header timeouts). */
  #bareStream(): ActiveStream {
    const conn = this.conn;
    const info = new StreamInfo(conn.remoteAddressString, conn.localAddressString);
    info.startMono = conn.wheel.clock.now();
    info.connectionId = this.connectionId;
    info.downstreamConnection = conn; // [tls] SNI and TLS facts for access logs
    const req: RequestHeaders = { method: "-", path: "-", authority: "", scheme: "http", headers: new HeaderMap() };
    const stream = new ActiveStream(this, req, info, 1, false);
    const s = this.config.stats;
    s.downstreamRqTotal.inc();
    s.downstreamRqActive.inc();
    this.#stream = stream;
    stream.requestComplete = true;
    return stream;
  }

  /** The first byte of a request arrived: the request-level timers start (Envoy creates the
   *  HTTP/1 stream at message begin). */
  #onRequestBegin(): void {
    this.#requestStarted = true;
    const wheel = this.conn.wheel;
    wheel.disarm(this.#idleTimer);
    const m = this.config.model;
    if (m.requestHeadersTimeoutMs > 0) wheel.arm(this.#headersTimer, m.requestHeadersTimeoutMs);
    if (m.requestTimeoutMs > 0) wheel.arm(this.#requestTimer, m.requestTimeoutMs);
    if (this.config.maxStreamDurationMs > 0) wheel.arm(this.#streamDurationTimer, this.config.maxStreamDurationMs);
    const idle = this.#streamIdleMs;
    if (idle > 0) {
      this.#lastActivity = wheel.clock.now();
      if (!this.#streamIdleTimer.armed) wheel.arm(this.#streamIdleTimer, idle);
    }
  }

  /** The request-scoped timers end with their stream (the stream idle timer lapses by itself). */
  #disarmStreamTimers(): void {
    const wheel = this.conn.wheel;
    wheel.disarm(this.#headersTimer);
    wheel.disarm(this.#requestTimer);
    wheel.disarm(this.#streamDurationTimer);
  }

  /** @internal the request is complete through the filter chain, or the response began. */
  disarmRequestTimer(): void {
    this.conn.wheel.disarm(this.#requestTimer);
  }

  #armIdle(): void {
    const t = this.config.model.idleTimeoutMs;
    const grace = this.config.drainTimeoutMs;
    if (this.#draining) this.conn.wheel.arm(this.#idleTimer, t > 0 ? Math.min(t, grace) : grace);
    else if (t > 0) this.conn.wheel.arm(this.#idleTimer, t);
  }

  // --- parsing -----------------------------------------------------------------------------
  #feed(data: Uint8Array): void {
    const used = this.#parser.execute(data);
    if (used < data.length && !this.conn.closing) {
      const rest = used === 0 ? data : data.subarray(used);
      const tunnel = this.#tunnel;
      if (tunnel !== null) {
        // The 101 went out while this chunk was parsed: the rest is tunnel data.
        tunnel.info.bytesReceived += rest.length;
        tunnel.decodeData(rest, false);
        return;
      }
      this.#pending.push(rest);
      this.conn.readDisable(true);
    }
  }

  #resumeParsing(): void {
    this.#resumeScheduled = false;
    if (this.conn.closing) return;
    const tunnel = this.#tunnel;
    if (tunnel !== null) {
      // Bytes that followed the upgrade request before its 101: the first tunnel data.
      const pending = this.#pending;
      this.#pending = [];
      this.conn.readDisable(false);
      for (let i = 0; i < pending.length && !this.conn.closing; i++) {
        tunnel.info.bytesReceived += pending[i]!.length;
        tunnel.decodeData(pending[i]!, false);
      }
      return;
    }
    this.#parser.resume();
    const pending = this.#pending;
    if (pending.length === 0) {
      // The common keep-alive case (nothing pipelined): no new pending array per request.
      this.conn.readDisable(false);
      return;
    }
    this.#pending = [];
    if (this.#stream === null && !this.#requestStarted) this.#onRequestBegin();
    let i = 0;
    for (; i < pending.length && !this.#parser.paused && !this.conn.closing; i++) {
      const chunk = pending[i]!;
      const used = this.#parser.execute(chunk);
      if (used < chunk.length) {
        this.#pending.push(chunk.subarray(used));
        i++;
        break;
      }
    }
    for (; i < pending.length; i++) this.#pending.push(pending[i]!);
    if (this.#pending.length === 0) this.conn.readDisable(false);
  }

  #onPeerEnd(): void {
    // A FIN between requests ends the connection; during a request it is a truncated message.
    if (this.#stream === null && this.#pending.length === 0) {
      if (!this.#parser.inMessage) {
        this.conn.close("flush");
        return;
      }
    }
    if (this.#pending.length === 0) this.#parser.finish();
    // An HTTP/1 client that half-closes gets its in-flight response, then the close.
    this.#closeAfterResponse = true;
    if (this.#stream === null) this.conn.close("flush");
  }

  onRequestHead(head: RequestHead): void {
    const config = this.config;
    const model = config.model;
    const wheel = this.conn.wheel;
    if (!this.#requestStarted) this.#onRequestBegin();
    wheel.disarm(this.#idleTimer);
    wheel.disarm(this.#headersTimer);
    const s = config.stats;
    s.downstreamRqTotal.inc();
    s.downstreamRqHttp1Total.inc();
    s.downstreamRqActive.inc();
    this.#requests++;
    if (model.maxRequestsPerConnection > 0 && this.#requests >= model.maxRequestsPerConnection) {
      if (!this.#closeAfterResponse) s.downstreamCxMaxRequestsReached.inc();
      this.#closeAfterResponse = true;
    }
    if (!head.keepAlive) this.#closeAfterResponse = true;

    const headers = head.headers;
    let authority = headers.get("host") ?? "";
    let path = head.target;
    let absolute = false;
    if (path.charCodeAt(0) !== 47 /* "/" */ && path !== "*" && head.method !== "CONNECT") {
      // absolute-form (RFC 9112 §3.2.2): the target's authority replaces Host.
      const m = /^[a-zA-Z][a-zA-Z0-9+.-]*:\/\/([^/?#]*)(.*)$/.exec(path);
      if (m) {
        authority = m[1]!;
        path = m[2] || "/";
      } else {
        absolute = true;
      }
    }
    if (head.method === "CONNECT") {
      // authority-form (RFC 9112 §3.2.3): the target is the authority; there is no path.
      authority = path;
      path = "";
    }
    // Connection-specific headers end here: the ones listed in Connection and the fixed set.
    const connection = headers.get("connection");
    if (connection !== undefined) {
      for (const tok of connection.split(",")) {
        const t = tok.trim().toLowerCase();
        if (t && t !== "close" && t !== "keep-alive" && t !== "te" && t !== "upgrade") headers.remove(t);
      }
    }
    // An "Upgrade: h2c" offer is dropped (Envoy's sanitizeH2UpgradeRequest); other upgrades
    // are refused below unless configured.
    let upgrade = head.upgrade;
    const upgradeValue = upgrade ? (headers.get("upgrade") ?? "") : "";
    if (upgrade) {
      const u = upgradeValue;
      if (u.toLowerCase() === "h2c") {
        upgrade = false;
        headers.remove("http2-settings");
      }
    }
    for (let i = 0; i < HOP_BY_HOP_REQUEST.length; i++) headers.remove(HOP_BY_HOP_REQUEST[i]!);
    // TE is hop-by-hop too, but "trailers" is kept: it tells gRPC servers trailers are welcome.
    const te = headers.get("te");
    if (te !== undefined) {
      if (/(^|,)\s*trailers\s*(;|,|$)/i.test(te)) headers.set("te", "trailers");
      else headers.remove("te");
    }
    headers.remove("host");
    let underscoreReject = false;
    if (config.headersWithUnderscoresAction !== "ALLOW") underscoreReject = this.#underscores(headers);

    const conn = this.conn;
    const info = new StreamInfo(conn.remoteAddressString, conn.localAddressString);
    info.startMono = wheel.clock.now();
    info.connectionId = this.connectionId;
    info.downstreamConnection = conn; // [tls] SNI and TLS facts for access logs
    info.protocol = head.versionMinor === 1 ? "HTTP/1.1" : "HTTP/1.0";
    const req: RequestHeaders = { method: head.method, path, authority: authority.toLowerCase(), scheme: "http", headers };

    const endStream = head.framing === "none";
    const stream = new ActiveStream(this, req, info, head.versionMinor, head.method === "HEAD");
    this.#stream = stream;
    if (endStream) stream.markRequestComplete();

    // Expect: 100-continue is answered here (Envoy's default, proxy_100_continue false) and not
    // forwarded upstream (RFC 9110 §10.1.1). With proxy_100_continue the expectation goes
    // upstream and the upstream's 100 is relayed (encode100Continue).
    if (head.expectContinue && !config.proxy100Continue) {
      headers.remove("expect");
      if (!endStream) this.conn.write(CONTINUE_100);
    }

    // Envoy's checks before the filter chain (ActiveStream::decodeHeaders).
    if (underscoreReject) {
      // headers_with_underscores_action REJECT_REQUEST: the HTTP/1 codec refuses the request.
      this.#closeAfterResponse = true;
      s.downstreamCxProtocolError.inc();
      stream.sendLocalReply(400, "Bad Request", ResponseFlag.DownstreamProtocolError, "http1.unexpected_underscore");
      return;
    }
    if (head.versionMinor === 0) {
      // http_protocol_options.accept_http_10 is off by default: 426 Upgrade Required.
      if (!config.acceptHttp10) {
        this.#closeAfterResponse = true;
        stream.sendLocalReply(426, "", 0, "low_version");
        return;
      }
      if (req.authority === "" && config.defaultHostForHttp10 !== "") req.authority = config.defaultHostForHttp10;
    }
    if (req.authority === "") {
      stream.sendLocalReply(400, "", 0, "missing_host");
      return;
    }
    if (absolute || (path === "" && head.method !== "CONNECT")) {
      if (absolute) s.downstreamRqNonRelativePath.inc();
      stream.sendLocalReply(404, "", 0, absolute ? "absolute_path" : "missing_path");
      return;
    }
    if (config.pathOptions && path !== "*" && head.method !== "CONNECT") {
      const action = this.#normalizePath(req);
      if (action === 1) {
        s.downstreamRqFailedPathNormalization.inc();
        stream.sendLocalReply(400, "", 0, "path_normalization_failed");
        return;
      }
      if (action === 2) {
        s.downstreamRqRedirectedWithNormalizedPath.inc();
        stream.redirectLocation = req.path;
        stream.sendLocalReply(307, "", 0, "path_normalization_failed");
        return;
      }
    }
    if (config.stripHostPort !== "none") this.#stripHostPort(req);
    if (config.stripTrailingHostDot) stripTrailingDot(req);
    this.#mutateRequestHeaders(req, info);
    // scheme_header_transformation: :scheme is overwritten after x-forwarded-proto was set from
    // the connection (Envoy sets the latter from TLS, not from :scheme).
    if (config.schemeToOverwrite !== "") req.scheme = config.schemeToOverwrite;

    if (upgrade && upgradeAllowed(stream, config, upgradeValue)) {
      // An upgrade allowed by upgrade_configs: the request keeps `connection: upgrade` and
      // `upgrade` (the terminal filter forwards them) and its stream stays open after the head:
      // after a 101 the bytes that follow are tunnelled (writeHeaders switches modes).
      headers.set("connection", "upgrade");
      headers.set("upgrade", upgradeValue);
      stream.upgrade = upgradeValue;
      stream.decodeHeaders(false);
      return;
    }
    if (upgrade || head.method === "CONNECT") {
      // An upgrade no upgrade_configs entry accepts, and CONNECT (upgrade type CONNECT is not
      // supported yet): Envoy refuses with 403 when a route matched, and closes.
      this.#closeAfterResponse = true;
      if (stream.route() !== null) {
        s.downstreamRqWsOnNonWsRoute.inc();
        stream.sendLocalReply(403, "", 0, "upgrade_failed");
        return;
      }
    }
    stream.decodeHeaders(endStream);
  }

  /** normalize_path, merge_slashes and path_with_escaped_slashes_action in Envoy's order
   *  (ConnectionManagerUtility::maybeNormalizePath): 0 continue, 1 reject, 2 redirect. */
  #normalizePath(req: RequestHeaders): number {
    const c = this.config;
    let action = 0;
    if (c.escapedSlashesAction !== "KEEP_UNCHANGED") {
      const u = unescapeSlashes(req.path);
      if (u !== null) {
        if (c.escapedSlashesAction === "REJECT_REQUEST") return 1;
        req.path = u;
        if (c.escapedSlashesAction === "UNESCAPE_AND_REDIRECT") action = 2;
      }
    }
    if (c.normalizePath) {
      const p = canonicalPath(req.path);
      if (p === null) return 1;
      req.path = p;
    }
    if (c.mergeSlashes) req.path = mergeSlashes(req.path);
    return action;
  }

  /** headers_with_underscores_action: DROP_HEADER removes names with "_" (counted); returns
   *  true when REJECT_REQUEST applies. */
  #underscores(headers: HeaderMap): boolean {
    const s = this.config.stats;
    let drop: string[] | null = null;
    for (let i = 0; i < headers.size; i++) {
      const n = headers.nameAt(i);
      if (n.indexOf("_") < 0) continue;
      if (this.config.headersWithUnderscoresAction === "REJECT_REQUEST") {
        s.requestsRejectedWithUnderscoresInHeaders.inc();
        return true;
      }
      (drop ??= []).push(n);
    }
    if (drop !== null) {
      for (let i = 0; i < drop.length; i++) {
        headers.remove(drop[i]!);
        s.droppedHeadersWithUnderscores.inc();
      }
    }
    return false;
  }

  #peerIpCache = "";
  #peerInternalCache = -1;
  /** The peer's IP without an IPv4-mapped prefix (computed once). */
  #peerIp(): string {
    return this.#peerIpCache || (this.#peerIpCache = stripV4Mapped(this.conn.remoteAddress));
  }
  #peerInternal(): boolean {
    if (this.#peerInternalCache < 0) this.#peerInternalCache = this.config.isInternal(this.#peerIp()) ? 1 : 0;
    return this.#peerInternalCache === 1;
  }

  /** strip_any_host_port / strip_matching_host_port (Envoy's maybeNormalizeHost). */
  #stripHostPort(req: RequestHeaders): void {
    const a = req.authority;
    const c = portColon(a);
    if (c < 0) return;
    if (this.config.stripHostPort === "matching" && a.slice(c + 1) !== String(this.conn.localPort)) return;
    req.authority = a.slice(0, c);
  }

  onBody(chunk: Uint8Array): void {
    const st = this.#stream;
    if (st === null) return;
    st.info.bytesReceived += chunk.length;
    if (this.#streamIdleMs > 0) this.#lastActivity = this.conn.wheel.clock.now();
    st.decodeData(chunk, false);
  }

  onTrailers(trailers: HeaderMap): void {
    const st = this.#stream;
    if (st === null) return;
    // http_protocol_options.enable_trailers off (Envoy's default): the codec drops trailers;
    // onMessageComplete then ends the request with an empty data frame.
    if (this.config.enableTrailers) st.decodeTrailers(trailers);
  }

  onMessageComplete(): void {
    const st = this.#stream;
    // An upgrade request's stream does not end with its head: the tunnel follows.
    if (st !== null && !st.requestComplete && st.upgrade === "") st.decodeData(EMPTY, true);
    // Parse the next pipelined request only after this one's response has gone out.
    if (this.#stream !== null) this.#parser.pause();
  }

  onError(err: CodecError): void {
    const s = this.config.stats;
    s.downstreamCxProtocolError.inc();
    this.#closeAfterResponse = true;
    const st = this.#stream;
    if (st !== null && st.responseStarted) {
      st.onDownstreamReset(ResponseFlag.DownstreamProtocolError, err.detail);
      this.conn.close("now");
      return;
    }
    if (st !== null) {
      st.sendLocalReply(err.status, statusText(err.status), ResponseFlag.DownstreamProtocolError, err.detail);
      return;
    }
    // No stream yet (bad request line or headers): answer with a bare local reply and close.
    this.#disarmStreamTimers();
    const stream = this.#bareStream();
    stream.sendLocalReply(err.status, statusText(err.status), ResponseFlag.DownstreamProtocolError, err.detail);
  }

  /** Envoy's ConnectionManagerUtility::mutateRequestHeaders: x-forwarded-for and the trusted
   *  client address (use_remote_address, xff_num_trusted_hops, skip_xff_append),
   *  x-forwarded-proto, internal/external request headers, x-request-id, via. */
  #mutateRequestHeaders(req: RequestHeaders, info: StreamInfo): void {
    const c = this.config;
    const m = c.model;
    const h = req.headers;
    const hops = c.xffNumTrustedHops;
    const xff = h.get("x-forwarded-for");
    // The trusted client address and whether XFF held a single address (Envoy's rule for
    // internal requests: no more than one hop, and that hop internal).
    let clientIp = "";
    let single: boolean;
    if (m.useRemoteAddress) {
      const peer = this.#peerIp();
      single = xff === undefined;
      // With N trusted hops the client is the Nth address from the right of the XFF received.
      clientIp = peer;
      if (hops > 0 && xff !== undefined) {
        const list = xff.split(",");
        if (list.length >= hops) clientIp = list[list.length - hops]!.trim();
      }
      if (!c.skipXffAppend) h.set("x-forwarded-for", xff ? `${xff}, ${peer}` : peer);
    } else {
      // Behind trusted proxies: the client is the (N+1)th address from the right of XFF.
      single = xff !== undefined && !xff.includes(",");
      if (xff !== undefined) {
        const list = single ? [xff] : xff.split(",");
        if (list.length > hops) clientIp = list[list.length - 1 - hops]!.trim();
      }
    }
    // An untrusted x-forwarded-proto is overwritten (no trusted hops), a missing one set.
    // (Plaintext connections only so far: the connection's scheme is http.)
    if (hops === 0 || !h.has("x-forwarded-proto")) h.set("x-forwarded-proto", "http");
    // append_x_forwarded_port: the port the client connected to, unless a trusted hop set one.
    if (c.appendXForwardedPort && (hops === 0 || !h.has("x-forwarded-port"))) h.set("x-forwarded-port", String(this.conn.localPort));
    // The peer's class is computed once per connection; addresses from XFF per request.
    const clientInternal = clientIp === "" ? false : clientIp === this.#peerIp() ? this.#peerInternal() : c.isInternal(clientIp);
    const internal = single && clientInternal;
    if (internal) {
      h.set("x-envoy-internal", "true");
    } else {
      h.remove("x-envoy-internal");
      // An edge request (from outside, to the first proxy): Envoy's internal headers are not
      // trusted from there.
      if (m.useRemoteAddress) cleanInternalHeaders(h);
    }
    const edge = !internal && m.useRemoteAddress;
    if (m.useRemoteAddress && !clientInternal) h.set("x-envoy-external-address", clientIp);
    let rid = h.get("x-request-id");
    if (m.generateRequestId && (rid === undefined || rid === "" || (edge && !m.preserveExternalRequestId))) {
      rid = crypto.randomUUID();
      h.set("x-request-id", rid);
    }
    info.requestId = rid ?? "";
    if (c.via !== "") {
      const v = h.get("via");
      h.set("via", v ? `${v}, ${c.via}` : c.via);
    }
  }

  // --- response side (called by ActiveStream after the encoder filters) ---------------------
  /** @internal */
  writeHeaders(st: ActiveStream, resp: ResponseHeaders, endStream: boolean): void {
    const m = this.config.model;
    const headers = resp.headers;
    const status = resp.status;
    const c = this.config;
    st.info.responseCode = status;
    this.disarmRequestTimer();
    if (this.#streamIdleMs > 0) this.#lastActivity = this.conn.wheel.clock.now();
    if (st.upgrade !== "") {
      // Whatever the answer to an upgrade request, the connection cannot carry HTTP/1 after it.
      this.#closeAfterResponse = true;
      if (status === 101) {
        this.#tunnel = st;
        st.bodyMode = 3;
        c.stats.downstreamCxUpgradesTotal.inc();
        c.stats.downstreamCxUpgradesActive.inc();
        headers.set("connection", "upgrade");
        if (!headers.has("upgrade")) headers.set("upgrade", st.upgrade);
        const sht = c.serverHeaderTransformation;
        if (sht === "OVERWRITE" || (sht === "APPEND_IF_ABSENT" && !headers.has("server"))) headers.set("server", m.serverName);
        if (!headers.has("date")) headers.set("date", httpDate());
        headers.remove("content-length");
        headers.remove("transfer-encoding");
        st.info.bytesSent = 0;
        this.conn.write(encodeResponseHead(101, headers, 1));
        if (endStream) {
          this.#streamComplete(st);
          return;
        }
        // Bytes the client sent after its request head are the tunnel's first data.
        if (this.#pending.length > 0 && !this.#resumeScheduled) {
          this.#resumeScheduled = true;
          queueMicrotask(this.#resume);
        } else {
          this.conn.readDisable(false);
        }
        return;
      }
    }
    const draining = this.#draining || c.ctx.drain.draining;
    if (!st.requestComplete || draining) {
      if (draining && !this.#closeAfterResponse) c.stats.downstreamCxDrainClose.inc();
      this.#closeAfterResponse = true;
    }
    const upstreamConnection = headers.get("connection");
    if (upstreamConnection !== undefined) {
      if (upstreamConnection.toLowerCase().includes("close")) this.#closeAfterResponse = true;
      headers.remove("connection");
    }
    const sht = c.serverHeaderTransformation;
    if (sht === "OVERWRITE" || (sht === "APPEND_IF_ABSENT" && !headers.has("server"))) headers.set("server", m.serverName);
    if (!headers.has("date")) headers.set("date", httpDate());
    if (c.via !== "") {
      const v = headers.get("via");
      headers.set("via", v ? `${v}, ${c.via}` : c.via);
    }
    if (c.alwaysSetRequestIdInResponse && st.info.requestId !== "" && !headers.has("x-request-id")) {
      headers.set("x-request-id", st.info.requestId);
    }
    const noBody = st.isHead || status === 204 || status === 304 || status < 200;
    if (noBody) {
      st.bodyMode = 0;
    } else if (headers.has("content-length")) {
      st.bodyMode = 1;
    } else if (endStream) {
      headers.set("content-length", "0");
      st.bodyMode = 1;
    } else if (st.versionMinor === 1) {
      headers.set("transfer-encoding", "chunked");
      st.bodyMode = 2;
    } else {
      // HTTP/1.0 client and a body of unknown length: delimit it by closing (RFC 9112 §6.3).
      st.bodyMode = 1;
      this.#closeAfterResponse = true;
    }
    if (this.#closeAfterResponse) headers.set("connection", "close");
    else if (st.versionMinor === 0) headers.set("connection", "keep-alive");
    st.info.bytesSent = 0;
    writeResponseHead(this.conn.writer, status, headers, 1);
    if (endStream) this.#streamComplete(st);
  }

  /** @internal */
  writeData(st: ActiveStream, data: Uint8Array, endStream: boolean): void {
    const n = data.length;
    if (this.#streamIdleMs > 0) this.#lastActivity = this.conn.wheel.clock.now();
    if (n > 0 && st.bodyMode !== 0) {
      st.info.bytesSent += n;
      if (st.bodyMode === 2) {
        this.conn.write(encodeChunkHeader(n));
        this.conn.write(data);
        this.conn.write(CRLF);
      } else {
        // Length- or close-delimited bodies, and tunnels (bodyMode 3), go out as they are.
        this.conn.write(data);
      }
    }
    if (endStream) {
      if (st.bodyMode === 2) this.conn.write(LAST_CHUNK);
      this.#streamComplete(st);
    }
  }

  /** @internal */
  writeTrailers(st: ActiveStream, trailers: HeaderMap): void {
    if (st.bodyMode === 2) this.conn.write(this.config.enableTrailers ? encodeTrailers(trailers) : LAST_CHUNK);
    this.#streamComplete(st);
  }

  #streamComplete(st: ActiveStream): void {
    const s = this.config.stats;
    s.downstreamRqActive.dec();
    s.downstreamRqCompleted.inc();
    s.downstreamRqByClass[(st.info.responseCode / 100) | 0]?.inc();
    st.finish();
    if (this.#stream === st) this.#stream = null;
    if (this.#tunnel === st) {
      this.#tunnel = null;
      s.downstreamCxUpgradesActive.dec();
    }
    this.#requestStarted = false;
    this.#disarmStreamTimers();
    if (this.#closeAfterResponse || !st.requestComplete || this.#draining) {
      this.conn.close("flush");
      return;
    }
    this.#armIdle();
    if (this.#parser.paused) {
      // Inside an upstream callback: parse the next pipelined request on a fresh turn, so an
      // upstream connection is never re-entered while its own parser is running.
      if (!this.#resumeScheduled) {
        this.#resumeScheduled = true;
        if (this.#pending.length === 0) this.#resumeParsing();
        else queueMicrotask(this.#resume);
      }
    }
  }

  /** @internal a stream reset: the HTTP/1 connection cannot continue. */
  resetConnection(st: ActiveStream): void {
    if (this.#stream === st) this.#stream = null;
    if (this.#tunnel === st) {
      this.#tunnel = null;
      this.config.stats.downstreamCxUpgradesActive.dec();
    }
    this.#disarmStreamTimers();
    this.config.stats.downstreamRqActive.dec();
    this.config.stats.downstreamRqTxReset.inc();
    this.conn.close("now");
  }
}

/** Reason phrases for local replies. */
function statusText(status: number): string {
  switch (status) {
    case 400:
      return "Bad Request";
    case 413:
      return "Payload Too Large";
    case 431:
      return "Request Header Fields Too Large";
    case 501:
      return "Not Implemented";
    case 505:
      return "HTTP Version Not Supported";
    default:
      return "Error";
  }
}

/** One request/response exchange and its HTTP filter chain (worker side).
 *
 * Filter iteration follows Envoy's FilterManager (https://www.envoyproxy.io/docs/envoy/latest/faq/extensions/contract):
 * a filter that returns "stop" from decodeHeaders (StopIteration) still gets the body in
 * decodeData, as do the filters before it; the filters after it get the headers, then the
 * buffered body, only when it continues (continueDecoding(), or "continue" from decodeData or
 * decodeTrailers). "stopAndBuffer" from decodeHeaders is StopAllIterationAndBuffer: the body is
 * buffered without reaching the filter. From decodeData, "stopAndBuffer" buffers the chunk (up to
 * the buffer limit: 413 on requests, 500 or a reset on responses) and "stop" means the filter
 * took it. A stopped filter without decodeData/decodeTrailers holds what reaches it until it
 * continues. The encode path mirrors this from the router towards filter 0. Per-filter stop
 * states live in a Uint8Array allocated at the first stop: a chain that never stops allocates
 * nothing for iteration. */
export class ActiveStream implements StreamCallbacks {
  readonly filters: StreamFilter[];
  #routeCached = false;
  #route: CompiledRoute | null = null;
  /** The stream's random value for runtime_fraction route matches; -1 until drawn. */
  #routeRandom = -1;
  /** Per-filter decode state (ITER_*), null until a decoder filter first stops. */
  #decodeStates: Uint8Array | null = null;
  /** How many filters (from 0) have received the request headers. */
  #decodeHeadersNext = 0;
  /** Buffered request body (Envoy's bufferedData()); null = no buffer, [] = an empty one. */
  #decodeBuffer: Uint8Array[] | null = null;
  #decodeBuffered = 0;
  /** The whole request has arrived from the codec (Envoy's complete()). */
  #decodeEnd = false;
  #decodeTrailers: HeaderMap | null = null;
  /** Per-filter encode state (ITER_*), null until an encoder filter first stops. */
  #encodeStates: Uint8Array | null = null;
  /** The response head while no filter passed it to the codec yet. */
  #encodeHeaders: ResponseHeaders | null = null;
  /** The lowest filter index that received the response headers. */
  #encodeHeadersAt = 0;
  #encodeBuffer: Uint8Array[] | null = null;
  #encodeBuffered = 0;
  #encodeEnd = false;
  #encodeTrailers: HeaderMap | null = null;
  /** Position the encoder chain starts from (the filter that started the response). */
  #encodeFrom = 0;
  /** setDecoderBufferLimit (the buffer filter's max_request_bytes); -1: the connection's limit. */
  #bufferLimit = -1;
  #done = false;
  requestComplete = false;
  responseStarted = false;
  /** 0 no body, 1 raw (length or close-delimited), 2 chunked. */
  bodyMode = 0;
  downstreamWatermark: WatermarkListener | null = null;
  /** Location of a local 307 (UNESCAPE_AND_REDIRECT). */
  redirectLocation = "";
  /** The Upgrade header value of an upgrade upgrade_configs accepted ("" otherwise). */
  upgrade = "";
  #readDisabled = false;
  #respHeaders: ResponseHeaders | null = null;

  constructor(
    readonly hcm: HttpConnectionManager,
    readonly request: RequestHeaders,
    readonly info: StreamInfo,
    readonly versionMinor: 0 | 1,
    readonly isHead: boolean,
  ) {
    const factories = hcm.config.filterFactories;
    this.filters = new Array(factories.length);
    for (let i = 0; i < factories.length; i++) this.filters[i] = factories[i]!(this);
  }

  get streamInfo(): StreamInfo {
    return this.info;
  }

  get downstreamRemoteAddress(): string {
    return this.hcm.conn.remoteAddressString;
  }

  route(): CompiledRoute | null {
    if (!this.#routeCached) {
      this.#routeCached = true;
      const table = this.hcm.config.routes.table;
      // runtime_fraction: one random value per stream, kept across route cache clears (Envoy
      // passes the stream id); drawn only when the table has fractions.
      if (table.needsRandom && this.#routeRandom < 0) this.#routeRandom = streamRandom();
      this.#route = table.route(this.request.authority, this.request.path, this.request, this.#routeRandom < 0 ? 0 : this.#routeRandom);
    }
    return this.#route;
  }

  clearRouteCache(): void {
    this.#routeCached = false;
  }

  // --- decode path ---------------------------------------------------------------------------
  /** @internal */
  decodeHeaders(endStream: boolean): void {
    if (endStream) this.markRequestComplete();
    this.#decodeEnd = endStream;
    this.#runDecodeHeaders(0, endStream);
  }

  #runDecodeHeaders(from: number, endStream: boolean): void {
    const fs = this.filters;
    const last = fs.length - 1;
    for (let i = from; i <= last; i++) {
      const f = fs[i]!;
      this.#decodeHeadersNext = i + 1;
      if (f.decodeHeaders === undefined) continue;
      const status: FilterStatus = f.decodeHeaders(this.request, endStream);
      if (this.#done) return;
      // "stop" from the last filter (the router) means it took the request: the chain is done.
      if (status !== "continue" && i < last) {
        (this.#decodeStates ??= new Uint8Array(fs.length))[i] = status === "stop" ? ITER_STOP : ITER_STOP_ALL;
        return;
      }
    }
  }

  /** @internal body from the codec: it enters the chain at filter 0. */
  decodeData(data: Uint8Array, endStream: boolean): void {
    if (endStream) {
      this.markRequestComplete();
      this.#decodeEnd = true;
    }
    if (this.#done) return;
    this.#runDecodeData(0, data, endStream);
  }

  /** Envoy's FilterManager::decodeData from filter `from`: each filter sees the chunk until one
   *  stops; a stopped filter that returns "continue" resumes the chain (commonContinue). */
  #runDecodeData(from: number, data: Uint8Array, endStream: boolean): void {
    const fs = this.filters;
    const last = fs.length - 1;
    const states = this.#decodeStates;
    for (let i = from; i <= last; i++) {
      const state = states === null ? ITER_CONTINUE : states[i]!;
      if (state === ITER_STOP_ALL) {
        this.#bufferDecoded(data);
        return;
      }
      const f = fs[i]!;
      const status: FilterStatus = f.decodeData !== undefined ? f.decodeData(data, endStream) : state === ITER_CONTINUE ? "continue" : "stopAndBuffer";
      if (this.#done) return;
      if (status === "continue") {
        if (state === ITER_CONTINUE) continue;
        // The stopped filter lets go: this chunk joins the buffer, and the chain resumes after it.
        if (this.#bufferDecoded(data)) this.#continueDecodingAt(i);
        return;
      }
      if (i === last) return; // the terminal filter took the chunk
      (this.#decodeStates ??= new Uint8Array(fs.length))[i] = ITER_STOP;
      if (status === "stopAndBuffer") this.#bufferDecoded(data);
      // "stop" on the last frame: an empty buffer makes the resumed chain end the stream.
      else if (endStream && this.#decodeBuffer === null) this.#decodeBuffer = [];
      return;
    }
  }

  /** The buffer limit: the one a filter set for this stream, else the connection's
   *  (per_connection_buffer_limit_bytes). */
  #limit(): number {
    const l = this.#bufferLimit;
    // 0 disables the limit, as a 0 high watermark does on Envoy's watermark buffers.
    return l < 0 ? this.hcm.conn.writer.highWatermark : l === 0 ? Infinity : l;
  }

  /** Buffers request body for a stopped filter, up to the buffer limit; beyond it Envoy answers
   *  413 (request_payload_too_large). */
  #bufferDecoded(data: Uint8Array): boolean {
    const buf = (this.#decodeBuffer ??= []);
    if (data.length === 0) return true;
    buf.push(data);
    this.#decodeBuffered += data.length;
    if (this.#decodeBuffered <= this.#limit()) return true;
    this.#decodeBuffer = null;
    this.#decodeBuffered = 0;
    this.hcm.config.stats.downstreamRqTooLarge.inc();
    this.sendLocalReply(413, "Payload Too Large", 0, "request_payload_too_large");
    return false;
  }

  /** Buffers response body for a stopped encoder filter, up to the buffer limit; beyond it
   *  Envoy answers 500 if the response head is still held, else resets the stream. */
  #bufferEncoded(data: Uint8Array): boolean {
    const buf = (this.#encodeBuffer ??= []);
    if (data.length === 0) return true;
    buf.push(data);
    this.#encodeBuffered += data.length;
    if (this.#encodeBuffered <= this.#limit()) return true;
    this.#encodeBuffer = null;
    this.#encodeBuffered = 0;
    this.hcm.config.stats.rsTooLarge.inc();
    if (this.#encodeHeaders !== null) {
      // Nothing went out yet: replace the response with a local reply.
      this.#encodeHeaders = null;
      this.#encodeStates?.fill(ITER_CONTINUE);
      this.#encodeTrailers = null;
      this.#encodeEnd = false;
      this.responseStarted = false;
      this.sendLocalReply(500, "Internal Server Error", 0, "response_payload_too_large");
    } else {
      this.resetStream(0, "response_payload_too_large");
    }
    return false;
  }

  /** @internal */
  decodeTrailers(trailers: HeaderMap): void {
    this.markRequestComplete();
    this.#decodeEnd = true;
    if (this.#done) return;
    this.#decodeTrailers = trailers;
    this.#runDecodeTrailers(0);
  }

  #runDecodeTrailers(from: number): void {
    const trailers = this.#decodeTrailers!;
    const fs = this.filters;
    const last = fs.length - 1;
    const states = this.#decodeStates;
    for (let i = from; i <= last; i++) {
      const state = states === null ? ITER_CONTINUE : states[i]!;
      if (state === ITER_STOP_ALL) return; // delivered when the filter continues
      const f = fs[i]!;
      const status: FilterStatus = f.decodeTrailers !== undefined ? f.decodeTrailers(trailers) : state === ITER_CONTINUE ? "continue" : "stop";
      if (this.#done) return;
      if (status === "continue") {
        if (state === ITER_CONTINUE) continue;
        this.#continueDecodingAt(i);
        return;
      }
      if (i < last) (this.#decodeStates ??= new Uint8Array(fs.length))[i] = ITER_STOP;
      return;
    }
  }

  /** @internal the whole request has been received: request_timeout no longer applies. */
  markRequestComplete(): void {
    if (!this.requestComplete) {
      this.requestComplete = true;
      this.info.lastDownstreamRxMono = this.hcm.conn.wheel.clock.now();
      this.hcm.disarmRequestTimer();
    }
  }

  /** Resumes the stopped decoder filter furthest along the chain (the callbacks are shared by
   *  the stream's filters, so the caller is not known; only one filter is stopped in practice). */
  continueDecoding(): void {
    const states = this.#decodeStates;
    if (states === null || this.#done) return;
    for (let i = states.length - 1; i >= 0; i--) {
      if (states[i] !== ITER_CONTINUE) {
        this.#continueDecodingAt(i);
        return;
      }
    }
  }

  /** Envoy's commonContinue for decoder filter `at`: the headers (if they stopped there), the
   *  buffered body and the trailers go on to the filters after it; after a stop-all the filter
   *  itself gets the body and trailers first (Envoy's iterate_from_current_filter). */
  #continueDecodingAt(at: number): void {
    const states = this.#decodeStates!;
    const state = states[at];
    if (state === ITER_CONTINUE) return;
    states[at] = ITER_CONTINUE;
    const next = state === ITER_STOP_ALL ? at : at + 1;
    if (this.#decodeHeadersNext === at + 1 && at + 1 < this.filters.length) {
      this.#runDecodeHeaders(at + 1, this.#decodeEnd && this.#decodeBuffer === null && this.#decodeTrailers === null);
      if (this.#done) return;
    }
    const hadTrailers = this.#decodeTrailers !== null;
    const buffered = this.#decodeBuffer;
    if (buffered !== null) {
      this.#decodeBuffer = null;
      this.#decodeBuffered = 0;
      this.#runDecodeData(next, concat(buffered), this.#decodeEnd && !hadTrailers);
      if (this.#done) return;
    }
    if (hadTrailers) this.#runDecodeTrailers(next);
  }

  /** Raises (or lowers) the request and response buffer limits of this stream (Envoy's
   *  setDecoderBufferLimit, which sets both); 0 means no limit. */
  setDecoderBufferLimit(limit: number): void {
    this.#bufferLimit = limit;
  }

  decoderBufferLimit(): number {
    return this.#limit();
  }

  // --- encode path ---------------------------------------------------------------------------
  encodeHeaders(resp: ResponseHeaders, endStream: boolean): void {
    if (this.#done || this.responseStarted) return;
    this.responseStarted = true;
    this.#respHeaders = resp;
    this.#encodeHeaders = resp;
    this.#encodeEnd = endStream;
    this.#encodeFrom = this.filters.length - 1;
    this.#runEncodeHeaders(this.#encodeFrom, endStream);
  }

  #runEncodeHeaders(from: number, endStream: boolean): void {
    const fs = this.filters;
    const resp = this.#encodeHeaders!;
    for (let i = from; i >= 0; i--) {
      const f = fs[i]!;
      this.#encodeHeadersAt = i;
      if (f.encodeHeaders === undefined) continue;
      const status = f.encodeHeaders(resp, endStream);
      if (this.#done) return;
      if (status !== "continue") {
        (this.#encodeStates ??= new Uint8Array(fs.length))[i] = status === "stop" ? ITER_STOP : ITER_STOP_ALL;
        return;
      }
    }
    this.#encodeHeadersAt = -1;
    this.#encodeHeaders = null;
    this.hcm.writeHeaders(this, resp, endStream);
  }

  encodeData(data: Uint8Array, endStream: boolean): void {
    if (this.#done) return;
    if (endStream) this.#encodeEnd = true;
    this.#runEncodeData(this.#encodeFrom, data, endStream);
  }

  #runEncodeData(from: number, data: Uint8Array, endStream: boolean): void {
    const fs = this.filters;
    const states = this.#encodeStates;
    for (let i = from; i >= 0; i--) {
      const state = states === null ? ITER_CONTINUE : states[i]!;
      if (state === ITER_STOP_ALL) {
        this.#bufferEncoded(data);
        return;
      }
      const f = fs[i]!;
      const status: FilterStatus = f.encodeData !== undefined ? f.encodeData(data, endStream) : state === ITER_CONTINUE ? "continue" : "stopAndBuffer";
      if (this.#done) return;
      if (status === "continue") {
        if (state === ITER_CONTINUE) continue;
        if (this.#bufferEncoded(data)) this.#continueEncodingAt(i);
        return;
      }
      (this.#encodeStates ??= new Uint8Array(fs.length))[i] = ITER_STOP;
      if (status === "stopAndBuffer") this.#bufferEncoded(data);
      else if (endStream && this.#encodeBuffer === null) this.#encodeBuffer = [];
      return;
    }
    this.hcm.writeData(this, data, endStream);
  }

  /** proxy_100_continue: relays the upstream's 100 Continue once, before the response. */
  encode100Continue(): void {
    if (this.#done || this.responseStarted || this.#sent100 || !this.hcm.config.proxy100Continue) return;
    this.#sent100 = true;
    this.hcm.conn.write(CONTINUE_100);
  }
  #sent100 = false;

  encodeTrailers(trailers: HeaderMap): void {
    if (this.#done) return;
    this.#encodeTrailers = trailers;
    this.#encodeEnd = true;
    this.#runEncodeTrailers(this.#encodeFrom);
  }

  #runEncodeTrailers(from: number): void {
    const trailers = this.#encodeTrailers!;
    const fs = this.filters;
    const states = this.#encodeStates;
    for (let i = from; i >= 0; i--) {
      const state = states === null ? ITER_CONTINUE : states[i]!;
      if (state === ITER_STOP_ALL) return;
      const f = fs[i]!;
      const status: FilterStatus = f.encodeTrailers !== undefined ? f.encodeTrailers(trailers) : state === ITER_CONTINUE ? "continue" : "stop";
      if (this.#done) return;
      if (status === "continue") {
        if (state === ITER_CONTINUE) continue;
        this.#continueEncodingAt(i);
        return;
      }
      (this.#encodeStates ??= new Uint8Array(fs.length))[i] = ITER_STOP;
      return;
    }
    this.hcm.writeTrailers(this, trailers);
  }

  /** Resumes the stopped encoder filter furthest along the chain (nearest the codec). */
  continueEncoding(): void {
    const states = this.#encodeStates;
    if (states === null || this.#done) return;
    for (let i = 0; i < states.length; i++) {
      if (states[i] !== ITER_CONTINUE) {
        this.#continueEncodingAt(i);
        return;
      }
    }
  }

  /** commonContinue for encoder filter `at`: headers, buffered body, trailers go on towards
   *  filter 0 and the codec (body and trailers from `at` itself after a stop-all). */
  #continueEncodingAt(at: number): void {
    const states = this.#encodeStates!;
    const state = states[at];
    if (state === ITER_CONTINUE) return;
    states[at] = ITER_CONTINUE;
    const next = state === ITER_STOP_ALL ? at : at - 1;
    if (this.#encodeHeaders !== null && this.#encodeHeadersAt === at) {
      this.#runEncodeHeaders(at - 1, this.#encodeEnd && this.#encodeBuffer === null && this.#encodeTrailers === null);
      if (this.#done) return;
    }
    const hadTrailers = this.#encodeTrailers !== null;
    const buffered = this.#encodeBuffer;
    if (buffered !== null) {
      this.#encodeBuffer = null;
      this.#encodeBuffered = 0;
      this.#runEncodeData(next, concat(buffered), this.#encodeEnd && !hadTrailers);
      if (this.#done) return;
    }
    if (hadTrailers) this.#runEncodeTrailers(next);
  }

  sendLocalReply(status: number, body: string, flags: number, details: string): void {
    if (this.#done) return;
    this.info.responseFlags |= flags;
    this.info.responseCodeDetails = details;
    if (this.responseStarted) {
      this.resetStream(flags, details);
      return;
    }
    let contentType = "text/plain";
    const lr = this.hcm.config.localReply;
    if (lr !== null) {
      // local_reply_config: the first mapper whose filter matches rewrites status and body,
      // then the body format (a mapper's override, else the config's) renders the body.
      this.info.responseCode = status;
      let format = lr.format;
      let ctype = lr.contentType;
      const ms = lr.mappers;
      for (let i = 0; i < ms.length; i++) {
        const mp = ms[i]!;
        if (!mp.filter(this.info, this.request)) continue;
        if (mp.statusCode !== 0) status = mp.statusCode;
        if (mp.body !== undefined) body = mp.body;
        if (mp.format !== null) {
          format = mp.format;
          ctype = mp.contentType;
        }
        break;
      }
      if (format !== null) {
        this.info.responseCode = status;
        setLocalReplyBody(body);
        body = format(this.info, this.request, null);
        setLocalReplyBody("");
        contentType = ctype;
      }
    }
    const bytes = body ? encoder.encode(body) : EMPTY;
    const headers = new HeaderMap();
    headers.set("content-length", String(bytes.length));
    if (bytes.length) headers.set("content-type", contentType);
    if (this.redirectLocation !== "") headers.set("location", this.redirectLocation);
    // Envoy closes HTTP/1 connections after protocol errors.
    if (flags & ResponseFlag.DownstreamProtocolError) headers.set("connection", "close");
    this.encodeHeaders({ status, headers }, bytes.length === 0);
    if (bytes.length) this.encodeData(bytes, true);
  }

  resetStream(flags: number, details: string): void {
    if (this.#done) return;
    this.info.responseFlags |= flags;
    if (details) this.info.responseCodeDetails = details;
    this.finish();
    this.hcm.resetConnection(this);
  }

  readDisable(disable: boolean): void {
    if (disable === this.#readDisabled) return;
    this.#readDisabled = disable;
    this.hcm.conn.readDisable(disable);
  }

  setDownstreamWatermarkListener(listener: WatermarkListener | null): void {
    this.downstreamWatermark = listener;
    if (listener && this.hcm.conn.writer.aboveHighWatermark) listener.onAboveWriteBufferHighWatermark();
  }

  /** @internal the downstream connection went away under this stream. */
  onDownstreamReset(flags: number, details: string): void {
    if (this.#done) return;
    this.info.responseFlags |= flags;
    if (!this.info.responseCodeDetails) this.info.responseCodeDetails = details;
    this.hcm.config.stats.downstreamRqActive.dec();
    this.finish();
  }

  /** @internal ends the stream: filters destroyed, access log written. */
  finish(): void {
    if (this.#done) return;
    this.#done = true;
    if (this.#readDisabled) this.readDisable(false);
    this.info.endMono = this.hcm.conn.wheel.clock.now();
    if (this.responseStarted) this.hcm.config.stats.downstreamRqTime.record(this.info.endMono - this.info.startMono);
    if (!this.info.responseCodeDetails && this.responseStarted) this.info.responseCodeDetails = "via_upstream";
    for (const f of this.filters) f.onDestroy();
    const loggers = this.hcm.config.accessLoggers;
    for (let i = 0; i < loggers.length; i++) loggers[i]!.log(this.info, this.request, this.#respHeaders);
  }
}

function concat(chunks: Uint8Array[]): Uint8Array {
  if (chunks.length === 0) return EMPTY;
  if (chunks.length === 1) return chunks[0]!;
  let n = 0;
  for (const c of chunks) n += c.length;
  const out = new Uint8Array(n);
  let off = 0;
  for (const c of chunks) {
    out.set(c, off);
    off += c.length;
  }
  return out;
}
