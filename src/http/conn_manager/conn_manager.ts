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
import type { CompiledRoute } from "../../router/route_table.ts";
import type {
  FilterStatus,
  RequestHeaders,
  ResponseHeaders,
  StreamCallbacks,
  StreamFilter,
} from "../filter.ts";
import { HeaderMap } from "../header_map.ts";
import { CRLF, encodeChunkHeader, encodeResponseHead, encodeTrailers, LAST_CHUNK } from "../http1/encoder.ts";
import { type CodecError, Http1Parser, type Http1ParserHandler, type RequestHead } from "../http1/parser.ts";
import { ResponseFlag } from "../response_flags.ts";
import { StreamInfo } from "../stream_info.ts";
import type { HcmConfig } from "./hcm_config.ts";

const EMPTY = new Uint8Array(0);
const TIMER_IDLE = 1;
const encoder = new TextEncoder();

/** Request headers that describe one hop only (RFC 9110 §7.6.1); never forwarded. */
const HOP_BY_HOP_REQUEST = ["connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "te"];

/** True for loopback and RFC 1918 / RFC 4193 addresses, which Envoy treats as internal. */
function isInternalAddress(ip: string): boolean {
  if (ip.startsWith("::ffff:")) ip = ip.slice(7);
  if (ip === "::1" || ip.startsWith("127.") || ip.startsWith("10.") || ip.startsWith("192.168.")) return true;
  if (ip.startsWith("172.")) {
    const second = Number(ip.split(".")[1]);
    return second >= 16 && second <= 31;
  }
  return ip.startsWith("fd") || ip.startsWith("fc");
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
  readonly #idleTimer: WheelTimer;
  readonly #resume = () => this.#resumeParsing();

  constructor(readonly conn: Connection, readonly config: HcmConfig) {
    const m = config.model;
    this.#parser = new Http1Parser(
      { kind: "request", maxHeaderBytes: m.maxRequestHeadersKb * 1024, maxHeadersCount: m.maxHeadersCount },
      this,
    );
    this.#idleTimer = new WheelTimer(this, TIMER_IDLE);
    const s = config.stats;
    s.downstreamCxTotal.inc();
    s.downstreamCxHttp1Total.inc();
    s.downstreamCxActive.inc();
    s.downstreamCxHttp1Active.inc();
    this.#armIdle();
  }

  // --- NetworkFilter -----------------------------------------------------------------------
  onData(data: Uint8Array, endStream: boolean): NetworkFilterStatus {
    if (endStream) {
      this.#onPeerEnd();
      return "stop";
    }
    this.config.stats.downstreamCxRxBytesTotal.inc(data.length);
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
    this.conn.wheel.disarm(this.#idleTimer);
    const st = this.#stream;
    if (st !== null) {
      s.downstreamCxDestroyRemoteActiveRq.inc();
      s.downstreamRqRxReset.inc();
      st.onDownstreamReset(ResponseFlag.DownstreamConnectionTermination, "downstream_remote_disconnect");
    }
  }

  onAboveWriteBufferHighWatermark(): void {
    this.#stream?.downstreamWatermark?.onAboveWriteBufferHighWatermark();
  }

  onBelowWriteBufferLowWatermark(): void {
    this.#stream?.downstreamWatermark?.onBelowWriteBufferLowWatermark();
  }

  // --- timers ------------------------------------------------------------------------------
  onTimer(_kind: number): void {
    // Connection idle timeout (common_http_protocol_options.idle_timeout): no stream active.
    if (this.#stream === null && !this.conn.closing) {
      this.config.stats.downstreamCxIdleTimeout.inc();
      this.conn.close("flush");
    }
  }

  #armIdle(): void {
    const t = this.config.model.idleTimeoutMs;
    if (t > 0) this.conn.wheel.arm(this.#idleTimer, t);
  }

  // --- parsing -----------------------------------------------------------------------------
  #feed(data: Uint8Array): void {
    const used = this.#parser.execute(data);
    if (used < data.length && !this.conn.closing) {
      this.#pending.push(used === 0 ? data : data.subarray(used));
      this.conn.readDisable(true);
    }
  }

  #resumeParsing(): void {
    this.#resumeScheduled = false;
    if (this.conn.closing) return;
    this.#parser.resume();
    const pending = this.#pending;
    this.#pending = [];
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
    this.conn.wheel.disarm(this.#idleTimer);
    const config = this.config;
    const model = config.model;
    const s = config.stats;
    s.downstreamRqTotal.inc();
    s.downstreamRqHttp1Total.inc();
    s.downstreamRqActive.inc();
    this.#requests++;
    if (model.maxRequestsPerConnection > 0 && this.#requests >= model.maxRequestsPerConnection) {
      this.#closeAfterResponse = true;
    }
    if (!head.keepAlive) this.#closeAfterResponse = true;

    const headers = head.headers;
    let authority = headers.get("host") ?? "";
    let path = head.target;
    if (path.charCodeAt(0) !== 47 /* "/" */ && path !== "*") {
      // absolute-form (RFC 9112 §3.2.2): the target's authority replaces Host.
      const m = /^[a-zA-Z][a-zA-Z0-9+.-]*:\/\/([^/?#]*)(.*)$/.exec(path);
      if (m) {
        authority = m[1]!;
        path = m[2] || "/";
      }
    }
    // Connection-specific headers end here: the ones listed in Connection and the fixed set.
    const connection = headers.get("connection");
    if (connection !== undefined) {
      for (const tok of connection.split(",")) {
        const t = tok.trim().toLowerCase();
        if (t && t !== "close" && t !== "keep-alive") headers.remove(t);
      }
    }
    for (let i = 0; i < HOP_BY_HOP_REQUEST.length; i++) headers.remove(HOP_BY_HOP_REQUEST[i]!);
    headers.remove("host");

    const conn = this.conn;
    const info = new StreamInfo(conn.remoteAddressString, conn.localAddressString);
    info.startMono = conn.wheel.clock.now();
    info.protocol = head.versionMinor === 1 ? "HTTP/1.1" : "HTTP/1.0";
    const req: RequestHeaders = { method: head.method, path, authority: authority.toLowerCase(), scheme: "http", headers };
    this.#mutateRequestHeaders(req, info);

    const endStream = head.framing === "none";
    const stream = new ActiveStream(this, req, info, head.versionMinor, head.method === "HEAD");
    this.#stream = stream;
    stream.decodeHeaders(endStream);
  }

  onBody(chunk: Uint8Array): void {
    const st = this.#stream;
    if (st === null) return;
    st.info.bytesReceived += chunk.length;
    st.decodeData(chunk, false);
  }

  onTrailers(trailers: HeaderMap): void {
    this.#stream?.decodeTrailers(trailers);
  }

  onMessageComplete(): void {
    const st = this.#stream;
    if (st !== null && !st.requestComplete) st.decodeData(EMPTY, true);
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
    const conn = this.conn;
    const info = new StreamInfo(conn.remoteAddressString, conn.localAddressString);
    info.startMono = conn.wheel.clock.now();
    const req: RequestHeaders = { method: "-", path: "-", authority: "", scheme: "http", headers: new HeaderMap() };
    const stream = new ActiveStream(this, req, info, 1, false);
    s.downstreamRqTotal.inc();
    s.downstreamRqActive.inc();
    this.#stream = stream;
    stream.requestComplete = true;
    stream.sendLocalReply(err.status, statusText(err.status), ResponseFlag.DownstreamProtocolError, err.detail);
  }

  /** Envoy's ConnectionManagerUtility::mutateRequestHeaders, the parts this stage supports. */
  #mutateRequestHeaders(req: RequestHeaders, info: StreamInfo): void {
    const m = this.config.model;
    const h = req.headers;
    const remote = this.conn.remoteAddress;
    let external = false;
    if (m.useRemoteAddress) {
      // Append the peer to x-forwarded-for (RFC 7239-style list, Envoy's behaviour).
      const ip = remote.startsWith("::ffff:") ? remote.slice(7) : remote;
      const xff = h.get("x-forwarded-for");
      h.set("x-forwarded-for", xff ? `${xff}, ${ip}` : ip);
      h.set("x-forwarded-proto", req.scheme);
      external = !isInternalAddress(remote);
      if (external) {
        // Envoy's internal headers are not trusted from the outside.
        h.remove("x-envoy-expected-rq-timeout-ms");
        h.remove("x-envoy-internal");
      } else {
        h.set("x-envoy-internal", "true");
      }
    } else if (!h.has("x-forwarded-proto")) {
      h.set("x-forwarded-proto", req.scheme);
    }
    let rid = h.get("x-request-id");
    if (m.generateRequestId && (rid === undefined || rid === "" || (external && !m.preserveExternalRequestId))) {
      rid = crypto.randomUUID();
      h.set("x-request-id", rid);
    }
    info.requestId = rid ?? "";
  }

  // --- response side (called by ActiveStream after the encoder filters) ---------------------
  /** @internal */
  writeHeaders(st: ActiveStream, resp: ResponseHeaders, endStream: boolean): void {
    const m = this.config.model;
    const headers = resp.headers;
    const status = resp.status;
    st.info.responseCode = status;
    if (!st.requestComplete || this.config.ctx.drain.draining) {
      if (this.config.ctx.drain.draining && !this.#closeAfterResponse) this.config.stats.downstreamCxDrainClose.inc();
      this.#closeAfterResponse = true;
    }
    const upstreamConnection = headers.get("connection");
    if (upstreamConnection !== undefined) {
      if (upstreamConnection.toLowerCase().includes("close")) this.#closeAfterResponse = true;
      headers.remove("connection");
    }
    headers.set("server", m.serverName);
    if (!headers.has("date")) headers.set("date", httpDate());
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
    const head = encodeResponseHead(status, headers, 1);
    st.info.bytesSent = 0;
    this.conn.write(head);
    if (endStream) this.#streamComplete(st);
  }

  /** @internal */
  writeData(st: ActiveStream, data: Uint8Array, endStream: boolean): void {
    const n = data.length;
    if (n > 0 && st.bodyMode !== 0) {
      st.info.bytesSent += n;
      if (st.bodyMode === 2) {
        this.conn.write(encodeChunkHeader(n));
        this.conn.write(data);
        this.conn.write(CRLF);
      } else {
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
    if (st.bodyMode === 2) this.conn.write(encodeTrailers(trailers));
    this.#streamComplete(st);
  }

  #streamComplete(st: ActiveStream): void {
    const s = this.config.stats;
    s.downstreamRqActive.dec();
    s.downstreamRqCompleted.inc();
    s.downstreamRqByClass[(st.info.responseCode / 100) | 0]?.inc();
    st.finish();
    if (this.#stream === st) this.#stream = null;
    if (this.#closeAfterResponse || !st.requestComplete) {
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

/** One request/response exchange and its HTTP filter chain (worker side). */
export class ActiveStream implements StreamCallbacks {
  readonly filters: StreamFilter[];
  #routeCached = false;
  #route: CompiledRoute | null = null;
  /** Index of the filter whose decode stopped, -1 when iteration ran through. */
  #decodeStop = -1;
  #decodeHeadersDone = false;
  #decodeBuffer: Uint8Array[] = [];
  #decodeEnd = false;
  #decodeTrailers: HeaderMap | null = null;
  #encodeStop = -1;
  #encodeHeaders: ResponseHeaders | null = null;
  #encodeHeadersEnd = false;
  #encodeBuffer: Uint8Array[] = [];
  #encodeEnd = false;
  #encodeTrailers: HeaderMap | null = null;
  /** Position the encoder chain starts from (the filter that started the response). */
  #encodeFrom = 0;
  #done = false;
  requestComplete = false;
  responseStarted = false;
  /** 0 no body, 1 raw (length or close-delimited), 2 chunked. */
  bodyMode = 0;
  downstreamWatermark: WatermarkListener | null = null;
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
      this.#route = this.hcm.config.routeTable.route(this.request.authority, this.request.path);
    }
    return this.#route;
  }

  clearRouteCache(): void {
    this.#routeCached = false;
  }

  // --- decode path ---------------------------------------------------------------------------
  /** @internal */
  decodeHeaders(endStream: boolean): void {
    if (endStream) this.#markRequestComplete();
    this.#decodeEnd = endStream;
    this.#runDecodeHeaders(0);
  }

  #runDecodeHeaders(from: number): void {
    const fs = this.filters;
    for (let i = from; i < fs.length; i++) {
      const f = fs[i]!;
      if (f.decodeHeaders === undefined) continue;
      const status: FilterStatus = f.decodeHeaders(this.request, this.#decodeEnd && this.#decodeBuffer.length === 0);
      if (this.#done) return;
      // "stop" from the last filter (the router) means it took the request: the chain is done.
      if (status !== "continue" && i < fs.length - 1) {
        this.#decodeStop = i;
        return;
      }
    }
    this.#decodeHeadersDone = true;
    this.#decodeStop = -1;
  }

  /** @internal */
  decodeData(data: Uint8Array, endStream: boolean): void {
    if (endStream) this.#markRequestComplete();
    if (this.#done) return;
    if (this.#decodeStop >= 0 && !this.#decodeHeadersDone) {
      // Headers are held by a filter: buffer the body until it continues.
      if (data.length) this.#decodeBuffer.push(data);
      if (endStream) this.#decodeEnd = true;
      return;
    }
    this.#runDecodeData(0, data, endStream);
  }

  #runDecodeData(from: number, data: Uint8Array, endStream: boolean): void {
    const fs = this.filters;
    for (let i = from; i < fs.length; i++) {
      const f = fs[i]!;
      if (f.decodeData === undefined) continue;
      const status = f.decodeData(data, endStream);
      if (this.#done) return;
      if (status === "continue") continue;
      if (status === "stopAndBuffer" && i < fs.length - 1) {
        this.#decodeStop = i;
        if (data.length) this.#decodeBuffer.push(data);
        if (endStream) this.#decodeEnd = true;
      }
      return;
    }
  }

  /** @internal */
  decodeTrailers(trailers: HeaderMap): void {
    this.#markRequestComplete();
    if (this.#done) return;
    if (this.#decodeStop >= 0) {
      this.#decodeTrailers = trailers;
      return;
    }
    for (const f of this.filters) {
      if (f.decodeTrailers === undefined) continue;
      if (f.decodeTrailers(trailers) !== "continue" || this.#done) return;
    }
  }

  #markRequestComplete(): void {
    if (!this.requestComplete) {
      this.requestComplete = true;
      this.info.lastDownstreamRxMono = this.hcm.conn.wheel.clock.now();
    }
  }

  continueDecoding(): void {
    const at = this.#decodeStop;
    if (at < 0 || this.#done) return;
    this.#decodeStop = -1;
    if (!this.#decodeHeadersDone) {
      this.#runDecodeHeaders(at + 1);
      if (this.#decodeStop >= 0 || this.#done) return;
    }
    const buffered = this.#decodeBuffer;
    this.#decodeBuffer = [];
    const body = concat(buffered);
    const trailers = this.#decodeTrailers;
    this.#decodeTrailers = null;
    if (body.length > 0 || (this.#decodeEnd && trailers === null && buffered.length > 0)) {
      this.#runDecodeData(at + 1, body, this.#decodeEnd && trailers === null);
    }
    if (trailers !== null && !this.#done) {
      for (let i = at + 1; i < this.filters.length; i++) {
        const f = this.filters[i]!;
        if (f.decodeTrailers && f.decodeTrailers(trailers) !== "continue") return;
      }
    }
  }

  // --- encode path ---------------------------------------------------------------------------
  encodeHeaders(resp: ResponseHeaders, endStream: boolean): void {
    if (this.#done || this.responseStarted) return;
    this.responseStarted = true;
    this.#respHeaders = resp;
    this.#encodeHeaders = resp;
    this.#encodeHeadersEnd = endStream;
    this.#encodeEnd = endStream;
    this.#encodeFrom = this.filters.length - 1;
    this.#runEncodeHeaders(this.#encodeFrom);
  }

  #runEncodeHeaders(from: number): void {
    const fs = this.filters;
    const resp = this.#encodeHeaders!;
    for (let i = from; i >= 0; i--) {
      const f = fs[i]!;
      if (f.encodeHeaders === undefined) continue;
      const status = f.encodeHeaders(resp, this.#encodeHeadersEnd);
      if (this.#done) return;
      if (status !== "continue") {
        this.#encodeStop = i;
        return;
      }
    }
    this.#encodeStop = -1;
    this.#encodeHeaders = null;
    this.hcm.writeHeaders(this, resp, this.#encodeHeadersEnd);
  }

  encodeData(data: Uint8Array, endStream: boolean): void {
    if (this.#done) return;
    if (this.#encodeStop >= 0) {
      if (data.length) this.#encodeBuffer.push(data);
      if (endStream) this.#encodeEnd = true;
      return;
    }
    const fs = this.filters;
    for (let i = this.#encodeFrom; i >= 0; i--) {
      const f = fs[i]!;
      if (f.encodeData === undefined) continue;
      const status = f.encodeData(data, endStream);
      if (this.#done) return;
      if (status === "continue") continue;
      if (status === "stopAndBuffer") {
        this.#encodeStop = i;
        if (data.length) this.#encodeBuffer.push(data);
        if (endStream) this.#encodeEnd = true;
      }
      return;
    }
    this.hcm.writeData(this, data, endStream);
  }

  encodeTrailers(trailers: HeaderMap): void {
    if (this.#done) return;
    if (this.#encodeStop >= 0) {
      this.#encodeTrailers = trailers;
      return;
    }
    for (let i = this.#encodeFrom; i >= 0; i--) {
      const f = this.filters[i]!;
      if (f.encodeTrailers && f.encodeTrailers(trailers) !== "continue") return;
      if (this.#done) return;
    }
    this.hcm.writeTrailers(this, trailers);
  }

  continueEncoding(): void {
    const at = this.#encodeStop;
    if (at < 0 || this.#done) return;
    this.#encodeStop = -1;
    if (this.#encodeHeaders !== null) {
      this.#runEncodeHeaders(at - 1);
      if (this.#encodeStop >= 0 || this.#done) return;
      if (this.#encodeHeadersEnd) return;
    }
    const body = concat(this.#encodeBuffer);
    this.#encodeBuffer = [];
    const trailers = this.#encodeTrailers;
    this.#encodeTrailers = null;
    const saveFrom = this.#encodeFrom;
    this.#encodeFrom = at - 1;
    if (body.length > 0 || (this.#encodeEnd && trailers === null)) this.encodeData(body, this.#encodeEnd && trailers === null);
    if (trailers !== null) this.encodeTrailers(trailers);
    this.#encodeFrom = saveFrom;
  }

  sendLocalReply(status: number, body: string, flags: number, details: string): void {
    if (this.#done) return;
    this.info.responseFlags |= flags;
    this.info.responseCodeDetails = details;
    if (this.responseStarted) {
      this.resetStream(flags, details);
      return;
    }
    const bytes = body ? encoder.encode(body) : EMPTY;
    const headers = new HeaderMap();
    headers.set("content-length", String(bytes.length));
    if (bytes.length) headers.set("content-type", "text/plain");
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
