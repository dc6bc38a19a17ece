import assert from "node:assert/strict";
import { test } from "../../tests/harness.ts";
import { parseCluster } from "../config/cluster.ts";
import type { ClusterModel } from "../config/model.ts";
import { FakeClock } from "../core/clock.ts";
import { StatsStore } from "../core/stats.ts";
import { createParseContext } from "../config/context.ts";
import type { ConfigIssue } from "../core/errors.ts";
import { createMemoryRuntime, type MemoryRuntime } from "../runtime/memory/runtime.ts";
import type { TcpSocket } from "../runtime/types.ts";
import { clustersJson, clustersText } from "./admin_clusters.ts";
import { ClusterManager } from "./cluster_manager.ts";
import { HealthFlag } from "./host.ts";
import { seededRandom } from "./load_balancer/prng.ts";
import { ThreadLocalClusterManager } from "./thread_local_cluster.ts";

function model(raw: Record<string, unknown>): ClusterModel {
  const issues: ConfigIssue[] = [];
  const m = parseCluster({ name: "c", connect_timeout: "1s", ...raw }, createParseContext({ issues }));
  assert.deepEqual(issues.map((i) => `${i.path}: ${i.message}`), []);
  return m!;
}

function endpoints(...addrs: [string, number][]) {
  return {
    cluster_name: "c",
    endpoints: [{ lb_endpoints: addrs.map(([a, p]) => ({ endpoint: { address: { socket_address: { address: a, port_value: p } } } })) }],
  };
}

/** Flushes microtasks and memory-runtime socket ticks. */
async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((r) => setTimeout(r, 0));
}

/** An HTTP/1.1 server on the memory runtime answering every request with `status()`. */
async function memoryHttp(rt: MemoryRuntime, host: string, port: number, status: () => number | "hang" | "garbage") {
  const seen: string[] = [];
  const l = await rt.listen({ host, port }, (s: TcpSocket) => {
    s.events = {
      onOpen() {},
      onData(chunk) {
        const text = new TextDecoder().decode(chunk);
        seen.push(text);
        const st = status();
        if (st === "hang") return;
        if (st === "garbage") s.write(new TextEncoder().encode("NOT HTTP\r\n\r\n"));
        else s.write(new TextEncoder().encode(`HTTP/1.1 ${st} X\r\ncontent-length: 0\r\n\r\n`));
      },
      onDrain() {},
      onEnd() {
        s.end();
      },
      onClose() {},
    };
  });
  return { seen, close: () => l.close() };
}

function hc(over: Record<string, unknown> = {}) {
  return {
    timeout: "1s",
    interval: "5s",
    no_traffic_interval: "5s",
    unhealthy_threshold: 2,
    healthy_threshold: 2,
    http_health_check: { path: "/healthz", host: "hc.example", request_headers_to_add: [{ header: { key: "x-hc", value: "1" } }] },
    ...over,
  };
}

test("cluster manager: STATIC snapshot is plain data (structured-clonable) with Envoy defaults", () => {
  const cm = new ClusterManager(new StatsStore());
  cm.addStaticClusters([model({ load_assignment: endpoints(["10.0.0.1", 80], ["10.0.0.2", 81]) })]);
  const snap = cm.snapshot();
  const clone = structuredClone(snap);
  assert.deepEqual(clone[0]!.hosts.map((h) => [h.key, h.healthFlags, h.weight]), [["10.0.0.1:80", 0, 1], ["10.0.0.2:81", 0, 1]]);
  assert.equal(clone[0]!.settings.circuitBreakers.default.maxConnections, 1024);
  assert.equal(clone[0]!.initialized, true);
  assert.match(clustersText(cm), /^c::default_priority::max_retries::3$/m);
  assert.match(clustersText(cm), /^c::10\.0\.0\.2:81::health_flags::healthy$/m);
  cm.close();
});

test("health check: HTTP checks mark hosts healthy/unhealthy with thresholds; warming until the first round", async () => {
  const rt = createMemoryRuntime();
  const clock = new FakeClock();
  const store = new StatsStore();
  let bStatus = 503;
  const a = await memoryHttp(rt, "10.0.0.1", 80, () => 200);
  const b = await memoryHttp(rt, "10.0.0.2", 80, () => bStatus);
  const cm = new ClusterManager(store, { runtime: rt, clock, random: seededRandom(1) });
  cm.addStaticClusters([model({ load_assignment: endpoints(["10.0.0.1", 80], ["10.0.0.2", 80]), health_checks: [hc()] })]);
  // Before any answer: warming, hosts pending and failed.
  assert.equal(cm.snapshot()[0]!.initialized, false);
  assert.equal(cm.snapshot()[0]!.hosts[0]!.healthFlags, HealthFlag.FailedActiveHc | HealthFlag.PendingActiveHc);
  let warmed = false;
  void cm.initialized().then(() => (warmed = true));
  await settle();
  assert.equal(warmed, true);
  const flags = () => cm.snapshot()[0]!.hosts.map((h) => h.healthFlags);
  // First result decides at once: a healthy, b failed.
  assert.deepEqual(flags(), [0, HealthFlag.FailedActiveHc]);
  assert.match(a.seen[0]!, /^GET \/healthz HTTP\/1\.1\r\n/);
  assert.match(a.seen[0]!, /\r\nhost: hc\.example\r\n/);
  assert.match(a.seen[0]!, /\r\nx-hc: 1\r\n/);
  const stat = (n: string) => store.entries().find((e) => e.name === `cluster.c.health_check.${n}`)?.value;
  assert.equal(stat("attempt"), 2);
  assert.equal(stat("success"), 1);
  assert.equal(stat("failure"), 1);
  assert.equal(stat("healthy"), 1);
  // b recovers: needs healthy_threshold (2) successes.
  bStatus = 200;
  clock.advance(5000);
  await settle();
  assert.deepEqual(flags(), [0, HealthFlag.FailedActiveHc]);
  clock.advance(5000);
  await settle();
  assert.deepEqual(flags(), [0, 0]);
  // Flapping: one failure is not enough (unhealthy_threshold 2); two are.
  bStatus = 500;
  clock.advance(5000);
  await settle();
  assert.deepEqual(flags(), [0, 0]);
  clock.advance(5000);
  await settle();
  assert.deepEqual(flags(), [0, HealthFlag.FailedActiveHc]);
  assert.match(clustersText(cm), /^c::10\.0\.0\.2:80::health_flags::\/failed_active_hc$/m);
  const json = clustersJson(cm) as { cluster_statuses: { host_statuses: { health_status: Record<string, unknown> }[] }[] };
  assert.equal(json.cluster_statuses[0]!.host_statuses[1]!.health_status.failed_active_health_check, true);
  cm.close();
  await settle();
  assert.equal(clock.pending, 0, "no timers left after close");
  await a.close();
  await b.close();
  assert.equal(rt.openSockets(), 0, "no health-check socket left open");
});

test("health check: timeouts and garbage are failures; expected_statuses widen success", async () => {
  const rt = createMemoryRuntime();
  const clock = new FakeClock();
  const store = new StatsStore();
  const a = await memoryHttp(rt, "10.0.0.1", 80, () => "hang");
  const b = await memoryHttp(rt, "10.0.0.2", 80, () => "garbage");
  const c = await memoryHttp(rt, "10.0.0.3", 80, () => 204);
  const cm = new ClusterManager(store, { runtime: rt, clock, random: seededRandom(1) });
  cm.addStaticClusters([model({
    load_assignment: endpoints(["10.0.0.1", 80], ["10.0.0.2", 80], ["10.0.0.3", 80]),
    health_checks: [hc({ http_health_check: { path: "/h", expected_statuses: [{ start: 200, end: 300 }] } })],
  })]);
  await settle();
  clock.advance(1000); // the hanging check times out
  await settle();
  const flags = cm.snapshot()[0]!.hosts.map((h) => h.healthFlags);
  assert.deepEqual(flags, [HealthFlag.FailedActiveHc, HealthFlag.FailedActiveHc, 0]);
  assert.equal(store.entries().find((e) => e.name === "cluster.c.health_check.network_failure")?.value, 1);
  cm.close();
  await settle();
  for (const s of [a, b, c]) await s.close();
  assert.equal(rt.openSockets(), 0);
});

test("health check: TCP send/receive payloads", async () => {
  const rt = createMemoryRuntime();
  const clock = new FakeClock();
  const l = await rt.listen({ host: "10.0.0.1", port: 7 }, (s) => {
    s.events = { onOpen() {}, onData: (d) => s.write(new TextEncoder().encode(new TextDecoder().decode(d) === "PING" ? "xxPONGyy" : "NO")), onDrain() {}, onEnd: () => s.end(), onClose() {} };
  });
  const cm = new ClusterManager(new StatsStore(), { runtime: rt, clock, random: seededRandom(1) });
  const tcp = (recv: string) => ({ timeout: "1s", interval: "5s", unhealthy_threshold: 1, healthy_threshold: 1, tcp_health_check: { send: { text: "50494E47" }, receive: [{ text: recv }] } });
  cm.addStaticClusters([
    model({ name: "ok", load_assignment: { ...endpoints(["10.0.0.1", 7]), cluster_name: "ok" }, health_checks: [tcp("504F4E47")] }),
    model({ name: "bad", load_assignment: { ...endpoints(["10.0.0.1", 7]), cluster_name: "bad" }, health_checks: [tcp("5A5A")] }),
  ]);
  await settle();
  clock.advance(1000);
  await settle();
  const [ok, bad] = cm.snapshot();
  assert.equal(ok!.hosts[0]!.healthFlags, 0);
  assert.equal(bad!.hosts[0]!.healthFlags, HealthFlag.FailedActiveHc);
  cm.close();
  await settle();
  await l.close();
  assert.equal(rt.openSockets(), 0);
});

test("STRICT_DNS: resolves every name, re-resolves at dns_refresh_rate, keeps hosts on failure", async () => {
  const rt = createMemoryRuntime();
  rt.dns.set("api.internal", [{ address: "10.1.0.1" }, { address: "10.1.0.2" }]);
  const clock = new FakeClock();
  const store = new StatsStore();
  const cm = new ClusterManager(store, { runtime: rt, clock });
  cm.addStaticClusters([model({ type: "STRICT_DNS", dns_refresh_rate: "10s", dns_lookup_family: "V4_ONLY", load_assignment: endpoints(["api.internal", 8080]) })]);
  assert.equal(cm.snapshot()[0]!.initialized, false, "warming until the first answer");
  await settle();
  const keys = () => cm.snapshot()[0]!.hosts.map((h) => h.key);
  assert.deepEqual(keys(), ["10.1.0.1:8080", "10.1.0.2:8080"]);
  assert.equal(cm.snapshot()[0]!.hosts[0]!.hostname, "api.internal");
  assert.equal(cm.snapshot()[0]!.initialized, true);
  rt.dns.set("api.internal", [{ address: "10.1.0.3" }]);
  clock.advance(9999);
  await settle();
  assert.deepEqual(keys(), ["10.1.0.1:8080", "10.1.0.2:8080"]);
  clock.advance(1);
  await settle();
  assert.deepEqual(keys(), ["10.1.0.3:8080"]);
  rt.dns.set("api.internal", "ENOTFOUND");
  clock.advance(10_000);
  await settle();
  assert.deepEqual(keys(), ["10.1.0.3:8080"], "last good hosts kept on failure");
  const stat = (n: string) => store.entries().find((e) => e.name === `cluster.c.${n}`)?.value;
  assert.equal(stat("update_attempt"), 3);
  assert.equal(stat("update_failure"), 1);
  cm.close();
  assert.equal(clock.pending, 0);
});

test("STRICT_DNS: an unresolvable name keeps the cluster with no hosts and retries", async () => {
  const rt = createMemoryRuntime();
  const clock = new FakeClock();
  const cm = new ClusterManager(new StatsStore(), { runtime: rt, clock });
  cm.addStaticClusters([model({ type: "STRICT_DNS", dns_refresh_rate: "5s", dns_failure_refresh_rate: { base_interval: "1s" }, load_assignment: endpoints(["nowhere.invalid", 80]) })]);
  await settle();
  assert.deepEqual(cm.snapshot()[0]!.hosts, []);
  assert.equal(cm.snapshot()[0]!.initialized, true, "a failed first resolution ends warming");
  const before = rt.resolveCount;
  rt.dns.set("nowhere.invalid", [{ address: "10.9.9.9" }]);
  clock.advance(1000); // dns_failure_refresh_rate
  await settle();
  assert.ok(rt.resolveCount > before);
  assert.deepEqual(cm.snapshot()[0]!.hosts.map((h) => h.key), ["10.9.9.9:80"]);
  cm.close();
});

test("LOGICAL_DNS: one host keyed by name, first address; respect_dns_ttl sets the refresh", async () => {
  const rt = createMemoryRuntime();
  rt.dns.set("db.internal", [{ address: "10.2.0.1", ttlSeconds: 30 }, { address: "10.2.0.2", ttlSeconds: 30 }]);
  const clock = new FakeClock();
  const cm = new ClusterManager(new StatsStore(), { runtime: rt, clock });
  cm.addStaticClusters([model({ type: "LOGICAL_DNS", respect_dns_ttl: true, dns_refresh_rate: "5s", load_assignment: endpoints(["db.internal", 5432]) })]);
  await settle();
  const h = () => cm.snapshot()[0]!.hosts;
  assert.deepEqual(h().map((x) => [x.key, x.address]), [["db.internal:5432", "10.2.0.1"]]);
  rt.dns.set("db.internal", [{ address: "10.2.0.9", ttlSeconds: 30 }]);
  clock.advance(5000);
  await settle();
  assert.equal(h()[0]!.address, "10.2.0.1", "TTL 30 s, not dns_refresh_rate 5 s");
  clock.advance(25_000);
  await settle();
  assert.equal(h()[0]!.address, "10.2.0.9");
  cm.close();
});

test("dns_lookup_family: AUTO prefers v6 then falls back to v4; V6_ONLY fails on v4-only names", async () => {
  const rt = createMemoryRuntime();
  rt.dns.set("dual", [{ address: "10.3.0.1" }, { address: "fd00::1" }]);
  rt.dns.set("v4only", [{ address: "10.3.0.2" }]);
  const clock = new FakeClock();
  const cm = new ClusterManager(new StatsStore(), { runtime: rt, clock });
  const mk = (name: string, host: string, fam: string) =>
    model({ name, type: "STRICT_DNS", dns_lookup_family: fam, load_assignment: { ...endpoints([host, 80]), cluster_name: name } });
  cm.addStaticClusters([mk("auto", "dual", "AUTO"), mk("fallback", "v4only", "AUTO"), mk("v6", "v4only", "V6_ONLY"), mk("pref", "dual", "V4_PREFERRED")]);
  await settle();
  const keys = (n: string) => cm.get(n)!.snapshot().hosts.map((h) => h.key);
  assert.deepEqual(keys("auto"), ["[fd00::1]:80"]);
  assert.deepEqual(keys("fallback"), ["10.3.0.2:80"]);
  assert.deepEqual(keys("v6"), []);
  assert.deepEqual(keys("pref"), ["10.3.0.1:80"]);
  cm.close();
});

test("worker side: update keeps pools of unchanged hosts, follows health and DNS changes", async () => {
  const rt = createMemoryRuntime();
  rt.dns.set("svc", [{ address: "10.4.0.1" }, { address: "10.4.0.2" }]);
  const clock = new FakeClock();
  const store = new StatsStore();
  const cm = new ClusterManager(store, { runtime: rt, clock });
  cm.addStaticClusters([model({ type: "STRICT_DNS", dns_refresh_rate: "1s", load_assignment: endpoints(["svc", 80]) })]);
  await settle();
  const tlcm = new ThreadLocalClusterManager(rt, { stats: new StatsStore(), sink: cm, seed: 1 });
  cm.onUpdate(() => tlcm.update(structuredClone(cm.snapshot())));
  tlcm.update(structuredClone(cm.snapshot()));
  const tlc = tlcm.get("c")!;
  const h1 = tlc.hosts.find((h) => h.address === "10.4.0.1")!;
  const pool1 = tlc.httpPool(h1);
  rt.dns.set("svc", [{ address: "10.4.0.1" }, { address: "10.4.0.3" }]);
  clock.advance(1000);
  await settle();
  const tlc2 = tlcm.get("c")!;
  assert.equal(tlc2, tlc, "same settings: same thread-local cluster");
  assert.deepEqual(tlc2.hosts.map((h) => h.address).sort(), ["10.4.0.1", "10.4.0.3"]);
  const h1b = tlc2.hosts.find((h) => h.address === "10.4.0.1")!;
  assert.equal(tlc2.httpPool(h1b), pool1, "the pool of a host that stayed is kept");
  cm.close();
  tlcm.closeAll();
});

test("outlier + health check: a successful active check unejects an ejected host", async () => {
  const rt = createMemoryRuntime();
  const clock = new FakeClock();
  const a = await memoryHttp(rt, "10.0.0.1", 80, () => 200);
  const b = await memoryHttp(rt, "10.0.0.2", 80, () => 200);
  const cm = new ClusterManager(new StatsStore(), { runtime: rt, clock, random: seededRandom(1) });
  cm.addStaticClusters([model({
    load_assignment: endpoints(["10.0.0.1", 80], ["10.0.0.2", 80]),
    health_checks: [hc()],
    outlier_detection: { consecutive_5xx: 2, max_ejection_percent: 50 },
  })]);
  await settle();
  cm.onHostResult("c", "10.0.0.1:80", "5xx");
  cm.onHostResult("c", "10.0.0.1:80", "gateway");
  const flags = () => cm.snapshot()[0]!.hosts.map((h) => h.healthFlags);
  assert.deepEqual(flags(), [HealthFlag.FailedOutlierCheck, 0]);
  clock.advance(5000); // next health check round succeeds
  await settle();
  assert.deepEqual(flags(), [0, 0]);
  cm.close();
  await settle();
  await a.close();
  await b.close();
});

test("endpoint update (EDS): replaces hosts, keeps health state of hosts that stay", async () => {
  const rt = createMemoryRuntime();
  const clock = new FakeClock();
  const a = await memoryHttp(rt, "10.0.0.1", 80, () => 200);
  const cm = new ClusterManager(new StatsStore(), { runtime: rt, clock, random: seededRandom(1) });
  cm.addStaticClusters([model({ load_assignment: endpoints(["10.0.0.1", 80]), health_checks: [hc({ initial_jitter: "1s" })] })]);
  await settle();
  assert.equal(cm.snapshot()[0]!.hosts[0]!.healthFlags & HealthFlag.PendingActiveHc, HealthFlag.PendingActiveHc, "initial_jitter delays the first check");
  clock.advance(1000);
  await settle();
  assert.equal(cm.snapshot()[0]!.hosts[0]!.healthFlags, 0);
  let updates = 0;
  cm.onUpdate(() => updates++);
  const m = model({ load_assignment: endpoints(["10.0.0.1", 80], ["10.0.0.5", 80]) });
  assert.equal(cm.updateEndpoints("c", m.endpoints), true);
  assert.equal(cm.updateEndpoints("nope", m.endpoints), false);
  await settle();
  assert.ok(updates >= 1);
  const hosts = cm.snapshot()[0]!.hosts;
  assert.deepEqual(hosts.map((h) => [h.key, h.healthFlags]), [
    ["10.0.0.1:80", 0],
    ["10.0.0.5:80", HealthFlag.FailedActiveHc | HealthFlag.PendingActiveHc],
  ]);
  cm.close();
  await settle();
  await a.close();
});
