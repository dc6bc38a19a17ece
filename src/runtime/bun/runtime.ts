/**
 * The Bun adapter: TCP on `Bun.listen` / `Bun.connect` (the fastest socket API Bun has, see
 * DESIGN.md §7), everything else on the node:* host services.
 *
 * Hot path shape: one shared handlers object per listener (and one for all outbound sockets);
 * `socket.data` holds our `BunTcpSocket` wrapper, so a chunk costs one property load and one
 * call: no closure, no promise. Bun's `write()` is unbuffered (it returns the byte count the
 * kernel took), so the wrapper keeps its own queue of the unwritten remainder and flushes it
 * from the `drain` handler.
 */
import type { Socket, SocketHandler, TCPSocketListener, TCPSocketListenOptions } from "bun";
import { toRuntimeError } from "../errors.ts";
import { createNodeHost } from "../node_host.ts";
import { resolveWithNodeDns } from "../node_dns.ts";
import { checkNodeTlsParams, createNodeTlsServerContext, NodeTlsServerContext, startNodeTlsServer, subjectLine, verifyPeerChain } from "../node_tls_server.ts";
import {
  type ConnectOptions,
  type ListenOptions,
  type Runtime,
  RuntimeError,
  type SocketEvents,
  type TcpListener,
  type TcpSocket,
  type TlsConnectOptions,
  type TlsServerContext,
  type TlsServerObserver,
} from "../types.ts";

type RawSocket = Socket<BunTcpSocket>;

function noop(): void {}

/** Events installed until the owner sets its own (an accepted socket before `onConnection`). */
const NO_EVENTS: SocketEvents = { onOpen: noop, onData: noop, onDrain: noop, onEnd: noop, onClose: noop };

/** A TCP socket over a Bun socket; worker side (the data path). */
class BunTcpSocket implements TcpSocket {
  events: SocketEvents;
  remoteAddress: string;
  remotePort: number;
  localAddress = "";
  localPort = 0;

  /** The Bun socket; undefined while an outbound connection is still being made. */
  private raw: RawSocket | undefined = undefined;
  /** Bytes `write()` accepted that the kernel has not taken yet, oldest first; `queue[0]`
   *  is partly written up to `head`. */
  private queue: Uint8Array[] = [];
  private head = 0;
  private queued = 0;
  private owedDrain = false;
  private endRequested = false;
  private finSent = false;
  private gotFin = false;
  private destroyed = false;
  private closed = false;
  private paused = false;
  private noDelay = true;
  /** Set while we call into Bun, whose `close` handler can run synchronously inside
   *  `terminate()` / `shutdown()`: `onClose` is then deferred so it never re-enters the owner. */
  private inCall = false;
  private closeError: RuntimeError | undefined = undefined;
  private timer: ReturnType<typeof setTimeout> | undefined = undefined;
  /** Outbound TLS: the options (the handshake decides when we are open). */
  tls: TlsConnectOptions | undefined = undefined;

  constructor(events: SocketEvents, remoteAddress: string, remotePort: number) {
    this.events = events;
    this.remoteAddress = remoteAddress;
    this.remotePort = remotePort;
  }

  get bufferedAmount(): number {
    return this.queued;
  }

  /** Binds the Bun socket once it is open (accepted, or outbound connected). */
  attach(raw: RawSocket): void {
    this.raw = raw;
    this.remoteAddress = raw.remoteAddress;
    this.remotePort = raw.remotePort;
    this.localAddress = raw.localAddress;
    this.localPort = raw.localPort;
    raw.setNoDelay(this.noDelay);
    if (this.paused) raw.pause();
  }

  write(data: Uint8Array): boolean {
    if (this.closed || this.endRequested || this.destroyed) return false;
    const raw = this.raw;
    if (raw === undefined || this.queued > 0) {
      this.enqueue(data.slice());
      return false;
    }
    const len = data.byteLength;
    const n = raw.write(data);
    if (n === len) return true;
    if (n < 0) return false; // closing: the close handler reports it
    // The caller may reuse `data` once we return: keep a copy of what the kernel did not take.
    this.enqueue(data.slice(n));
    return false;
  }

  writeRange(data: Uint8Array, start: number, end: number): boolean {
    if (this.closed || this.endRequested || this.destroyed) return false;
    const raw = this.raw;
    if (raw === undefined || this.queued > 0) {
      this.enqueue(data.slice(start, end));
      return false;
    }
    const len = end - start;
    const n = raw.write(data, start, len);
    if (n === len) return true;
    if (n < 0) return false; // closing: the close handler reports it
    this.enqueue(data.slice(start + n, end));
    return false;
  }

  end(): void {
    if (this.closed || this.endRequested || this.destroyed) return;
    this.endRequested = true;
    if (this.raw !== undefined && this.queued === 0) this.shutdown();
  }

  destroy(): void {
    if (this.closed || this.destroyed) return;
    this.destroyed = true;
    this.queue = [];
    this.queued = 0;
    this.head = 0;
    const raw = this.raw;
    if (raw === undefined) {
      // Still connecting: report the close now; the open handler terminates a late connection.
      this.inCall = true;
      try {
        this.pendingRaw?.terminate();
      } finally {
        this.inCall = false;
      }
      queueMicrotask(() => this.finishClose(undefined));
      return;
    }
    // An abortive close (RST), so the peer learns at once even with half-open sockets.
    this.inCall = true;
    try {
      raw.terminate();
    } finally {
      this.inCall = false;
    }
  }

  pause(): void {
    this.paused = true;
    this.raw?.pause();
  }

  resume(): void {
    this.paused = false;
    this.raw?.resume();
  }

  setNoDelay(on: boolean): void {
    this.noDelay = on;
    this.raw?.setNoDelay(on);
  }

  // ---- called by the handlers ----

  /** Outbound connection established. */
  onOpen(raw: RawSocket): void {
    this.clearTimer();
    if (this.closed || this.destroyed) {
      raw.terminate();
      return;
    }
    this.attach(raw);
    // Queued writes go out first (in one syscall), but the owner hears onOpen before onDrain.
    const drained = this.queued === 0 || this.flush();
    if (drained && this.endRequested && !this.finSent) this.shutdown();
    if (this.closed) return;
    this.events.onOpen();
    if (drained && this.owedDrain && this.queued === 0 && !this.closed) {
      this.owedDrain = false;
      this.events.onDrain();
    }
  }

  /** Outbound TLS: the handshake ended. Bun reports an untrusted certificate here (its
   *  authorization error) instead of failing the connection, so we decide. */
  onHandshake(raw: RawSocket, success: boolean, authError: Error | null): void {
    const tls = this.tls;
    if (tls === undefined || this.raw !== undefined) return;
    // Already given up (connect timeout, destroy): Bun reports the aborted handshake too.
    if (this.closed || this.destroyed) {
      raw.terminate();
      return;
    }
    // Only the chain is verified (TlsConnectOptions.rejectUnauthorized): a name mismatch is not
    // a failure. Bun checks the name against serverName, or the host when that is empty.
    const nameOnly = (authError as { code?: string } | null)?.code === "ERR_TLS_CERT_ALTNAME_INVALID";
    // No authorization error and no success: the handshake itself failed (alert, protocol).
    const aborted = !success && authError === null;
    if (aborted || (authError !== null && tls.rejectUnauthorized && !nameOnly)) {
      tls.onHandshake?.(false);
      this.clearTimer();
      if (!this.closed && !this.destroyed) {
        this.closeError = new RuntimeError("ETLS", `TLS handshake failed: ${authError?.message ?? "the handshake was aborted"}`);
      }
      // Not attached: the close handler reports through finishClose (raw unset → onRawClose).
      this.tlsFailed = true;
      raw.terminate();
      return;
    }
    tls.onHandshake?.(true);
    this.onOpen(raw);
  }

  /** Set when the handshake was refused (the close that follows is the connect failure). */
  tlsFailed = false;
  /** Server-side TLS (native upgradeTLS): who hears about the handshake. */
  serverTls: { observer: TlsServerObserver; ctx: NodeTlsServerContext } | undefined = undefined;

  /** The Bun socket, for the native server TLS upgrade (undefined while connecting). */
  get rawSocket(): RawSocket | undefined {
    return this.raw;
  }

  /** True when nothing is queued and the socket is plain, open and untouched by end/destroy. */
  get upgradable(): boolean {
    return this.raw !== undefined && this.queued === 0 && !this.endRequested && !this.destroyed && !this.closed && this.tls === undefined && !this.gotFin;
  }

  /** Server TLS: the handshake ended (native upgradeTLS). */
  onServerHandshake(raw: RawSocket, success: boolean, authError: Error | null): void {
    const st = this.serverTls!;
    if (this.raw !== undefined || this.closed || this.destroyed) return;
    if (!success) {
      this.closeError = new RuntimeError("ETLS", `TLS handshake failed: ${authError?.message ?? "the handshake was aborted"}`);
      this.tlsFailed = true;
      st.observer.onFailure(this.closeError);
      raw.terminate();
      return;
    }
    const t = raw as unknown as {
      getServername?(): string;
      alpnProtocol?: string | false | null;
      getTLSVersion?(): string;
      getCipher?(): { name?: string };
      getPeerCertificate?(detailed?: boolean): Record<string, unknown> | null;
      authorized?: boolean;
    };
    const peer = t.getPeerCertificate?.(true) ?? null;
    const presented = peer !== null && typeof peer === "object" && Object.keys(peer).length > 0;
    let verifyError: string | undefined = undefined;
    if (presented && t.authorized !== true) {
      verifyError = (authError as { code?: string } | null)?.code ?? authError?.message ??
        verifyPeerChain(peer as never, st.ctx.caCerts) ?? undefined;
    }
    let ok = false;
    try {
      ok = st.observer.onHandshake({
        serverName: t.getServername?.() ?? "",
        alpnProtocol: typeof t.alpnProtocol === "string" ? t.alpnProtocol : "",
        version: t.getTLSVersion?.() ?? "",
        cipher: t.getCipher?.()?.name ?? "",
        peerCertificatePresented: presented,
        peerSubject: presented ? subjectLine(peer!.subject) : "",
        peerVerifyError: verifyError,
      });
    } catch {
      ok = false;
    }
    if (!ok) {
      this.closeError = new RuntimeError("ETLS", "TLS handshake refused (client certificate)");
      this.tlsFailed = true;
      raw.terminate();
      return;
    }
    this.attach(raw);
    const drained = this.queued === 0 || this.flush();
    if (drained && this.endRequested && !this.finSent) this.shutdown();
    if (drained && this.owedDrain && this.queued === 0 && !this.closed) {
      this.owedDrain = false;
      this.events.onDrain();
    }
  }
  /** Outbound TLS: the Bun socket while its handshake runs (so destroy/timeout can end it). */
  pendingRaw: RawSocket | undefined = undefined;

  /** The kernel can take more bytes. */
  onWritable(): void {
    if (this.queued === 0 || !this.flush()) return;
    if (this.endRequested && !this.finSent) this.shutdown();
    if (this.owedDrain && !this.closed) {
      this.owedDrain = false;
      this.events.onDrain();
    }
  }

  /** The peer sent FIN. */
  onPeerEnd(): void {
    if (this.gotFin) return;
    this.gotFin = true;
    this.events.onEnd();
  }

  /** The Bun socket closed (any reason). */
  onRawClose(error: Error | undefined): void {
    if (this.closed) return;
    if (this.serverTls !== undefined && this.raw === undefined && !this.tlsFailed) {
      // Closed before the server handshake completed (a non-TLS client, a dropped connection).
      this.tlsFailed = true;
      this.closeError ??= new RuntimeError("ETLS", `TLS handshake failed: ${error?.message ?? "connection closed during the handshake"}`);
      this.serverTls.observer.onFailure(this.closeError);
    }
    if (this.tls !== undefined && this.raw === undefined && !this.destroyed) {
      // The TLS connection closed before its handshake completed: a connect failure.
      if (!this.tlsFailed) this.tls.onHandshake?.(false);
      this.closeError ??= new RuntimeError("ETLS", `TLS handshake failed: ${error?.message ?? "connection closed during the handshake"}`);
    }
    if (error !== undefined && this.closeError === undefined && !this.destroyed) this.closeError = toRuntimeError(error);
    if (this.inCall) {
      queueMicrotask(() => this.finishClose(this.closeError));
      return;
    }
    // Bun closes a socket that already sent FIN when the peer's FIN arrives, without calling
    // `end`: report the half-close first, as the other adapters do.
    if (this.closeError === undefined && !this.destroyed && this.finSent && !this.gotFin) {
      this.gotFin = true;
      this.events.onEnd();
    }
    this.finishClose(this.closeError);
  }

  /** An outbound connection failed. */
  onConnectError(error: Error): void {
    this.clearTimer();
    if (this.closed) return;
    this.finishClose(this.destroyed ? undefined : toRuntimeError(error, "ECONNREFUSED"));
  }

  /** One of the owner's callbacks threw: the socket cannot be trusted any more, so close it. */
  onHandlerError(error: Error): void {
    if (this.closed) return;
    this.closeError ??= new RuntimeError("UNKNOWN", `socket event handler threw: ${error?.message ?? error}`);
    const raw = this.raw;
    this.destroyed = true;
    this.queue = [];
    this.queued = 0;
    if (raw !== undefined) raw.terminate();
    else this.finishClose(this.closeError);
  }

  /** Arms the connect timeout (outbound only). */
  armConnectTimeout(ms: number, host: string, port: number): void {
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (this.raw !== undefined || this.closed) return;
      this.finishClose(new RuntimeError("ETIMEDOUT", `connect to ${host}:${port} timed out after ${ms}ms`));
      this.pendingRaw?.terminate();
    }, ms);
  }

  // ---- internals ----

  private enqueue(copy: Uint8Array): void {
    this.queue.push(copy);
    this.queued += copy.byteLength;
    this.owedDrain = true;
  }

  /** Writes the queue; true when it is empty. */
  private flush(): boolean {
    const raw = this.raw!;
    let queue = this.queue;
    if (queue.length > 1) {
      // Many small writes queued (e.g. before connect): one buffer, one syscall.
      const all = new Uint8Array(this.queued);
      let at = 0;
      for (let i = 0; i < queue.length; i++) {
        const c = i === 0 ? queue[0]!.subarray(this.head) : queue[i]!;
        all.set(c, at);
        at += c.byteLength;
      }
      queue = this.queue = [all];
      this.head = 0;
    }
    const chunk = queue[0]!;
    const len = chunk.byteLength - this.head;
    const n = raw.write(chunk, this.head, len);
    if (n < 0) return false;
    this.queued -= n;
    if (n < len) {
      this.head += n;
      return false;
    }
    queue.length = 0;
    this.head = 0;
    return true;
  }

  private shutdown(): void {
    this.finSent = true;
    this.inCall = true;
    try {
      this.raw!.shutdown();
    } finally {
      this.inCall = false;
    }
  }

  private finishClose(error: RuntimeError | undefined): void {
    if (this.closed) return;
    this.closed = true;
    this.clearTimer();
    this.queue = [];
    this.queued = 0;
    this.events.onClose(error);
  }

  private clearTimer(): void {
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
  }
}

/** Handlers shared by every socket: each looks up its wrapper in `socket.data`. */
const sharedHandlers: SocketHandler<BunTcpSocket, "uint8array"> = {
  binaryType: "uint8array",
  open(raw) {
    raw.data.onOpen(raw);
  },
  data(raw, chunk) {
    raw.data.events.onData(chunk);
  },
  drain(raw) {
    raw.data.onWritable();
  },
  end(raw) {
    raw.data.onPeerEnd();
  },
  close(raw, error) {
    raw.data.onRawClose(error);
  },
  connectError(raw, error) {
    raw.data.onConnectError(error);
  },
  error(raw, error) {
    raw.data?.onHandlerError(error);
  },
};

/** Outbound TLS sockets: `open` is the TCP connect (ignored), `handshake` is our onOpen. */
const tlsHandlers: SocketHandler<BunTcpSocket, "uint8array"> = {
  ...sharedHandlers,
  open(raw) {
    raw.data.pendingRaw = raw;
  },
  handshake(raw, success, authError) {
    raw.data.onHandshake(raw, success, authError);
  },
};

/** Server TLS sockets made by the native upgradeTLS: `handshake` attaches them. */
const tlsServerHandlers: SocketHandler<BunTcpSocket, "uint8array"> = {
  ...sharedHandlers,
  open(raw) {
    raw.data.pendingRaw = raw;
  },
  handshake(raw, success, authError) {
    raw.data.onServerHandshake(raw, success, authError);
  },
};

/** ALPN protocol list in TLS wire format (what Bun's native sockets take). */
function alpnWire(list: readonly string[]): Uint8Array {
  const enc = new TextEncoder();
  const parts = list.map((p) => enc.encode(p));
  const out = new Uint8Array(parts.reduce((n, p) => n + 1 + p.byteLength, 0));
  let at = 0;
  for (const p of parts) {
    out[at++] = p.byteLength;
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
}

/** Bun's native TLS options of a server context (built once per context). */
const nativeServerOptions = new WeakMap<NodeTlsServerContext, Record<string, unknown>>();
function bunServerTls(ctx: NodeTlsServerContext): Record<string, unknown> {
  let o = nativeServerOptions.get(ctx);
  if (o !== undefined) return o;
  const t = ctx.options;
  o = { isServer: true, cert: t.cert, key: t.key, requestCert: t.requestCert, rejectUnauthorized: false };
  if (t.ca !== undefined) o.ca = t.ca;
  if (t.alpn !== undefined && t.alpn.length > 0) o.ALPNProtocols = alpnWire(t.alpn);
  const bits = versionBits(t.minVersion, t.maxVersion);
  if (bits !== 0) o.secureOptions = bits;
  if (t.cipherSuites?.length) o.ciphers = t.cipherSuites.join(":");
  if (t.ecdhCurves?.length) o.ecdhCurve = t.ecdhCurves.join(":");
  nativeServerOptions.set(ctx, o);
  return o;
}

/**
 * Server TLS on Bun. With nothing peeked, Bun's native `upgradeTLS` (with the undocumented
 * `isServer: true`) on the accepted socket: the fastest way here (DESIGN.md §7; docs/tls.md).
 * With peeked bytes it cannot be used (it takes no bytes to replay): node:tls over a Duplex.
 */
function startTlsServer(raw: TcpSocket, initial: Uint8Array | null, ctx: TlsServerContext, observer: TlsServerObserver): TcpSocket {
  if ((initial === null || initial.byteLength === 0) && raw instanceof BunTcpSocket && raw.upgradable && ctx instanceof NodeTlsServerContext) {
    const bunSock = raw.rawSocket!;
    const sock = new BunTcpSocket(NO_EVENTS, raw.remoteAddress, raw.remotePort);
    sock.localAddress = raw.localAddress;
    sock.localPort = raw.localPort;
    sock.serverTls = { observer, ctx };
    try {
      (bunSock as unknown as { upgradeTLS(o: unknown): unknown }).upgradeTLS({
        data: sock,
        tls: bunServerTls(ctx),
        socket: tlsServerHandlers,
      });
      // The plain wrapper is done: its events (if Bun still reports any) go nowhere.
      raw.events = NO_EVENTS;
      return sock;
    } catch {
      // Fall through to the portable path.
    }
  }
  return startNodeTlsServer(raw, initial, ctx, observer);
}

/** Bun's `tls` option for one connect (built per connection: Bun takes it per socket). */
function bunTls(t: TlsConnectOptions): Record<string, unknown> {
  // Bun never rejects by itself here: with rejectUnauthorized it would also refuse a name
  // mismatch, which Envoy accepts. `onHandshake` refuses an untrusted chain instead, before any
  // queued byte is written (the socket is attached only after it).
  const o: Record<string, unknown> = { rejectUnauthorized: false };
  // Without a name Bun would send the host (even an IP literal, which RFC 6066 §3 forbids) as
  // SNI; Envoy sends none when `sni` is unset. An empty name turns SNI off.
  o.serverName = t.serverName ?? "";
  if (t.ca !== undefined) o.ca = t.ca;
  if (t.cert !== undefined) o.cert = t.cert;
  if (t.key !== undefined) o.key = t.key;
  if (t.alpn !== undefined && t.alpn.length > 0) o.ALPNProtocols = t.alpn.join(",");
  // Bun's sockets take no minVersion/maxVersion: OpenSSL's SSL_OP_NO_TLSv1_x bits do the same.
  const bits = versionBits(t.minVersion, t.maxVersion);
  if (bits !== 0) o.secureOptions = bits;
  if (t.cipherSuites?.length) o.ciphers = t.cipherSuites.join(":");
  if (t.ecdhCurves?.length) o.ecdhCurve = t.ecdhCurves.join(":");
  return o;
}

const TLS_VERSION_ORDER = ["TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3"];
/** SSL_OP_NO_TLSv1, _1_1, _1_2, _1_3 (OpenSSL / BoringSSL values). */
const NO_VERSION_BITS = [0x04000000, 0x10000000, 0x08000000, 0x20000000];

/** The SSL_OP_NO_* bits that leave only versions in [min, max]. */
function versionBits(min: string | undefined, max: string | undefined): number {
  const lo = min === undefined ? 0 : TLS_VERSION_ORDER.indexOf(min);
  const hi = max === undefined ? 3 : TLS_VERSION_ORDER.indexOf(max);
  let bits = 0;
  for (let i = 0; i < 4; i++) if (i < lo || i > hi) bits |= NO_VERSION_BITS[i]!;
  return bits;
}

/** A listening socket made by `Bun.listen`; control side (the worker only accepts through it). */
class BunTcpListener implements TcpListener {
  readonly host: string;
  readonly port: number;
  readonly fd: number | undefined;
  private closed = false;

  constructor(private readonly inner: TCPSocketListener<BunTcpSocket>, host: string) {
    this.host = inner.hostname || host;
    this.port = inner.port;
    const fd = (inner as unknown as { fd?: unknown }).fd;
    this.fd = typeof fd === "number" && fd >= 0 ? fd : undefined;
  }

  close(): Promise<void> {
    if (!this.closed) {
      this.closed = true;
      this.inner.stop(false);
    }
    return Promise.resolve();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

async function listen(opts: ListenOptions, onConnection: (sock: TcpSocket) => void): Promise<TcpListener> {
  // One handlers object per listener (not per connection): only `open` differs.
  const handlers: SocketHandler<BunTcpSocket, "uint8array"> = {
    ...sharedHandlers,
    open(raw) {
      const sock = new BunTcpSocket(NO_EVENTS, raw.remoteAddress, raw.remotePort);
      raw.data = sock;
      sock.attach(raw);
      onConnection(sock);
    },
  };
  // Bun's types know neither `fd` nor `reusePort`/`backlog` on listen; `fd` is honoured
  // (it adopts an inherited listening socket), `backlog` is not configurable on Bun.
  const options = opts.fd !== undefined
    ? { fd: opts.fd, socket: handlers, allowHalfOpen: true }
    : { hostname: opts.host, port: opts.port, socket: handlers, allowHalfOpen: true, reusePort: opts.reusePort === true };
  let inner: TCPSocketListener<BunTcpSocket>;
  try {
    inner = Bun.listen<BunTcpSocket>(options as unknown as TCPSocketListenOptions<BunTcpSocket>);
  } catch (e) {
    throw toRuntimeError(e);
  }
  return new BunTcpListener(inner, opts.host);
}

function connect(opts: ConnectOptions, events: SocketEvents): TcpSocket {
  const sock = new BunTcpSocket(events, opts.host, opts.port);
  if (opts.timeoutMs !== undefined && opts.timeoutMs > 0) sock.armConnectTimeout(opts.timeoutMs, opts.host, opts.port);
  const tls = opts.tls;
  sock.tls = tls;
  try {
    Bun.connect<BunTcpSocket>({
      hostname: opts.host,
      port: opts.port,
      data: sock,
      allowHalfOpen: true,
      ...(tls !== undefined ? { tls: bunTls(tls) } : {}),
      // Bun's types tie the data handler's chunk type to "buffer"; we ask for "uint8array".
      socket: (tls !== undefined ? tlsHandlers : sharedHandlers) as unknown as SocketHandler<BunTcpSocket>,
    }).catch(noop); // failures arrive through connectError
  } catch (e) {
    // Bad arguments throw synchronously; still report through onClose, after we return.
    queueMicrotask(() => sock.onConnectError(e as Error));
  }
  return sock;
}

/** Creates the Bun runtime adapter (call once per thread; `loadRuntime()` caches it). */
export function createBunRuntime(): Runtime {
  return {
    name: "bun",
    version: Bun.version,
    listen,
    connect,
    resolve: resolveWithNodeDns,
    ...createNodeHost(),
    createTlsServerContext: createNodeTlsServerContext,
    checkTlsParams: checkNodeTlsParams,
    startTlsServer,
  };
}
