/**
 * Active health checks and outlier detection through the proxy with real upstreams: traffic
 * follows host health; zero healthy hosts fall back per the panic threshold or answer 503 UH.
 */
import assert from "node:assert/strict";
import { test, waitFor } from "../harness.ts";
import { simpleConfig, startProxy } from "../helpers/proxy.ts";
import { startUpstream, type UpstreamHandler } from "../helpers/upstream.ts";

type Json = Record<string, any>; // deno-lint-ignore no-explicit-any

function withCluster(cfg: Json, extra: Json): Json {
  Object.assign(cfg.static_resources.clusters[0], extra);
  return cfg;
}

const HC = {
  timeout: "0.5s",
  interval: "0.05s",
  no_traffic_interval: "0.05s",
  unhealthy_threshold: 1,
  healthy_threshold: 1,
  http_health_check: { path: "/healthz" },
};

function named(name: string, healthy: () => boolean, status = () => 200): UpstreamHandler {
  return (req) => {
    if (req.url === "/healthz") return { status: healthy() ? 200 : 503, body: "" };
    return { status: status(), headers: { "content-length": String(name.length) }, body: name };
  };
}

test("health check: traffic goes only to hosts passing active health checks", async () => {
  let bHealthy = false;
  await using a = await startUpstream(named("a", () => true));
  await using b = await startUpstream(named("b", () => bHealthy));
  const cfg = withCluster(simpleConfig({ upstreamPorts: [a.port, b.port] }), { health_checks: [HC] });
  await using proxy = await startProxy(cfg);
  await waitFor(() => proxy.stat("cluster.backend.health_check.healthy") === 1, "one healthy host");
  assert.equal(proxy.stat("cluster.backend.membership_healthy"), 1);
  const bodies = new Set<string>();
  for (let i = 0; i < 10; i++) bodies.add(await (await fetch(proxy.url("/x"))).text());
  assert.deepEqual([...bodies], ["a"]);
  bHealthy = true;
  await waitFor(() => proxy.stat("cluster.backend.health_check.healthy") === 2, "both healthy");
  for (let i = 0; i < 10; i++) bodies.add(await (await fetch(proxy.url("/x"))).text());
  assert.deepEqual([...bodies].sort(), ["a", "b"]);
  const hcSeen = b.requests.find((r) => r.url === "/healthz")!;
  assert.equal(hcSeen.headers.host, "backend", "default Host is the cluster name");
  assert.equal(hcSeen.headers["user-agent"], "Envoy/HC");
});

test("health check: no healthy host → panic (all hosts) by default, 503 UH with threshold 0", async () => {
  await using a = await startUpstream(named("a", () => false));
  const panic = withCluster(simpleConfig({ upstreamPorts: [a.port] }), { health_checks: [HC] });
  {
    await using proxy = await startProxy(panic);
    await waitFor(() => proxy.stat("cluster.backend.health_check.failure") >= 1, "a failed check");
    const r = await fetch(proxy.url("/x"));
    assert.equal(r.status, 200, "panic mode routes to the unhealthy host");
    await r.text();
  }
  const strict = withCluster(simpleConfig({ upstreamPorts: [a.port] }), {
    health_checks: [HC],
    common_lb_config: { healthy_panic_threshold: { value: 0 } },
  });
  await using proxy = await startProxy(strict);
  await waitFor(() => proxy.stat("cluster.backend.health_check.failure") >= 1, "a failed check");
  const r = await fetch(proxy.url("/x"));
  assert.equal(r.status, 503);
  assert.equal(await r.text(), "no healthy upstream");
  assert.equal(proxy.stat("cluster.backend.upstream_cx_none_healthy"), 1);
});

test("outlier detection: consecutive 5xx ejects a host; traffic moves to the others", async () => {
  await using good = await startUpstream(named("good", () => true));
  await using bad = await startUpstream(named("bad", () => true, () => 500));
  const cfg = withCluster(simpleConfig({ upstreamPorts: [good.port, bad.port] }), {
    outlier_detection: { consecutive_5xx: 3, interval: "10s", base_ejection_time: "30s", max_ejection_percent: 50 },
  });
  await using proxy = await startProxy(cfg);
  let badSeen = 0;
  for (let i = 0; i < 10; i++) {
    const r = await fetch(proxy.url("/x"));
    if ((await r.text()) === "bad") badSeen++;
  }
  assert.equal(badSeen, 3, "ejected after exactly 3 consecutive 5xx (round robin alternates)");
  assert.equal(proxy.stat("cluster.backend.outlier_detection.ejections_active"), 1);
  assert.equal(proxy.stat("cluster.backend.outlier_detection.ejections_enforced_consecutive_5xx"), 1);
  assert.equal(proxy.stat("cluster.backend.membership_healthy"), 1);
});

test("outlier detection: connect failures (local origin) eject the dead host", async () => {
  await using good = await startUpstream(named("good", () => true));
  const dead = await startUpstream(named("dead", () => true));
  const deadPort = dead.port;
  await dead[Symbol.asyncDispose]();
  const cfg = withCluster(simpleConfig({ upstreamPorts: [good.port, deadPort] }), {
    outlier_detection: { consecutive_5xx: 2, max_ejection_percent: 50 },
  });
  await using proxy = await startProxy(cfg);
  const statuses: number[] = [];
  for (let i = 0; i < 8; i++) {
    const r = await fetch(proxy.url("/x"));
    statuses.push(r.status);
    await r.text();
  }
  assert.deepEqual(statuses.filter((s) => s === 503).length, 2, String(statuses));
  assert.deepEqual(statuses.slice(-4), [200, 200, 200, 200]);
  assert.equal(proxy.stat("cluster.backend.outlier_detection.ejections_active"), 1);
});
