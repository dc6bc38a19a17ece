import assert from "node:assert/strict";
import { test } from "../../../tests/harness.ts";
import { buildSnapshot, checkConsistency, SnapshotError, snapshotInputFromDocument } from "./snapshot.ts";
import { basicSnapshot, edsCluster, loadAssignment, rdsListener, routeConfig } from "./testdata.ts";

test("snapshot: converts proto3 JSON (snake_case, @type) and names each resource", () => {
  const s = buildSnapshot(basicSnapshot("1"));
  assert.deepEqual([...s.types.listeners.resources.keys()], ["l0"]);
  assert.deepEqual([...s.types.routes.resources.keys()], ["r0"]);
  assert.deepEqual([...s.types.clusters.resources.keys()], ["c0"]);
  assert.deepEqual([...s.types.endpoints.resources.keys()], ["c0"]);
  const c0 = s.types.clusters.resources.get("c0")!;
  assert.equal(c0.any.typeUrl, "type.googleapis.com/envoy.config.cluster.v3.Cluster");
  assert.match(c0.version, /^[0-9a-f]{14}$/);
  for (const k of ["listeners", "routes", "clusters", "endpoints"] as const) assert.equal(s.types[k].version, "1");
});

test("snapshot: a type whose resources did not change keeps its version", () => {
  const s1 = buildSnapshot(basicSnapshot("1"));
  const s2 = buildSnapshot(basicSnapshot("2", { ports: [8081] }), s1);
  assert.equal(s2.types.endpoints.version, "2");
  assert.equal(s2.types.clusters.version, "1");
  assert.equal(s2.types.listeners.version, "1");
  assert.equal(s2.types.routes.version, "1");
  assert.notEqual(s2.types.endpoints.resources.get("c0")!.version, s1.types.endpoints.resources.get("c0")!.version);
  assert.equal(s2.types.clusters.resources.get("c0")!.version, s1.types.clusters.resources.get("c0")!.version);
});

test("snapshot: every bad resource is reported with its path", () => {
  const input = {
    version: "1",
    clusters: [edsCluster("a"), edsCluster("a"), { name: "b", bogus_field: 1 }],
    listeners: [{ "@type": "type.googleapis.com/envoy.config.cluster.v3.Cluster", name: "x" }],
    endpoints: [{ endpoints: [] }],
  };
  assert.throws(() => buildSnapshot(input), (e: unknown) => {
    assert.ok(e instanceof SnapshotError);
    const text = e.issues.join("\n");
    assert.match(text, /clusters\[1\]: duplicate clusters name 'a'/);
    assert.match(text, /clusters\[2\]: .*bogus_field/);
    assert.match(text, /listeners\[0\]: @type is/);
    assert.match(text, /endpoints\[0\]: cluster_name is required/);
    return true;
  });
});

test("snapshot: the file shape {version, resources} and its errors", () => {
  const input = snapshotInputFromDocument({ version: 7, resources: { clusters: [edsCluster("c")] } });
  assert.equal(input.version, "7");
  assert.equal(input.clusters!.length, 1);
  assert.equal(snapshotInputFromDocument({ resources: {} }, "v3").version, "v3");
  assert.throws(() => snapshotInputFromDocument({ version: "1", resources: { secrets: [] } }), /resources\.secrets: unknown resource type/);
  assert.throws(() => snapshotInputFromDocument({ version: "1", extra: 1 }), /extra: unknown field/);
});

test("checkConsistency: dangling RDS/EDS references and unreferenced resources", () => {
  assert.deepEqual(checkConsistency(buildSnapshot(basicSnapshot("1"))), { consistent: true, issues: [] });
  const s = buildSnapshot({
    version: "1",
    listeners: [rdsListener("l0", 10000, "r0"), rdsListener("l1", 10001, "missing_route")],
    routes: [routeConfig("r0", "c0"), routeConfig("orphan_route", "c0")],
    clusters: [edsCluster("c0"), edsCluster("c1"), { name: "static", type: "STATIC", connect_timeout: "1s" }],
    endpoints: [loadAssignment("c0", 1), loadAssignment("stray", 2)],
  });
  const r = checkConsistency(s);
  assert.equal(r.consistent, false);
  assert.deepEqual(r.issues, [
    { kind: "missing", type: "routes", name: "missing_route", referencedBy: "listeners/l1" },
    { kind: "unreferenced", type: "routes", name: "orphan_route" },
    { kind: "missing", type: "endpoints", name: "c1", referencedBy: "clusters/c1" },
    { kind: "unreferenced", type: "endpoints", name: "stray" },
  ]);
});
