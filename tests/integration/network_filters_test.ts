/**
 * Network filters in front of tcp_proxy and the HCM, with real sockets: envoy.filters.network.rbac
 * (allow, deny, shadow rules, first-byte enforcement), envoy.filters.network.local_ratelimit and
 * envoy.filters.network.connection_limit (delay, release on close), the last two also across
 * data-plane workers (one budget per process, as in Envoy).
 */
import assert from "node:assert/strict";
import * as net from "node:net";
import { test, waitFor } from "../harness.ts";
import { HCM_TYPE, ROUTER_TYPE, startProxy, type TestProxy } from "../helpers/proxy.ts";
import { rawConnect } from "../helpers/raw_client.ts";
import { startRawServer, startUpstream } from "../helpers/upstream.ts";

type Json = Record<string, any>; // deno-lint-ignore no-explicit-any

const TCP_PROXY = "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy";
const RBAC = "type.googleapis.com/envoy.extensions.filters.network.rbac.v3.RBAC";
const LOCAL_RL = "type.googleapis.com/envoy.extensions.filters.network.local_ratelimit.v3.LocalRateLimit";
const CONN_LIMIT = "type.googleapis.com/envoy.extensions.filters.network.connection_limit.v3.ConnectionLimit";

const rbac = (cfg: Json): Json => ({ name: "envoy.filters.network.rbac", typed_config: { "@type": RBAC, stat_prefix: "tcp.", ...cfg } });
const localRl = (cfg: Json): Json => ({ name: "envoy.filters.network.local_ratelimit", typed_config: { "@type": LOCAL_RL, stat_prefix: "lrl", ...cfg } });
const connLimit = (cfg: Json): Json => ({ name: "envoy.filters.network.connection_limit", typed_config: { "@type": CONN_LIMIT, stat_prefix: "cl", ...cfg } });
const tcpProxy: Json = { name: "envoy.filters.network.tcp_proxy", typed_config: { "@type": TCP_PROXY, stat_prefix: "tp", cluster: "b" } };

/** One listener: `filters` then tcp_proxy (or `terminal`) to cluster "b" at `port`. */
function config(port: number, filters: Json[], terminal: Json = tcpProxy): Json {
  return {
    static_resources: {
      listeners: [{ name: "l", address: { socket_address: { address: "127.0.0.1", port_value: 0 } }, filter_chains: [{ filters: [...filters, terminal] }] }],
      clusters: [{
        name: "b",
        type: "STATIC",
        connect_timeout: "1s",
        load_assignment: { cluster_name: "b", endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: port } } } }] }] },
      }],
    },
  };
}

const echo = (s: net.Socket) => s.on("data", (d) => s.write(d));

/** Sends `msg` on a new connection: "echo" when it came back, "closed" when the proxy closed the
 *  connection first. The socket is left open on "echo" (returned for the caller to close). */
async function attempt(port: number, msg = "ping"): Promise<{ outcome: "echo" | "closed"; socket: net.Socket }> {
  const s = net.connect({ host: "127.0.0.1", port });
  let got = "";
  let closed = false;
  s.on("data", (d) => (got += d.toString()));
  s.on("error", () => {});
  s.on("close", () => (closed = true));
  s.on("connect", () => s.write(msg));
  const outcome = await waitFor(() => (got === msg ? "echo" : closed ? "closed" : undefined), "an echo or a close", 5000);
  return { outcome: outcome!, socket: s };
}

async function closeAll(sockets: net.Socket[]): Promise<void> {
  for (const s of sockets) s.destroy();
}

test("network rbac: an ALLOW policy matching the peer and port lets bytes through", async () => {
  await using up = await startRawServer(echo);
  await using proxy = await startProxy(config(up.port, [rbac({
    rules: { action: "ALLOW", policies: { local: { permissions: [{ destination_port_range: { start: 1, end: 65536 } }], principals: [{ remote_ip: { address_prefix: "127.0.0.0", prefix_len: 8 } }] } } },
  })]));
  await using c = await rawConnect(proxy.port());
  c.write("hello");
  await c.waitFor((t) => t === "hello", "the echo");
  c.write(" again");
  await c.waitFor((t) => t === "hello again", "the second echo");
  assert.equal(proxy.stat("tcp.rbac.allowed"), 1, "checked once per connection (ONE_TIME_ON_FIRST_BYTE)");
  assert.equal(proxy.stat("tcp.rbac.denied"), 0);
});

test("network rbac: a DENY policy matching the peer closes the connection; nothing reaches the upstream", async () => {
  const seen: string[] = [];
  await using up = await startRawServer((s) => s.on("data", (d) => seen.push(d.toString())));
  await using proxy = await startProxy(config(up.port, [rbac({
    rules: { action: "DENY", policies: { loopback: { permissions: [{ any: true }], principals: [{ direct_remote_ip: { address_prefix: "127.0.0.1", prefix_len: 32 } }] } } },
    shadow_rules: { action: "ALLOW", policies: { none: { permissions: [{ destination_port: 1 }], principals: [{ any: true }] } } },
    shadow_rules_stat_prefix: "sh_",
  })]));
  const r = await attempt(proxy.port(), "secret");
  assert.equal(r.outcome, "closed");
  r.socket.destroy();
  assert.equal(proxy.stat("tcp.rbac.denied"), 1);
  assert.equal(proxy.stat("tcp.rbac.allowed"), 0);
  assert.equal(proxy.stat("tcp.rbac.sh_shadow_denied"), 1, "shadow rules are counted, not enforced");
  assert.equal(proxy.stat("tcp.rbac.sh_shadow_allowed"), 0);
  await new Promise((r) => setTimeout(r, 50));
  assert.deepEqual(seen, [], "the denied bytes were never forwarded");
});

test("network rbac: shadow rules alone never close; an ALLOW on SNI refuses a client without SNI", async () => {
  await using up = await startRawServer(echo);
  {
    await using proxy = await startProxy(config(up.port, [rbac({
      shadow_rules: { action: "DENY", policies: { all: { permissions: [{ any: true }], principals: [{ any: true }] } } },
    })]));
    const r = await attempt(proxy.port());
    assert.equal(r.outcome, "echo");
    r.socket.destroy();
    assert.equal(proxy.stat("tcp.rbac.shadow_denied"), 1);
    assert.equal(proxy.stat("tcp.rbac.allowed"), 0, "no enforced rules: nothing counted");
  }
  {
    await using proxy = await startProxy(config(up.port, [rbac({
      rules: { policies: { sni: { permissions: [{ requested_server_name: { suffix: ".example.com" } }], principals: [{ any: true }] } } },
    })]));
    const r = await attempt(proxy.port());
    assert.equal(r.outcome, "closed");
    r.socket.destroy();
    assert.equal(proxy.stat("tcp.rbac.denied"), 1);
  }
});

test("network rbac: in front of the HTTP connection manager", async () => {
  await using up = await startUpstream();
  const hcm = {
    name: "envoy.filters.network.http_connection_manager",
    typed_config: {
      "@type": HCM_TYPE,
      stat_prefix: "ingress",
      route_config: { virtual_hosts: [{ name: "all", domains: ["*"], routes: [{ match: { prefix: "/" }, route: { cluster: "b" } }] }] },
      http_filters: [{ name: "envoy.filters.http.router", typed_config: { "@type": ROUTER_TYPE } }],
    },
  };
  const allowPort = (port: number) => rbac({ rules: { policies: { p: { permissions: [{ destination_port: port }], principals: [{ any: true }] } } } });
  {
    // Allowed: any port but 1 (the listener's port is only known once it is bound).
    await using proxy = await startProxy(config(up.port, [rbac({ rules: { policies: { p: { permissions: [{ not_rule: { destination_port: 1 } }], principals: [{ any: true }] } } } })], hcm));
    const res = await fetch(proxy.url("/x"));
    assert.equal(res.status, 200);
    await res.arrayBuffer();
    assert.equal(proxy.stat("tcp.rbac.allowed"), 1);
  }
  {
    await using proxy = await startProxy(config(up.port, [allowPort(1)], hcm));
    await using c = await rawConnect(proxy.port());
    c.write("GET / HTTP/1.1\r\nhost: x\r\n\r\n");
    await c.waitClosed();
    assert.equal(c.received(), "", "closed without an HTTP response");
    assert.equal(proxy.stat("tcp.rbac.denied"), 1);
    assert.equal(up.requests.length, 1, "only the allowed request reached the upstream");
  }
});

test("network local_ratelimit: a connection without a token is closed at once and counted", async () => {
  await using up = await startRawServer(echo);
  await using proxy = await startProxy(config(up.port, [localRl({ token_bucket: { max_tokens: 2, tokens_per_fill: 1, fill_interval: "60s" } })]));
  const a = await attempt(proxy.port());
  const b = await attempt(proxy.port());
  const c = await attempt(proxy.port());
  await closeAll([a.socket, b.socket, c.socket]);
  assert.deepEqual([a.outcome, b.outcome, c.outcome], ["echo", "echo", "closed"]);
  assert.equal(proxy.stat("local_ratelimit.lrl.rate_limited"), 1);
  assert.equal(up.accepted, 2, "the limited connection never reached the upstream");
  assert.equal(proxy.stat("tcp.tp.downstream_cx_total"), 2);
});

test("network local_ratelimit: tokens come back after fill_interval", async () => {
  await using up = await startRawServer(echo);
  await using proxy = await startProxy(config(up.port, [localRl({ token_bucket: { max_tokens: 1, fill_interval: "0.2s" } })]));
  const a = await attempt(proxy.port());
  a.socket.destroy();
  assert.equal(a.outcome, "echo");
  // Within the same 200ms period the bucket is empty (the period may just have turned: retry).
  await waitFor(async () => {
    const r = await attempt(proxy.port());
    r.socket.destroy();
    return r.outcome === "closed";
  }, "a refused connection", 3000);
  assert.ok(proxy.stat("local_ratelimit.lrl.rate_limited") >= 1);
  await waitFor(async () => {
    const r = await attempt(proxy.port());
    r.socket.destroy();
    return r.outcome === "echo";
  }, "a token after the refill", 3000);
});

/** Connections per worker so far (listener downstream_cx_total in each worker's slab). */
function perWorker(proxy: TestProxy, name: string): number[] {
  return proxy.server.workers!.remoteStats().map((r) => {
    const d = r.descriptors.get(name);
    return d ? r.slab.values[d.slot]! : 0;
  });
}

test("network local_ratelimit: one bucket for all workers", async () => {
  await using up = await startRawServer(echo);
  await using proxy = await startProxy(config(up.port, [localRl({ token_bucket: { max_tokens: 3, fill_interval: "3600s" } })]), { concurrency: 2 });
  const results = [];
  for (let i = 0; i < 16; i++) results.push(await attempt(proxy.port()));
  await closeAll(results.map((r) => r.socket));
  assert.equal(results.filter((r) => r.outcome === "echo").length, 3, "three tokens in the whole process");
  await waitFor(() => proxy.stat("local_ratelimit.lrl.rate_limited") === 13, "13 refusals counted");
  const cx = perWorker(proxy, `listener.127.0.0.1_${proxy.port()}.downstream_cx_total`);
  assert.ok(cx.length === 2 && cx.every((n) => n > 0), `both workers took connections: ${cx}`);
}, { timeoutMs: 20000 });

test("network connection_limit: over the limit is closed; a closed connection frees its slot", async () => {
  await using up = await startRawServer(echo);
  await using proxy = await startProxy(config(up.port, [connLimit({ max_connections: 2 })]));
  const a = await attempt(proxy.port());
  const b = await attempt(proxy.port());
  assert.deepEqual([a.outcome, b.outcome], ["echo", "echo"]);
  assert.equal(proxy.stat("connection_limit.cl.active_connections"), 2);
  const c = await attempt(proxy.port());
  c.socket.destroy();
  assert.equal(c.outcome, "closed");
  assert.equal(proxy.stat("connection_limit.cl.limited_connections"), 1);
  a.socket.destroy();
  await waitFor(() => proxy.stat("connection_limit.cl.active_connections") === 1, "the slot to be released");
  const d = await attempt(proxy.port());
  assert.equal(d.outcome, "echo");
  await closeAll([b.socket, d.socket]);
  await waitFor(() => proxy.stat("connection_limit.cl.active_connections") === 0, "every slot released");
  assert.equal(up.accepted, 3);
});

test("network connection_limit: delay holds a refused connection before closing it", async () => {
  await using up = await startRawServer(echo);
  await using proxy = await startProxy(config(up.port, [connLimit({ max_connections: 1, delay: "0.3s" })]));
  const a = await attempt(proxy.port());
  assert.equal(a.outcome, "echo");
  const t0 = performance.now();
  const b = await attempt(proxy.port());
  const held = performance.now() - t0;
  await closeAll([a.socket, b.socket]);
  assert.equal(b.outcome, "closed");
  assert.ok(held >= 250, `held ${held.toFixed(0)}ms before closing (delay 300ms)`);
  assert.equal(proxy.stat("connection_limit.cl.limited_connections"), 1);
  assert.equal(up.accepted, 1);
});

test("network connection_limit: one count for all workers", async () => {
  await using up = await startRawServer(echo);
  await using proxy = await startProxy(config(up.port, [connLimit({ max_connections: 2 })]), { concurrency: 2 });
  const results = [];
  for (let i = 0; i < 16; i++) results.push(await attempt(proxy.port()));
  const admitted = results.filter((r) => r.outcome === "echo");
  assert.equal(admitted.length, 2, "two connections in the whole process");
  await waitFor(() => proxy.stat("connection_limit.cl.limited_connections") === 14, "14 refusals counted");
  await waitFor(() => proxy.stat("connection_limit.cl.active_connections") === 2, "two active");
  const cx = perWorker(proxy, `listener.127.0.0.1_${proxy.port()}.downstream_cx_total`);
  assert.ok(cx.length === 2 && cx.every((n) => n > 0), `both workers took connections: ${cx}`);
  await closeAll(results.map((r) => r.socket));
  await waitFor(() => proxy.stat("connection_limit.cl.active_connections") === 0, "every slot released");
}, { timeoutMs: 20000 });

test("network filters: several before tcp_proxy run in order", async () => {
  await using up = await startRawServer(echo);
  await using proxy = await startProxy(config(up.port, [
    rbac({ rules: { action: "DENY", policies: { none: { permissions: [{ destination_port: 1 }], principals: [{ any: true }] } } } }),
    localRl({ token_bucket: { max_tokens: 5, fill_interval: "60s" } }),
    connLimit({ max_connections: 1 }),
  ]));
  const a = await attempt(proxy.port());
  const b = await attempt(proxy.port());
  await closeAll([a.socket, b.socket]);
  assert.deepEqual([a.outcome, b.outcome], ["echo", "closed"]);
  assert.equal(proxy.stat("connection_limit.cl.limited_connections"), 1);
  assert.equal(proxy.stat("local_ratelimit.lrl.rate_limited"), 0);
  assert.equal(proxy.stat("tcp.rbac.allowed"), 1, "the refused connection was closed before RBAC saw a byte");
});
