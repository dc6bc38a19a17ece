import assert from "node:assert/strict";
import { test } from "../../tests/harness.ts";
import type { OutlierDetectionModel } from "../config/model.ts";
import { FakeClock } from "../core/clock.ts";
import { StatsStore } from "../core/stats.ts";
import { seededRandom } from "./load_balancer/prng.ts";
import { OutlierDetector, OutlierStats } from "./outlier_detection.ts";

const BASE: OutlierDetectionModel = {
  consecutive5xx: 5,
  consecutiveGatewayFailure: 5,
  consecutiveLocalOriginFailure: 5,
  intervalMs: 10_000,
  baseEjectionTimeMs: 30_000,
  maxEjectionTimeMs: 300_000,
  maxEjectionPercent: 100,
  enforcingConsecutive5xx: 100,
  enforcingConsecutiveGatewayFailure: 0,
  enforcingConsecutiveLocalOriginFailure: 100,
  splitExternalLocalOriginErrors: false,
};

function make(over: Partial<OutlierDetectionModel> = {}, hosts = ["a", "b", "c", "d"]) {
  const clock = new FakeClock();
  const store = new StatsStore();
  let changes = 0;
  const od = new OutlierDetector({ ...BASE, ...over }, clock, new OutlierStats(store, "x"), seededRandom(1), () => changes++);
  od.setHosts(hosts);
  const stat = (n: string) => store.entries().find((e) => e.name === `cluster.x.outlier_detection.${n}`)?.value ?? 0;
  return { od, clock, stat, changes: () => changes };
}

test("outlier: 5 consecutive 5xx eject; a success in between resets the count", () => {
  const { od, stat, changes } = make();
  for (let i = 0; i < 4; i++) od.onResult("a", "5xx");
  od.onResult("a", "success");
  for (let i = 0; i < 4; i++) od.onResult("a", "5xx");
  assert.equal(od.isEjected("a"), false);
  od.onResult("a", "5xx");
  assert.equal(od.isEjected("a"), true);
  assert.equal(changes(), 1);
  assert.equal(stat("ejections_active"), 1);
  assert.equal(stat("ejections_enforced_total"), 1);
  assert.equal(stat("ejections_detected_consecutive_5xx"), 1);
  assert.equal(stat("ejections_enforced_consecutive_5xx"), 1);
});

test("outlier: ejection lasts base_ejection_time × times ejected, capped by max_ejection_time", () => {
  const { od, clock, stat } = make({ baseEjectionTimeMs: 30_000, maxEjectionTimeMs: 50_000, intervalMs: 1000 });
  const eject = () => {
    for (let i = 0; i < 5; i++) od.onResult("a", "5xx");
    assert.equal(od.isEjected("a"), true);
  };
  eject();
  clock.advance(29_000);
  assert.equal(od.isEjected("a"), true);
  clock.advance(1_000);
  assert.equal(od.isEjected("a"), false, "back after 30 s");
  assert.equal(stat("ejections_active"), 0);
  eject(); // second time: 60 s, capped to 50 s
  clock.advance(49_000);
  assert.equal(od.isEjected("a"), true);
  clock.advance(1_000);
  assert.equal(od.isEjected("a"), false);
});

test("outlier: gateway failures eject only when enforcing_consecutive_gateway_failure > 0", () => {
  const off = make();
  for (let i = 0; i < 5; i++) off.od.onResult("a", "gateway");
  // Gateway errors are also 5xx: consecutive_5xx (enforced by default) ejects.
  assert.equal(off.od.isEjected("a"), true);
  assert.equal(off.stat("ejections_detected_consecutive_gateway_failure"), 1);
  assert.equal(off.stat("ejections_enforced_consecutive_gateway_failure"), 0);
  assert.equal(off.stat("ejections_enforced_consecutive_5xx"), 1);
  const on = make({ enforcingConsecutiveGatewayFailure: 100, consecutive5xx: 100 });
  for (let i = 0; i < 5; i++) on.od.onResult("a", "gateway");
  assert.equal(on.od.isEjected("a"), true);
  assert.equal(on.stat("ejections_enforced_consecutive_gateway_failure"), 1);
  // A non-gateway 5xx breaks a gateway streak.
  const mix = make({ enforcingConsecutiveGatewayFailure: 100, consecutive5xx: 100 });
  for (let i = 0; i < 4; i++) mix.od.onResult("a", "gateway");
  mix.od.onResult("a", "5xx");
  mix.od.onResult("a", "gateway");
  assert.equal(mix.od.isEjected("a"), false);
});

test("outlier: local-origin failures count as 5xx unless split_external_local_origin_errors", () => {
  const joined = make();
  for (let i = 0; i < 5; i++) joined.od.onResult("a", "local_origin_failure");
  assert.equal(joined.od.isEjected("a"), true);
  const split = make({ splitExternalLocalOriginErrors: true, consecutiveLocalOriginFailure: 3 });
  for (let i = 0; i < 3; i++) split.od.onResult("a", "local_origin_failure");
  assert.equal(split.od.isEjected("a"), true);
  assert.equal(split.stat("ejections_enforced_consecutive_local_origin_failure"), 1);
  assert.equal(split.stat("ejections_detected_consecutive_5xx"), 0);
});

test("outlier: max_ejection_percent caps ejections but one host can always go", () => {
  const { od, stat } = make({ maxEjectionPercent: 10 });
  for (const h of ["a", "b"]) for (let i = 0; i < 5; i++) od.onResult(h, "5xx");
  assert.equal(od.isEjected("a"), true, "the first one goes although 1/4 > 10%");
  assert.equal(od.isEjected("b"), false);
  assert.equal(stat("ejections_overflow"), 1);
  const half = make({ maxEjectionPercent: 50 });
  for (const h of ["a", "b", "c"]) for (let i = 0; i < 5; i++) half.od.onResult(h, "5xx");
  assert.equal(half.od.ejectedCount, 2);
});

test("outlier: enforcing 0 detects but does not eject; removed hosts are forgotten", () => {
  const { od, stat } = make({ enforcingConsecutive5xx: 0 });
  for (let i = 0; i < 5; i++) od.onResult("a", "5xx");
  assert.equal(od.isEjected("a"), false);
  assert.equal(stat("ejections_detected_consecutive_5xx"), 1);
  const m = make();
  for (let i = 0; i < 5; i++) m.od.onResult("a", "5xx");
  m.od.setHosts(["b", "c"]);
  assert.equal(m.stat("ejections_active"), 0);
  m.od.close();
  assert.equal(m.clock.pending, 0, "close stops the sweep timer");
});
