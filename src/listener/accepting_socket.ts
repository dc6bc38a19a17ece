/**
 * A socket in its listener-filter phase (worker side): between accept and filter-chain match.
 * It owns the socket's events until the filters are done, keeps every byte read (the filters
 * peek, they do not consume), and runs one wheel timer for `listener_filters_timeout`. It is
 * the object the filters see, the filter-chain match input, the Connection's address source and
 * the transport socket's info, all at once: no closure, no copy of its fields.
 * Listeners without listener filters never create one (ActiveListener.onAccept).
 */
import type { Counter, Gauge } from "../core/stats.ts";
import { type TimerTarget, WheelTimer } from "../core/timer_wheel.ts";
import type { ConnectionAddresses } from "../network/connection.ts";
import type { AcceptedConnectionInfo } from "../network/transport_socket.ts";
import type { RuntimeError, SocketEvents, TcpSocket } from "../runtime/types.ts";
import type { FilterChainMatchInput } from "./filter_chain_match.ts";
import type { ListenerFilter, ListenerFilterFactory, ListenerFilterSocket } from "./listener_filter.ts";

const EMPTY_PROTOCOLS: readonly string[] = [];
const EMPTY = new Uint8Array(0);
const TIMER_LISTENER_FILTERS = 1;
/** The first allocation when bytes must be gathered from more than one read. */
const MIN_GROW = 4096;

/** What the accept path needs from a listener config for the listener-filter phase. */
export interface ListenerFilterPhase {
  readonly listenerFilters: readonly ListenerFilterFactory[];
  /** 0 = no timeout. */
  readonly listenerFiltersTimeoutMs: number;
  readonly continueOnListenerFiltersTimeout: boolean;
  readonly preCx: PreConnectionStats;
}

/** `listener.<address>.*` stats of the listener-filter phase (Envoy's names). */
export interface PreConnectionStats {
  /** downstream_pre_cx_active: sockets in their listener-filter phase. */
  readonly active: Gauge;
  /** downstream_pre_cx_timeout: listener_filters_timeout expired. */
  readonly timeout: Counter;
  /** downstream_listener_filter_remote_close: the peer closed before the filters were done. */
  readonly remoteClose: Counter;
  /** downstream_listener_filter_error: a read error, or a filter that failed. */
  readonly error: Counter;
}

/** Where a socket goes when its listener filters are done (the ActiveListener). */
export interface AcceptCompletion<C extends ListenerFilterPhase> {
  /** The filters let the socket through: choose a chain and make the Connection. */
  completeAccept(s: AcceptingSocket<C>): void;
  /** The socket left its listener-filter phase (either way). */
  acceptEnded(s: AcceptingSocket<C>): void;
  logFailure(what: string, e: unknown): void;
}

/** One accepted socket while its listener filters run. */
export class AcceptingSocket<C extends ListenerFilterPhase = ListenerFilterPhase>
  implements SocketEvents, TimerTarget, ListenerFilterSocket, FilterChainMatchInput, ConnectionAddresses, AcceptedConnectionInfo {
  remoteAddress: string;
  remotePort: number;
  localAddress: string;
  localPort: number;
  readonly directRemoteAddress: string;
  readonly directRemotePort: number;
  serverName = "";
  transportProtocol = "raw_buffer";
  applicationProtocols: readonly string[] = EMPTY_PROTOCOLS;
  /** Bytes read so far live in #buf[#start, #end). */
  #buf: Uint8Array | null = null;
  #start = 0;
  #end = 0;
  #index = 0;
  #current: ListenerFilter | null = null;
  #done = false;
  #timer: WheelTimer | null = null;

  constructor(
    readonly owner: AcceptCompletion<C>,
    readonly config: C,
    readonly socket: TcpSocket,
    readonly wheel: { arm(t: WheelTimer, ms: number): void; disarm(t: WheelTimer): void },
  ) {
    this.remoteAddress = this.directRemoteAddress = socket.remoteAddress;
    this.remotePort = this.directRemotePort = socket.remotePort;
    this.localAddress = socket.localAddress;
    this.localPort = socket.localPort;
  }

  /** Takes over the socket's events, arms the timeout and runs the filters that need no data. */
  start(): void {
    this.config.preCx.active.inc();
    this.socket.events = this;
    const ms = this.config.listenerFiltersTimeoutMs;
    if (ms > 0) this.wheel.arm((this.#timer = new WheelTimer(this, TIMER_LISTENER_FILTERS)), ms);
    this.#run();
  }

  /** True once the socket has left its listener-filter phase. */
  get done(): boolean {
    return this.#done;
  }

  /** The bytes read and not drained, to replay into the connection (null when none). */
  get peeked(): Uint8Array | null {
    return this.#buf && this.#end > this.#start ? this.#buf.subarray(this.#start, this.#end) : null;
  }

  drain(n: number): void {
    this.#start = Math.min(this.#end, this.#start + Math.max(0, n));
  }

  /** Closes the socket now (shutdown, or a filter said "close"). */
  close(): void {
    if (this.#finish()) this.socket.destroy();
  }

  // ---- the listener-filter loop ----

  #run(): void {
    const factories = this.config.listenerFilters;
    try {
      while (this.#index < factories.length) {
        const f = this.#current ??= factories[this.#index]!();
        const avail = this.#end - this.#start;
        if (f.maxReadBytes > 0 && avail === 0) return; // wait for bytes
        const status = f.onData(avail > 0 ? this.#buf!.subarray(this.#start, this.#end) : EMPTY, this);
        if (status === "continue") {
          this.#index++;
          this.#current = null;
          continue;
        }
        if (status === "close") {
          this.close();
          return;
        }
        if (avail >= f.maxReadBytes) {
          // A filter must decide within its maxReadBytes; one that does not is broken.
          this.config.preCx.error.inc();
          this.owner.logFailure("a listener filter asked for more than its maxReadBytes", undefined);
          this.close();
          return;
        }
        return; // need_more_data
      }
    } catch (e) {
      this.config.preCx.error.inc();
      this.owner.logFailure("a listener filter failed", e);
      this.close();
      return;
    }
    this.#complete();
  }

  #complete(): void {
    if (!this.#finish()) return;
    this.owner.completeAccept(this);
  }

  /** Leaves the listener-filter phase; false when it had already been left. */
  #finish(): boolean {
    if (this.#done) return false;
    this.#done = true;
    if (this.#timer) this.wheel.disarm(this.#timer);
    this.config.preCx.active.dec();
    this.owner.acceptEnded(this);
    return true;
  }

  #append(chunk: Uint8Array): void {
    const buf = this.#buf;
    if (buf === null) {
      this.#buf = chunk;
      this.#start = 0;
      this.#end = chunk.length;
      return;
    }
    const live = this.#end - this.#start;
    if (this.#end + chunk.length > buf.length) {
      const grown = new Uint8Array(Math.max(MIN_GROW, 2 * (live + chunk.length)));
      grown.set(buf.subarray(this.#start, this.#end), 0);
      this.#buf = grown;
      this.#start = 0;
      this.#end = live;
    }
    this.#buf!.set(chunk, this.#end);
    this.#end += chunk.length;
  }

  // ---- SocketEvents (only while in the listener-filter phase) ----

  onOpen(): void {}

  onData(chunk: Uint8Array): void {
    if (this.#done) return;
    this.#append(chunk);
    this.#run();
  }

  onDrain(): void {}

  onEnd(): void {
    if (this.#done) return;
    // Envoy: the peer closed while the listener filters still wanted bytes.
    this.config.preCx.remoteClose.inc();
    this.close();
  }

  onClose(error: RuntimeError | undefined): void {
    if (this.#done) return;
    if (error && error.code !== "ECONNRESET" && error.code !== "EPIPE") this.config.preCx.error.inc();
    else this.config.preCx.remoteClose.inc();
    this.#finish();
  }

  // ---- TimerTarget ----

  onTimer(_kind: number): void {
    if (this.#done) return;
    this.config.preCx.timeout.inc();
    if (this.config.continueOnListenerFiltersTimeout) this.#complete();
    else this.close();
  }
}
