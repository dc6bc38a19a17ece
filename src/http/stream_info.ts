/**
 * What happened to one HTTP stream (worker side): timings, flags, sizes, upstream — the data
 * behind access logs and stats. One plain object per stream, fields written in place.
 */

/** What a StreamInfo may see of its downstream connection (a network/connection.ts Connection). */
export interface DownstreamConnectionView {
  readonly requestedServerName: string;
  /** The connection's socket; a terminated TLS socket carries `ssl` (src/tls/downstream_tls.ts). */
  readonly socket: unknown;
}

/** Per-stream facts, filled in as the stream progresses. */
export class StreamInfo {
  /** Wall-clock start (ms since epoch) for %START_TIME%. */
  startTimeMs = Date.now();
  /** Monotonic start, for durations. */
  startMono = 0;
  /** Monotonic time the last downstream request byte was received (0 = not yet). */
  lastDownstreamRxMono = 0;
  /** Monotonic time the first upstream response byte arrived. */
  firstUpstreamRxMono = 0;
  /** Monotonic time the stream ended. */
  endMono = 0;
  responseCode = 0;
  responseFlags = 0;
  /** Envoy's %RESPONSE_CODE_DETAILS% (e.g. "via_upstream", "route_not_found"). */
  responseCodeDetails = "";
  bytesReceived = 0;
  bytesSent = 0;
  routeName = "";
  upstreamCluster = "";
  /** "ip:port" of the upstream host chosen, "" if none. */
  upstreamHost = "";
  /** "ip:port" of the local end of the upstream connection (the router sets it), "" if none. */
  upstreamLocalAddress = "";
  /** Why the upstream connection failed at the transport layer (the router sets it), "" if none. */
  upstreamTransportFailureReason = "";
  /** The downstream connection's id (%CONNECTION_ID%), set by the HCM. */
  connectionId = 0;
  requestId = "";
  /** "HTTP/1.1" or "HTTP/1.0", for %PROTOCOL%. */
  protocol = "";
  /** The downstream connection (its SNI and TLS socket, for %REQUESTED_SERVER_NAME%,
   *  %DOWNSTREAM_PEER_SUBJECT%, %DOWNSTREAM_TLS_VERSION%); set by whoever creates the info. */
  downstreamConnection: DownstreamConnectionView | undefined = undefined;
  constructor(readonly downstreamRemoteAddress: string, readonly downstreamLocalAddress: string) {}
}
