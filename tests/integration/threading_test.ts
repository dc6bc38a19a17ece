/**
 * The threading model with real sockets: data-plane Web Workers, stats summed across them,
 * snapshots reaching every worker without disturbing requests in flight, crash restart, and the
 * admin endpoints that read the whole process.
 */
import assert from "node:assert/strict";
import { writeFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import parsePrometheus from "parse-prometheus-text-format";
import { test, waitFor } from "../harness.ts";
import { simpleConfig, startProxy, WORKER_URL } from "../helpers/proxy.ts";
import { startUpstream } from "../helpers/upstream.ts";
import { loadBootstrap } from "../../src/config/load.ts";
import { loadRuntime } from "../../src/runtime/mod.ts";
import { startServer } from "../../src/server/server.ts";

async function burst(url: string, n: number, parallel: number): Promise<number> {
  let ok = 0, next = 0;
  await Promise.all(Array.from({ length: parallel }, async () => {
    while (next < n) {
      next++;
      // A new connection per request, so the kernel spreads them over the workers.
      const r = await fetch(url, { headers: { connection: "close" } });
      if (r.status === 200) ok++;
      await r.arrayBuffer();
    }
  }));
  return ok;
}

test("workers: counters from every worker add up to what the clients sent", async () => {
  await using up = await startUpstream();
  await using proxy = await startProxy(simpleConfig({ upstreamPorts: [up.port] }), { concurrency: 2 });
  const ok = await burst(proxy.url("/count"), 200, 8);
  assert.equal(ok, 200);
  await waitFor(() => proxy.stat("http.ingress.downstream_rq_completed") === 200, "every completion to be counted");
  assert.equal(proxy.stat("http.ingress.downstream_rq_total"), 200);
  assert.equal(proxy.stat("http.ingress.downstream_rq_2xx"), 200);
  assert.equal(proxy.stat("cluster.backend.upstream_rq_total"), 200);
  assert.equal(up.requests.length, 200);
  // Both workers accepted connections (SO_REUSEPORT spreads them; all 200 on one is ~2^-199).
  const perWorker = proxy.server.workers!.remoteStats().map((r) => {
    const d = r.descriptors.get("http.ingress.downstream_rq_total");
    return d ? r.slab.values[d.slot]! : 0;
  });
  assert.equal(perWorker.length, 2);
  assert.ok(perWorker.every((n) => n > 0), `requests per worker: ${perWorker}`);
  assert.equal(proxy.stat("server.concurrency"), 2);
}, { timeoutMs: 20000 });

test("workers: a config reload reaches every worker; a request in flight finishes on the old config", async () => {
  let release!: () => void;
  const held = new Promise<void>((r) => (release = r));
  await using a = await startUpstream((req, res) => {
    if (req.url === "/slow") void held.then(() => res.end("old route"));
    else res.end("a");
  });
  await using b = await startUpstream(() => ({ body: "new route" }));
  const dir = mkdtempSync(join(tmpdir(), "legate-reload-"));
  try {
    const cfg = (target: string) => {
      const c = simpleConfig({ upstreamPorts: [a.port] }) as { static_resources: { clusters: unknown[] } };
      const second = JSON.parse(JSON.stringify(c.static_resources.clusters[0]).replaceAll("backend", "second").replace(String(a.port), String(b.port)));
      c.static_resources.clusters.push(second);
      return JSON.stringify(c).replace('"cluster":"backend"', `"cluster":"${target}"`);
    };
    const path = join(dir, "legate.json");
    writeFileSync(path, cfg("backend"));
    const runtime = await loadRuntime();
    const text = cfg("backend");
    await using server = await startServer(runtime, loadBootstrap({ text }), {
      rawConfig: JSON.parse(text),
      concurrency: 2,
      workerUrl: WORKER_URL,
      configPath: path,
    });
    const url = (p: string) => `http://127.0.0.1:${server.listenerPort("ingress")}${p}`;
    const inflight = fetch(url("/slow"));
    await waitFor(() => a.requests.length === 1, "the slow request to reach upstream a");
    writeFileSync(path, cfg("second"));
    const admin = `http://127.0.0.1:${server.adminPort}`;
    const r = await fetch(`${admin}/reload`, { method: "POST" });
    assert.equal(await r.text(), "OK: config version 2\n");
    // New requests, on fresh connections to either worker, see the new route.
    for (let i = 0; i < 10; i++) {
      const res = await fetch(url("/after"), { headers: { connection: "close" } });
      assert.equal(await res.text(), "new route");
    }
    release();
    const old = await inflight;
    assert.equal(await old.text(), "old route");
    // A broken config is refused with its errors; version 2 keeps serving.
    writeFileSync(path, cfg("second").replace('"type":"STATIC"', '"type":"STATIC","bogus_field":1'));
    const bad = await fetch(`${admin}/reload`, { method: "POST" });
    assert.equal(bad.status, 400);
    assert.match(await bad.text(), /clusters\[0\]: unknown field "bogus_field"/);
    assert.equal(await (await fetch(url("/still"), { headers: { connection: "close" } })).text(), "new route");
    assert.equal(server.configVersion, 2);
    const dump = await (await fetch(`${admin}/config_dump?resource=static_clusters`)).json() as {
      configs: { version_info: string; last_updated: string; cluster: { name: string } }[];
    };
    assert.deepEqual(dump.configs.map((c) => [c.cluster.name, c.version_info]), [["backend", "2"], ["second", "2"]]);
    assert.ok(!Number.isNaN(Date.parse(dump.configs[0]!.last_updated)));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}, { timeoutMs: 20000 });

test("workers: a crashed worker is restarted and counted; the other keeps serving", async () => {
  await using up = await startUpstream();
  await using proxy = await startProxy(simpleConfig({ upstreamPorts: [up.port] }), { concurrency: 2 });
  assert.equal(await burst(proxy.url("/before"), 20, 4), 20);
  proxy.server.workers!.crashForTest(0);
  assert.equal(proxy.stat("server.worker_crashes"), 1);
  // Connections queued on the dead worker's socket die with it (its connections are lost, no
  // others'); new ones reach the live worker, so requests succeed again right away.
  await waitFor(async () => {
    try {
      return (await burst(proxy.url("/during"), 4, 2)) === 4;
    } catch {
      return false;
    }
  }, "requests to succeed");
  await waitFor(() => proxy.server.workers!.remoteStats()[0]!.descriptors.size > 0, "worker 0 to come back");
  assert.equal(await burst(proxy.url("/after"), 40, 4), 40);
  // Counters carried across the restart (the slab belongs to the main thread).
  assert.ok(proxy.stat("http.ingress.downstream_rq_2xx") >= 64);
}, { timeoutMs: 20000 });

test("admin: /stats/prometheus parses with a Prometheus parser; filters, usedonly, json, 405", async () => {
  await using up = await startUpstream();
  await using proxy = await startProxy(simpleConfig({ upstreamPorts: [up.port] }), { concurrency: 1 });
  await (await fetch(proxy.url("/p"))).text();
  const admin = `http://127.0.0.1:${proxy.adminPort}`;
  await waitFor(async () => (await (await fetch(`${admin}/stats?filter=downstream_rq_2xx`)).text()).includes(": 1"), "the request to be counted");
  const prom = await (await fetch(`${admin}/stats/prometheus`)).text();
  const families = parsePrometheus(prom) as { name: string; type: string; metrics: { value: string; labels?: Record<string, string> }[] }[];
  const rq = families.find((f) => f.name === "envoy_http_downstream_rq_xx");
  assert.equal(rq?.type, "COUNTER");
  const twoxx = rq!.metrics.find((m) => m.labels?.envoy_response_code_class === "2" && m.labels?.envoy_http_conn_manager_prefix === "ingress");
  assert.equal(twoxx?.value, "1");
  const cx = families.find((f) => f.name === "envoy_cluster_upstream_cx_total")!;
  assert.equal(cx.metrics.find((m) => m.labels?.envoy_cluster_name === "backend")?.value, "1");
  // Histograms recorded on the worker, merged on the main thread.
  const rqTime = families.find((f) => f.name === "envoy_http_downstream_rq_time");
  assert.equal(rqTime?.type, "HISTOGRAM");
  const upTime = families.find((f) => f.name === "envoy_cluster_upstream_rq_time");
  assert.equal(upTime?.type, "HISTOGRAM");
  const text = await (await fetch(`${admin}/stats?filter=downstream_rq_time`)).text();
  assert.match(text, /^http\.ingress\.downstream_rq_time: P0\(nan,[\d.]+\) P25/m);
  const jsonStats = await (await fetch(`${admin}/stats?format=json&filter=upstream_rq_time`)).json() as {
    stats: { histograms?: { computed_quantiles: { name: string; values: { cumulative: number | null }[] }[] } }[];
  };
  const hist = jsonStats.stats.find((x) => x.histograms)?.histograms?.computed_quantiles.find((q) => q.name === "cluster.backend.upstream_rq_time");
  assert.ok(hist && hist.values.every((v) => v.cumulative !== null), "quantiles computed from one sample");
  const filtered = await (await fetch(`${admin}/stats?filter=^cluster\\.backend\\.upstream_rq_total$`)).text();
  assert.equal(filtered, "cluster.backend.upstream_rq_total: 1\n");
  const json = await (await fetch(`${admin}/stats?format=json&usedonly`)).json() as { stats: { name: string; value: number }[] };
  assert.ok(json.stats.some((s) => s.name === "http.ingress.downstream_rq_total" && s.value === 1));
  assert.ok(!json.stats.some((s) => s.name === "cluster.backend.upstream_rq_timeout"), "usedonly hides unused stats");
  const get = await fetch(`${admin}/reset_counters`);
  assert.equal(get.status, 405);
  await get.text();
  assert.equal((await fetch(`${admin}/reset_counters`, { method: "POST" })).status, 200);
  assert.equal(proxy.stat("http.ingress.downstream_rq_total"), 0);
  const lvl = await fetch(`${admin}/logging?level=debug`, { method: "POST" });
  assert.match(await lvl.text(), /all: debug/);
  await (await fetch(`${admin}/logging?level=error`, { method: "POST" })).text();
}, { timeoutMs: 20000 });

test("workers: POST /healthcheck/fail reaches the workers' health_check filter, /healthcheck/ok restores it", async () => {
  await using up = await startUpstream();
  const cfg = simpleConfig({ upstreamPorts: [up.port] }) as {
    static_resources: { listeners: { filter_chains: { filters: { typed_config: { http_filters: unknown[] } }[] }[] }[] };
  };
  cfg.static_resources.listeners[0]!.filter_chains[0]!.filters[0]!.typed_config.http_filters.unshift({
    name: "envoy.filters.http.health_check",
    typed_config: {
      "@type": "type.googleapis.com/envoy.extensions.filters.http.health_check.v3.HealthCheck",
      pass_through_mode: false,
      headers: [{ name: ":path", string_match: { exact: "/healthz" } }],
    },
  });
  await using proxy = await startProxy(cfg, { concurrency: 1 });
  const admin = `http://127.0.0.1:${proxy.adminPort}`;
  const health = async () => {
    const r = await fetch(proxy.url("/healthz"), { headers: { connection: "close" } });
    await r.arrayBuffer();
    return r.status;
  };
  assert.equal(await health(), 200);
  await (await fetch(`${admin}/healthcheck/fail`, { method: "POST" })).text();
  await waitFor(async () => (await health()) === 503, "the worker to fail health checks");
  await (await fetch(`${admin}/healthcheck/ok`, { method: "POST" })).text();
  await waitFor(async () => (await health()) === 200, "the worker to pass health checks again");
  assert.equal(up.requests.length, 0, "health checks are answered by the proxy, not forwarded");
}, { timeoutMs: 20000 });
