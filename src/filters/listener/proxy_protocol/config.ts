/**
 * Config of `envoy.filters.listener.proxy_protocol` (control side): validates the ProxyProtocol
 * typed_config and registers the extension by `@type`.
 * https://www.envoyproxy.io/docs/envoy/latest/api-v3/extensions/filters/listener/proxy_protocol/v3/proxy_protocol.proto
 */
import * as v from "valibot";
import { bool, enumOf, list, message, parseWith, str } from "../../../config/schema.ts";
import { type ConfigExtension, registerConfigExtension } from "../../../registry/registry.ts";

/** The ProxyProtocol `@type` URL. */
export const PROXY_PROTOCOL_TYPE_URL = "type.googleapis.com/envoy.extensions.filters.listener.proxy_protocol.v3.ProxyProtocol";

/** envoy.extensions.filters.listener.proxy_protocol.v3.ProxyProtocol after validation. */
export interface ProxyProtocolModel {
  readonly allowRequestsWithoutProxyProtocol: boolean;
  readonly allowV1: boolean;
  readonly allowV2: boolean;
  /** Stats under `proxy_proto.<statPrefix>.` ("" = `proxy_proto.`). */
  readonly statPrefix: string;
}

const proxyProtocolSchema = message(
  {
    rules: v.optional(list, []),
    allow_requests_without_proxy_protocol: v.optional(bool(), false),
    disallowed_versions: v.optional(v.array(enumOf(["V1", "V2"] as const)), []),
    stat_prefix: v.optional(str(), ""),
  },
  { unsupported: ["pass_through_tlvs", "tlv_location"] },
);

/** Control side: the ProxyProtocol config extension. */
export const proxyProtocolExtension: ConfigExtension<ProxyProtocolModel> = {
  name: "envoy.filters.listener.proxy_protocol",
  typeUrls: [PROXY_PROTOCOL_TYPE_URL],
  category: "listener_filter",
  parseConfig(json, ctx) {
    const p = parseWith(ctx, proxyProtocolSchema, json);
    if (!p) return undefined;
    let ok = true;
    // TLVs would become dynamic metadata, which connections do not carry yet.
    if (p.rules.length > 0) (ok = false), ctx.issue("rules", "is not supported yet (TLVs to dynamic metadata)");
    const allowV1 = !p.disallowed_versions.includes("V1");
    const allowV2 = !p.disallowed_versions.includes("V2");
    if (!allowV1 && !allowV2) (ok = false), ctx.issue("disallowed_versions", "must not disallow both V1 and V2");
    return ok ? { allowRequestsWithoutProxyProtocol: p.allow_requests_without_proxy_protocol, allowV1, allowV2, statPrefix: p.stat_prefix } : undefined;
  },
};

registerConfigExtension(proxyProtocolExtension);
