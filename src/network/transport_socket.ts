/**
 * The downstream transport socket seam (worker side): what sits between an accepted socket and
 * its Connection once a filter chain is chosen. `raw_buffer` is the socket itself; TLS
 * (envoy.transport_sockets.tls) wraps it. Built per filter chain per config version.
 */
import type { TcpSocket } from "../runtime/types.ts";

/** What the listener learned about a connection before its filter chain was chosen. */
export interface AcceptedConnectionInfo {
  /** SNI seen by the TLS inspector ("" = none). */
  readonly serverName: string;
  /** ALPN protocols the client offered (TLS inspector), in its order. */
  readonly applicationProtocols: readonly string[];
}

/** A filter chain's transport socket (per config version, per worker). */
export interface DownstreamTransportSocketFactory {
  /** "tls" for envoy.transport_sockets.tls (for logs and the chain's description). */
  readonly name: string;
  /**
   * Wraps an accepted socket. `initial` holds bytes listener filters already read from `raw`
   * (e.g. the ClientHello the TLS inspector peeked); they are fed in before anything else.
   * The returned socket behaves like any TcpSocket: writes before the handshake completes are
   * queued; `onData` delivers plaintext; a failed handshake is `onClose(RuntimeError("ETLS"))`.
   */
  wrap(raw: TcpSocket, initial: Uint8Array | null, info: AcceptedConnectionInfo): TcpSocket;
}
