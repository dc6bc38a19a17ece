/**
 * A downstream connection (worker side): the accepted socket, its network filter chain, its
 * outbound writer with watermarks, and how it closes. Nothing thrown by a filter escapes to the
 * accept loop: the connection is closed and the error counted instead (DESIGN rule 4).
 */
import type { Counter, Gauge } from "../core/stats.ts";
import { type TimerTarget, type TimerWheel, WheelTimer } from "../core/timer_wheel.ts";
import type { Logger } from "../core/log.ts";
import type { RuntimeError, SocketEvents, TcpSocket } from "../runtime/types.ts";
import type { NetworkFilter } from "./filter.ts";
import { BatchedWriter, beginIo, endIo, type WatermarkListener } from "./write_batch.ts";

const EMPTY = new Uint8Array(0);
const TIMER_DELAYED_CLOSE = 1;
/** Envoy's delayed_close_timeout default: how long a closing connection waits for the peer. */
const DELAYED_CLOSE_MS = 1000;

/** Stats a listener keeps for its connections (resolved once per listener). */
export interface ConnectionStats {
  readonly cxTotal: Counter;
  readonly cxActive: Gauge;
  readonly cxDestroy: Counter;
}

/** Addresses a listener filter restored (PROXY protocol): they replace the socket's own. */
export interface ConnectionAddresses {
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly localAddress: string;
  readonly localPort: number;
  /** The peer that really connected (the socket's remote address). */
  readonly directRemoteAddress: string;
  readonly directRemotePort: number;
}

/** One accepted connection and its network filters. */
export class Connection implements SocketEvents, WatermarkListener, TimerTarget {
  readonly writer: BatchedWriter;
  /** The downstream peer: the socket's, or the one a PROXY header named. */
  readonly remoteAddress: string;
  readonly remotePort: number;
  /** Our address: the socket's, or the destination a PROXY header named. */
  readonly localAddress: string;
  readonly localPort: number;
  /** The peer that really connected to us (differs from remoteAddress after a PROXY header). */
  readonly directRemoteAddress: string;
  readonly directRemotePort: number;
  /** "ip:port" of the peer, as %DOWNSTREAM_REMOTE_ADDRESS% prints it. */
  readonly remoteAddressString: string;
  readonly localAddressString: string;
  filters: NetworkFilter[] = [];
  closed = false;
  /** SNI the client asked for ("" = none): set by the TLS inspector listener filter or the TLS
   *  transport socket before the network filters start (rbac, tcp_proxy, access logs read it). */
  requestedServerName = "";
  /** "raw_buffer", or "tls" when a listener filter saw a ClientHello. */
  transportProtocol = "raw_buffer";
  /** How long close("flush") waits for the peer to close before destroying the socket (the
   *  HCM sets its delayed_close_timeout here); 0: destroy as soon as the writes are flushed. */
  delayedCloseMs = DELAYED_CLOSE_MS;
  #closing = false;
  #readDisabled = 0;
  #timer: WheelTimer;
  bytesReceived = 0;

  constructor(
    readonly socket: TcpSocket,
    bufferLimit: number,
    readonly wheel: TimerWheel,
    readonly stats: ConnectionStats,
    readonly log: Logger,
    /** Told when the connection closes (the listener's connection set). */
    readonly onClosed: (c: Connection) => void,
    /** Addresses listener filters restored; absent = the socket's own. */
    addresses?: ConnectionAddresses,
  ) {
    const a = addresses ?? socket;
    this.remoteAddress = a.remoteAddress;
    this.remotePort = a.remotePort;
    this.localAddress = a.localAddress;
    this.localPort = a.localPort;
    this.directRemoteAddress = addresses ? addresses.directRemoteAddress : socket.remoteAddress;
    this.directRemotePort = addresses ? addresses.directRemotePort : socket.remotePort;
    this.remoteAddressString = fmt(a.remoteAddress, a.remotePort);
    this.localAddressString = fmt(a.localAddress, a.localPort);
    this.writer = new BatchedWriter(socket, bufferLimit, this);
    this.#timer = new WheelTimer(this, TIMER_DELAYED_CLOSE);
    socket.events = this;
    stats.cxTotal.inc();
    stats.cxActive.inc();
  }

  /** Installs the filters and runs their onNewConnection. */
  start(filters: NetworkFilter[]): void {
    this.filters = filters;
    for (const f of filters) {
      if (f.onNewConnection && f.onNewConnection() === "stop") break;
    }
  }

  /** Writes bytes to the peer (coalesced per I/O event). */
  write(data: Uint8Array): void {
    this.writer.write(data);
  }

  /** Stops (true) or resumes (false) reading; nested calls count. */
  readDisable(disable: boolean): void {
    if (this.closed) return;
    if (disable) {
      if (this.#readDisabled++ === 0) this.socket.pause();
    } else if (this.#readDisabled > 0 && --this.#readDisabled === 0) {
      this.socket.resume();
    }
  }

  /** Closes: "flush" sends what is queued then FIN (and destroys after a grace period if the
   *  peer does not close); "now" drops everything. */
  close(mode: "flush" | "now"): void {
    if (this.closed) return;
    if (mode === "now") {
      this.socket.destroy();
      return;
    }
    if (this.#closing) return;
    this.#closing = true;
    this.writer.close();
    this.socket.end();
    if (this.delayedCloseMs > 0) this.wheel.arm(this.#timer, this.delayedCloseMs);
    // Delayed close disabled (Envoy: "closed immediately after the write flush is completed"):
    // now if everything went to the kernel, else from onDrain.
    else if (this.writer.buffered === 0) this.socket.destroy();
  }

  /** True once close() was called. */
  get closing(): boolean {
    return this.#closing || this.closed;
  }

  /** Tells the filters the listener is draining (each winds down in its own way). */
  drain(): void {
    if (this.closed) return;
    beginIo();
    try {
      for (const f of this.filters) f.onDrain?.();
    } catch (e) {
      this.#fail(e);
    } finally {
      endIo();
    }
  }

  onTimer(_kind: number): void {
    if (!this.closed) this.socket.destroy();
  }

  onOpen(): void {}

  onData(chunk: Uint8Array): void {
    if (this.#closing) return;
    this.bytesReceived += chunk.length;
    beginIo();
    try {
      const fs = this.filters;
      for (let i = 0; i < fs.length; i++) {
        if (fs[i]!.onData(chunk, false) === "stop") break;
      }
    } catch (e) {
      this.#fail(e);
    } finally {
      endIo();
    }
  }

  onEnd(): void {
    beginIo();
    try {
      const fs = this.filters;
      for (let i = 0; i < fs.length; i++) {
        if (fs[i]!.onData(EMPTY, true) === "stop") break;
      }
    } catch (e) {
      this.#fail(e);
    } finally {
      endIo();
    }
  }

  onDrain(): void {
    if (this.#closing && this.delayedCloseMs === 0 && !this.closed && this.writer.buffered === 0) {
      this.socket.destroy();
      return;
    }
    beginIo();
    try {
      this.writer.onDrain();
    } finally {
      endIo();
    }
  }

  onClose(_error: RuntimeError | undefined): void {
    if (this.closed) return;
    this.closed = true;
    this.writer.closed = true;
    this.wheel.disarm(this.#timer);
    this.stats.cxActive.dec();
    this.stats.cxDestroy.inc();
    const local = this.#closing;
    beginIo();
    try {
      for (const f of this.filters) f.onClose?.(local);
    } catch (e) {
      this.log.error(`network filter failed on close: ${e instanceof Error ? e.stack : e}`);
    } finally {
      endIo();
    }
    this.onClosed(this);
  }

  onAboveWriteBufferHighWatermark(): void {
    for (const f of this.filters) f.onAboveWriteBufferHighWatermark?.();
  }

  onBelowWriteBufferLowWatermark(): void {
    for (const f of this.filters) f.onBelowWriteBufferLowWatermark?.();
  }

  #fail(e: unknown): void {
    this.log.error(`closing connection from ${this.remoteAddressString} after an internal error: ${e instanceof Error ? e.stack : e}`);
    this.close("now");
  }
}

function fmt(addr: string, port: number): string {
  return addr.includes(":") ? `[${addr}]:${port}` : `${addr}:${port}`;
}
