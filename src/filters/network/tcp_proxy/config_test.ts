/**
 * tcp_proxy and filter_chain_match config: defaults, the model, and errors with their paths.
 */
import assert from "node:assert/strict";
import { test } from "../../../../tests/harness.ts";
import { ConfigError } from "../../../core/errors.ts";
import { loadBootstrap } from "../../../config/load.ts";
import type { BootstrapModel } from "../../../config/model.ts";
import type { TcpProxyModel } from "./config.ts";

const TCP = "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy";
type Json = Record<string, any>; // deno-lint-ignore no-explicit-any

function bootstrap(chains: Json[], listener: Json = {}): Json {
  return {
    static_resources: {
      listeners: [{ name: "l", address: { socket_address: { address: "127.0.0.1", port_value: 10000 } }, filter_chains: chains, ...listener }],
      clusters: [{ name: "c", load_assignment: { cluster_name: "c", endpoints: [] } }],
    },
  };
}

function chain(tcp: Json, extra: Json = {}): Json {
  return { filters: [{ name: "envoy.filters.network.tcp_proxy", typed_config: { "@type": TCP, stat_prefix: "s", cluster: "c", ...tcp } }], ...extra };
}

function load(b: Json): BootstrapModel | string[] {
  try {
    return loadBootstrap({ text: JSON.stringify(b), sourceName: "x.json" });
  } catch (e) {
    if (e instanceof ConfigError) return e.message.split("\n");
    throw e;
  }
}

const L = "static_resources.listeners[0]";

test("tcp_proxy config: defaults and fields", () => {
  const b = load(bootstrap([chain({ idle_timeout: "2s", max_connect_attempts: 3 })])) as BootstrapModel;
  const t = b.listeners[0]!.filterChains[0]!.filters[0]!.config as TcpProxyModel;
  assert.deepEqual(t, { statPrefix: "s", cluster: "c", weightedClusters: [], idleTimeoutMs: 2000, maxConnectAttempts: 3, accessLog: [] });
  const d = load(bootstrap([chain({})])) as BootstrapModel;
  const td = d.listeners[0]!.filterChains[0]!.filters[0]!.config as TcpProxyModel;
  assert.equal(td.idleTimeoutMs, 3_600_000);
  assert.equal(td.maxConnectAttempts, 1);
  const w = load(bootstrap([chain({ cluster: undefined, weighted_clusters: { clusters: [{ name: "c", weight: 2 }, { name: "d", weight: 1 }] } })])) as BootstrapModel;
  assert.deepEqual((w.listeners[0]!.filterChains[0]!.filters[0]!.config as TcpProxyModel).weightedClusters, [{ name: "c", weight: 2 }, { name: "d", weight: 1 }]);
});

test("tcp_proxy config: errors name their paths", () => {
  const tc = `${L}.filter_chains[0].filters[0].typed_config`;
  assert.deepEqual(load(bootstrap([chain({ cluster: undefined })])), [`${tc}: one of cluster, weighted_clusters is required`]);
  assert.deepEqual(load(bootstrap([chain({ weighted_clusters: { clusters: [{ name: "c", weight: 1 }] } })])), [`${tc}: only one of cluster, weighted_clusters may be set`]);
  assert.deepEqual(load(bootstrap([chain({ max_connect_attempts: 0 })])), [`${tc}.max_connect_attempts: must be at least 1, got 0`]);
  assert.deepEqual(load(bootstrap([chain({ hash_policy: [] })])), [`${tc}.hash_policy: is not supported yet`]);
  assert.deepEqual(load(bootstrap([chain({ stat_prefix: "" })])), [`${tc}.stat_prefix: must not be empty`]);
});

test("filter_chain_match config: the model, default chain, and Envoy's errors", () => {
  const ok = load(bootstrap([
    chain({}, { name: "a", filter_chain_match: { destination_port: 443, prefix_ranges: [{ address_prefix: "10.1.2.3", prefix_len: 16 }], server_names: ["*.Example.com"], source_type: "EXTERNAL", source_ports: [1, 2] } }),
    chain({}, { name: "b" }),
  ], { default_filter_chain: chain({}, { name: "dflt" }) })) as BootstrapModel;
  const l = ok.listeners[0]!;
  assert.deepEqual(l.filterChains[0]!.match, {
    destinationPort: 443,
    prefixRanges: [{ addressPrefix: "10.1.0.0", prefixLen: 16 }],
    serverNames: ["*.example.com"],
    transportProtocol: "",
    applicationProtocols: [],
    directSourcePrefixRanges: [],
    sourceType: "EXTERNAL",
    sourcePrefixRanges: [],
    sourcePorts: [1, 2],
  });
  assert.equal(l.filterChains[1]!.match, undefined);
  assert.equal(l.defaultFilterChain?.name, "dflt");
  // Only a default chain is enough.
  assert.equal((load(bootstrap([], { default_filter_chain: chain({}) })) as BootstrapModel).listeners[0]!.filterChains.length, 0);

  const fc = `${L}.filter_chains`;
  assert.deepEqual(load(bootstrap([chain({}, { name: "x", filter_chain_match: { server_names: ["a.com"] } }), chain({}, { name: "y", filter_chain_match: { server_names: ["b.com", "a.com"] } })])), [
    `${fc}[1]: multiple filter chains with the same matching rules are defined: "y" has the same matching rules as "x"`,
  ]);
  assert.deepEqual(load(bootstrap([chain({}, { filter_chain_match: { server_names: ["www.*.com"] } })])), [
    `${fc}[0].filter_chain_match.server_names[0]: partial wildcards are not supported in "server_names": "www.*.com"`,
  ]);
  assert.deepEqual(load(bootstrap([chain({}, { filter_chain_match: { prefix_ranges: [{ address_prefix: "10.0.0.0", prefix_len: 40 }], source_ports: [0], destination_port: 70000 } })])), [
    `${fc}[0].filter_chain_match.destination_port: must be between 1 and 65535, got 70000`,
    `${fc}[0].filter_chain_match.source_ports[0]: must be between 1 and 65535, got 0`,
  ]);
  assert.deepEqual(load(bootstrap([chain({}, { filter_chain_match: { prefix_ranges: [{ address_prefix: "10.0.0.0", prefix_len: 40 }] } })])), [
    `${fc}[0].filter_chain_match.prefix_ranges[0].prefix_len: prefix_len must be at most 32 for "10.0.0.0", got 40`,
  ]);
  assert.equal((load(bootstrap([chain({}, { filter_chain_match: { source_type: "LOCAL" } })])) as string[]).length, 1);
  assert.deepEqual(load(bootstrap([])), [`${fc}: no filter chains specified`]);
});
