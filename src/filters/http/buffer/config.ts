/**
 * Config of `envoy.filters.http.buffer` (control side): `Buffer` (max_request_bytes, required)
 * and the per-route `BufferPerRoute` (`disabled: true`, or a `buffer` that replaces the filter's).
 * https://www.envoyproxy.io/docs/envoy/latest/configuration/http/http_filters/buffer_filter
 */
import * as v from "valibot";
import { bool, isMapping, message, parseWith, uint32 } from "../../../config/schema.ts";
import { type ConfigExtension, type ParseContext, registerConfigExtension } from "../../../registry/registry.ts";

/** The Buffer `@type` URL. */
export const BUFFER_TYPE_URL = "type.googleapis.com/envoy.extensions.filters.http.buffer.v3.Buffer";
/** The BufferPerRoute `@type` URL (typed_per_filter_config). */
export const BUFFER_PER_ROUTE_TYPE_URL = "type.googleapis.com/envoy.extensions.filters.http.buffer.v3.BufferPerRoute";

/** The buffer filter's frozen model (filter level, or a per-route override). */
export interface BufferModel {
  /** The per-route `disabled: true`; always false at filter level. */
  readonly disabled: boolean;
  /** max_request_bytes: the stream's buffer limit while the filter buffers (0: no limit, as an
   *  Envoy watermark buffer with a 0 high watermark). */
  readonly maxRequestBytes: number;
}

// max_request_bytes is a google.protobuf.UInt32Value with (validate.rules).message.required.
const bufferSchema = message({ max_request_bytes: uint32({ wrapper: true }) });

const perRouteSchema = message(
  { disabled: v.optional(bool()), buffer: v.optional(v.unknown()) },
  { oneofs: [{ members: ["disabled", "buffer"], supported: ["disabled", "buffer"], required: true }] },
);

function parseBuffer(json: unknown, ctx: ParseContext, path = ""): BufferModel | undefined {
  const m = parseWith(ctx, bufferSchema, json, path);
  if (!m) return undefined;
  return Object.freeze({ disabled: false, maxRequestBytes: m.max_request_bytes });
}

function parsePerRoute(json: unknown, ctx: ParseContext): BufferModel | undefined {
  const m = parseWith(ctx, perRouteSchema, json);
  if (!m) return undefined;
  if (m.disabled !== undefined) {
    // (validate.rules).bool.const = true
    if (!m.disabled) {
      ctx.issue("disabled", "must be true (omit BufferPerRoute to keep the filter's config)");
      return undefined;
    }
    return Object.freeze({ disabled: true, maxRequestBytes: 0 });
  }
  const raw = isMapping(json) ? json.buffer : undefined;
  return parseBuffer(raw, ctx, "buffer");
}

/** Control side: the buffer filter config extension. */
export const bufferExtension: ConfigExtension<BufferModel> = {
  name: "envoy.filters.http.buffer",
  typeUrls: [BUFFER_TYPE_URL],
  category: "http_filter",
  perRouteTypeUrls: [BUFFER_PER_ROUTE_TYPE_URL],
  parseConfig: (json, ctx) => parseBuffer(json, ctx),
  parsePerRouteConfig: (json, ctx) => parsePerRoute(json, ctx),
};

registerConfigExtension(bufferExtension);
