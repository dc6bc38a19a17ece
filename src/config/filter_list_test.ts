import assert from "node:assert/strict";
import { test } from "../../tests/harness.ts";
import { ConfigError } from "../core/errors.ts";
import { loadBootstrap } from "./load.ts";

const HCM = {
  "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
  stat_prefix: "h",
  route_config: { virtual_hosts: [{ name: "v", domains: ["*"], routes: [{ match: { prefix: "/" }, direct_response: { status: 200 } }] }] },
};
const TCP = { "@type": "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy", stat_prefix: "t", cluster: "c" };

test("filter lists: a terminal network filter must be last in its chain (Envoy's rule)", () => {
  const cfg = {
    static_resources: {
      listeners: [{
        name: "l",
        address: { socket_address: { address: "127.0.0.1", port_value: 0 } },
        filter_chains: [{ filters: [{ name: "hcm", typed_config: HCM }, { name: "tcp", typed_config: TCP }] }],
      }],
    },
  };
  assert.throws(() => loadBootstrap({ text: JSON.stringify(cfg) }), (e: unknown) => {
    assert.ok(e instanceof ConfigError);
    assert.deepEqual(e.issues.map((i) => `${i.path}: ${i.message}`), [
      'static_resources.listeners[0].filter_chains[0].filters[0]: terminal filter named "hcm" of type envoy.filters.network.http_connection_manager must be the last filter in a network filter chain',
    ]);
    return true;
  });
  // The same filters in a valid order load.
  cfg.static_resources.listeners[0]!.filter_chains[0]!.filters = [{ name: "tcp", typed_config: TCP }];
  assert.equal(loadBootstrap({ text: JSON.stringify(cfg) }).listeners[0]!.filterChains[0]!.filters.length, 1);
});
