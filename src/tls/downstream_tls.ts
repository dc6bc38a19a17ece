/**
 * TLS termination (worker side): the `envoy.transport_sockets.tls` transport socket of a filter
 * chain. Built once per filter chain per config version (one runtime TLS context per
 * certificate); `wrap` runs per connection.
 *
 * Certificate choice (Envoy's order): the certificate whose DNS names match the SNI exactly,
 * then by wildcard, else the first one. The SNI comes from the TLS inspector when it ran;
 * otherwise, when there are several certificates, this socket reads the ClientHello itself
 * first (readClientHello, the TLS inspector's parser) and replays it into the handshake.
 *
 * Stats (Envoy's names, under `listener.<address>.ssl.`): handshake, connection_error,
 * no_certificate, fail_verify_no_cert, fail_verify_error, versions.<TLSv1.x>,
 * ciphers.<name> is not kept (unbounded names).
 * https://www.envoyproxy.io/docs/envoy/latest/configuration/listeners/stats#tls-statistics
 */
import type { DownstreamTlsModel, PemSourceModel, TlsCertificateModel } from "../config/model.ts";
import type { Counter, StatsStore } from "../core/stats.ts";
import type { AcceptedConnectionInfo, DownstreamTransportSocketFactory } from "../network/transport_socket.ts";
import {
  RuntimeError,
  type Runtime,
  type SocketEvents,
  type TcpSocket,
  type TlsHandshakeInfo,
  type TlsServerContext,
  type TlsServerObserver,
  type TlsServerOptions,
} from "../runtime/types.ts";
import { MAX_CLIENT_HELLO_SIZE, readClientHello } from "./client_hello.ts";

/** What a terminated TLS connection negotiated (for access logs: %DOWNSTREAM_PEER_SUBJECT%,
 *  %DOWNSTREAM_TLS_VERSION%, …). Present on the socket `wrap` returns once the handshake is done. */
export interface DownstreamSslInfo {
  readonly ssl: TlsHandshakeInfo | undefined;
}

/** Worker side: the negotiated TLS parameters of a connection's socket (undefined = plaintext
 *  or handshake not done). */
export function downstreamSsl(sock: unknown): TlsHandshakeInfo | undefined {
  return (sock as Partial<DownstreamSslInfo> | null)?.ssl;
}

/** `listener.<address>.ssl.*` counters, resolved once per config version. */
class SslStats {
  readonly handshake: Counter;
  readonly connectionError: Counter;
  readonly noCertificate: Counter;
  readonly failVerifyNoCert: Counter;
  readonly failVerifyError: Counter;
  readonly versions: ReadonlyMap<string, Counter>;
  constructor(store: StatsStore, prefix: string) {
    const p = prefix + "ssl.";
    this.handshake = store.counter(p + "handshake");
    this.connectionError = store.counter(p + "connection_error");
    this.noCertificate = store.counter(p + "no_certificate");
    this.failVerifyNoCert = store.counter(p + "fail_verify_no_cert");
    this.failVerifyError = store.counter(p + "fail_verify_error");
    this.versions = new Map(["TLSv1.2", "TLSv1.3"].map((v) => [v, store.counter(`${p}versions.${v}`)]));
  }
}

function pemText(src: PemSourceModel | undefined, what: string): string | undefined {
  if (src === undefined) return undefined;
  if ("inline" in src) return src.inline;
  // Only reachable when a model bypassed loadListenerTlsFiles (an embedding caller).
  throw new Error(`${what} file '${src.filename}' was not loaded (loadListenerTlsFiles)`);
}

/** Control and worker side: the runtime TLS options for each certificate of a context, in
 *  order (static tls_certificates first, then SDS ones). Throws when PEM is missing. */
export function tlsServerOptions(model: DownstreamTlsModel): TlsServerOptions[] {
  const certs: TlsCertificateModel[] = [...model.certificates];
  for (const s of model.sdsCertificates) {
    if (s.certificate === undefined) throw new Error(`SDS secret '${s.name}' (${s.path}) was not loaded`);
    certs.push(s.certificate);
  }
  const ca = pemText(model.trustedCa, "validation_context.trusted_ca");
  return certs.map((c) => {
    const o: TlsServerOptions = {
      cert: pemText(c.certificateChain, "certificate_chain")!,
      key: pemText(c.privateKey, "private_key")!,
      // Envoy asks for a client certificate whenever a validation context is configured, and
      // refuses a connection without one only with require_client_certificate.
      requestCert: ca !== undefined,
    };
    if (ca !== undefined) o.ca = ca;
    if (model.alpn.length > 0) o.alpn = model.alpn;
    // Envoy's server defaults: TLS 1.2 .. 1.3.
    o.minVersion = model.minVersion ?? "TLSv1.2";
    o.maxVersion = model.maxVersion ?? "TLSv1.3";
    if (model.cipherSuites.length > 0) o.cipherSuites = model.cipherSuites;
    if (model.ecdhCurves.length > 0) o.ecdhCurves = model.ecdhCurves;
    return o;
  });
}

/** Certificate choice by SNI: exact name, then the longest wildcard suffix, else the first. */
function chooseContext(contexts: readonly TlsServerContext[], sni: string): TlsServerContext {
  if (contexts.length === 1 || sni === "") return contexts[0]!;
  for (const c of contexts) if (c.serverNames.includes(sni)) return c;
  const dot = sni.indexOf(".");
  if (dot > 0) {
    const wild = "*" + sni.slice(dot);
    for (const c of contexts) if (c.serverNames.includes(wild)) return c;
  }
  return contexts[0]!;
}

/** The TLS transport socket factory of one filter chain (worker side). */
export class DownstreamTlsFactory implements DownstreamTransportSocketFactory {
  readonly name = "tls";
  readonly contexts: readonly TlsServerContext[];
  readonly stats: SslStats;
  readonly requireClientCertificate: boolean;
  readonly verifies: boolean;

  constructor(model: DownstreamTlsModel, readonly runtime: Runtime, store: StatsStore, prefix: string) {
    this.contexts = tlsServerOptions(model).map((o) => runtime.createTlsServerContext(o));
    this.stats = new SslStats(store, prefix);
    this.requireClientCertificate = model.requireClientCertificate;
    this.verifies = model.trustedCa !== undefined;
  }

  wrap(raw: TcpSocket, initial: Uint8Array | null, info: AcceptedConnectionInfo): TcpSocket {
    const sock = new DownstreamTlsSocket(this, raw);
    if (this.contexts.length > 1 && initial === null && info.serverName === "") sock.sniff();
    else sock.start(initial, chooseContext(this.contexts, info.serverName));
    return sock;
  }
}

function noop(): void {}
const NO_EVENTS: SocketEvents = { onOpen: noop, onData: noop, onDrain: noop, onEnd: noop, onClose: noop };

/**
 * The socket a terminated connection sees: forwards to the runtime's TLS socket, and while the
 * ClientHello is still being read (sniff mode) queues writes and reads the raw socket itself.
 */
class DownstreamTlsSocket implements TcpSocket, TlsServerObserver, SocketEvents, DownstreamSslInfo {
  events: SocketEvents = NO_EVENTS;
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly localAddress: string;
  readonly localPort: number;
  ssl: TlsHandshakeInfo | undefined = undefined;
  /** The runtime's TLS socket; undefined while sniffing. */
  private inner: TcpSocket | undefined = undefined;
  /** Sniff mode: ClientHello bytes so far, and what the owner did meanwhile. */
  private hello: Uint8Array | null = null;
  private queued: Uint8Array[] = [];
  private endQueued = false;
  private paused = false;
  private closed = false;

  constructor(private readonly f: DownstreamTlsFactory, private readonly raw: TcpSocket) {
    this.remoteAddress = raw.remoteAddress;
    this.remotePort = raw.remotePort;
    this.localAddress = raw.localAddress;
    this.localPort = raw.localPort;
  }

  /** Hands the raw socket to the runtime's TLS server. */
  start(initial: Uint8Array | null, ctx: TlsServerContext): void {
    let inner: TcpSocket;
    try {
      inner = this.f.runtime.startTlsServer(this.raw, initial, ctx, this);
    } catch (e) {
      this.onFailure(new RuntimeError("ETLS", `TLS setup failed: ${(e as Error)?.message ?? e}`));
      this.raw.events = { ...NO_EVENTS, onClose: noop };
      this.raw.destroy();
      this.closed = true;
      queueMicrotask(() => this.events.onClose(new RuntimeError("ETLS", "TLS setup failed")));
      return;
    }
    this.inner = inner;
    // We stay in between (the owner replaces `events` on us freely).
    inner.events = this;
    if (this.paused) inner.pause();
    let drained = true;
    for (const c of this.queued) drained = inner.write(c) && drained;
    if (this.queued.length > 0 && drained) queueMicrotask(() => this.onDrain());
    this.queued = [];
    if (this.endQueued) inner.end();
  }

  /** Reads the ClientHello from the raw socket to learn the SNI, then starts TLS with it. */
  sniff(): void {
    this.hello = new Uint8Array(0);
    const self = this;
    this.raw.events = {
      onOpen: noop,
      onData(chunk) {
        const prev = self.hello!;
        const all = new Uint8Array(prev.byteLength + chunk.byteLength);
        all.set(prev);
        all.set(chunk, prev.byteLength);
        self.hello = all;
        const r = readClientHello(all, MAX_CLIENT_HELLO_SIZE);
        if (r.kind === "need_more") return;
        self.hello = null;
        // Not TLS, malformed or too big: the TLS library fails the handshake on these bytes and
        // counts it.
        self.start(all, chooseContext(self.f.contexts, r.kind === "client_hello" ? r.serverName.toLowerCase() : ""));
      },
      onDrain: noop,
      onEnd() {
        // The peer gave up before a full ClientHello.
        self.raw.destroy();
      },
      onClose(error) {
        if (self.inner !== undefined) return;
        self.onFailure(new RuntimeError("ETLS", `connection closed before the ClientHello: ${error?.message ?? "EOF"}`));
        self.closed = true;
        self.events.onClose(new RuntimeError("ETLS", "connection closed before the ClientHello"));
      },
    };
  }

  // ---- TlsServerObserver ----

  onHandshake(info: TlsHandshakeInfo): boolean {
    const s = this.f.stats;
    if (!info.peerCertificatePresented) {
      if (this.f.verifies) s.noCertificate.inc();
      if (this.f.requireClientCertificate) {
        s.failVerifyNoCert.inc();
        s.connectionError.inc();
        return false;
      }
    } else if (info.peerVerifyError !== undefined) {
      s.failVerifyError.inc();
      s.connectionError.inc();
      return false;
    }
    s.handshake.inc();
    s.versions.get(info.version)?.inc();
    this.ssl = info;
    // The SNI becomes the connection's requested server name when no TLS inspector set one
    // (the owner is the Connection, which has that field; other owners are left alone).
    const owner = this.events as { requestedServerName?: unknown };
    if (info.serverName !== "" && owner.requestedServerName === "") owner.requestedServerName = info.serverName;
    return true;
  }

  onFailure(_error: RuntimeError): void {
    this.f.stats.connectionError.inc();
  }

  // ---- SocketEvents (from the runtime's TLS socket, forwarded to the owner) ----

  onOpen(): void {}
  onData(chunk: Uint8Array): void {
    this.events.onData(chunk);
  }
  onDrain(): void {
    this.events.onDrain();
  }
  onEnd(): void {
    this.events.onEnd();
  }
  onClose(error: RuntimeError | undefined): void {
    if (this.closed) return;
    this.closed = true;
    this.events.onClose(error);
  }

  // ---- TcpSocket ----

  get bufferedAmount(): number {
    if (this.inner !== undefined) return this.inner.bufferedAmount;
    let n = 0;
    for (const c of this.queued) n += c.byteLength;
    return n;
  }

  write(data: Uint8Array): boolean {
    if (this.inner !== undefined) return this.inner.write(data);
    if (this.closed) return false;
    this.queued.push(data.slice());
    return false;
  }

  end(): void {
    if (this.inner !== undefined) this.inner.end();
    else this.endQueued = true;
  }

  destroy(): void {
    if (this.inner !== undefined) this.inner.destroy();
    else if (!this.closed) this.raw.destroy();
  }

  pause(): void {
    this.paused = true;
    if (this.inner !== undefined) this.inner.pause();
    else this.raw.pause();
  }

  resume(): void {
    this.paused = false;
    if (this.inner !== undefined) this.inner.resume();
    else this.raw.resume();
  }

  setNoDelay(on: boolean): void {
    (this.inner ?? this.raw).setNoDelay(on);
  }
}

/** Worker side: the TLS transport socket factory of a filter chain. */
export function createDownstreamTlsFactory(model: DownstreamTlsModel, runtime: Runtime, store: StatsStore, listenerPrefix: string): DownstreamTransportSocketFactory {
  return new DownstreamTlsFactory(model, runtime, store, listenerPrefix);
}
