/**
 * Config of `envoy.filters.listener.http_inspector` (control side): the HttpInspector message has
 * no fields; registers the extension by `@type`.
 * https://www.envoyproxy.io/docs/envoy/latest/api-v3/extensions/filters/listener/http_inspector/v3/http_inspector.proto
 */
import { message, parseWith } from "../../../config/schema.ts";
import { type ConfigExtension, registerConfigExtension } from "../../../registry/registry.ts";

/** The HttpInspector `@type` URL. */
export const HTTP_INSPECTOR_TYPE_URL = "type.googleapis.com/envoy.extensions.filters.listener.http_inspector.v3.HttpInspector";

const httpInspectorSchema = message({});

/** Control side: the HttpInspector config extension (its model is an empty object). */
export const httpInspectorExtension: ConfigExtension<Record<string, never>> = {
  name: "envoy.filters.listener.http_inspector",
  typeUrls: [HTTP_INSPECTOR_TYPE_URL],
  category: "listener_filter",
  parseConfig(json, ctx) {
    return parseWith(ctx, httpInspectorSchema, json) ? {} : undefined;
  },
};

registerConfigExtension(httpInspectorExtension);
