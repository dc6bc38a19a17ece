/**
 * Config of `envoy.filters.listener.tls_inspector` (control side): validates the TlsInspector
 * typed_config and registers the extension by `@type`.
 * https://www.envoyproxy.io/docs/envoy/latest/api-v3/extensions/filters/listener/tls_inspector/v3/tls_inspector.proto
 */
import * as v from "valibot";
import { bool, message, parseWith, uint32 } from "../../../config/schema.ts";
import { type ConfigExtension, registerConfigExtension } from "../../../registry/registry.ts";

/** The TlsInspector `@type` URL. */
export const TLS_INSPECTOR_TYPE_URL = "type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector";

/** envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector after validation. */
export interface TlsInspectorModel {
  /** `initial_read_buffer_size` (accepted for compatibility: Legate reads what arrives). */
  readonly initialReadBufferSize: number;
}

const tlsInspectorSchema = message(
  {
    enable_ja3_fingerprinting: v.optional(bool({ wrapper: true }), false),
    enable_ja4_fingerprinting: v.optional(bool({ wrapper: true }), false),
    // Envoy: greater than 255, less than 65537.
    initial_read_buffer_size: v.optional(uint32({ min: 256, max: 65536, wrapper: true }), 65536),
  },
);

/** Control side: the TlsInspector config extension. */
export const tlsInspectorExtension: ConfigExtension<TlsInspectorModel> = {
  name: "envoy.filters.listener.tls_inspector",
  typeUrls: [TLS_INSPECTOR_TYPE_URL],
  category: "listener_filter",
  parseConfig(json, ctx) {
    const t = parseWith(ctx, tlsInspectorSchema, json);
    if (!t) return undefined;
    let ok = true;
    // Fingerprints would go to filter state, which Legate does not have yet.
    if (t.enable_ja3_fingerprinting) (ok = false), ctx.issue("enable_ja3_fingerprinting", "is not supported yet");
    if (t.enable_ja4_fingerprinting) (ok = false), ctx.issue("enable_ja4_fingerprinting", "is not supported yet");
    return ok ? { initialReadBufferSize: t.initial_read_buffer_size } : undefined;
  },
};

registerConfigExtension(tlsInspectorExtension);
