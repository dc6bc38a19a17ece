/**
 * Per-pick cost of each load balancer (part of `make bench`): 10 hosts, each policy picks
 * N times (with a hash key for the hash-based ones); prints ns per pick and the ratio to round
 * robin. A proxied request costs ~8–10 µs here, so a few ns per pick is the budget.
 * Run: node_modules/.bin/bun bench/lb_bench.ts
 */
import { clusterModelDefaults } from "../src/config/cluster.ts";
import type { LbPolicy } from "../src/config/model.ts";
import { Host } from "../src/upstream/host.ts";
import { createLoadBalancer } from "../src/upstream/load_balancer/load_balancer.ts";
import { seededRandom } from "../src/upstream/load_balancer/prng.ts";

const N = 2_000_000;
const hosts = Array.from({ length: 10 }, (_, i) =>
  Host.fromSnapshot({
    key: `10.0.0.${i}:80`,
    address: `10.0.0.${i}`,
    port: 80,
    weight: 1,
    priority: 0,
    locality: { region: "", zone: "", subZone: "" },
    localityWeight: 0,
    healthFlags: 0,
    hostname: "",
  }));
const policies: LbPolicy[] = ["ROUND_ROBIN", "LEAST_REQUEST", "RANDOM", "RING_HASH", "MAGLEV"];
const results: [string, number][] = [];
for (const p of policies) {
  const lb = createLoadBalancer(hosts, { ...clusterModelDefaults(), lbPolicy: p }, seededRandom(1), 1);
  const ctx = { hashKey: 0 };
  let sink = 0;
  // Warm up, then measure the best of 3.
  for (let i = 0; i < 200_000; i++) sink += lb.chooseHost(ctx)?.port ?? 0;
  let best = Infinity;
  for (let r = 0; r < 3; r++) {
    const t0 = performance.now();
    for (let i = 0; i < N; i++) {
      ctx.hashKey = (i * 2654435761) >>> 0;
      sink += lb.chooseHost(ctx)?.port ?? 0;
    }
    best = Math.min(best, ((performance.now() - t0) * 1e6) / N);
  }
  if (sink === -1) console.log(sink);
  results.push([p, best]);
}
const rr = results[0]![1];
console.log("| load balancer | ns per pick | vs ROUND_ROBIN | share of a 9 µs request |");
console.log("| --- | ---: | ---: | ---: |");
for (const [p, ns] of results) {
  console.log(`| ${p} | ${ns.toFixed(1)} | ${(ns / rr).toFixed(2)}x | ${((ns / 9000) * 100).toFixed(2)}% |`);
}
