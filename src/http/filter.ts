/**
 * The HTTP filter API (worker side). A filter extension's factory is built once per config
 * version; it returns a cheap per-stream constructor. Filters steer the chain with status
 * values (DESIGN rule 5): "continue" passes the event on, "stop" holds it (the filter resumes
 * later with `continueDecoding()` / `continueEncoding()`), "stopAndBuffer" holds it and buffers
 * the body that follows until resumed.
 */
import type { TimerWheel } from "../core/timer_wheel.ts";
import type { StatsStore } from "../core/stats.ts";
import type { HeaderMap } from "./header_map.ts";
import type { StreamInfo } from "./stream_info.ts";
import type { WatermarkListener } from "../network/write_batch.ts";
import type { CompiledRoute } from "../router/route_table.ts";
import type { ThreadLocalClusterManager } from "../upstream/thread_local_cluster.ts";

/** How a filter tells the chain to proceed. */
export type FilterStatus = "continue" | "stop" | "stopAndBuffer";

/** A request as filters see it: Envoy's pseudo-headers as fields, the rest in `headers`. */
export interface RequestHeaders {
  /** :method */
  method: string;
  /** :path, including the query string (filters may rewrite it). */
  path: string;
  /** :authority (the Host header, lower-cased). */
  authority: string;
  /** :scheme */
  scheme: string;
  /** Every other header (no `host`). */
  headers: HeaderMap;
}

/** A response as filters see it. */
export interface ResponseHeaders {
  /** :status */
  status: number;
  headers: HeaderMap;
}

/** What a stream offers its filters (implemented by the HCM's active stream). */
export interface StreamCallbacks {
  readonly streamInfo: StreamInfo;
  readonly request: RequestHeaders;
  /** The downstream peer as "ip:port". */
  readonly downstreamRemoteAddress: string;
  /** The route for the current request headers (looked up once, then cached). */
  route(): CompiledRoute | null;
  /** Re-runs route selection on the next `route()` call (after a filter changed headers). */
  clearRouteCache(): void;
  /** Resumes the decode chain after the filter returned "stop" / "stopAndBuffer". */
  continueDecoding(): void;
  /** Resumes the encode chain after the filter returned "stop" / "stopAndBuffer". */
  continueEncoding(): void;
  /** Ends the stream with a locally generated response (status, body, Envoy response flags,
   *  and the %RESPONSE_CODE_DETAILS% string). After response headers went out, resets instead. */
  sendLocalReply(status: number, body: string, flags: number, details: string): void;
  /** Terminal decoder filters (the router) start the response with these; they run the
   *  encoder filters that sit before the caller and then the codec. */
  encodeHeaders(resp: ResponseHeaders, endStream: boolean): void;
  encodeData(data: Uint8Array, endStream: boolean): void;
  encodeTrailers(trailers: HeaderMap): void;
  /** Relays an upstream's `100 Continue` downstream (proxy_100_continue; at most once per
   *  stream, never after the response started; a no-op otherwise). */
  encode100Continue?(): void;
  /** Aborts the stream: the downstream connection is closed (HTTP/1) and the flags recorded. */
  resetStream(flags: number, details: string): void;
  /** Sets this stream's request and response buffer limit (Envoy's setDecoderBufferLimit):
   *  body buffered for stopped filters beyond it gets 413 (request) or 500 (response). */
  setDecoderBufferLimit(limit: number): void;
  /** The stream's buffer limit (per_connection_buffer_limit_bytes unless a filter set one). */
  decoderBufferLimit(): number;
  /** Stops (true) or resumes (false) reading the downstream connection; calls nest. */
  readDisable(disable: boolean): void;
  /** Registers the listener told when the downstream write buffer crosses its watermarks. */
  setDownstreamWatermarkListener(listener: WatermarkListener | null): void;
}

/** One filter instance for one stream. Every method is optional except onDestroy. A filter
 *  that returned "stop" from decodeHeaders still receives the body in decodeData (Envoy's
 *  StopIteration) and resumes the chain by returning "continue" from it or by calling
 *  continueDecoding(); "stopAndBuffer" from decodeHeaders buffers the body without delivering
 *  it. A stopped filter without decodeData holds (buffers) the body until it continues. The
 *  encode side mirrors this. */
export interface StreamFilter {
  decodeHeaders?(req: RequestHeaders, endStream: boolean): FilterStatus;
  decodeData?(data: Uint8Array, endStream: boolean): FilterStatus;
  decodeTrailers?(trailers: HeaderMap): FilterStatus;
  encodeHeaders?(resp: ResponseHeaders, endStream: boolean): FilterStatus;
  encodeData?(data: Uint8Array, endStream: boolean): FilterStatus;
  encodeTrailers?(trailers: HeaderMap): FilterStatus;
  /** The stream is over (completed or reset): release timers, connections, buffers. */
  onDestroy(): void;
}

/** The per-stream constructor a filter factory returns. */
export type StreamFilterFactory = (callbacks: StreamCallbacks) => StreamFilter;

/** What a filter factory may use when it is built (once per config version, per worker). */
export interface HttpFilterFactoryContext {
  readonly clusterManager: ThreadLocalClusterManager;
  readonly wheel: TimerWheel;
  readonly stats: StatsStore;
  /** The HCM's stat prefix with "http." in front and a trailing dot ("http.ingress."). */
  readonly statPrefix: string;
  // [router] optional until the HCM wires them
  /** The filter's name in http_filters (the key of its typed_per_filter_config entries);
   *  filters fall back to their extension name when absent. */
  readonly filterName?: string;
  /** True while the server fails health checks (admin /healthcheck/fail); default false. */
  readonly healthCheckFailed?: () => boolean;
  // [/router]
}

/** Runtime half of an HTTP filter extension: validated config model → per-stream constructor. */
export interface HttpFilterRuntimeExtension {
  readonly name: string;
  readonly typeUrls: readonly string[];
  createFilterFactory(config: unknown, ctx: HttpFilterFactoryContext): StreamFilterFactory;
}

const byTypeUrl = new Map<string, HttpFilterRuntimeExtension>();

/** Registers the runtime half of an HTTP filter (at module load, both sides). */
export function registerHttpFilterRuntime(ext: HttpFilterRuntimeExtension): void {
  for (const url of ext.typeUrls) byTypeUrl.set(url, ext);
}

/** Finds the runtime half of an HTTP filter by its typed_config @type URL. */
export function findHttpFilterRuntime(typeUrl: string): HttpFilterRuntimeExtension | undefined {
  return byTypeUrl.get(typeUrl);
}
