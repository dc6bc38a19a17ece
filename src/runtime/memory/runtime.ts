/**
 * An in-memory runtime for fast, hermetic unit tests: sockets are pairs of in-process pipes,
 * files/args/env/signals/stdio live in maps and arrays the test can read and change.
 *
 * Socket semantics follow the real adapters: data arrives asynchronously (a microtask) and in
 * order; each direction has a "kernel buffer" of `kernelBufferBytes`, so `write()` returns false
 * and `onDrain` follows once the reader has consumed enough; `end()` is a half-close (the peer
 * sees `onEnd` after the data, and each side closes once it has both sent and received FIN);
 * `destroy()` is an abortive close (the peer gets `onClose(ECONNRESET)`, as with a TCP RST).
 * There is no fake clock here: connect timeouts use `setTimeout`.
 */
import {
  type ConnectOptions,
  type ListenOptions,
  type ResolvedAddress,
  type Runtime,
  RuntimeError,
  type RuntimeErrorCode,
  type SocketEvents,
  type TcpListener,
  type TcpSocket,
  type TlsServerContext,
  type TlsServerObserver,
  type TlsParamsProblem,
  type TlsServerOptions,
} from "../types.ts";
import { checkNodeTlsParams, createNodeTlsServerContext, startNodeTlsServer } from "../node_tls_server.ts";

/** Signals a `Runtime` can subscribe to. */
type SignalName = Parameters<Runtime["onSignal"]>[0];

/** Options for `createMemoryRuntime`. */
export interface MemoryRuntimeOptions {
  /** Process arguments (what `args()` returns). */
  args?: string[];
  /** Environment variables. */
  env?: Record<string, string>;
  /** Initial files, path → text. */
  files?: Record<string, string>;
  /** Per-direction socket buffer in bytes (default 64 KiB); see `MemoryRuntime.kernelBufferBytes`. */
  kernelBufferBytes?: number;
}

/** Thrown by the memory runtime's `exit()` so a test can observe it instead of the process ending. */
export class MemoryExit extends Error {
  constructor(readonly code: number) {
    super(`exit(${code})`);
    this.name = "MemoryExit";
  }
}

/** The in-memory runtime plus the controls a test needs (test side only). */
export interface MemoryRuntime extends Runtime {
  readonly name: "memory";
  /** The file system: path → text. */
  readonly files: Map<string, string>;
  /** The environment `env()` reads. */
  readonly envVars: Map<string, string>;
  /** What `args()` returns (a copy of it). */
  argv: string[];
  /** Per-direction socket buffer for sockets created from now on; `write()` returns false
   *  once more than this many bytes wait for the reader. */
  kernelBufferBytes: number;
  /** Everything written with `writeStdout` / `writeStderr`, in order. */
  readonly stdout: string[];
  readonly stderr: string[];
  /** The code passed to the last `exit()` (which throws `MemoryExit`). */
  readonly exitCode: number | undefined;
  /** Delivers a signal to its subscribers; returns how many were called. */
  raise(signal: SignalName): number;
  /** Makes connects to host:port hang (never accepted, never refused) until the returned
   *  function is called; with `timeoutMs` they fail with ETIMEDOUT. */
  blackhole(host: string, port: number): () => void;
  /** The addresses currently bound, as "host:port". */
  bound(): string[];
  /** Sockets not yet closed (for leak checks). */
  openSockets(): number;
  /** The DNS table `resolve()` answers from: name → addresses, or an error code to fail with.
   *  IP literals resolve to themselves; other names missing here fail with ENOTFOUND. */
  readonly dns: Map<string, ResolvedAddress[] | RuntimeErrorCode>;
  /** Number of `resolve()` calls so far. */
  readonly resolveCount: number;
}

function noop(): void {}

/** Events installed until the owner sets its own (an accepted socket before `onConnection`). */
const NO_EVENTS: SocketEvents = { onOpen: noop, onData: noop, onDrain: noop, onEnd: noop, onClose: noop };

/** One direction of a connection: the chunks the writer queued and the reader has not read. */
class Pipe {
  chunks: Uint8Array[] = [];
  head = 0;
  bytes = 0;
  fin = false;
}

const CONNECTING = 0, OPEN = 1, CLOSED = 2;

/** One end of an in-memory connection (worker side in tests). */
export class MemoryTcpSocket implements TcpSocket {
  events: SocketEvents;
  remoteAddress: string;
  remotePort: number;
  localAddress: string;
  localPort: number;
  /** This end's send buffer; change it to tune backpressure for one socket. */
  kernelBufferBytes: number;

  peer: MemoryTcpSocket | undefined = undefined;
  inbound: Pipe = new Pipe();
  outbound: Pipe = new Pipe();
  /** Pending connect timeout (outbound sockets only). */
  connectTimer: ReturnType<typeof setTimeout> | undefined = undefined;
  private state = CONNECTING;
  private paused = false;
  private owedDrain = false;
  private endCalled = false;
  private endDelivered = false;
  private destroyed = false;
  private reset = false;
  private closeError: RuntimeError | undefined = undefined;
  private scheduled = false;
  private readonly tickFn = () => this.tick();

  constructor(
    private readonly rt: MemoryRuntimeImpl,
    events: SocketEvents,
    local: [string, number],
    remote: [string, number],
    kernelBufferBytes: number,
  ) {
    this.events = events;
    this.localAddress = local[0];
    this.localPort = local[1];
    this.remoteAddress = remote[0];
    this.remotePort = remote[1];
    this.kernelBufferBytes = kernelBufferBytes;
    rt.live++;
  }

  get bufferedAmount(): number {
    if (this.state === CONNECTING) return this.outbound.bytes;
    return Math.max(0, this.outbound.bytes - this.kernelBufferBytes);
  }

  write(data: Uint8Array): boolean {
    if (this.state === CLOSED || this.endCalled || this.destroyed) return false;
    const out = this.outbound;
    out.chunks.push(data.slice());
    out.bytes += data.byteLength;
    if (this.state === OPEN) this.peer?.schedule();
    if (this.state === CONNECTING || out.bytes > this.kernelBufferBytes) {
      this.owedDrain = true;
      return false;
    }
    return true;
  }

  end(): void {
    if (this.state === CLOSED || this.endCalled || this.destroyed) return;
    this.endCalled = true;
    this.outbound.fin = true;
    if (this.state === OPEN) {
      this.peer?.schedule();
      this.schedule(); // we close at once if the peer already half-closed
    }
  }

  destroy(): void {
    if (this.state === CLOSED || this.destroyed) return;
    this.destroyed = true;
    this.outbound = new Pipe();
    this.inbound = new Pipe();
    const peer = this.peer;
    if (peer !== undefined && this.state === OPEN) peer.resetByPeer();
    this.schedule();
  }

  pause(): void {
    this.paused = true;
  }

  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    this.schedule();
  }

  setNoDelay(_on: boolean): void {}

  // ---- the machinery ----

  /** Destroyed or failed (a close is on its way). */
  get isDestroyed(): boolean {
    return this.destroyed || this.state === CLOSED;
  }

  /** Not (or no longer) an open, healthy connection; a getter, so callbacks' changes show. */
  private get broken(): boolean {
    return this.state !== OPEN || this.destroyed || this.reset;
  }

  /** Whether this socket waits to report `onDrain` and now could. */
  private get drainDue(): boolean {
    return this.owedDrain && this.state === OPEN && this.outbound.bytes <= this.kernelBufferBytes;
  }

  /** Runs `tick` in a microtask (at most one pending). */
  schedule(): void {
    if (this.scheduled || this.state === CLOSED) return;
    this.scheduled = true;
    queueMicrotask(this.tickFn);
  }

  /** Connected: `peer` and the pipes are set. */
  open(peer: MemoryTcpSocket, inbound: Pipe, outbound: Pipe): void {
    this.peer = peer;
    this.inbound = inbound;
    // Writes made while connecting move into the shared pipe.
    const early = this.outbound;
    outbound.chunks.push(...early.chunks);
    outbound.bytes += early.bytes;
    outbound.fin ||= early.fin;
    this.outbound = outbound;
    this.state = OPEN;
  }

  /** Connect failed (refused or timed out) or was reset: closes with `error`. */
  fail(error: RuntimeError): void {
    if (this.state === CLOSED) return;
    this.closeError ??= error;
    this.destroyed = true;
    this.schedule();
  }

  /** The peer destroyed its end. */
  resetByPeer(): void {
    if (this.state === CLOSED) return;
    this.reset = true;
    this.inbound = new Pipe();
    this.outbound = new Pipe();
    this.schedule();
  }

  /** Outbound connection established. */
  opened(): void {
    this.guard(this.events.onOpen);
    this.schedule();
    this.peer?.schedule();
  }

  private tick(): void {
    this.scheduled = false;
    if (this.state === CLOSED) return;
    if (this.destroyed || this.reset) {
      this.close(this.reset && !this.destroyed ? new RuntimeError("ECONNRESET", "connection reset by peer") : this.closeError);
      return;
    }
    if (this.state !== OPEN) return;
    // Deliver what the peer wrote, in order, until paused.
    const p = this.inbound;
    while (!this.paused && p.chunks.length > p.head && !this.broken) {
      const chunk = p.chunks[p.head]!;
      p.chunks[p.head++] = EMPTY;
      p.bytes -= chunk.byteLength;
      if (p.head === p.chunks.length) {
        p.chunks.length = 0;
        p.head = 0;
      }
      try {
        this.events.onData(chunk);
      } catch (e) {
        this.handlerThrew(e);
      }
    }
    if (this.broken) {
      this.schedule();
      return;
    }
    // The writer may now have room again.
    const peer = this.peer;
    if (peer !== undefined && peer.drainDue) peer.schedule();
    if (this.drainDue) {
      this.owedDrain = false;
      this.guard(this.events.onDrain);
    }
    if (!this.broken && !this.paused && !this.endDelivered && p.fin && p.chunks.length === p.head) {
      this.endDelivered = true;
      this.guard(this.events.onEnd);
    }
    if (this.endDelivered && this.endCalled && !this.broken) {
      this.close(undefined);
    }
    if (this.destroyed || this.reset) this.schedule();
  }

  private close(error: RuntimeError | undefined): void {
    if (this.state === CLOSED) return;
    this.state = CLOSED;
    this.rt.live--;
    if (this.connectTimer !== undefined) {
      clearTimeout(this.connectTimer);
      this.connectTimer = undefined;
    }
    this.events.onClose(error);
  }

  private guard(fn: () => void): void {
    try {
      fn.call(this.events);
    } catch (e) {
      this.handlerThrew(e);
    }
  }

  private handlerThrew(e: unknown): void {
    if (this.state === CLOSED) return;
    this.closeError ??= new RuntimeError("UNKNOWN", `socket event handler threw: ${(e as Error)?.message ?? e}`);
    this.destroy();
  }
}

const EMPTY = new Uint8Array(0);

/** An address in use: one or more acceptors (several when an fd was adopted). */
class Binding {
  acceptors: MemoryTcpListener[] = [];
  next = 0;
  constructor(readonly host: string, readonly port: number, readonly fd: number) {}
}

/** A listening in-memory socket (control side in tests). */
class MemoryTcpListener implements TcpListener {
  readonly host: string;
  readonly port: number;
  readonly fd: number;
  private closed = false;

  constructor(
    private readonly rt: MemoryRuntimeImpl,
    readonly binding: Binding,
    readonly onConnection: (sock: TcpSocket) => void,
  ) {
    this.host = binding.host;
    this.port = binding.port;
    this.fd = binding.fd;
  }

  close(): Promise<void> {
    if (!this.closed) {
      this.closed = true;
      this.rt.unbind(this);
    }
    return Promise.resolve();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

const WILDCARDS = new Set(["0.0.0.0", "::", ""]);

class MemoryRuntimeImpl implements MemoryRuntime {
  readonly name = "memory" as const;
  readonly version = "memory";
  readonly pid = 4242;
  readonly execPath = "/memory/legate";
  readonly files: Map<string, string>;
  readonly envVars: Map<string, string>;
  argv: string[];
  kernelBufferBytes: number;
  readonly stdout: string[] = [];
  readonly stderr: string[] = [];
  exitCode: number | undefined = undefined;
  live = 0;
  readonly dns = new Map<string, ResolvedAddress[] | RuntimeErrorCode>();
  resolveCount = 0;

  private readonly bindings = new Map<string, Binding>();
  private readonly byFd = new Map<number, Binding>();
  /** Blackholed addresses → the connect attempts waiting on them. */
  private readonly holes = new Map<string, (() => void)[]>();
  private readonly signals = new Map<SignalName, Set<() => void>>();
  private nextListenPort = 40000;
  private nextEphemeralPort = 50000;
  private nextFd = 1000;

  constructor(opts: MemoryRuntimeOptions) {
    this.files = new Map(Object.entries(opts.files ?? {}));
    this.envVars = new Map(Object.entries(opts.env ?? {}));
    this.argv = [...(opts.args ?? [])];
    this.kernelBufferBytes = opts.kernelBufferBytes ?? 64 * 1024;
  }

  listen(opts: ListenOptions, onConnection: (sock: TcpSocket) => void): Promise<TcpListener> {
    let binding: Binding;
    if (opts.fd !== undefined) {
      const b = this.byFd.get(opts.fd);
      if (b === undefined) return Promise.reject(new RuntimeError("UNKNOWN", `EBADF: fd ${opts.fd} is not a listening socket`));
      binding = b;
    } else {
      let port = opts.port;
      if (port === 0) {
        while (this.conflicts(opts.host, this.nextListenPort)) this.nextListenPort++;
        port = this.nextListenPort++;
      } else if (this.conflicts(opts.host, port)) {
        return Promise.reject(new RuntimeError("EADDRINUSE", `listen EADDRINUSE: address already in use ${opts.host}:${port}`));
      }
      binding = new Binding(opts.host, port, this.nextFd++);
      this.bindings.set(`${opts.host}:${port}`, binding);
      this.byFd.set(binding.fd, binding);
    }
    const listener = new MemoryTcpListener(this, binding, onConnection);
    binding.acceptors.push(listener);
    return Promise.resolve(listener);
  }

  /** Removes an acceptor; the address is free once none is left. */
  unbind(listener: MemoryTcpListener): void {
    const b = listener.binding;
    const i = b.acceptors.indexOf(listener);
    if (i >= 0) b.acceptors.splice(i, 1);
    if (b.acceptors.length === 0) {
      this.bindings.delete(`${b.host}:${b.port}`);
      this.byFd.delete(b.fd);
    }
  }

  connect(opts: ConnectOptions, events: SocketEvents): TcpSocket {
    const sock = new MemoryTcpSocket(
      this,
      events,
      ["127.0.0.1", this.nextEphemeralPort++],
      [opts.host, opts.port],
      this.kernelBufferBytes,
    );
    if (opts.timeoutMs !== undefined && opts.timeoutMs > 0) {
      sock.connectTimer = setTimeout(() => {
        sock.connectTimer = undefined;
        if (sock.peer === undefined) {
          sock.fail(new RuntimeError("ETIMEDOUT", `connect to ${opts.host}:${opts.port} timed out after ${opts.timeoutMs}ms`));
        }
      }, opts.timeoutMs);
    }
    const attempt = () => {
      if (sock.isDestroyed) return;
      const hole = this.holes.get(`${opts.host}:${opts.port}`);
      if (hole !== undefined) {
        hole.push(attempt); // retried when the hole is lifted
        return;
      }
      if (sock.connectTimer !== undefined) {
        clearTimeout(sock.connectTimer);
        sock.connectTimer = undefined;
      }
      const b = this.find(opts.host, opts.port);
      if (b === undefined || b.acceptors.length === 0) {
        sock.fail(new RuntimeError("ECONNREFUSED", `connect ECONNREFUSED ${opts.host}:${opts.port}`));
        return;
      }
      const acceptor = b.acceptors[b.next++ % b.acceptors.length]!;
      const server = new MemoryTcpSocket(
        this,
        NO_EVENTS,
        [WILDCARDS.has(b.host) ? opts.host : b.host, b.port],
        [sock.localAddress, sock.localPort],
        this.kernelBufferBytes,
      );
      const up = new Pipe(), down = new Pipe();
      server.open(sock, up, down);
      sock.open(server, down, up);
      try {
        acceptor.onConnection(server);
      } catch (e) {
        server.fail(new RuntimeError("UNKNOWN", `onConnection threw: ${(e as Error)?.message ?? e}`));
        server.destroy();
      }
      sock.opened();
    };
    queueMicrotask(attempt);
    return sock;
  }

  private conflicts(host: string, port: number): boolean {
    for (const b of this.bindings.values()) {
      if (b.port === port && (b.host === host || WILDCARDS.has(b.host) || WILDCARDS.has(host))) return true;
    }
    return false;
  }

  private find(host: string, port: number): Binding | undefined {
    if (host === "localhost") host = "127.0.0.1";
    const exact = this.bindings.get(`${host}:${port}`);
    if (exact !== undefined) return exact;
    for (const w of WILDCARDS) {
      const b = this.bindings.get(`${w}:${port}`);
      if (b !== undefined) return b;
    }
    return undefined;
  }

  readTextFile(path: string): Promise<string> {
    const text = this.files.get(path);
    if (text === undefined) return Promise.reject(new RuntimeError("ENOENT", `ENOENT: no such file: ${path}`));
    return Promise.resolve(text);
  }

  writeTextFile(path: string, text: string): Promise<void> {
    this.files.set(path, text);
    return Promise.resolve();
  }

  appendFile(path: string, data: Uint8Array): Promise<void> {
    this.files.set(path, (this.files.get(path) ?? "") + new TextDecoder().decode(data));
    return Promise.resolve();
  }

  args(): string[] {
    return [...this.argv];
  }

  env(name: string): string | undefined {
    return this.envVars.get(name);
  }

  hostname(): string {
    return "memory";
  }

  exit(code: number): never {
    this.exitCode = code;
    throw new MemoryExit(code);
  }

  onSignal(signal: SignalName, fn: () => void): () => void {
    let set = this.signals.get(signal);
    if (set === undefined) this.signals.set(signal, set = new Set());
    set.add(fn);
    return () => void set.delete(fn);
  }

  raise(signal: SignalName): number {
    const set = this.signals.get(signal);
    if (set === undefined) return 0;
    for (const fn of [...set]) fn();
    return set.size;
  }

  writeStdout(text: string): void {
    this.stdout.push(text);
  }

  writeStderr(text: string): void {
    this.stderr.push(text);
  }

  memoryUsage(): { rss: number; heapUsed: number } {
    return { rss: 0, heapUsed: 0 };
  }

  blackhole(host: string, port: number): () => void {
    const key = `${host}:${port}`;
    if (!this.holes.has(key)) this.holes.set(key, []);
    return () => {
      const waiting = this.holes.get(key);
      this.holes.delete(key);
      for (const attempt of waiting ?? []) attempt();
    };
  }

  bound(): string[] {
    return [...this.bindings.keys()];
  }

  openSockets(): number {
    return this.live;
  }

  /** TLS is real even here (node:tls over the in-memory sockets): unit tests of TLS code. */
  createTlsServerContext(opts: TlsServerOptions): TlsServerContext {
    return createNodeTlsServerContext(opts);
  }

  startTlsServer(raw: TcpSocket, initial: Uint8Array | null, ctx: TlsServerContext, observer: TlsServerObserver): TcpSocket {
    return startNodeTlsServer(raw, initial, ctx, observer);
  }

  checkTlsParams(cipherSuites: readonly string[], ecdhCurves: readonly string[]): TlsParamsProblem | null {
    return checkNodeTlsParams(cipherSuites, ecdhCurves);
  }

  resolve(host: string, family: "v4" | "v6" | "auto"): Promise<ResolvedAddress[]> {
    this.resolveCount++;
    if (/^[0-9.]+$/.test(host) || host.includes(":")) return Promise.resolve([{ address: host }]);
    const e = this.dns.get(host);
    if (e === undefined) return Promise.reject(new RuntimeError("ENOTFOUND", `getaddrinfo ENOTFOUND ${host}`));
    if (typeof e === "string") return Promise.reject(new RuntimeError(e, `resolve ${host}: ${e}`));
    const want = family === "v4" ? (a: string) => !a.includes(":") : family === "v6" ? (a: string) => a.includes(":") : () => true;
    return Promise.resolve(e.filter((a) => want(a.address)).map((a) => ({ ...a })));
  }
}

/** Creates a fresh in-memory runtime (tests; each test should make its own). */
export function createMemoryRuntime(opts: MemoryRuntimeOptions = {}): MemoryRuntime {
  return new MemoryRuntimeImpl(opts);
}
