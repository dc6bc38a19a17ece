import assert from "node:assert/strict";
import { test } from "../../tests/harness.ts";
import { ConfigError } from "../core/errors.ts";
import { loadBootstrap } from "./load.ts";

const TCP = "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy";
const TLS_INSPECTOR = "type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector";
const PROXY_PROTOCOL = "type.googleapis.com/envoy.extensions.filters.listener.proxy_protocol.v3.ProxyProtocol";
const HTTP_INSPECTOR = "type.googleapis.com/envoy.extensions.filters.listener.http_inspector.v3.HttpInspector";

function load(listener: Record<string, unknown>) {
  return loadBootstrap({
    text: JSON.stringify({
      static_resources: {
        listeners: [{
          address: { socket_address: { address: "127.0.0.1", port_value: 10000 } },
          filter_chains: [{ filters: [{ name: "tcp", typed_config: { "@type": TCP, stat_prefix: "t", cluster: "c" } }] }],
          ...listener,
        }],
      },
    }),
  });
}

function issues(listener: Record<string, unknown>): string[] {
  try {
    load(listener);
  } catch (e) {
    if (e instanceof ConfigError) return e.issues.map((i) => `${i.path}: ${i.message}`);
    throw e;
  }
  return [];
}

test("listener_filters: the three filters load (typed_config or name only), with timeout defaults", () => {
  const m = load({
    listener_filters: [
      { name: "envoy.filters.listener.proxy_protocol", typed_config: { "@type": PROXY_PROTOCOL, allow_requests_without_proxy_protocol: true, disallowed_versions: ["V1"], stat_prefix: "edge" } },
      { name: "tls", typed_config: { "@type": TLS_INSPECTOR } },
      { name: "envoy.filters.listener.http_inspector" },
    ],
  }).listeners[0]!;
  assert.deepEqual(m.listenerFilters!.map((f) => f.typeUrl), [PROXY_PROTOCOL, TLS_INSPECTOR, HTTP_INSPECTOR]);
  assert.deepEqual(m.listenerFilters![0]!.config, { allowRequestsWithoutProxyProtocol: true, allowV1: false, allowV2: true, statPrefix: "edge" });
  assert.equal(m.listenerFiltersTimeoutMs, 15000);
  assert.equal(m.continueOnListenerFiltersTimeout, false);
  const m2 = load({ listener_filters: [{ name: "t", typed_config: { "@type": TLS_INSPECTOR } }], listener_filters_timeout: "0s", continue_on_listener_filters_timeout: true }).listeners[0]!;
  assert.equal(m2.listenerFiltersTimeoutMs, 0);
  assert.equal(m2.continueOnListenerFiltersTimeout, true);
  // No listener filters: the model is as before.
  assert.equal(load({}).listeners[0]!.listenerFilters, undefined);
});

test("listener_filters: errors name the field path", () => {
  const at = "static_resources.listeners[0]";
  assert.deepEqual(issues({ listener_filters: [{ name: "x", typed_config: { "@type": TCP, stat_prefix: "t", cluster: "c" } }] }), [
    `${at}.listener_filters[0].typed_config.@type: "${TCP}" is a network filter, not a listener filter`,
  ]);
  assert.deepEqual(issues({ listener_filters: [{ name: "a", typed_config: { "@type": TLS_INSPECTOR } }, { name: "b", typed_config: { "@type": PROXY_PROTOCOL, rules: [{ tlv_type: 1, on_tlv_present: { key: "k" } }] } }] }), [
    `${at}.listener_filters[1].typed_config.rules: is not supported yet (TLVs to dynamic metadata)`,
  ]);
  assert.deepEqual(issues({ listener_filters: [{ name: "b", typed_config: { "@type": PROXY_PROTOCOL, disallowed_versions: ["V1", "V2"] } }] }), [
    `${at}.listener_filters[0].typed_config.disallowed_versions: must not disallow both V1 and V2`,
  ]);
  assert.deepEqual(issues({ listener_filters: [{ name: "a", typed_config: { "@type": TLS_INSPECTOR, enable_ja3_fingerprinting: true } }] }), [
    `${at}.listener_filters[0].typed_config.enable_ja3_fingerprinting: is not supported yet`,
  ]);
  assert.deepEqual(issues({ listener_filters: [{ name: "my.unknown.filter" }] }), [
    `${at}.listener_filters[0].typed_config: is required ("my.unknown.filter" is not a built-in listener filter name)`,
  ]);
  const many = issues({
    listener_filters: [{ name: "a", typed_config: { "@type": HTTP_INSPECTOR, bogus: 1 } }, { name: "b", filter_disabled: {}, typed_config: { "@type": TLS_INSPECTOR } }],
    listener_filters_timeout: "soon",
  });
  assert.ok(many.some((l) => l.startsWith(`${at}.listener_filters[0].typed_config`) && l.includes('unknown field "bogus"')), many.join("\n"));
  assert.ok(many.includes(`${at}.listener_filters[1].filter_disabled: is not supported yet`), many.join("\n"));
  assert.ok(many.some((l) => l.startsWith(`${at}.listener_filters_timeout:`)), many.join("\n"));
});
