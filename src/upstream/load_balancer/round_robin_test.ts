import assert from "node:assert/strict";
import { test } from "../../../tests/harness.ts";
import { Host } from "../host.ts";
import { RoundRobinLoadBalancer } from "./round_robin.ts";

test("round robin: equal weights rotate evenly", () => {
  const hosts = [new Host("10.0.0.1", 80, 1), new Host("10.0.0.2", 80, 1), new Host("10.0.0.3", 80, 1)];
  const lb = new RoundRobinLoadBalancer(hosts);
  const picks = Array.from({ length: 6 }, () => lb.chooseHost()!.address);
  assert.deepEqual(picks, ["10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.1", "10.0.0.2", "10.0.0.3"]);
});

test("round robin: weights 5:1:1 give 5:1:1, interleaved", () => {
  const hosts = [new Host("a", 1, 5), new Host("b", 1, 1), new Host("c", 1, 1)];
  const lb = new RoundRobinLoadBalancer(hosts);
  const picks = Array.from({ length: 700 }, () => lb.chooseHost()!.address);
  const count = (x: string) => picks.filter((p) => p === x).length;
  assert.deepEqual([count("a"), count("b"), count("c")], [500, 100, 100]);
  // Smooth: "aabacaa" per period, so at most 4 in a row across periods (a naive one gives 5).
  assert.ok(!picks.join("").includes("aaaaa"), picks.slice(0, 14).join(""));
});

test("round robin: no hosts gives null", () => {
  assert.equal(new RoundRobinLoadBalancer([]).chooseHost(), null);
});
