import assert from "node:assert/strict";
import { test } from "../../../tests/harness.ts";
import { clusterModelDefaults } from "../../config/cluster.ts";
import type { LbPolicy } from "../../config/model.ts";
import { HealthFlag, Host, type HostSnapshot } from "../host.ts";
import { createLoadBalancer, type LbSettings } from "./load_balancer.ts";
import { hashString, seededRandom } from "./prng.ts";

function settings(lbPolicy: LbPolicy, over: Partial<LbSettings> = {}): LbSettings {
  return { ...clusterModelDefaults(), lbPolicy, ...over };
}

function host(i: number, o: Partial<HostSnapshot> = {}): Host {
  const address = `10.0.0.${i}`;
  return Host.fromSnapshot({
    key: `${address}:80`,
    address,
    port: 80,
    weight: 1,
    priority: 0,
    locality: { region: "", zone: "", subZone: "" },
    localityWeight: 0,
    healthFlags: 0,
    hostname: "",
    ...o,
  });
}

function counts(picks: (Host | null)[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const h of picks) {
    const k = h === null ? "null" : h.address;
    m.set(k, (m.get(k) ?? 0) + 1);
  }
  return m;
}

/** Pearson chi-square statistic of observed counts against expected shares. */
function chiSquare(observed: number[], expectedShare: number[], n: number): number {
  let x = 0;
  observed.forEach((o, i) => {
    const e = expectedShare[i]! * n;
    x += ((o - e) * (o - e)) / e;
  });
  return x;
}

const N = 20_000;

test("RANDOM: uniform over equal weights (chi-square, seeded)", () => {
  const hosts = [1, 2, 3, 4].map((i) => host(i));
  const lb = createLoadBalancer(hosts, settings("RANDOM"), seededRandom(42));
  const c = counts(Array.from({ length: N }, () => lb.chooseHost()));
  const obs = hosts.map((h) => c.get(h.address) ?? 0);
  // 3 degrees of freedom: 16.27 is the 0.1% critical value.
  assert.ok(chiSquare(obs, [0.25, 0.25, 0.25, 0.25], N) < 16.27, String(obs));
});

test("RANDOM: weights 3:1 give 3:1", () => {
  const hosts = [host(1, { weight: 3 }), host(2, { weight: 1 })];
  const lb = createLoadBalancer(hosts, settings("RANDOM"), seededRandom(7));
  const c = counts(Array.from({ length: N }, () => lb.chooseHost()));
  const obs = hosts.map((h) => c.get(h.address) ?? 0);
  assert.ok(chiSquare(obs, [0.75, 0.25], N) < 10.83, String(obs));
});

test("ROUND_ROBIN through the priority LB: exact rotation and weights", () => {
  const hosts = [host(1, { weight: 2 }), host(2), host(3)];
  const lb = createLoadBalancer(hosts, settings("ROUND_ROBIN"), seededRandom(1));
  const c = counts(Array.from({ length: 400 }, () => lb.chooseHost()));
  assert.deepEqual([c.get("10.0.0.1"), c.get("10.0.0.2"), c.get("10.0.0.3")], [200, 100, 100]);
});

test("LEAST_REQUEST: P2C avoids the busy host; choice_count raises the effect", () => {
  const hosts = [1, 2, 3, 4].map((i) => host(i));
  hosts[0]!.activeRequests = 10; // busy
  const share = (choiceCount: number) => {
    const lb = createLoadBalancer(hosts, settings("LEAST_REQUEST", { leastRequest: { choiceCount, activeRequestBias: 1 } }), seededRandom(3));
    const c = counts(Array.from({ length: N }, () => lb.chooseHost()));
    return (c.get("10.0.0.1") ?? 0) / N;
  };
  // With 2 choices the busy host wins only when both picks are it: 1/16.
  const two = share(2);
  assert.ok(Math.abs(two - 1 / 16) < 0.01, `p2c share ${two}`);
  const four = share(4);
  assert.ok(Math.abs(four - 1 / 256) < 0.003, `choice 4 share ${four}`);
  // Idle hosts share the rest evenly.
  const lb = createLoadBalancer(hosts, settings("LEAST_REQUEST"), seededRandom(5));
  const c = counts(Array.from({ length: N }, () => lb.chooseHost()));
  const idle = [2, 3, 4].map((i) => c.get(`10.0.0.${i}`) ?? 0);
  const tot = idle.reduce((a, b) => a + b, 0);
  assert.ok(chiSquare(idle, [1 / 3, 1 / 3, 1 / 3], tot) < 13.82, String(idle));
});

test("LEAST_REQUEST weighted: weight / (active + 1)^bias", () => {
  const hosts = [host(1, { weight: 2 }), host(2, { weight: 1 })];
  hosts[0]!.activeRequests = 3; // effective 2/4 = 0.5 vs 1/1 = 1 → 1:2
  const lb = createLoadBalancer(hosts, settings("LEAST_REQUEST"), seededRandom(9));
  const c = counts(Array.from({ length: N }, () => lb.chooseHost()));
  const obs = [c.get("10.0.0.1") ?? 0, c.get("10.0.0.2") ?? 0];
  assert.ok(chiSquare(obs, [1 / 3, 2 / 3], N) < 10.83, String(obs));
  // Bias 0: plain weights 2:1 regardless of load.
  const lb0 = createLoadBalancer(hosts, settings("LEAST_REQUEST", { leastRequest: { choiceCount: 2, activeRequestBias: 0 } }), seededRandom(9));
  const c0 = counts(Array.from({ length: N }, () => lb0.chooseHost()));
  const obs0 = [c0.get("10.0.0.1") ?? 0, c0.get("10.0.0.2") ?? 0];
  assert.ok(chiSquare(obs0, [2 / 3, 1 / 3], N) < 10.83, String(obs0));
});

for (const policy of ["RING_HASH", "MAGLEV"] as const) {
  test(`${policy}: same key → same host; keys spread by weight; few keys move when a host goes`, () => {
    const hosts = [host(1, { weight: 2 }), host(2), host(3), host(4)];
    const s = settings(policy, { maglev: { tableSize: 65537 }, ringHash: { minimumRingSize: 4096, maximumRingSize: 8388608 } });
    const lb = createLoadBalancer(hosts, s, seededRandom(11));
    const keys = Array.from({ length: N }, (_, i) => hashString(`user-${i}`));
    const first = keys.map((k) => lb.chooseHost({ hashKey: k })!);
    assert.deepEqual(keys.slice(0, 50).map((k) => lb.chooseHost({ hashKey: k })), first.slice(0, 50), "consistent");
    const c = counts(first);
    const obs = hosts.map((h) => c.get(h.address) ?? 0);
    // Weighted 2:1:1:1, allowing the ring's granularity a looser bound.
    const shares = [0.4, 0.2, 0.2, 0.2];
    obs.forEach((o, i) => assert.ok(Math.abs(o / N - shares[i]!) < 0.05, `${policy} shares ${obs}`));
    // Remove host 4: most keys that were not on it stay where they were (the others' share grows
    // from 1/5 to 1/4 of the ring or table, so some move; a modulo hash would move ~3/4).
    const lb2 = createLoadBalancer(hosts.slice(0, 3), s, seededRandom(11));
    let moved = 0, stayedEligible = 0;
    keys.forEach((k, i) => {
      if (first[i]!.address === "10.0.0.4") return;
      stayedEligible++;
      if (lb2.chooseHost({ hashKey: k })!.address !== first[i]!.address) moved++;
    });
    assert.ok(moved / stayedEligible < 0.15, `${policy} moved ${moved}/${stayedEligible}`);
    // Without a hash: random spread, still over all hosts.
    const nohash = counts(Array.from({ length: 2000 }, () => lb.chooseHost()));
    assert.equal(nohash.size, 4);
  });
}

test("panic threshold: below 50% healthy, all hosts are used; above, only healthy ones", () => {
  const unhealthy = { healthFlags: HealthFlag.FailedActiveHc };
  // 1 of 4 healthy: 25% × 1.4 = 35% < 50% → panic, traffic to all four.
  const panicHosts = [host(1), host(2, unhealthy), host(3, unhealthy), host(4, unhealthy)];
  const lb = createLoadBalancer(panicHosts, settings("ROUND_ROBIN"), seededRandom(1));
  assert.equal(counts(Array.from({ length: 400 }, () => lb.chooseHost())).size, 4);
  // 2 of 4 healthy: 50% × 1.4 = 70% ≥ 50% → no panic, only the healthy two.
  const ok = [host(1), host(2), host(3, unhealthy), host(4, unhealthy)];
  const lb2 = createLoadBalancer(ok, settings("ROUND_ROBIN"), seededRandom(1));
  assert.deepEqual([...counts(Array.from({ length: 400 }, () => lb2.chooseHost())).keys()].sort(), ["10.0.0.1", "10.0.0.2"]);
  // healthy_panic_threshold 0 disables panic: no healthy host → null (503 UH).
  const none = [host(1, unhealthy), host(2, unhealthy)];
  const lb3 = createLoadBalancer(none, settings("ROUND_ROBIN", { healthyPanicThreshold: 0 }), seededRandom(1));
  assert.equal(lb3.chooseHost(), null);
  const lb4 = createLoadBalancer(none, settings("ROUND_ROBIN"), seededRandom(1));
  assert.notEqual(lb4.chooseHost(), null);
});

test("priorities: P0 takes everything while healthy; spills by health × 1.4 to P1", () => {
  const unhealthy = { healthFlags: HealthFlag.FailedOutlierCheck };
  const p0 = (bad: number) => [1, 2, 3, 4, 5].map((i) => host(i, i <= bad ? unhealthy : {}));
  const p1 = [6, 7, 8, 9, 10].map((i) => host(i, { priority: 1 }));
  const shareP0 = (bad: number) => {
    const lb = createLoadBalancer([...p0(bad), ...p1], settings("RANDOM"), seededRandom(13));
    let n0 = 0;
    for (let i = 0; i < N; i++) if (lb.chooseHost()!.priority === 0) n0++;
    return n0 / N;
  };
  assert.equal(shareP0(0), 1);
  // 4/5 healthy → 80% × 1.4 = 112% → capped 100: still all on P0 (overprovisioning).
  assert.equal(shareP0(1), 1);
  // 3/5 healthy → 60% × 1.4 = 84% on P0, 16% on P1.
  assert.ok(Math.abs(shareP0(2) - 0.84) < 0.015, String(shareP0(2)));
  // 1/5 healthy → 28% on P0 (P0 is in its own panic below 50%? 20% < 50%: yes, all P0 hosts).
  assert.ok(Math.abs(shareP0(4) - 0.28) < 0.015, String(shareP0(4)));
  // overprovisioning_factor 100: 3/5 healthy → 60% on P0.
  const lb = createLoadBalancer([...p0(2), ...p1], settings("RANDOM", { overprovisioningFactor: 100 }), seededRandom(13));
  let n0 = 0;
  for (let i = 0; i < N; i++) if (lb.chooseHost()!.priority === 0) n0++;
  assert.ok(Math.abs(n0 / N - 0.6) < 0.015, String(n0 / N));
});

test("locality weighted: localities get traffic by weight × availability", () => {
  const a = { region: "r", zone: "a", subZone: "" };
  const b = { region: "r", zone: "b", subZone: "" };
  const hosts = [host(1, { locality: a, localityWeight: 3 }), host(2, { locality: a, localityWeight: 3 }), host(3, { locality: b, localityWeight: 1 })];
  const lb = createLoadBalancer(hosts, settings("ROUND_ROBIN", { localityWeightedLb: true }), seededRandom(1));
  const c = counts(Array.from({ length: 800 }, () => lb.chooseHost()));
  assert.equal((c.get("10.0.0.1") ?? 0) + (c.get("10.0.0.2") ?? 0), 600);
  assert.equal(c.get("10.0.0.3"), 200);
  // Without locality_weighted_lb_config the weights are ignored: 1:1:1.
  const flat = createLoadBalancer(hosts, settings("ROUND_ROBIN"), seededRandom(1));
  const c2 = counts(Array.from({ length: 300 }, () => flat.chooseHost()));
  assert.equal(c2.get("10.0.0.3"), 100);
});

test("no hosts: every policy returns null", () => {
  for (const p of ["ROUND_ROBIN", "LEAST_REQUEST", "RANDOM", "RING_HASH", "MAGLEV"] as const) {
    assert.equal(createLoadBalancer([], settings(p), seededRandom(1)).chooseHost({ hashKey: 5 }), null, p);
  }
});
