/**
 * `envoy.filters.listener.tls_inspector` (worker side): reads the ClientHello from the bytes
 * peeked at accept, sets transport protocol "tls", SNI and ALPN for filter-chain match, and
 * leaves the bytes in place for the TLS transport socket (or the raw connection).
 * Not TLS: transport "raw_buffer", continue. Too large (64 KiB): close. Malformed TLS: close
 * (Envoy lets it through as raw_buffer; Legate refuses to route a broken handshake).
 * https://www.envoyproxy.io/docs/envoy/latest/configuration/listeners/listener_filters/tls_inspector
 */
import type { Counter, Histogram, StatsStore } from "../../../core/stats.ts";
import {
  type ListenerFilter,
  type ListenerFilterSocket,
  type ListenerFilterStatus,
  registerListenerFilterRuntime,
} from "../../../listener/listener_filter.ts";
import { MAX_CLIENT_HELLO_SIZE, readClientHello } from "../../../tls/client_hello.ts";
import { TLS_INSPECTOR_TYPE_URL } from "./config.ts";

/** `tls_inspector.*` stats (Envoy's names, rooted at the server scope). */
export interface TlsInspectorStats {
  readonly clientHelloTooLarge: Counter;
  readonly tlsFound: Counter;
  readonly tlsNotFound: Counter;
  readonly alpnFound: Counter;
  readonly alpnNotFound: Counter;
  readonly sniFound: Counter;
  readonly sniNotFound: Counter;
  readonly bytesProcessed: Histogram;
}

/** Worker side: resolves the stat handles once per config. */
export function tlsInspectorStats(stats: StatsStore): TlsInspectorStats {
  const p = "tls_inspector.";
  return {
    clientHelloTooLarge: stats.counter(p + "client_hello_too_large"),
    tlsFound: stats.counter(p + "tls_found"),
    tlsNotFound: stats.counter(p + "tls_not_found"),
    alpnFound: stats.counter(p + "alpn_found"),
    alpnNotFound: stats.counter(p + "alpn_not_found"),
    sniFound: stats.counter(p + "sni_found"),
    sniNotFound: stats.counter(p + "sni_not_found"),
    bytesProcessed: stats.histogram(p + "bytes_processed"),
  };
}

/** The filter; stateless, so one instance serves every connection of a listener config. */
export class TlsInspectorFilter implements ListenerFilter {
  readonly maxReadBytes = MAX_CLIENT_HELLO_SIZE;
  constructor(readonly stats: TlsInspectorStats) {}

  onData(data: Uint8Array, sock: ListenerFilterSocket): ListenerFilterStatus {
    const r = readClientHello(data, this.maxReadBytes);
    switch (r.kind) {
      case "need_more":
        return "need_more_data";
      case "not_tls":
        this.stats.tlsNotFound.inc();
        this.stats.bytesProcessed.record(data.length);
        sock.transportProtocol = "raw_buffer";
        return "continue";
      case "too_large":
        this.stats.clientHelloTooLarge.inc();
        return "close";
      case "malformed":
        this.stats.tlsNotFound.inc();
        this.stats.bytesProcessed.record(data.length);
        return "close";
      case "client_hello": {
        const s = this.stats;
        s.tlsFound.inc();
        s.bytesProcessed.record(r.bytes);
        sock.transportProtocol = "tls";
        if (r.serverName !== "") {
          s.sniFound.inc();
          sock.serverName = r.serverName;
        } else s.sniNotFound.inc();
        if (r.alpn.length > 0) {
          s.alpnFound.inc();
          sock.applicationProtocols = r.alpn;
        } else s.alpnNotFound.inc();
        return "continue";
      }
    }
  }
}

registerListenerFilterRuntime({
  name: "envoy.filters.listener.tls_inspector",
  typeUrls: [TLS_INSPECTOR_TYPE_URL],
  createFilterFactory(_config, ctx) {
    const filter = new TlsInspectorFilter(tlsInspectorStats(ctx.stats));
    return () => filter;
  },
});
