/**
 * `envoy.filters.listener.proxy_protocol` (worker side): reads a PROXY v1 or v2 header, removes
 * it from the stream, and makes its source and destination the connection's remote and local
 * addresses (what access logs, XFF and filter-chain source matching see; the direct remote
 * address stays the real peer). No header: closed, unless allow_requests_without_proxy_protocol.
 * A malformed header (or a disallowed version) closes the connection and is counted.
 * https://www.envoyproxy.io/docs/envoy/latest/configuration/listeners/listener_filters/proxy_protocol
 */
import type { Counter, StatsStore } from "../../../core/stats.ts";
import {
  type ListenerFilter,
  type ListenerFilterSocket,
  type ListenerFilterStatus,
  registerListenerFilterRuntime,
} from "../../../listener/listener_filter.ts";
import { PROXY_PROTOCOL_TYPE_URL, type ProxyProtocolModel } from "./config.ts";
import { readProxyHeader, V2_MAX_LENGTH } from "./proxy_header.ts";

interface VersionStats {
  readonly found: Counter;
  readonly disallowed: Counter;
  readonly error: Counter;
}

/** `proxy_proto.[<stat_prefix>.]*` and the legacy `downstream_cx_proxy_proto_error`. */
export interface ProxyProtocolStats {
  readonly notFoundAllowed: Counter;
  readonly notFoundDisallowed: Counter;
  readonly v1: VersionStats;
  readonly v2: VersionStats;
  readonly legacyError: Counter;
}

/** Worker side: resolves the stat handles once per config. */
export function proxyProtocolStats(stats: StatsStore, statPrefix: string): ProxyProtocolStats {
  const p = statPrefix ? `proxy_proto.${statPrefix}.` : "proxy_proto.";
  const version = (v: string): VersionStats => ({
    found: stats.counter(`${p}versions.${v}.found`),
    disallowed: stats.counter(`${p}versions.${v}.disallowed`),
    error: stats.counter(`${p}versions.${v}.error`),
  });
  return {
    notFoundAllowed: stats.counter(p + "not_found_allowed"),
    notFoundDisallowed: stats.counter(p + "not_found_disallowed"),
    v1: version("v1"),
    v2: version("v2"),
    legacyError: stats.counter("downstream_cx_proxy_proto_error"),
  };
}

/** The filter; stateless, so one instance serves every connection of a listener config. */
export class ProxyProtocolFilter implements ListenerFilter {
  readonly maxReadBytes = V2_MAX_LENGTH;
  constructor(readonly config: ProxyProtocolModel, readonly stats: ProxyProtocolStats) {}

  onData(data: Uint8Array, sock: ListenerFilterSocket): ListenerFilterStatus {
    const r = readProxyHeader(data);
    const s = this.stats;
    switch (r.kind) {
      case "need_more":
        return "need_more_data";
      case "not_proxy":
        if (this.config.allowRequestsWithoutProxyProtocol) {
          s.notFoundAllowed.inc();
          return "continue";
        }
        s.notFoundDisallowed.inc();
        return "close";
      case "error":
        (r.version === 1 ? s.v1 : s.v2).error.inc();
        s.legacyError.inc();
        return "close";
      case "header": {
        const vs = r.version === 1 ? s.v1 : s.v2;
        vs.found.inc();
        if (!(r.version === 1 ? this.config.allowV1 : this.config.allowV2)) {
          vs.disallowed.inc();
          return "close";
        }
        sock.drain(r.length);
        if (r.source && r.destination) {
          sock.remoteAddress = r.source.address;
          sock.remotePort = r.source.port;
          sock.localAddress = r.destination.address;
          sock.localPort = r.destination.port;
        }
        return "continue";
      }
    }
  }
}

registerListenerFilterRuntime({
  name: "envoy.filters.listener.proxy_protocol",
  typeUrls: [PROXY_PROTOCOL_TYPE_URL],
  createFilterFactory(config, ctx) {
    const m = config as ProxyProtocolModel;
    const filter = new ProxyProtocolFilter(m, proxyProtocolStats(ctx.stats, m.statPrefix));
    return () => filter;
  },
});
