/**
 * Server-side TLS over any accepted `TcpSocket` with node:tls (worker side): a `TLSSocket`
 * (`isServer`) runs over a small Duplex that first yields the bytes a listener filter already
 * read (the peeked ClientHello), then the socket's data. This works on Bun 1.4.5 and Deno 2.9.6
 * alike, whatever the socket is underneath, which is what makes "TLS inspector, then terminate"
 * possible: neither runtime can un-read bytes from a native socket, and neither native TLS
 * upgrade (Bun's `upgradeTLS`; Deno has no server-side `startTls`) takes bytes to replay.
 * The Bun adapter uses its native `upgradeTLS` instead when nothing was peeked (faster).
 *
 * Shape: callbacks all the way (no promise per chunk); the Duplex's write callback is held
 * until the raw socket drains (backpressure), and the raw socket is paused while the TLS
 * layer's readable buffer is full.
 */
import { X509Certificate } from "node:crypto";
import { Duplex } from "node:stream";
import tls from "node:tls";
import {
  RuntimeError,
  type SocketEvents,
  type TcpSocket,
  type TlsHandshakeInfo,
  type TlsServerContext,
  type TlsServerObserver,
  type TlsParamsProblem,
  type TlsServerOptions,
} from "./types.ts";

function noop(): void {}
const NO_EVENTS: SocketEvents = { onOpen: noop, onData: noop, onDrain: noop, onEnd: noop, onClose: noop };

/** A node:tls secure context with the options a TLSSocket needs besides it. */
export class NodeTlsServerContext implements TlsServerContext {
  readonly secureContext: tls.SecureContext;
  readonly socketOptions: tls.TLSSocketOptions;
  readonly serverNames: readonly string[];
  /** The trusted CAs, parsed (for runtimes whose TLS layer does not verify client certificates). */
  readonly caCerts: readonly X509Certificate[];
  constructor(readonly options: TlsServerOptions) {
    this.serverNames = certificateNames(options.cert);
    this.caCerts = options.ca === undefined ? [] : splitPem(options.ca).map((p) => new X509Certificate(p));
    const o: tls.SecureContextOptions = { cert: options.cert, key: options.key };
    if (options.ca !== undefined) o.ca = options.ca;
    if (options.minVersion !== undefined) o.minVersion = options.minVersion as tls.SecureVersion;
    if (options.maxVersion !== undefined) o.maxVersion = options.maxVersion as tls.SecureVersion;
    if (options.cipherSuites?.length) o.ciphers = options.cipherSuites.join(":");
    if (options.ecdhCurves?.length) o.ecdhCurve = options.ecdhCurves.join(":");
    try {
      this.secureContext = tls.createSecureContext(o);
    } catch (e) {
      throw new RuntimeError("ETLS", `bad TLS certificate or key: ${(e as Error)?.message ?? e}`);
    }
    this.socketOptions = {
      isServer: true,
      secureContext: this.secureContext,
      requestCert: options.requestCert,
      // Verification is reported to the observer, which decides (TlsServerOptions.requestCert).
      rejectUnauthorized: false,
      ...(options.alpn !== undefined && options.alpn.length > 0 ? { ALPNProtocols: [...options.alpn] } : {}),
    };
    // Deno and Bun verify a client certificate against the TLSSocket's own `ca` option.
    if (options.ca !== undefined) (this.socketOptions as { ca?: string }).ca = options.ca;
  }
}

/** The DNS names of the first certificate in a PEM chain (SAN DNS entries, else the CN). */
function certificateNames(pem: string): string[] {
  let x: X509Certificate;
  try {
    x = new X509Certificate(pem);
  } catch (e) {
    throw new RuntimeError("ETLS", `bad TLS certificate: ${(e as Error)?.message ?? e}`);
  }
  const san = x.subjectAltName ?? "";
  const names = san.split(/,\s*/).filter((p) => p.startsWith("DNS:")).map((p) => p.slice(4).toLowerCase());
  if (names.length > 0) return names;
  const cn = /(?:^|\n)CN=([^\n]*)/.exec(x.subject ?? "");
  return cn ? [cn[1]!.toLowerCase()] : [];
}

function splitPem(pem: string): string[] {
  return pem.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? [];
}

/** Deno's node:tls server (rustls underneath) asks for a client certificate but never verifies
 *  it (`authorized` is false and `authorizationError` null for any certificate, trusted or not),
 *  so the chain is checked here: each certificate within its validity period, each signed by the
 *  next one the client sent, the last one issued and signed by a trusted CA. Returns the error,
 *  or undefined when the chain verifies. (That the client holds the key is the handshake's own
 *  CertificateVerify check, which rustls does.) */
export function verifyPeerChain(peer: tls.DetailedPeerCertificate, cas: readonly X509Certificate[], now = Date.now()): string | undefined {
  let cur: tls.DetailedPeerCertificate | undefined = peer;
  for (let depth = 0; cur !== undefined && depth < 10; depth++) {
    let x: X509Certificate;
    try {
      x = new X509Certificate(cur.raw);
    } catch {
      return "unparsable client certificate";
    }
    if (Date.parse(x.validFrom) > now) return "CERT_NOT_YET_VALID";
    if (Date.parse(x.validTo) < now) return "CERT_HAS_EXPIRED";
    for (const ca of cas) {
      if (x.checkIssued(ca) && x.verify(ca.publicKey)) return undefined;
    }
    const next: tls.DetailedPeerCertificate | undefined = cur.issuerCertificate;
    if (next === undefined || next === cur || next.raw === undefined) break;
    let nx: X509Certificate;
    try {
      nx = new X509Certificate(next.raw);
    } catch {
      break;
    }
    if (!x.checkIssued(nx) || !x.verify(nx.publicKey)) break;
    cur = next;
  }
  return "UNABLE_TO_VERIFY_LEAF_SIGNATURE";
}

/** Control and worker side: builds (and so validates) a context. */
export function createNodeTlsServerContext(opts: TlsServerOptions): TlsServerContext {
  return new NodeTlsServerContext(opts);
}

/** Whether node:tls (on a BoringSSL/OpenSSL runtime: Bun) knows one cipher suite or curve. */
const knownTlsNames = new Map<string, boolean>();
function knows(kind: "ciphers" | "ecdhCurve", name: string): boolean {
  const key = `${kind}:${name}`;
  let ok = knownTlsNames.get(key);
  if (ok === undefined) {
    try {
      tls.createSecureContext({ [kind]: name });
      ok = true;
    } catch {
      ok = false;
    }
    knownTlsNames.set(key, ok);
  }
  return ok;
}

/**
 * Control side, for runtimes whose node:tls enforces `ciphers` and `ecdhCurve` (Bun): every
 * name must be known on its own, as Envoy requires (a cipher string with one good name would
 * otherwise hide a typo). `[A|B]` equal-preference groups are checked name by name.
 */
export function checkNodeTlsParams(cipherSuites: readonly string[], ecdhCurves: readonly string[]): TlsParamsProblem | null {
  for (const [i, entry] of cipherSuites.entries()) {
    const names = entry.startsWith("[") && entry.endsWith("]") ? entry.slice(1, -1).split("|") : [entry];
    for (const n of names) {
      if (n === "" || !knows("ciphers", n)) return { path: `cipher_suites[${i}]`, message: `unknown cipher suite "${n}"` };
    }
  }
  for (const [i, c] of ecdhCurves.entries()) {
    if (!knows("ecdhCurve", c)) return { path: `ecdh_curves[${i}]`, message: `unknown curve "${c}"` };
  }
  return null;
}

/** The RFC 2253-ish one-line subject of a node:tls peer certificate ("" = none). */
export function subjectLine(subject: unknown): string {
  if (subject === null || typeof subject !== "object") return "";
  const parts: string[] = [];
  for (const [k, v] of Object.entries(subject as Record<string, unknown>)) {
    for (const one of Array.isArray(v) ? v : [v]) parts.push(`${k}=${String(one)}`);
  }
  // RFC 2253 lists the most specific attribute first (CN=…,O=…,C=…); node lists it last.
  return parts.reverse().join(",");
}

/** A TLS server socket over a raw TcpSocket, through node:tls. */
class NodeTlsServerSocket implements TcpSocket {
  events: SocketEvents = NO_EVENTS;
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly localAddress: string;
  readonly localPort: number;

  private readonly duplex: Duplex;
  private readonly tlsSock: tls.TLSSocket;
  /** Plaintext written before the handshake completed. */
  private pending: Uint8Array[] | null = [];
  private pendingEnd = false;
  private owedDrain = false;
  private secure = false;
  private closed = false;
  private closeError: RuntimeError | undefined = undefined;
  /** The Duplex write callback waiting for the raw socket to drain. */
  private writeCb: ((err?: Error | null) => void) | null = null;
  private readonly afterWrite = (err?: Error | null) => {
    if (!err) this.checkDrained();
  };

  constructor(private readonly raw: TcpSocket, initial: Uint8Array | null, private readonly ctx: NodeTlsServerContext, private readonly observer: TlsServerObserver) {
    this.remoteAddress = raw.remoteAddress;
    this.remotePort = raw.remotePort;
    this.localAddress = raw.localAddress;
    this.localPort = raw.localPort;
    const self = this;
    const duplex = this.duplex = new Duplex({
      read() {
        raw.resume();
      },
      write(chunk: Uint8Array, _enc, cb) {
        if (raw.write(chunk)) cb();
        else self.writeCb = cb;
      },
      final(cb) {
        raw.end();
        cb();
      },
      destroy(err, cb) {
        raw.destroy();
        cb(err);
      },
      allowHalfOpen: true,
    });
    raw.events = {
      onOpen: noop,
      onData(chunk) {
        if (!duplex.push(chunk)) raw.pause();
      },
      onDrain() {
        const cb = self.writeCb;
        self.writeCb = null;
        cb?.();
      },
      onEnd() {
        duplex.push(null);
      },
      onClose(error) {
        if (error !== undefined) self.closeError ??= self.secure ? error : new RuntimeError("ETLS", `TLS handshake failed: ${error.message}`);
        const cb = self.writeCb;
        self.writeCb = null;
        cb?.(error ?? new RuntimeError("EPIPE", "socket closed"));
        if (!duplex.destroyed) duplex.destroy();
        // The TLS socket's own close (which follows) reports to the owner.
        if (!self.tlsSock.destroyed) self.tlsSock.destroy();
      },
    };
    if (initial !== null && initial.byteLength > 0) duplex.push(initial);
    const t = this.tlsSock = new tls.TLSSocket(duplex as unknown as import("node:net").Socket, ctx.socketOptions);
    t.on("secure", () => this.onSecure());
    t.on("data", (chunk: Uint8Array) => {
      try {
        this.events.onData(chunk);
      } catch (e) {
        this.handlerThrew(e);
      }
    });
    t.on("end", () => this.guard(this.events.onEnd));
    t.on("drain", () => this.checkDrained());
    t.on("error", (err: Error) => {
      if (!this.secure) {
        this.closeError ??= new RuntimeError("ETLS", `TLS handshake failed: ${(err as { code?: string }).code ?? ""} ${err.message}`.trim());
      } else this.closeError ??= new RuntimeError("ECONNRESET", err.message);
    });
    t.on("close", () => this.finish());
  }

  get bufferedAmount(): number {
    if (this.pending !== null) {
      let n = 0;
      for (const c of this.pending) n += c.byteLength;
      return n;
    }
    return this.tlsSock.writableLength + this.raw.bufferedAmount;
  }

  write(data: Uint8Array): boolean {
    if (this.closed || this.pendingEnd || this.tlsSock.writableEnded) return false;
    if (this.pending !== null) {
      this.pending.push(data.slice());
      this.owedDrain = true;
      return false;
    }
    this.tlsSock.write(data.slice(), this.afterWrite);
    if (this.tlsSock.writableLength === 0 && this.raw.bufferedAmount === 0) return true;
    this.owedDrain = true;
    return false;
  }

  end(): void {
    if (this.closed) return;
    if (this.pending !== null) this.pendingEnd = true;
    else this.tlsSock.end();
  }

  destroy(): void {
    if (this.closed) return;
    this.pending = null;
    this.tlsSock.destroy();
    this.raw.destroy();
  }

  pause(): void {
    this.tlsSock.pause();
  }

  resume(): void {
    this.tlsSock.resume();
  }

  setNoDelay(on: boolean): void {
    this.raw.setNoDelay(on);
  }

  private onSecure(): void {
    const t = this.tlsSock;
    let info = handshakeInfo(t);
    const ctx = this.ctx;
    if (info.peerCertificatePresented && !t.authorized && info.peerVerifyError === undefined && ctx.caCerts.length > 0) {
      // The TLS layer did not verify the client certificate (Deno): verify it here.
      const err = verifyPeerChain(t.getPeerCertificate(true), ctx.caCerts);
      if (err !== undefined) info = { ...info, peerVerifyError: err };
    } else if (info.peerCertificatePresented && !t.authorized && info.peerVerifyError === undefined) {
      info = { ...info, peerVerifyError: "no trusted CA to verify the client certificate" };
    }
    let ok = false;
    try {
      ok = this.observer.onHandshake(info);
    } catch {
      ok = false;
    }
    if (!ok) {
      this.closeError = new RuntimeError("ETLS", "TLS handshake refused (client certificate)");
      this.reported = true;
      this.destroy();
      return;
    }
    this.secure = true;
    const queued = this.pending ?? [];
    this.pending = null;
    for (const c of queued) t.write(c, this.afterWrite);
    if (this.pendingEnd) t.end();
    this.checkDrained();
  }

  /** Set when the observer already heard about this connection (accepted or refused). */
  private reported = false;

  private checkDrained(): void {
    if (this.owedDrain && this.pending === null && !this.closed && this.tlsSock.writableLength === 0) {
      this.owedDrain = false;
      this.guard(this.events.onDrain);
    }
  }

  private guard(fn: () => void): void {
    try {
      fn.call(this.events);
    } catch (e) {
      this.handlerThrew(e);
    }
  }

  private handlerThrew(e: unknown): void {
    this.closeError ??= new RuntimeError("UNKNOWN", `socket event handler threw: ${(e as Error)?.message ?? e}`);
    this.destroy();
  }

  private finish(): void {
    if (this.closed) return;
    this.closed = true;
    this.pending = null;
    if (!this.secure && !this.reported) {
      this.reported = true;
      this.closeError ??= new RuntimeError("ETLS", "TLS handshake failed: connection closed during the handshake");
      try {
        this.observer.onFailure(this.closeError);
      } catch {
        // an observer must not throw; ignore
      }
    }
    if (!this.raw.bufferedAmount) this.raw.destroy();
    this.events.onClose(this.closeError);
  }
}

/** The negotiated parameters of a node:tls server socket. */
export function handshakeInfo(t: tls.TLSSocket): TlsHandshakeInfo {
  const peer = t.getPeerCertificate?.() as { subject?: unknown } | null | undefined;
  const presented = peer != null && typeof peer === "object" && Object.keys(peer).length > 0;
  const authErr = (t as { authorizationError?: Error | string | null }).authorizationError;
  const servername = (t as { servername?: unknown }).servername;
  return {
    serverName: typeof servername === "string" ? servername : "",
    alpnProtocol: typeof t.alpnProtocol === "string" ? t.alpnProtocol : "",
    version: t.getProtocol?.() ?? "",
    cipher: t.getCipher?.()?.name ?? "",
    peerCertificatePresented: presented,
    peerSubject: presented ? subjectLine(peer!.subject) : "",
    peerVerifyError: presented && authErr ? String((authErr as Error).message ?? authErr) : undefined,
  };
}

/** Worker side: TLS (server) over `raw`, replaying `initial` first. */
export function startNodeTlsServer(raw: TcpSocket, initial: Uint8Array | null, ctx: TlsServerContext, observer: TlsServerObserver): TcpSocket {
  if (!(ctx instanceof NodeTlsServerContext)) throw new RuntimeError("ETLS", "TLS context was built by another runtime");
  return new NodeTlsServerSocket(raw, initial, ctx, observer);
}
