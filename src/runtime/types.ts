/**
 * The runtime seam: everything Legate needs from its host runtime. Only src/runtime/ may name
 * Bun, Deno or node:* modules; the rest of the code sees these interfaces.
 *
 * Sockets are callback-driven (no promise per chunk): the owner of a socket installs a
 * `SocketEvents` object and the adapter calls it. Chunks handed to `onData` belong to the
 * receiver (the adapter never reuses them).
 */

/** Error codes the adapters map native errors to. */
export type RuntimeErrorCode =
  | "ECONNREFUSED"
  | "ECONNRESET"
  | "ETIMEDOUT"
  | "EADDRINUSE"
  | "EADDRNOTAVAIL"
  | "EACCES"
  | "EPIPE"
  | "ENOENT"
  | "EHOSTUNREACH"
  | "ENOTFOUND"
  /** A TLS handshake failed (bad or untrusted peer certificate, protocol or ALPN mismatch). */
  | "ETLS"
  | "UNKNOWN";

/** A runtime failure with a portable code; `message` keeps the native text. */
export class RuntimeError extends Error {
  constructor(readonly code: RuntimeErrorCode, message: string) {
    super(message);
    this.name = "RuntimeError";
  }
}

/** Callbacks a socket's owner installs; the adapter calls them on the socket's own event loop turn. */
export interface SocketEvents {
  /** Outbound sockets only: the connection is established (queued writes are being sent). */
  onOpen(): void;
  /** Bytes arrived. The chunk is the receiver's to keep. */
  onData(chunk: Uint8Array): void;
  /** Everything queued by an earlier `write()` that returned false has been flushed. */
  onDrain(): void;
  /** The peer half-closed (sent FIN). The socket may still be written to until `end()`. */
  onEnd(): void;
  /** The socket is fully closed; called exactly once. `error` is set when it closed abnormally
   *  (connect failure, reset, timeout). */
  onClose(error: RuntimeError | undefined): void;
}

/** A connected TCP socket (accepted or outbound). */
export interface TcpSocket {
  /** The owner's callbacks; replace freely (e.g. when a pool hands the socket to a new owner). */
  events: SocketEvents;
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly localAddress: string;
  readonly localPort: number;
  /** Bytes accepted by `write()` but not yet handed to the kernel. */
  readonly bufferedAmount: number;
  /** Queues bytes; true when they all went to the kernel now, false when some wait (then
   *  `onDrain` follows). The caller may reuse `data` right after the call returns. */
  write(data: Uint8Array): boolean;
  /** Optional: write(data.subarray(start, end)) without making the view (hot path: a view of a
   *  reused buffer costs an allocation per write on JSC). Same contract as write(). */
  writeRange?(data: Uint8Array, start: number, end: number): boolean;
  /** Sends FIN once queued bytes are flushed; `onClose` follows when the peer closes too
   *  (or immediately, if the peer already half-closed). */
  end(): void;
  /** Closes now, dropping queued bytes; `onClose` follows. Idempotent. */
  destroy(): void;
  /** Stops / restarts delivering `onData` (backpressure towards the peer). */
  pause(): void;
  resume(): void;
  setNoDelay(on: boolean): void;
}

/** Where to listen. With `fd`, the adapter adopts an inherited listening socket instead. */
export interface ListenOptions {
  host: string;
  port: number;
  fd?: number;
  backlog?: number;
  reusePort?: boolean;
}

/** A listening TCP socket. */
export interface TcpListener extends AsyncDisposable {
  readonly host: string;
  /** The bound port (the real one when 0 was asked for). */
  readonly port: number;
  /** The OS file descriptor, when the runtime exposes it (for handing to another process). */
  readonly fd: number | undefined;
  /** Stops accepting; existing connections are unaffected. */
  close(): Promise<void>;
}

export interface ConnectOptions {
  host: string;
  port: number;
  /** Fail with ETIMEDOUT if not connected within this many ms (0 = the OS default). */
  timeoutMs?: number;
  /** Speak TLS (client side) on the connection: `onOpen` then comes after the handshake, and a
   *  failed handshake is `onClose(RuntimeError("ETLS"))` without `onOpen`. */
  tls?: TlsConnectOptions;
}

/** Client-side TLS for `Runtime.connect` (PEM text, not file names: the control side reads
 *  files when it loads the config). Build one per cluster and share it between connections. */
export interface TlsConnectOptions {
  /** SNI; also the name the certificate is checked against when `rejectUnauthorized`. */
  serverName?: string;
  /** Trusted CA certificates (PEM); absent = the runtime's default roots. */
  ca?: string;
  /** Client certificate chain and its private key (PEM), for mutual TLS. */
  cert?: string;
  key?: string;
  /** ALPN protocols to offer, e.g. ["http/1.1"]. */
  alpn?: string[];
  /** Verify the peer's certificate chain (to `ca`); false accepts any certificate. The host
   *  name is not checked against the certificate: Envoy checks names only when SAN matchers
   *  are configured (match_typed_subject_alt_names), which Legate does not support yet. */
  rejectUnauthorized: boolean;
  /** "TLSv1.2" | "TLSv1.3" (node:tls spelling); absent = the runtime's default. */
  minVersion?: string;
  maxVersion?: string;
  /** As in TlsServerOptions: TLS 1.2 suites and ECDH groups; absent = the default. */
  cipherSuites?: readonly string[];
  ecdhCurves?: readonly string[];
  /** Called once per connection when its handshake ends: true = completed, false = failed
   *  (an observer for stats; it must not throw). */
  onHandshake?: (ok: boolean) => void;
}

/** Server-side TLS for `Runtime.startTlsServer` (PEM text; the control side read the files).
 *  One certificate per context: selection by SNI happens before (src/tls/). */
export interface TlsServerOptions {
  /** Certificate chain and private key (PEM). */
  cert: string;
  key: string;
  /** Trusted CA certificates (PEM) for client certificates; with `requestCert`. */
  ca?: string;
  /** Ask the client for a certificate. The handshake itself never rejects one: the verdict
   *  (`TlsHandshakeInfo.peerVerifyError`) goes to `onHandshake`, which decides. */
  requestCert: boolean;
  /** ALPN protocols to select from, in the server's preference order. */
  alpn?: readonly string[];
  /** "TLSv1.2" | "TLSv1.3" (node:tls spelling); absent = the runtime's default. */
  minVersion?: string;
  maxVersion?: string;
  /** TLS 1.2 cipher suites in preference order (BoringSSL/OpenSSL names, `[A|B]` groups);
   *  absent = the runtime's default. Checked beforehand with `Runtime.checkTlsParams`. */
  cipherSuites?: readonly string[];
  /** ECDH groups in preference order ("X25519", "P-256", …); absent = the default. */
  ecdhCurves?: readonly string[];
}

/** What is wrong with a TLS parameter list: `path` is relative to tls_params ("" = the whole
 *  setting), e.g. `cipher_suites[1]`. */
export interface TlsParamsProblem {
  path: string;
  message: string;
}

/** A built server TLS context (opaque; per filter chain per config version, shared by its
 *  connections). Building one validates the PEM: it throws RuntimeError("ETLS") on bad input. */
export interface TlsServerContext {
  readonly options: TlsServerOptions;
  /** The leaf certificate's DNS names (subjectAltName DNS entries, or its CN when it has none),
   *  lowercased; "*.example.com" for wildcards. For choosing a certificate by SNI. */
  readonly serverNames: readonly string[];
}

/** What a completed server handshake negotiated. */
export interface TlsHandshakeInfo {
  /** SNI the client sent ("" = none). */
  readonly serverName: string;
  /** Negotiated ALPN protocol ("" = none). */
  readonly alpnProtocol: string;
  /** "TLSv1.2", "TLSv1.3", … ("" when unknown). */
  readonly version: string;
  /** Negotiated cipher (OpenSSL name, "" when unknown). */
  readonly cipher: string;
  /** Whether the client presented a certificate (only asked for with `requestCert`). */
  readonly peerCertificatePresented: boolean;
  /** The client certificate's subject, RFC 2253 style ("CN=client,O=Legate"; "" = none). */
  readonly peerSubject: string;
  /** Why the client certificate did not verify against `ca` (undefined = verified or absent). */
  readonly peerVerifyError: string | undefined;
}

/** Worker side: observer of a server handshake. `onHandshake` returns false to refuse the
 *  connection (it is then closed with ETLS before any plaintext is delivered); `onFailure`
 *  hears a handshake that failed in the TLS library (alert, protocol, not TLS at all). */
export interface TlsServerObserver {
  onHandshake(info: TlsHandshakeInfo): boolean;
  onFailure(error: RuntimeError): void;
}

/** One address from `Runtime.resolve`. */
export interface ResolvedAddress {
  address: string;
  ttlSeconds?: number;
}

/** Everything Legate asks of the host runtime. */
export interface Runtime {
  readonly name: "bun" | "deno" | "memory";
  /** Runtime version string, for /server_info. */
  readonly version: string;

  /** Binds (or adopts `fd`) and calls `onConnection` for each accepted socket; the callee must
   *  set `sock.events` before returning. Rejects with RuntimeError (EADDRINUSE, EACCES, …). */
  listen(opts: ListenOptions, onConnection: (sock: TcpSocket) => void): Promise<TcpListener>;
  /** Starts an outbound connection. Returns at once; writes before `onOpen` are queued. Failure
   *  arrives as `onClose(error)` without `onOpen`. */
  connect(opts: ConnectOptions, events: SocketEvents): TcpSocket;
  /** Resolves a host name to addresses (control side: DNS clusters). "v4" / "v6" ask for one
   *  family, "auto" for both. Rejects with RuntimeError (ENOTFOUND when the name does not exist).
   *  An IP literal resolves to itself. `ttlSeconds` is set when the resolver knows it. */
  resolve(host: string, family: "v4" | "v6" | "auto"): Promise<ResolvedAddress[]>;

  /** Builds a server TLS context (validates the PEM; throws RuntimeError "ETLS"). Control side
   *  (to check a config) and worker side (once per filter chain per config version). */
  createTlsServerContext(opts: TlsServerOptions): TlsServerContext;
  /** Control side: whether this runtime knows and enforces these cipher suites and curves
   *  (null = yes). A runtime that would silently ignore them says so. */
  checkTlsParams(cipherSuites: readonly string[], ecdhCurves: readonly string[]): TlsParamsProblem | null;
  /** Worker side: speaks TLS (server side) over an already accepted socket. `initial` holds
   *  bytes already read from `raw` (a peeked ClientHello); they are fed to the handshake first.
   *  The returned socket delivers plaintext; writes before the handshake completes are queued;
   *  a failed or refused handshake is `onClose(RuntimeError("ETLS"))`. `raw` belongs to the
   *  returned socket from now on. */
  startTlsServer(raw: TcpSocket, initial: Uint8Array | null, ctx: TlsServerContext, observer: TlsServerObserver): TcpSocket;

  readTextFile(path: string): Promise<string>;
  writeTextFile(path: string, text: string): Promise<void>;
  /** Appends to a file (created when missing); used by access logs. */
  appendFile(path: string, data: Uint8Array): Promise<void>;

  /** Process arguments after the program name (argv[2…] in Node terms). */
  args(): string[];
  env(name: string): string | undefined;
  readonly pid: number;
  /** The executable that runs us (the compiled binary, or bun/deno). */
  readonly execPath: string;
  hostname(): string;
  exit(code: number): never;
  /** Subscribes to a signal; returns an unsubscribe function. */
  onSignal(signal: "SIGINT" | "SIGTERM" | "SIGHUP" | "SIGUSR1", fn: () => void): () => void;
  /** Writes to the process's stdout / stderr without waiting. */
  writeStdout(text: string): void;
  writeStderr(text: string): void;
  /** Resident set size and heap used, in bytes, for /memory and /server_info. */
  memoryUsage(): { rss: number; heapUsed: number };
}
