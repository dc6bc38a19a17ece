/**
 * HTTP/1.1 connection pool for one host on one worker (worker side). Keep-alive connections are
 * reused last-in first-out (the warmest socket first); a connection serves one request at a time.
 * A new connection is usable at once: the request is written while the connect is in flight
 * (the runtime queues it), so a miss costs no extra event-loop turn.
 */
import { realClock } from "../../core/clock.ts";
import { CodecError, Http1Parser, type Http1ParserHandler, type ResponseHead } from "../../http/http1/parser.ts";
import { encodeRequestHead, writeRequestHead } from "../../http/http1/encoder.ts";
import type { HeaderMap } from "../../http/header_map.ts";
import { BatchedWriter, beginIo, endIo, type WatermarkListener } from "../../network/write_batch.ts";
import type { Runtime, RuntimeError, SocketEvents, TcpSocket, TlsConnectOptions } from "../../runtime/types.ts";
import type { ClusterStats } from "../cluster_stats.ts";
import type { Host } from "../host.ts";
import type { HostResultKind } from "../outlier_detection.ts";
import { ResourceKind, type ResourceManager } from "../resource_manager.ts";

/** Why an upstream request failed before its response completed. */
export type UpstreamResetReason =
  | "connection_failure"
  | "connect_timeout"
  | "remote_reset"
  | "protocol_error"
  | "local_reset";

/** The request side of one exchange on an upstream connection (the router's upstream request). */
export interface UpstreamStreamHandler {
  onResponseHead(head: ResponseHead): void;
  /** An interim `100 Continue` arrived (the final response follows). */
  onResponse100Continue?(): void;
  onResponseBody(chunk: Uint8Array): void;
  onResponseTrailers(trailers: HeaderMap): void;
  onResponseComplete(): void;
  /** The exchange failed; `sawResponseBytes` tells whether anything of the response arrived. */
  onUpstreamReset(reason: UpstreamResetReason, detail: string): void;
  /** The upstream write buffer crossed its watermarks: pause / resume reading the downstream. */
  onUpstreamAboveWriteBufferHighWatermark(): void;
  onUpstreamBelowWriteBufferLowWatermark(): void;
}

/** Pool-wide settings taken from the cluster (control side computes them). */
export interface PoolSettings {
  readonly connectTimeoutMs: number;
  readonly bufferLimitBytes: number;
  /** Idle keep-alive connections kept per host per worker. */
  readonly maxIdle: number;
  /** Exchanges per connection before it is closed; 0 = unlimited. */
  readonly maxRequestsPerConnection?: number;
  /** Idle keep-alive connections are closed after this many ms; 0 = never. */
  readonly idleTimeoutMs?: number;
  /** The cluster's upstream TLS (one shared object per cluster); undefined = plain TCP. */
  readonly tls?: TlsConnectOptions;
}

/** What a pool reports to its cluster (worker side): host results for outlier detection. */
export interface PoolCallbacks {
  onHostResult(host: Host, kind: HostResultKind): void;
}

/** The router's handle on one upstream exchange: a connection, or a request waiting for one. */
export interface UpstreamRequestHandle {
  write(data: Uint8Array): void;
  /** Writes the request head, encoded straight into the connection's write batch (`host`:
   *  one more line after `headers`, see encoder.ts writeRequestHead). */
  writeHead(method: string, path: string, headers: HeaderMap, host?: string): void;
  /** The whole request has been written. After a 101 to an upgrade request (a tunnel), the
   *  downstream half-closed: the upstream is half-closed too (FIN after the queued bytes). */
  requestComplete(): void;
  /** Abandons the exchange; `"timeout"` also reports a local-origin failure for the host. */
  reset(reason?: "timeout"): void;
  /** Exchanges started on the connection (0 while pending). */
  readonly requests: number;
  readonly responseBytes: number;
  /** Read pause/resume of the upstream connection (no-op while pending). */
  readonly socket: { pause(): void; resume(): void };
  readonly host: Host;
}

/** One upstream TCP connection carrying HTTP/1.1 exchanges. */
export class Http1UpstreamConnection implements SocketEvents, Http1ParserHandler, WatermarkListener, UpstreamRequestHandle {
  readonly socket: TcpSocket;
  readonly writer: BatchedWriter;
  readonly #parser: Http1Parser;
  handler: UpstreamStreamHandler | null = null;
  connected = false;
  closed = false;
  /** Exchanges started on this connection (more than one means keep-alive reuse). */
  requests = 0;
  /** Response bytes received for the current exchange. */
  responseBytes = 0;
  #requestDone = false;
  #responseDone = false;
  #keepAlive = true;
  #idleIndex = -1;
  /** Set after a protocol error: later parser events for the same bytes are ignored. */
  #failed = false;
  /** An exchange is counted in the host's active requests and the requests circuit breaker. */
  #inExchange = false;
  /** When the connection went idle (for the idle timeout). */
  idleSince = 0;
  /** The current exchange is an HTTP/1.1 Upgrade request (a 101 is allowed). */
  #upgrade = false;
  /** A 101 answered the upgrade: the connection is a raw tunnel, owned by its exchange for life
   *  (never returned to the pool). Upstream bytes go to `onResponseBody`, its FIN to
   *  `onResponseComplete`. */
  #tunnel = false;

  constructor(readonly pool: Http1ConnPool, runtime: Runtime) {
    const { host, settings, stats } = pool;
    this.#parser = new Http1Parser(
      { kind: "response", maxHeaderBytes: 60 * 1024, maxHeadersCount: 100 },
      this,
    );
    stats.upstreamCxTotal.inc();
    stats.upstreamCxHttp1Total.inc();
    stats.upstreamCxActive.inc();
    this.socket = runtime.connect({ host: host.address, port: host.port, timeoutMs: settings.connectTimeoutMs, tls: settings.tls }, this);
    this.writer = new BatchedWriter(this.socket, settings.bufferLimitBytes, this);
  }

  get host(): Host {
    return this.pool.host;
  }

  /** Starts an exchange: `handler` receives the response of the request written next;
   *  `upgrade`: the request asks for an HTTP/1.1 Upgrade, so a 101 may answer it. */
  attach(handler: UpstreamStreamHandler, method: string, upgrade = false): void {
    this.handler = handler;
    this.#upgrade = upgrade;
    this.#inExchange = true;
    this.pool.host.activeRequests++;
    this.pool.resources?.inc(ResourceKind.Requests);
    this.requests++;
    this.responseBytes = 0;
    this.#requestDone = false;
    this.#responseDone = false;
    this.#parser.expectResponseTo(method);
  }

  /** Writes request bytes (head or body). */
  write(data: Uint8Array): void {
    this.writer.write(data);
  }

  writeHead(method: string, path: string, headers: HeaderMap, host?: string): void {
    writeRequestHead(this.writer, method, path, headers, host);
  }

  /** The whole request has been written; the connection may be reused once the response ends. */
  requestComplete(): void {
    this.#requestDone = true;
    if (this.#tunnel) {
      // Downstream FIN in a tunnel: pass the half-close on once the queued bytes are out.
      this.writer.close();
      if (!this.closed) this.socket.end();
      return;
    }
    if (this.#responseDone) this.#release();
  }

  /** Abandons the current exchange (downstream reset, timeout): the socket cannot be reused. */
  reset(reason?: "timeout"): void {
    this.handler = null;
    if (reason === "timeout") this.pool.report("local_origin_failure");
    this.#endExchange();
    this.destroy();
  }

  /** The exchange is over (completed, reset or failed): release its counts once. */
  #endExchange(): void {
    if (!this.#inExchange) return;
    this.#inExchange = false;
    this.pool.host.activeRequests--;
    this.pool.resources?.dec(ResourceKind.Requests);
  }

  /** Closes the connection now. */
  destroy(): void {
    if (this.closed) return;
    this.pool.stats.upstreamCxDestroyLocal.inc();
    this.socket.destroy();
  }

  // --- SocketEvents ---------------------------------------------------------------------
  onOpen(): void {
    this.connected = true;
  }

  onData(chunk: Uint8Array): void {
    this.pool.stats.upstreamCxRxBytesTotal.inc(chunk.length);
    if (!this.handler) {
      // Bytes on an idle connection: the peer is not speaking HTTP/1.1 correctly. Drop it.
      this.pool.stats.upstreamCxProtocolError.inc();
      this.destroy();
      return;
    }
    this.responseBytes += chunk.length;
    if (this.#tunnel) {
      // Upgraded: the bytes are the tunnelled protocol's, passed on unparsed.
      beginIo();
      try {
        this.handler.onResponseBody(chunk);
      } finally {
        endIo();
      }
      return;
    }
    beginIo();
    try {
      const used = this.#parser.execute(chunk);
      if (this.#tunnel) {
        // The 101 and the first tunnel bytes arrived together (the parser paused after the head).
        if (used < chunk.length && this.handler !== null) this.handler.onResponseBody(chunk.subarray(used));
      } else if (used < chunk.length && this.handler === null && !this.closed) {
        // Extra bytes after a complete response: never reuse such a connection.
        this.#keepAlive = false;
        this.destroy();
      }
    } finally {
      endIo();
    }
  }

  onDrain(): void {
    this.writer.onDrain();
  }

  onEnd(): void {
    if (this.#tunnel) {
      // The upstream half-closed the tunnel: the exchange's response side is over.
      const h = this.handler;
      this.#responseDone = true;
      this.handler = null;
      this.#endExchange();
      if (!this.#requestDone) {
        this.writer.close();
        this.socket.end();
      }
      h?.onResponseComplete();
      return;
    }
    if (this.handler) this.#parser.finish();
    // A half-closed upstream cannot take another request.
    this.#keepAlive = false;
    this.pool.removeIdle(this);
    this.socket.end();
  }

  onClose(error: RuntimeError | undefined): void {
    if (this.closed) return;
    this.closed = true;
    this.#endExchange();
    this.pool.resources?.dec(ResourceKind.Connections);
    this.writer.closed = true;
    const stats = this.pool.stats;
    stats.upstreamCxActive.dec();
    stats.upstreamCxDestroy.inc();
    stats.upstreamCxTxBytesTotal.inc(this.writer.bytesWritten);
    this.pool.removeIdle(this);
    this.pool.onConnectionClosed(this);
    const h = this.handler;
    this.handler = null;
    if (!this.connected) {
      stats.upstreamCxConnectFail.inc();
      if (error?.code === "ETIMEDOUT") stats.upstreamCxConnectTimeout.inc();
      this.pool.report("local_origin_failure");
      this.pool.failPending(error?.code === "ETIMEDOUT" ? "connect_timeout" : "connection_failure", error ? `${error.code}: ${error.message}` : "connection closed before connect");
      if (h) {
        h.onUpstreamReset(
          error?.code === "ETIMEDOUT" ? "connect_timeout" : "connection_failure",
          error ? `${error.code}: ${error.message}` : "connection closed before connect",
        );
      }
      return;
    }
    stats.upstreamCxDestroyRemote.inc();
    if (h && !this.#responseDone) {
      stats.upstreamCxDestroyWithActiveRq.inc();
      this.pool.report("local_origin_failure");
      h.onUpstreamReset("remote_reset", error ? `${error.code}: ${error.message}` : "connection closed by upstream");
    }
  }

  // --- WatermarkListener (request bytes towards the upstream) --------------------------------
  onAboveWriteBufferHighWatermark(): void {
    this.handler?.onUpstreamAboveWriteBufferHighWatermark();
  }
  onBelowWriteBufferLowWatermark(): void {
    this.handler?.onUpstreamBelowWriteBufferLowWatermark();
  }

  // --- Http1ParserHandler ------------------------------------------------------------------
  onResponseHead(head: ResponseHead): void {
    if (head.status === 101) {
      if (!this.#upgrade) {
        // Only an Upgrade request (one the HCM's upgrade_configs accepted) may be answered with
        // 101 (RFC 9110 §15.2.2); otherwise it is a protocol violation by the upstream.
        this.onError(new CodecError(502, "upstream_unexpected_101", "upstream switched protocols without an Upgrade request"));
        return;
      }
      // The connection now belongs to this exchange as a tunnel (the parser has paused after the
      // head; it is never resumed) and never goes back to the pool.
      this.#tunnel = true;
      this.#keepAlive = false;
      this.pool.report("success");
      this.handler?.onResponseHead(head);
      if (this.#requestDone && !this.closed) {
        // The downstream half-closed before the 101: pass it on now.
        this.writer.close();
        this.socket.end();
      }
      return;
    }
    // 1xx informational responses: a 100 Continue is offered to the handler (the HCM relays it
    // with proxy_100_continue); others are dropped, as Envoy's codec does. The final one follows.
    if (head.status < 200) {
      if (head.status === 100) this.handler?.onResponse100Continue?.();
      return;
    }
    this.#keepAlive = head.keepAlive;
    const st = head.status;
    this.pool.report(st < 500 ? "success" : st >= 502 && st <= 504 ? "gateway" : "5xx");
    this.handler?.onResponseHead(head);
  }

  onBody(chunk: Uint8Array): void {
    if (this.#failed) return;
    this.handler?.onResponseBody(chunk);
  }

  onTrailers(trailers: HeaderMap): void {
    this.handler?.onResponseTrailers(trailers);
  }

  onMessageComplete(): void {
    if (this.#failed || this.#tunnel) return;
    this.#responseDone = true;
    this.#parser.pause();
    const h = this.handler;
    if (this.#requestDone) this.#release();
    h?.onResponseComplete();
  }

  onError(err: CodecError): void {
    if (this.#failed) return;
    this.#failed = true;
    this.pool.stats.upstreamCxProtocolError.inc();
    const h = this.handler;
    this.handler = null;
    if (h) this.pool.report("5xx");
    this.#endExchange();
    this.destroy();
    h?.onUpstreamReset("protocol_error", err.message);
  }

  #release(): void {
    this.handler = null;
    this.#endExchange();
    const max = this.pool.settings.maxRequestsPerConnection ?? 0;
    if (max > 0 && this.requests >= max && !this.closed) {
      this.pool.stats.upstreamCxMaxRequests.inc();
      this.#keepAlive = false;
    }
    if (!this.#keepAlive || this.closed) {
      this.destroy();
      return;
    }
    this.#parser.resume();
    this.pool.addIdle(this);
  }

  /** @internal position in the pool's idle list (-1 when busy). */
  get idleIndex(): number {
    return this.#idleIndex;
  }
  set idleIndex(i: number) {
    this.#idleIndex = i;
  }
}

/**
 * A request waiting for a connection (the connections circuit breaker is open). Writes are
 * buffered; once the pool binds it to a connection they are replayed and later calls forward.
 */
export class PendingRequest implements UpstreamRequestHandle {
  conn: Http1UpstreamConnection | null = null;
  #buffered: Uint8Array[] = [];
  #complete = false;
  #cancelled = false;
  constructor(readonly pool: Http1ConnPool, readonly handler: UpstreamStreamHandler, readonly method: string, readonly upgrade = false) {}

  get host(): Host {
    return this.pool.host;
  }
  get requests(): number {
    return this.conn?.requests ?? 0;
  }
  get responseBytes(): number {
    return this.conn?.responseBytes ?? 0;
  }
  get socket(): { pause(): void; resume(): void } {
    return this.conn?.socket ?? NO_SOCKET;
  }
  get cancelled(): boolean {
    return this.#cancelled;
  }

  write(data: Uint8Array): void {
    if (this.conn) this.conn.write(data);
    else if (!this.#cancelled) this.#buffered.push(data.slice());
  }

  writeHead(method: string, path: string, headers: HeaderMap, host?: string): void {
    if (this.conn) this.conn.writeHead(method, path, headers, host);
    else if (!this.#cancelled) this.#buffered.push(encodeRequestHead(method, path, headers, host));
  }

  requestComplete(): void {
    if (this.conn) this.conn.requestComplete();
    else this.#complete = true;
  }

  reset(reason?: "timeout"): void {
    if (this.conn) {
      this.conn.reset(reason);
      return;
    }
    this.#cancelled = true;
    this.#buffered = [];
    this.pool.cancelPending(this);
  }

  /** @internal the pool gives this request a connection. */
  bind(conn: Http1UpstreamConnection): void {
    this.conn = conn;
    conn.attach(this.handler, this.method, this.upgrade);
    for (const b of this.#buffered) conn.write(b);
    this.#buffered = [];
    if (this.#complete) conn.requestComplete();
  }
}

const NO_SOCKET = { pause(): void {}, resume(): void {} };

/** The per-host, per-worker pool of HTTP/1.1 connections. */
export class Http1ConnPool {
  readonly #idle: Http1UpstreamConnection[] = [];
  readonly #all = new Set<Http1UpstreamConnection>();
  readonly #pending: PendingRequest[] = [];
  #idleTimer: ReturnType<typeof setTimeout> | undefined = undefined;
  #draining = false;

  constructor(
    public host: Host,
    readonly settings: PoolSettings,
    readonly stats: ClusterStats,
    readonly runtime: Runtime,
    /** The cluster's circuit breakers (DEFAULT priority); none = unlimited. */
    readonly resources?: ResourceManager,
    readonly callbacks?: PoolCallbacks,
  ) {}

  /**
   * A handle for one exchange: an idle keep-alive connection if any, else a new one
   * (connecting), else — when max_connections is reached — a pending request that gets the next
   * free connection. Null when a circuit breaker overflowed (max_requests or
   * max_pending_requests): the router answers 503 with flag UO.
   */
  acquire(handler: UpstreamStreamHandler, method: string, upgrade = false): UpstreamRequestHandle | null {
    const res = this.resources;
    if (res && !res.canCreate(ResourceKind.Requests)) {
      this.stats.upstreamRqPendingOverflow.inc();
      return null;
    }
    let conn = this.#idle.pop();
    if (conn) conn.idleIndex = -1;
    if (!conn) {
      // Envoy lets a pool open its first connection even when the breaker is open.
      if (res && !res.canCreate(ResourceKind.Connections) && this.#all.size > 0) {
        this.stats.upstreamCxOverflow.inc();
        if (!res.canCreate(ResourceKind.PendingRequests)) {
          this.stats.upstreamRqPendingOverflow.inc();
          return null;
        }
        const p = new PendingRequest(this, handler, method, upgrade);
        this.#pending.push(p);
        res.inc(ResourceKind.PendingRequests);
        this.stats.upstreamRqPendingTotal.inc();
        this.stats.upstreamRqPendingActive.inc();
        return p;
      }
      conn = this.#newConnection();
    }
    conn.attach(handler, method, upgrade);
    return conn;
  }

  #newConnection(): Http1UpstreamConnection {
    this.resources?.inc(ResourceKind.Connections);
    const conn = new Http1UpstreamConnection(this, this.runtime);
    this.#all.add(conn);
    return conn;
  }

  /** Connections open (busy and idle). */
  get size(): number {
    return this.#all.size;
  }

  /** Idle keep-alive connections. */
  get idleCount(): number {
    return this.#idle.length;
  }

  /** Requests waiting for a connection. */
  get pendingCount(): number {
    return this.#pending.length;
  }

  /** @internal reports a host result to the cluster (outlier detection). */
  report(kind: HostResultKind): void {
    this.callbacks?.onHostResult(this.host, kind);
  }

  /** @internal a connection finished an exchange and may be reused. */
  addIdle(conn: Http1UpstreamConnection): void {
    const p = this.#shiftPending();
    if (p) {
      p.bind(conn);
      return;
    }
    if (this.#draining || this.#idle.length >= this.settings.maxIdle) {
      conn.destroy();
      return;
    }
    conn.idleIndex = this.#idle.length;
    conn.idleSince = realClock.now();
    this.#idle.push(conn);
    this.#armIdleTimer();
  }

  #shiftPending(): PendingRequest | undefined {
    if (this.#pending.length === 0) return undefined;
    const p = this.#pending.shift();
    if (p) {
      this.resources?.dec(ResourceKind.PendingRequests);
      this.stats.upstreamRqPendingActive.dec();
    }
    return p;
  }

  /** @internal a pending request was abandoned by its router. */
  cancelPending(p: PendingRequest): void {
    const i = this.#pending.indexOf(p);
    if (i < 0) return;
    this.#pending.splice(i, 1);
    this.resources?.dec(ResourceKind.PendingRequests);
    this.stats.upstreamRqPendingActive.dec();
    this.stats.upstreamRqCancelled.inc();
  }

  /** @internal a connect failed: the oldest pending request fails the same way (Envoy fails
   *  pending requests when a connection attempt fails). */
  failPending(reason: UpstreamResetReason, detail: string): void {
    const p = this.#shiftPending();
    if (!p) return;
    this.stats.upstreamRqPendingFailureEject.inc();
    p.handler.onUpstreamReset(reason, detail);
  }

  #armIdleTimer(): void {
    const t = this.settings.idleTimeoutMs ?? 0;
    if (t <= 0 || this.#idleTimer !== undefined) return;
    // One coarse timer per pool while it has idle connections, not one per connection.
    this.#idleTimer = setTimeout(() => {
      this.#idleTimer = undefined;
      const now = realClock.now();
      for (const c of [...this.#idle]) {
        if (now - c.idleSince >= t) {
          this.stats.upstreamCxIdleTimeout.inc();
          this.removeIdle(c);
          c.destroy();
        }
      }
      if (this.#idle.length) this.#armIdleTimer();
    }, Math.max(5, Math.ceil(t / 4)));
  }

  /** @internal takes a connection out of the idle list (it closed or half-closed). */
  removeIdle(conn: Http1UpstreamConnection): void {
    const i = conn.idleIndex;
    if (i < 0) return;
    const last = this.#idle.pop()!;
    if (last !== conn) {
      this.#idle[i] = last;
      last.idleIndex = i;
    }
    conn.idleIndex = -1;
  }

  /** @internal */
  onConnectionClosed(conn: Http1UpstreamConnection): void {
    this.#all.delete(conn);
    // A slot freed: give the oldest pending request a new connection.
    if (this.#pending.length > 0 && !this.#draining) {
      const p = this.#shiftPending()!;
      p.bind(this.#newConnection());
    }
    if (this.#all.size === 0 && this.#idleTimer !== undefined) {
      clearTimeout(this.#idleTimer);
      this.#idleTimer = undefined;
    }
  }

  /** Closes idle connections now and busy ones when their exchange ends (host removed or
   *  cluster settings changed); pending requests still get served. */
  drain(): void {
    this.#draining = true;
    for (const c of [...this.#idle]) {
      this.removeIdle(c);
      c.destroy();
    }
  }

  /** Closes every connection (cluster removed, worker shutting down). */
  closeAll(): void {
    this.#draining = true;
    for (const p of this.#pending.splice(0)) {
      this.resources?.dec(ResourceKind.PendingRequests);
      this.stats.upstreamRqPendingActive.dec();
      p.handler.onUpstreamReset("local_reset", "connection pool closed");
    }
    for (const c of [...this.#all]) c.destroy();
    if (this.#idleTimer !== undefined) clearTimeout(this.#idleTimer);
    this.#idleTimer = undefined;
  }
}
