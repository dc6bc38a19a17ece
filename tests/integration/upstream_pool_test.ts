/**
 * Upstream connection pool settings and faults with real sockets: max_requests_per_connection,
 * idle timeout, DNS (localhost) discovery, and misbehaving upstreams that must not leak sockets.
 */
import assert from "node:assert/strict";
import { test, waitFor } from "../harness.ts";
import { simpleConfig, startProxy } from "../helpers/proxy.ts";
import { startRawServer, startUpstream } from "../helpers/upstream.ts";

type Json = Record<string, any>; // deno-lint-ignore no-explicit-any

function withCluster(cfg: Json, extra: Json): Json {
  Object.assign(cfg.static_resources.clusters[0], extra);
  return cfg;
}

test("pool: max_requests_per_connection closes a connection after N exchanges", async () => {
  await using up = await startUpstream();
  const cfg = withCluster(simpleConfig({ upstreamPorts: [up.port] }), {
    common_http_protocol_options: { max_requests_per_connection: 2 },
  });
  await using proxy = await startProxy(cfg);
  for (let i = 0; i < 4; i++) assert.equal((await fetch(proxy.url(`/r${i}`))).status, 200);
  assert.equal(up.connections, 2);
  assert.equal(proxy.stat("cluster.backend.upstream_cx_max_requests"), 2);
});

test("pool: idle keep-alive connections close after common_http_protocol_options.idle_timeout", async () => {
  await using up = await startUpstream();
  const cfg = withCluster(simpleConfig({ upstreamPorts: [up.port] }), { common_http_protocol_options: { idle_timeout: "0.2s" } });
  await using proxy = await startProxy(cfg);
  assert.equal(await (await fetch(proxy.url("/"))).text(), "upstream saw GET /");
  assert.equal(up.openConnections(), 1);
  await waitFor(() => up.openConnections() === 0, "the idle upstream connection closed", 3000);
  assert.equal(proxy.stat("cluster.backend.upstream_cx_idle_timeout"), 1);
  // Without idle_timeout (default 1 h) the connection stays.
  const cfg2 = simpleConfig({ upstreamPorts: [up.port] });
  await using proxy2 = await startProxy(cfg2);
  await (await fetch(proxy2.url("/"))).text();
  await new Promise((r) => setTimeout(r, 400));
  assert.equal(up.openConnections(), 1);
});

test("STRICT_DNS: localhost resolves to the upstream", async () => {
  await using up = await startUpstream();
  const cfg = simpleConfig({ upstreamPorts: [up.port] }) as Json;
  const c = cfg.static_resources.clusters[0];
  c.type = "STRICT_DNS";
  c.dns_lookup_family = "V4_ONLY";
  c.load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address.address = "localhost";
  await using proxy = await startProxy(cfg);
  await waitFor(() => proxy.stat("cluster.backend.membership_total") >= 1, "localhost resolved");
  assert.equal(await (await fetch(proxy.url("/dns"))).text(), "upstream saw GET /dns");
  assert.equal(proxy.stat("cluster.backend.update_success"), 1);
});

test("faults: upstreams that reset, hang or send garbage fail requests cleanly and leak no sockets", async () => {
  await using reset = await startRawServer((s) => s.once("data", () => s.destroy()));
  await using hang = await startRawServer(() => {});
  await using garbage = await startRawServer((s) => s.once("data", () => s.end("SPDY/9 what\r\n\r\n")));
  await using good = await startUpstream();
  const cfg = simpleConfig({ upstreamPorts: [reset.port, hang.port, garbage.port, good.port], timeout: "0.3s" });
  await using proxy = await startProxy(cfg);
  const seen = new Map<number, number>();
  for (let i = 0; i < 8; i++) {
    const r = await fetch(proxy.url(`/f${i}`));
    seen.set(r.status, (seen.get(r.status) ?? 0) + 1);
    await r.text();
  }
  // Round robin: 2 resets (503 UC), 2 hangs (504 UT), 2 garbage (502 UPE), 2 good.
  assert.deepEqual([...seen.entries()].sort(), [[200, 2], [502, 2], [503, 2], [504, 2]]);
  const tlc = proxy.server.inProcess!.tlcm.get("backend")!;
  await waitFor(() => tlc.connectionCount === 1, "only the good keep-alive connection stays", 3000);
  await waitFor(() => reset.openConnections() + hang.openConnections() + garbage.openConnections() === 0, "misbehaving upstream sockets closed", 3000);
  assert.equal(proxy.stat("cluster.backend.upstream_rq_active"), 0);
  assert.equal(proxy.stat("cluster.backend.upstream_cx_active"), 1);
});
