/**
 * Envoy's response flags (the `%RESPONSE_FLAGS%` short strings) as bits, so the hot path sets
 * them with `|=` and formatting happens only when a log line or local reply needs the text.
 * https://www.envoyproxy.io/docs/envoy/latest/configuration/observability/access_log/usage
 */
export const ResponseFlag = {
  FailedLocalHealthCheck: 1 << 0, // LH
  NoHealthyUpstream: 1 << 1, // UH
  UpstreamRequestTimeout: 1 << 2, // UT
  LocalReset: 1 << 3, // LR
  UpstreamRemoteReset: 1 << 4, // UR
  UpstreamConnectionFailure: 1 << 5, // UF
  UpstreamConnectionTermination: 1 << 6, // UC
  UpstreamOverflow: 1 << 7, // UO
  NoRouteFound: 1 << 8, // NR
  DelayInjected: 1 << 9, // DI
  FaultInjected: 1 << 10, // FI
  RateLimited: 1 << 11, // RL
  DownstreamConnectionTermination: 1 << 12, // DC
  UpstreamRetryLimitExceeded: 1 << 13, // URX
  StreamIdleTimeout: 1 << 14, // SI
  DownstreamProtocolError: 1 << 15, // DPE
  UpstreamProtocolError: 1 << 16, // UPE
  NoClusterFound: 1 << 17, // NC
  DurationTimeout: 1 << 18, // DT
  UpstreamMaxStreamDurationReached: 1 << 19, // UMSDR
  OverloadManager: 1 << 20, // OM
  DnsResolutionFailed: 1 << 21, // DF
} as const;

const SHORT: [number, string][] = [
  [ResponseFlag.FailedLocalHealthCheck, "LH"],
  [ResponseFlag.NoHealthyUpstream, "UH"],
  [ResponseFlag.UpstreamRequestTimeout, "UT"],
  [ResponseFlag.LocalReset, "LR"],
  [ResponseFlag.UpstreamRemoteReset, "UR"],
  [ResponseFlag.UpstreamConnectionFailure, "UF"],
  [ResponseFlag.UpstreamConnectionTermination, "UC"],
  [ResponseFlag.UpstreamOverflow, "UO"],
  [ResponseFlag.NoRouteFound, "NR"],
  [ResponseFlag.DelayInjected, "DI"],
  [ResponseFlag.FaultInjected, "FI"],
  [ResponseFlag.RateLimited, "RL"],
  [ResponseFlag.DownstreamConnectionTermination, "DC"],
  [ResponseFlag.UpstreamRetryLimitExceeded, "URX"],
  [ResponseFlag.StreamIdleTimeout, "SI"],
  [ResponseFlag.DownstreamProtocolError, "DPE"],
  [ResponseFlag.UpstreamProtocolError, "UPE"],
  [ResponseFlag.NoClusterFound, "NC"],
  [ResponseFlag.DurationTimeout, "DT"],
  [ResponseFlag.UpstreamMaxStreamDurationReached, "UMSDR"],
  [ResponseFlag.OverloadManager, "OM"],
  [ResponseFlag.DnsResolutionFailed, "DF"],
];

/** Formats a flag set as Envoy does: short codes joined by ",", or "-" for none. */
export function formatResponseFlags(flags: number): string {
  if (flags === 0) return "-";
  let out = "";
  for (const [bit, s] of SHORT) {
    if (flags & bit) out = out ? `${out},${s}` : s;
  }
  return out;
}
