/**
 * Cluster features on the threaded data plane (concurrency 2): health checks steer traffic and
 * the circuit breakers stay cluster-wide.
 */
import assert from "node:assert/strict";
import type * as http from "node:http";
import { test, waitFor } from "../harness.ts";
import { simpleConfig, startProxy } from "../helpers/proxy.ts";
import { startUpstream } from "../helpers/upstream.ts";

type Json = Record<string, any>; // deno-lint-ignore no-explicit-any

test("workers: health-checked hosts steer traffic on every worker", async () => {
  await using good = await startUpstream((req) => req.url === "/healthz" ? { status: 200 } : { headers: { "content-length": "4" }, body: "good" });
  await using bad = await startUpstream((req) => req.url === "/healthz" ? { status: 503 } : { headers: { "content-length": "3" }, body: "bad" });
  const cfg = simpleConfig({ upstreamPorts: [good.port, bad.port] }) as Json;
  cfg.static_resources.clusters[0].health_checks = [{
    timeout: "0.5s", interval: "0.05s", no_traffic_interval: "0.05s", unhealthy_threshold: 1, healthy_threshold: 1,
    http_health_check: { path: "/healthz" },
  }];
  await using proxy = await startProxy(cfg, { concurrency: 2 });
  await waitFor(() => bad.requests.filter((r) => r.url === "/healthz").length >= 2 && good.requests.some((r) => r.url === "/healthz"), "health checks ran");
  await new Promise((r) => setTimeout(r, 100));
  const bodies = new Set<string>();
  for (let i = 0; i < 20; i++) bodies.add(await (await fetch(proxy.url("/x"), { headers: { connection: "close" } })).text());
  assert.deepEqual([...bodies], ["good"]);
}, { timeoutMs: 20_000 });

test("workers: max_requests is enforced cluster-wide", async (t) => {
  const held: http.ServerResponse[] = [];
  await using up = await startUpstream((_req, res) => void held.push(res));
  t.defer(() => {
    for (const r of held.splice(0)) r.end("late");
  });
  const cfg = simpleConfig({ upstreamPorts: [up.port] }) as Json;
  cfg.static_resources.clusters[0].circuit_breakers = { thresholds: [{ max_requests: 1 }] };
  await using proxy = await startProxy(cfg, { concurrency: 2 });
  const first = fetch(proxy.url("/1"), { headers: { connection: "close" } });
  await waitFor(() => held.length === 1, "first held");
  const statuses: number[] = [];
  for (let i = 0; i < 6; i++) {
    const r = await fetch(proxy.url(`/n${i}`), { headers: { connection: "close" }, signal: AbortSignal.timeout(2000) }).catch(() => ({ status: 0, text: async () => "" }));
    statuses.push(r.status);
    await r.text();
  }
  assert.deepEqual(statuses, [503, 503, 503, 503, 503, 503], "every worker sees the one request in flight");
  for (const r of held.splice(0)) r.end("ok");
  assert.equal((await first).status, 200);
}, {
  timeoutMs: 20_000,
  // The main thread publishes ClusterManager.snapshot(), whose `resources` buffer is shared by
  // every worker: circuit breaker counts are cluster-wide, not per worker.
});
