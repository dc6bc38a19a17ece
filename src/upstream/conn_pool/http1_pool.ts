/**
 * HTTP/1.1 connection pool for one host on one worker (worker side). Keep-alive connections are
 * reused last-in first-out (the warmest socket first); a connection serves one request at a time.
 * A new connection is usable at once: the request is written while the connect is in flight
 * (the runtime queues it), so a miss costs no extra event-loop turn.
 */
import { CodecError, Http1Parser, type Http1ParserHandler, type ResponseHead } from "../../http/http1/parser.ts";
import type { HeaderMap } from "../../http/header_map.ts";
import { BatchedWriter, beginIo, endIo, type WatermarkListener } from "../../network/write_batch.ts";
import type { Runtime, RuntimeError, SocketEvents, TcpSocket } from "../../runtime/types.ts";
import type { ClusterStats } from "../cluster_stats.ts";
import type { Host } from "../host.ts";

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
}

/** One upstream TCP connection carrying HTTP/1.1 exchanges. */
export class Http1UpstreamConnection implements SocketEvents, Http1ParserHandler, WatermarkListener {
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

  constructor(readonly pool: Http1ConnPool, runtime: Runtime) {
    const { host, settings, stats } = pool;
    this.#parser = new Http1Parser(
      { kind: "response", maxHeaderBytes: 60 * 1024, maxHeadersCount: 100 },
      this,
    );
    stats.upstreamCxTotal.inc();
    stats.upstreamCxHttp1Total.inc();
    stats.upstreamCxActive.inc();
    this.socket = runtime.connect({ host: host.address, port: host.port, timeoutMs: settings.connectTimeoutMs }, this);
    this.writer = new BatchedWriter(this.socket, settings.bufferLimitBytes, this);
  }

  /** Starts an exchange: `handler` receives the response of the request written next. */
  attach(handler: UpstreamStreamHandler, method: string): void {
    this.handler = handler;
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

  /** The whole request has been written; the connection may be reused once the response ends. */
  requestComplete(): void {
    this.#requestDone = true;
    if (this.#responseDone) this.#release();
  }

  /** Abandons the current exchange (downstream reset, timeout): the socket cannot be reused. */
  reset(): void {
    this.handler = null;
    this.destroy();
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
    beginIo();
    try {
      const used = this.#parser.execute(chunk);
      if (used < chunk.length && this.handler === null && !this.closed) {
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
    if (this.handler) this.#parser.finish();
    // A half-closed upstream cannot take another request.
    this.#keepAlive = false;
    this.pool.removeIdle(this);
    this.socket.end();
  }

  onClose(error: RuntimeError | undefined): void {
    if (this.closed) return;
    this.closed = true;
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
      // We never forward Upgrade (tunnelling comes with upgrade_configs), so a 101 is a
      // protocol violation by the upstream.
      this.onError(new CodecError(502, "upstream_unexpected_101", "upstream switched protocols without an Upgrade request"));
      return;
    }
    // 1xx informational responses (100 Continue) are not forwarded yet; the final one follows.
    if (head.status < 200) return;
    this.#keepAlive = head.keepAlive;
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
    if (this.#failed) return;
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
    this.destroy();
    h?.onUpstreamReset("protocol_error", err.message);
  }

  #release(): void {
    this.handler = null;
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

/** The per-host, per-worker pool of HTTP/1.1 connections. */
export class Http1ConnPool {
  readonly #idle: Http1UpstreamConnection[] = [];
  readonly #all = new Set<Http1UpstreamConnection>();

  constructor(
    readonly host: Host,
    readonly settings: PoolSettings,
    readonly stats: ClusterStats,
    readonly runtime: Runtime,
  ) {}

  /** A connection for one exchange: an idle keep-alive one if any, else a new one (connecting). */
  acquire(handler: UpstreamStreamHandler, method: string): Http1UpstreamConnection {
    const idle = this.#idle;
    let conn = idle.pop();
    if (conn) conn.idleIndex = -1;
    if (!conn) {
      conn = new Http1UpstreamConnection(this, this.runtime);
      this.#all.add(conn);
    }
    conn.attach(handler, method);
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

  /** @internal a connection finished an exchange and may be reused. */
  addIdle(conn: Http1UpstreamConnection): void {
    if (this.#idle.length >= this.settings.maxIdle) {
      conn.destroy();
      return;
    }
    conn.idleIndex = this.#idle.length;
    this.#idle.push(conn);
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
  }

  /** Closes every connection (cluster removed, worker shutting down). */
  closeAll(): void {
    for (const c of [...this.#all]) c.destroy();
  }
}
