/**
 * Filter-chain match on a real listener: chains chosen by destination IP/port, source IP, source
 * type and (absent) SNI / transport protocol; default_filter_chain; no match closes the
 * connection and counts listener.<addr>.no_filter_chain_match.
 */
import assert from "node:assert/strict";
import * as net from "node:net";
import { test, waitFor } from "../harness.ts";
import { startProxy } from "../helpers/proxy.ts";
import { startRawServer } from "../helpers/upstream.ts";

type Json = Record<string, any>; // deno-lint-ignore no-explicit-any

const TCP_PROXY = "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy";

/** A chain proxying to cluster `to`, with `match` (none when undefined). */
function chain(to: string, match?: Json): Json {
  return {
    name: `to_${to}`,
    filters: [{ name: "envoy.filters.network.tcp_proxy", typed_config: { "@type": TCP_PROXY, stat_prefix: to, cluster: to } }],
    ...(match ? { filter_chain_match: match } : {}),
  };
}

function config(chains: Json[], ports: Record<string, number>, extra: Json = {}): Json {
  return {
    static_resources: {
      listeners: [{ name: "l", address: { socket_address: { address: "127.0.0.1", port_value: 0 } }, filter_chains: chains, ...extra }],
      clusters: Object.entries(ports).map(([name, port]) => ({
        name,
        type: "STATIC",
        connect_timeout: "1s",
        load_assignment: { cluster_name: name, endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: port } } } }] }] },
      })),
    },
  };
}

/** Connects (optionally from `localAddress`) and returns what arrives before the close. */
async function reply(port: number, localAddress?: string): Promise<string> {
  const s = net.connect({ host: "127.0.0.1", port, ...(localAddress ? { localAddress } : {}) });
  let got = "";
  let closed = false;
  s.on("data", (d) => (got += d.toString()));
  s.on("error", () => {});
  s.on("close", () => (closed = true));
  try {
    await waitFor(() => closed, "the connection to end", 5000);
  } finally {
    s.destroy();
  }
  return got;
}

/** Upstreams that greet with their name and close. */
async function tagged(...names: string[]) {
  const servers = await Promise.all(names.map((n) => startRawServer((s) => s.end(n))));
  const ports: Record<string, number> = {};
  names.forEach((n, i) => (ports[n] = servers[i]!.port));
  return {
    ports,
    [Symbol.asyncDispose]: async () => {
      for (const s of servers) await s[Symbol.asyncDispose]();
    },
  };
}

test("filter chain match: destination IP beats an unconstrained chain; destination port decides first", async () => {
  await using up = await tagged("A", "B", "C");
  await using proxy = await startProxy(config([
    chain("B"),
    chain("A", { prefix_ranges: [{ address_prefix: "127.0.0.1", prefix_len: 32 }] }),
  ], up.ports));
  assert.equal(await reply(proxy.port()), "A");

  await using proxy2 = await startProxy(config([
    chain("A", { prefix_ranges: [{ address_prefix: "127.0.0.1", prefix_len: 32 }] }),
    chain("C", { destination_port: 1 }),
  ], up.ports));
  assert.equal(await reply(proxy2.port()), "A");
});

test("filter chain match: longest source prefix wins (connections from 127.0.0.2 and 127.0.0.1)", async () => {
  await using up = await tagged("A", "B");
  await using proxy = await startProxy(config([
    chain("A", { source_prefix_ranges: [{ address_prefix: "127.0.0.2", prefix_len: 32 }] }),
    chain("B", { source_prefix_ranges: [{ address_prefix: "127.0.0.0", prefix_len: 8 }] }),
  ], up.ports));
  assert.equal(await reply(proxy.port(), "127.0.0.2"), "A");
  assert.equal(await reply(proxy.port(), "127.0.0.1"), "B");
});

test("filter chain match: plaintext has no SNI and transport raw_buffer; source type loopback", async () => {
  await using up = await tagged("A", "B", "C");
  await using proxy = await startProxy(config([
    chain("A", { server_names: ["example.com"] }),
    chain("B", { transport_protocol: "tls" }),
    chain("C", { transport_protocol: "raw_buffer" }),
  ], up.ports));
  assert.equal(await reply(proxy.port()), "C");
  await using proxy2 = await startProxy(config([
    chain("A", { source_type: "EXTERNAL" }),
    chain("B", { source_type: "SAME_IP_OR_LOOPBACK" }),
  ], up.ports));
  assert.equal(await reply(proxy2.port()), "B");
});

test("filter chain match: no match closes and counts; default_filter_chain catches it", async () => {
  await using up = await tagged("A", "D");
  const chains = [chain("A", { destination_port: 1 }), chain("A", { transport_protocol: "tls", destination_port: 2 })];
  chains[1]!.name = "tls_only";
  await using proxy = await startProxy(config(chains, up.ports));
  assert.equal(await reply(proxy.port()), "");
  assert.equal(await reply(proxy.port()), "");
  const stat = `listener.127.0.0.1_${proxy.port()}.no_filter_chain_match`;
  assert.equal(proxy.stat(stat), 2);
  assert.equal(proxy.stat(`listener.127.0.0.1_${proxy.port()}.downstream_cx_total`), 0);

  await using proxy2 = await startProxy(config(chains, up.ports, { default_filter_chain: chain("D") }));
  assert.equal(await reply(proxy2.port()), "D");
  assert.equal(proxy2.stat(`listener.127.0.0.1_${proxy2.port()}.no_filter_chain_match`), 0);
});
