/**
 * `envoy.filters.listener.http_inspector` (worker side): tells HTTP/1.0, HTTP/1.1 and the HTTP/2
 * prior-knowledge preface apart from the first bytes of a plaintext connection and offers the
 * result as the application protocol ("http/1.0", "http/1.1", "h2c") for filter-chain match.
 * Skipped when another filter already found a transport other than raw_buffer (TLS); anything
 * that is not HTTP is counted (http_not_found) and goes on unchanged.
 * https://www.envoyproxy.io/docs/envoy/latest/configuration/listeners/listener_filters/http_inspector
 */
import type { Counter, StatsStore } from "../../../core/stats.ts";
import {
  type ListenerFilter,
  type ListenerFilterSocket,
  type ListenerFilterStatus,
  registerListenerFilterRuntime,
} from "../../../listener/listener_filter.ts";
import { HTTP_INSPECTOR_TYPE_URL } from "./config.ts";

/** How much of a request line the inspector reads before it gives up (not HTTP). */
export const MAX_INSPECT_BYTES = 8 * 1024;

/** RFC 9113 §3.4: the client connection preface. */
const H2_PREFACE = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

export type HttpDetection = "need_more" | "none" | "http/1.0" | "http/1.1" | "h2c";

/** RFC 9110 §5.6.2 tchar. */
const TCHAR = new Uint8Array(128);
for (const c of "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") TCHAR[c.charCodeAt(0)] = 1;

/** Worker side: what the first bytes of a connection say (RFC 9112 §3 request-line). */
export function detectHttp(b: Uint8Array, max = MAX_INSPECT_BYTES): HttpDetection {
  const n = b.length;
  if (n === 0) return "need_more";
  // The HTTP/2 preface first: as an HTTP/1 request line it would read "PRI * HTTP/2.0".
  let i = 0;
  while (i < n && i < H2_PREFACE.length && b[i] === H2_PREFACE.charCodeAt(i)) i++;
  if (i === H2_PREFACE.length) return "h2c";
  if (i === n) return "need_more";
  // method SP
  i = 0;
  while (i < n && b[i]! < 128 && TCHAR[b[i]!] === 1) i++;
  if (i === n) return n >= max ? "none" : "need_more";
  if (i === 0 || b[i] !== 0x20) return "none";
  // request-target SP
  const t = ++i;
  while (i < n && b[i]! > 0x20 && b[i]! < 0x7f) i++;
  if (i === n) return n >= max ? "none" : "need_more";
  if (i === t || b[i] !== 0x20) return "none";
  i++;
  // HTTP-version CRLF
  const version = "HTTP/1.x\r\n";
  let minor = -1;
  for (let k = 0; k < version.length; k++, i++) {
    if (i === n) return "need_more";
    const c = b[i]!;
    if (k === 7) {
      if (c !== 0x30 && c !== 0x31) return "none";
      minor = c - 0x30;
    } else if (c !== version.charCodeAt(k)) return "none";
  }
  return minor === 0 ? "http/1.0" : "http/1.1";
}

/** `http_inspector.*` stats (Envoy's names). */
export interface HttpInspectorStats {
  readonly http10Found: Counter;
  readonly http11Found: Counter;
  readonly http2Found: Counter;
  readonly httpNotFound: Counter;
}

const HTTP10 = ["http/1.0"] as const;
const HTTP11 = ["http/1.1"] as const;
const H2C = ["h2c"] as const;

/** The filter; stateless, so one instance serves every connection of a listener config. */
export class HttpInspectorFilter implements ListenerFilter {
  readonly maxReadBytes = MAX_INSPECT_BYTES;
  constructor(readonly stats: HttpInspectorStats) {}

  onData(data: Uint8Array, sock: ListenerFilterSocket): ListenerFilterStatus {
    // Envoy: only plaintext connections are inspected.
    if (sock.transportProtocol !== "" && sock.transportProtocol !== "raw_buffer") return "continue";
    switch (detectHttp(data, this.maxReadBytes)) {
      case "need_more":
        return "need_more_data";
      case "none":
        this.stats.httpNotFound.inc();
        return "continue";
      case "http/1.0":
        this.stats.http10Found.inc();
        sock.applicationProtocols = HTTP10;
        return "continue";
      case "http/1.1":
        this.stats.http11Found.inc();
        sock.applicationProtocols = HTTP11;
        return "continue";
      case "h2c":
        this.stats.http2Found.inc();
        sock.applicationProtocols = H2C;
        return "continue";
    }
  }
}

registerListenerFilterRuntime({
  name: "envoy.filters.listener.http_inspector",
  typeUrls: [HTTP_INSPECTOR_TYPE_URL],
  createFilterFactory(_config, ctx) {
    const s: StatsStore = ctx.stats;
    const filter = new HttpInspectorFilter({
      http10Found: s.counter("http_inspector.http10_found"),
      http11Found: s.counter("http_inspector.http11_found"),
      http2Found: s.counter("http_inspector.http2_found"),
      httpNotFound: s.counter("http_inspector.http_not_found"),
    });
    return () => filter;
  },
});
