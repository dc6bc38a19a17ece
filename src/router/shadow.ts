/**
 * Request mirroring (`request_mirror_policies`, worker side): a copy of the request goes to
 * another cluster, fire and forget. The copy's response is read and dropped, its failures are
 * ignored, and it is bounded by the route timeout. The Host gets Envoy's `-shadow` suffix.
 * https://www.envoyproxy.io/docs/envoy/latest/api-v3/config/route/v3/route_components.proto#config-route-v3-routeaction-requestmirrorpolicy
 */
import type { TimerTarget, TimerWheel } from "../core/timer_wheel.ts";
import { WheelTimer } from "../core/timer_wheel.ts";
import type { HeaderMap } from "../http/header_map.ts";
import { CRLF, encodeChunkHeader, encodeTrailers, LAST_CHUNK } from "../http/http1/encoder.ts";
import type { ResponseHead } from "../http/http1/parser.ts";
import type { UpstreamRequestHandle, UpstreamResetReason, UpstreamStreamHandler } from "../upstream/conn_pool/http1_pool.ts";

/** Envoy's shadow host: "-shadow" after the host name, before any port ("a:80" → "a-shadow:80"). */
export function shadowHost(authority: string): string {
  const i = authority.lastIndexOf(":");
  if (i > 0 && !authority.endsWith("]") && authority.indexOf(":") === i) return `${authority.slice(0, i)}-shadow${authority.slice(i)}`;
  if (authority.startsWith("[") && i > authority.indexOf("]")) return `${authority.slice(0, i)}-shadow${authority.slice(i)}`;
  return authority + "-shadow";
}

/** One mirrored request: streams the request as the original goes, drops the response. */
export class ShadowRequest implements UpstreamStreamHandler, TimerTarget {
  conn: UpstreamRequestHandle | null = null;
  #timer: WheelTimer | null = null;
  constructor(readonly wheel: TimerWheel, readonly chunked: boolean) {}

  /** Starts the timeout (the route's), once the request is complete. */
  arm(timeoutMs: number): void {
    if (timeoutMs <= 0 || this.conn === null) return;
    this.#timer ??= new WheelTimer(this, 1);
    this.wheel.arm(this.#timer, timeoutMs);
  }

  /** Request body bytes (framed like the original request). */
  data(data: Uint8Array, end: boolean): void {
    const c = this.conn;
    if (c === null) return;
    if (this.chunked) {
      if (data.length > 0) {
        c.write(encodeChunkHeader(data.length));
        c.write(data);
        c.write(CRLF);
      }
      if (end) c.write(LAST_CHUNK);
    } else if (data.length > 0) {
      c.write(data);
    }
    if (end) c.requestComplete();
  }

  trailers(t: HeaderMap): void {
    const c = this.conn;
    if (c === null) return;
    if (this.chunked) c.write(encodeTrailers(t));
    c.requestComplete();
  }

  /** The original stream was reset before the request ended: the copy cannot complete. */
  abort(): void {
    const c = this.conn;
    this.#done();
    c?.reset();
  }

  #done(): void {
    this.conn = null;
    if (this.#timer !== null) this.wheel.disarm(this.#timer);
  }

  onTimer(_kind: number): void {
    const c = this.conn;
    this.conn = null;
    c?.reset("timeout");
  }

  onResponseHead(_head: ResponseHead): void {}
  onResponseBody(_chunk: Uint8Array): void {}
  onResponseTrailers(_trailers: HeaderMap): void {}
  onResponseComplete(): void {
    this.#done();
  }
  onUpstreamReset(_reason: UpstreamResetReason, _detail: string): void {
    this.#done();
  }
  onUpstreamAboveWriteBufferHighWatermark(): void {}
  onUpstreamBelowWriteBufferLowWatermark(): void {}
}
