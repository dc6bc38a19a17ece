/**
 * The Deno adapter: TCP on `node:net` (the only Deno socket API that can adopt an inherited
 * listening fd; `Deno.listen` cannot), everything else on the node:* host services.
 *
 * node:net buffers writes itself and keeps a reference to the buffer it was given until the
 * kernel took it, so `write()` hands it a copy (the caller may reuse its buffer). Its `write()`
 * result means "below the high-water mark", not "all in the kernel", so the wrapper decides
 * from `writableLength` and raises `onDrain` from the write callback when the buffer empties.
 * Event listeners are shared functions that find the wrapper on the socket: no closure per
 * connection for data, none per chunk.
 */
import { closeSync } from "node:fs";
import net from "node:net";
import tls from "node:tls";
import { toRuntimeError } from "../errors.ts";
import { createNodeHost } from "../node_host.ts";
import { resolveWithNodeDns } from "../node_dns.ts";
import { createNodeTlsServerContext, startNodeTlsServer } from "../node_tls_server.ts";
import {
  type ConnectOptions,
  type ListenOptions,
  type Runtime,
  RuntimeError,
  type SocketEvents,
  type TcpListener,
  type TcpSocket,
  type TlsConnectOptions,
  type TlsParamsProblem,
} from "../types.ts";

const kWrap = Symbol("legate.socket");
type NetSocket = net.Socket & { [kWrap]: DenoTcpSocket };

function noop(): void {}

/** Events installed until the owner sets its own (an accepted socket before `onConnection`). */
const NO_EVENTS: SocketEvents = { onOpen: noop, onData: noop, onDrain: noop, onEnd: noop, onClose: noop };

/** A TCP socket over a node:net socket; worker side (the data path). */
class DenoTcpSocket implements TcpSocket {
  events: SocketEvents;
  remoteAddress: string;
  remotePort: number;
  localAddress: string;
  localPort: number;

  private owedDrain = false;
  private noDelay = true;
  private connecting: boolean;
  private destroyed = false;
  private closed = false;
  private closeError: RuntimeError | undefined = undefined;
  private timer: ReturnType<typeof setTimeout> | undefined = undefined;
  /** Outbound TLS: the options (`secureConnect` is our open). */
  tls: TlsConnectOptions | undefined = undefined;
  /** The write callback, bound once per socket (not per write). */
  private readonly afterWrite: (err?: Error | null) => void;

  constructor(readonly raw: NetSocket, events: SocketEvents, connecting: boolean, host: string, port: number) {
    this.events = events;
    this.connecting = connecting;
    raw[kWrap] = this;
    this.remoteAddress = raw.remoteAddress ?? host;
    this.remotePort = raw.remotePort ?? port;
    this.localAddress = raw.localAddress ?? "";
    this.localPort = raw.localPort ?? 0;
    this.afterWrite = (err) => {
      if (!err) this.checkDrained();
    };
    raw.on("data", onRawData);
    raw.on("end", onRawEnd);
    raw.on("drain", onRawDrain);
    raw.on("error", onRawError);
    raw.on("close", onRawClose);
    if (connecting) raw.on(raw instanceof tls.TLSSocket ? "secureConnect" : "connect", onRawConnect);
    else raw.setNoDelay(true);
    // (Outbound sockets get `noDelay` once connected, in `opened()`.)
  }

  get bufferedAmount(): number {
    return this.raw.writableLength;
  }

  write(data: Uint8Array): boolean {
    const raw = this.raw;
    if (this.closed || this.destroyed || raw.writableEnded) return false;
    // node:net may keep `data` until the kernel takes it; the caller may reuse it now.
    raw.write(data.slice(), this.afterWrite);
    if (!this.connecting && raw.writableLength === 0) return true;
    this.owedDrain = true;
    return false;
  }

  end(): void {
    if (this.closed || this.destroyed) return;
    this.raw.end();
  }

  destroy(): void {
    if (this.closed || this.destroyed) return;
    this.destroyed = true;
    this.clearTimer();
    this.abort();
  }

  pause(): void {
    this.raw.pause();
  }

  resume(): void {
    this.raw.resume();
  }

  setNoDelay(on: boolean): void {
    this.noDelay = on;
    if (!this.connecting) this.raw.setNoDelay(on);
  }

  // ---- called by the shared listeners ----

  /** Outbound connection established. */
  opened(): void {
    this.clearTimer();
    this.tls?.onHandshake?.(true);
    this.connecting = false;
    const raw = this.raw;
    raw.setNoDelay(this.noDelay);
    this.remoteAddress = raw.remoteAddress ?? this.remoteAddress;
    this.remotePort = raw.remotePort ?? this.remotePort;
    this.localAddress = raw.localAddress ?? "";
    this.localPort = raw.localPort ?? 0;
    this.guard(this.events.onOpen);
    this.checkDrained();
  }

  /** Raises `onDrain` once everything a `write()` that returned false queued is flushed. */
  checkDrained(): void {
    if (this.owedDrain && !this.connecting && !this.closed && this.raw.writableLength === 0) {
      this.owedDrain = false;
      this.guard(this.events.onDrain);
    }
  }

  /** Calls an owner callback; a throwing owner gets its socket closed, not the process. */
  guard(fn: () => void): void {
    try {
      fn.call(this.events);
    } catch (e) {
      this.handlerThrew(e);
    }
  }

  /** One of the owner's callbacks threw: the socket cannot be trusted any more, so close it. */
  handlerThrew(e: unknown): void {
    if (this.closed) return;
    this.closeError ??= new RuntimeError("UNKNOWN", `socket event handler threw: ${(e as Error)?.message ?? e}`);
    this.destroyed = true;
    this.abort();
  }

  /** The native socket reported an error (a `close` follows). */
  failed(err: Error): void {
    if (this.destroyed && this.closeError === undefined) return;
    if (this.tls !== undefined && this.connecting && this.closeError === undefined && isTlsError(err)) {
      this.tls.onHandshake?.(false);
      this.closeError = new RuntimeError("ETLS", `TLS handshake failed: ${(err as { code?: string }).code ?? ""} ${err.message}`.trim());
      return;
    }
    this.closeError ??= toRuntimeError(err, this.connecting ? "ECONNREFUSED" : "UNKNOWN");
  }

  /** The native socket closed. */
  finished(): void {
    if (this.closed) return;
    if (this.tls !== undefined && this.connecting && !this.destroyed && this.closeError === undefined) {
      // The TCP connection came up but closed before the TLS handshake completed.
      this.tls.onHandshake?.(false);
      this.closeError = new RuntimeError("ETLS", "TLS handshake failed: connection closed during the handshake");
    }
    this.closed = true;
    this.clearTimer();
    this.events.onClose(this.closeError);
  }

  /** Arms the connect timeout (outbound only). */
  armConnectTimeout(ms: number, host: string, port: number): void {
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (!this.connecting || this.closed) return;
      this.closeError = new RuntimeError("ETIMEDOUT", `connect to ${host}:${port} timed out after ${ms}ms`);
      this.raw.destroy();
    }, ms);
  }

  /** An abortive close (RST), so the peer learns at once even with half-open sockets.
   *  node's resetAndDestroy() waits for a pending connect: plain destroy() then. */
  private abort(): void {
    if (this.connecting || this.raw.destroyed) this.raw.destroy();
    else this.raw.resetAndDestroy();
  }

  private clearTimer(): void {
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
  }
}

// Shared listeners: EventEmitter calls them with `this` = the node:net socket.
function onRawData(this: NetSocket, chunk: Uint8Array): void {
  const w = this[kWrap];
  try {
    w.events.onData(chunk);
  } catch (e) {
    w.handlerThrew(e);
  }
}
function onRawEnd(this: NetSocket): void {
  const w = this[kWrap];
  w.guard(w.events.onEnd);
}
function onRawDrain(this: NetSocket): void {
  this[kWrap].checkDrained();
}
function onRawError(this: NetSocket, err: Error): void {
  this[kWrap].failed(err);
}
function onRawClose(this: NetSocket): void {
  this[kWrap].finished();
}
function onRawConnect(this: NetSocket): void {
  this[kWrap].opened();
}

interface ServerHandle {
  fd?: number;
  fdForIpc?: () => number;
}

/** A listening node:net server; control side (the worker only accepts through it). */
class DenoTcpListener implements TcpListener {
  readonly host: string;
  readonly port: number;
  private closed = false;
  private dupFd: number | undefined = undefined;

  constructor(private readonly server: net.Server, host: string) {
    const addr = server.address();
    this.host = addr !== null && typeof addr === "object" ? addr.address : host;
    this.port = addr !== null && typeof addr === "object" ? addr.port : 0;
  }

  /** Deno hides the fd; `fdForIpc()` hands out a dup (a new one per call, which we own and
   *  close with the listener), so it is fetched once, on first use. */
  get fd(): number | undefined {
    if (this.dupFd !== undefined || this.closed) return this.dupFd;
    const h = (this.server as unknown as { _handle?: ServerHandle })._handle;
    if (typeof h?.fd === "number" && h.fd >= 0) return h.fd;
    if (typeof h?.fdForIpc !== "function") return undefined;
    try {
      const fd = h.fdForIpc();
      this.dupFd = typeof fd === "number" && fd >= 0 ? fd : undefined;
    } catch {
      this.dupFd = undefined;
    }
    return this.dupFd;
  }

  close(): Promise<void> {
    if (!this.closed) {
      this.closed = true;
      // Stops accepting now; node's close callback would wait for every connection to end.
      this.server.close();
      if (this.dupFd !== undefined) {
        try {
          closeSync(this.dupFd);
        } catch {
          // already gone
        }
        this.dupFd = undefined;
      }
    }
    return Promise.resolve();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

function listen(opts: ListenOptions, onConnection: (sock: TcpSocket) => void): Promise<TcpListener> {
  const server = net.createServer({ allowHalfOpen: true, noDelay: true });
  server.on("connection", (raw: net.Socket) => {
    const sock = new DenoTcpSocket(raw as NetSocket, NO_EVENTS, false, "", 0);
    try {
      onConnection(sock);
    } catch (e) {
      sock.handlerThrew(e);
    }
  });
  return new Promise<TcpListener>((resolve, reject) => {
    const onError = (err: Error) => reject(toRuntimeError(err));
    server.once("error", onError);
    server.once("listening", () => {
      server.off("error", onError);
      // Accept failures (EMFILE, …) are reported here; the server keeps listening.
      server.on("error", noop);
      resolve(new DenoTcpListener(server, opts.host));
    });
    try {
      if (opts.fd !== undefined) server.listen({ fd: opts.fd, backlog: opts.backlog });
      else {
        server.listen({
          host: opts.host,
          port: opts.port,
          backlog: opts.backlog,
          reusePort: opts.reusePort === true,
        } as net.ListenOptions);
      }
    } catch (e) {
      reject(toRuntimeError(e));
    }
  });
}

function noIdentityCheck(): undefined {
  return undefined;
}

/** node:tls errors of a failed handshake (certificate checks, alerts, protocol mismatch). */
function isTlsError(err: Error): boolean {
  const code = (err as { code?: unknown }).code;
  if (typeof code !== "string") return /tls|ssl|certificate|handshake/i.test(err.message);
  return !/^E[A-Z]+$/.test(code) || code === "EPROTO" || /^ERR_(TLS|SSL)/.test(code);
}

function connectTls(opts: ConnectOptions, t: TlsConnectOptions, events: SocketEvents): TcpSocket {
  // allowHalfOpen reaches the underlying net.Socket (node's types omit it on tls).
  const o: tls.ConnectionOptions & { allowHalfOpen: boolean } = {
    host: opts.host,
    port: opts.port,
    allowHalfOpen: true,
    rejectUnauthorized: t.rejectUnauthorized,
  };
  // Envoy sends no SNI unless configured; node:tls would default to the host (when not an IP).
  o.servername = t.serverName ?? "";
  // The chain is verified, the name is not (see TlsConnectOptions.rejectUnauthorized).
  if (t.rejectUnauthorized) o.checkServerIdentity = noIdentityCheck;
  if (t.ca !== undefined) o.ca = t.ca;
  if (t.cert !== undefined) o.cert = t.cert;
  if (t.key !== undefined) o.key = t.key;
  if (t.alpn !== undefined && t.alpn.length > 0) o.ALPNProtocols = t.alpn;
  if (t.minVersion !== undefined) o.minVersion = t.minVersion as tls.SecureVersion;
  if (t.maxVersion !== undefined) o.maxVersion = t.maxVersion as tls.SecureVersion;
  let raw: NetSocket;
  try {
    raw = tls.connect(o) as unknown as NetSocket;
  } catch (e) {
    // Bad arguments (an unparsable PEM) throw synchronously: a closed socket reports ETLS.
    const dead = new net.Socket({ allowHalfOpen: true }) as NetSocket;
    const sock = new DenoTcpSocket(dead, events, true, opts.host, opts.port);
    sock.failed(new RuntimeError("ETLS", `TLS setup failed: ${(e as Error).message}`));
    queueMicrotask(() => dead.destroy());
    return sock;
  }
  const sock = new DenoTcpSocket(raw, events, true, opts.host, opts.port);
  sock.tls = t;
  if (opts.timeoutMs !== undefined && opts.timeoutMs > 0) sock.armConnectTimeout(opts.timeoutMs, opts.host, opts.port);
  return sock;
}

function connect(opts: ConnectOptions, events: SocketEvents): TcpSocket {
  if (opts.tls !== undefined) return connectTls(opts, opts.tls, events);
  const raw = new net.Socket({ allowHalfOpen: true }) as NetSocket;
  const sock = new DenoTcpSocket(raw, events, true, opts.host, opts.port);
  if (opts.timeoutMs !== undefined && opts.timeoutMs > 0) sock.armConnectTimeout(opts.timeoutMs, opts.host, opts.port);
  try {
    raw.connect({ host: opts.host, port: opts.port });
  } catch (e) {
    // Bad arguments throw synchronously; still report through onClose, after we return.
    sock.failed(e as Error);
    queueMicrotask(() => raw.destroy());
  }
  return sock;
}

/** Deno's node:tls (rustls) takes `ciphers` and `ecdhCurve` and ignores them (measured with
 *  openssl s_client: an unlisted suite and curve were negotiated): refused, not weakened. */
function denoCheckTlsParams(cipherSuites: readonly string[], ecdhCurves: readonly string[]): TlsParamsProblem | null {
  if (cipherSuites.length === 0 && ecdhCurves.length === 0) return null;
  return {
    path: "",
    message: "cipher_suites and ecdh_curves are not enforced by Deno's node:tls; run the compiled binary (Bun), or leave them unset",
  };
}

/** Creates the Deno runtime adapter (call once per thread; `loadRuntime()` caches it). */
export function createDenoRuntime(): Runtime {
  return {
    name: "deno",
    version: Deno.version.deno,
    listen,
    connect,
    resolve: resolveWithNodeDns,
    ...createNodeHost(),
    createTlsServerContext: createNodeTlsServerContext,
    checkTlsParams: denoCheckTlsParams,
    startTlsServer: startNodeTlsServer,
  };
}
