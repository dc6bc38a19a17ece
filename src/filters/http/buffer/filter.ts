/**
 * `envoy.filters.http.buffer` (worker side): holds the request headers until the whole body has
 * arrived (the HCM buffers it, up to max_request_bytes: beyond that it answers 413), then passes
 * headers, body and trailers on at once, with a content-length when the request had none (a
 * chunked request reaches the upstream with a known length), as Envoy's buffer filter does.
 * https://www.envoyproxy.io/docs/envoy/latest/configuration/http/http_filters/buffer_filter
 */
import {
  type FilterStatus,
  registerHttpFilterRuntime,
  type RequestHeaders,
  type StreamCallbacks,
  type StreamFilter,
} from "../../../http/filter.ts";
import { perRouteConfig } from "../../../router/route_table.ts";
import { BUFFER_TYPE_URL, type BufferModel } from "./config.ts";

const NAME = "envoy.filters.http.buffer";

/** Per-factory state: the filter-level config and the name its per-route configs go by. */
interface BufferShared {
  readonly base: BufferModel;
  readonly name: string;
}

class BufferFilter implements StreamFilter {
  /** The request being buffered (null: header-only request, or disabled for the route). */
  #req: RequestHeaders | null = null;
  #length = 0;
  constructor(readonly cb: StreamCallbacks, readonly shared: BufferShared) {}

  decodeHeaders(req: RequestHeaders, endStream: boolean): FilterStatus {
    // A header-only request has nothing to buffer.
    if (endStream) return "continue";
    let m = this.shared.base;
    const pr = perRouteConfig(this.cb, this.shared.name);
    if (pr !== undefined) {
      if (pr.disabled) return "continue";
      if (pr.config !== undefined) m = pr.config as BufferModel;
      if (m.disabled) return "continue";
    }
    this.cb.setDecoderBufferLimit(m.maxRequestBytes);
    this.#req = req;
    // StopIteration: the body still comes to decodeData, which buffers it.
    return "stop";
  }

  decodeData(data: Uint8Array, endStream: boolean): FilterStatus {
    if (this.#req === null) return "continue";
    this.#length += data.length;
    if (!endStream) return "stopAndBuffer";
    this.#addContentLength();
    return "continue";
  }

  decodeTrailers(): FilterStatus {
    this.#addContentLength();
    return "continue";
  }

  /** Envoy's maybeAddContentLength: only when the request had none (e.g. it was chunked). */
  #addContentLength(): void {
    const req = this.#req;
    if (req === null) return;
    this.#req = null;
    if (!req.headers.has("content-length")) req.headers.set("content-length", String(this.#length));
  }

  onDestroy(): void {
    this.#req = null;
  }
}

registerHttpFilterRuntime({
  name: NAME,
  typeUrls: [BUFFER_TYPE_URL],
  createFilterFactory(config, ctx) {
    const shared: BufferShared = { base: config as BufferModel, name: ctx.filterName ?? NAME };
    return (cb) => new BufferFilter(cb, shared);
  },
});
