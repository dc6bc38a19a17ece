/**
 * The listener filter API (worker side): filters that look at an accepted socket before a filter
 * chain is chosen (Envoy's listener filters: tls_inspector, proxy_protocol, http_inspector).
 *
 * A filter is shown the bytes read from the socket so far. It does not consume them (they are
 * replayed into the connection, or handed to the transport socket, once a chain is chosen)
 * unless it calls `drain(n)` (proxy_protocol removes its header that way). It answers:
 * - "continue": done, the next filter runs (after the last one, the filter chain is chosen);
 * - "need_more_data": call again when more bytes have arrived (never past `maxReadBytes`);
 * - "close": close the socket now (the filter counted why).
 * https://www.envoyproxy.io/docs/envoy/latest/configuration/listeners/listener_filters/listener_filters
 */
import type { StatsStore } from "../core/stats.ts";

/** How a listener filter tells the accept path to proceed. */
export type ListenerFilterStatus = "continue" | "need_more_data" | "close";

/** What a listener filter sees of (and may set on) a socket being accepted. */
export interface ListenerFilterSocket {
  /** The peer as the connection will see it (a PROXY header may restore the original one). */
  remoteAddress: string;
  remotePort: number;
  /** Our address as the connection will see it (a PROXY header may restore the original one). */
  localAddress: string;
  localPort: number;
  /** The peer that really connected to us (never changed by listener filters). */
  readonly directRemoteAddress: string;
  readonly directRemotePort: number;
  /** SNI ("" = none). */
  serverName: string;
  /** "raw_buffer" until a filter detects something else ("tls"). */
  transportProtocol: string;
  /** ALPN offered by a TLS client, or the HTTP protocol the HTTP inspector detected. */
  applicationProtocols: readonly string[];
  /** Removes the first `n` bytes of what the filters see: they are never replayed. */
  drain(n: number): void;
}

/** One listener filter (per connection; a stateless filter may share one instance). */
export interface ListenerFilter {
  /** The most bytes this filter needs to decide (0: it decides without data). The accept path
   *  never asks a filter to wait for more than this; a filter decides by then. */
  readonly maxReadBytes: number;
  /** Called with every byte read so far (minus drained ones), each time more arrive, until the
   *  filter answers "continue" or "close". With `maxReadBytes` 0 it is called once, with no data. */
  onData(data: Uint8Array, socket: ListenerFilterSocket): ListenerFilterStatus;
}

/** The per-connection constructor a listener filter factory returns. */
export type ListenerFilterFactory = () => ListenerFilter;

/** What a listener filter factory may use when it is built (per config version, per worker). */
export interface ListenerFilterFactoryContext {
  readonly stats: StatsStore;
}

/** Runtime half of a listener filter extension (the config half is in the registry). */
export interface ListenerFilterRuntimeExtension {
  readonly name: string;
  readonly typeUrls: readonly string[];
  createFilterFactory(config: unknown, ctx: ListenerFilterFactoryContext): ListenerFilterFactory;
}

const byTypeUrl = new Map<string, ListenerFilterRuntimeExtension>();

/** Registers the runtime half of a listener filter (at module load). */
export function registerListenerFilterRuntime(ext: ListenerFilterRuntimeExtension): void {
  for (const url of ext.typeUrls) byTypeUrl.set(url, ext);
}

/** Finds the runtime half of a listener filter by its typed_config @type URL. */
export function findListenerFilterRuntime(typeUrl: string): ListenerFilterRuntimeExtension | undefined {
  return byTypeUrl.get(typeUrl);
}
