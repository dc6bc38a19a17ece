import assert from "node:assert/strict";
import { test, type TestContext } from "../../../tests/harness.ts";
import { TYPE_URL } from "../type_registry.ts";
import { startXdsServer, type XdsServer } from "./server.ts";
import { openDelta, openSotw } from "./test_client.ts";
import { basicSnapshot, edsCluster, loadAssignment, rdsListener, resourceNameOf, routeConfig } from "./testdata.ts";

const NODE = { id: "node-1", cluster: "test" };

async function server(t: TestContext, first = true): Promise<XdsServer> {
  const cp = await startXdsServer({ port: 0 });
  t.defer(() => cp.close());
  if (first) cp.setSnapshot(basicSnapshot("1"));
  return cp;
}

const names = (r: { resources: { typeUrl: string; value: Uint8Array }[] }): string[] =>
  r.resources.map((a) => resourceNameOf(a as never)).sort();

test("SotW ADS: response, ACK, a new version pushed, NACK recorded and not resent", async (t) => {
  const cp = await server(t);
  const s = openSotw(cp.port);
  t.defer(() => s.close());
  s.send({ node: NODE, typeUrl: TYPE_URL.cluster });
  const r1 = await s.next();
  assert.equal(r1.typeUrl, TYPE_URL.cluster);
  assert.equal(r1.versionInfo, "1");
  assert.deepEqual(names(r1), ["c0"]);
  assert.notEqual(r1.nonce, "");
  s.send({ typeUrl: TYPE_URL.cluster, versionInfo: "1", responseNonce: r1.nonce });
  const ack = await cp.waitForAck({ type: "clusters", version: "1" });
  assert.equal(ack.nodeId, "node-1");
  assert.equal(ack.nonce, r1.nonce);

  // A new cluster: CDS carries the whole state of the world (both clusters).
  cp.setSnapshot({ ...basicSnapshot("2"), clusters: [edsCluster("c0"), edsCluster("c1")] });
  const r2 = await s.next();
  assert.equal(r2.versionInfo, "2");
  assert.deepEqual(names(r2), ["c0", "c1"]);

  // NACK: error_detail set, version_info the previous version.
  const mark = cp.mark();
  s.send({ typeUrl: TYPE_URL.cluster, versionInfo: "1", responseNonce: r2.nonce, errorDetail: { code: 3, message: "clusters[1]: connect_timeout: must be positive" } });
  const nack = await cp.waitForNack({ type: "CDS", errorDetail: /connect_timeout/, since: mark });
  assert.equal(nack.version, "2");
  assert.equal(nack.versionInfo, "1");
  assert.equal(nack.errorDetail.code, 3);
  assert.equal(cp.nacks.length, 1);
  await s.expectNone(300); // the rejected version is not sent again

  cp.setSnapshot({ ...basicSnapshot("3"), clusters: [edsCluster("c0")] });
  const r3 = await s.next();
  assert.equal(r3.versionInfo, "3");
  assert.deepEqual(names(r3), ["c0"]);
});

test("SotW: a request with a stale nonce is ignored", async (t) => {
  const cp = await server(t);
  const s = openSotw(cp.port);
  t.defer(() => s.close());
  s.send({ node: NODE, typeUrl: TYPE_URL.cluster });
  const r1 = await s.next();
  s.send({ typeUrl: TYPE_URL.cluster, versionInfo: "1", responseNonce: r1.nonce });
  await cp.waitForAck({ type: "clusters", version: "1" });
  cp.setSnapshot({ ...basicSnapshot("2"), clusters: [edsCluster("c0"), edsCluster("c9")] });
  const r2 = await s.next();
  // An old nonce (e.g. a resource-hint update racing the push): no ACK, no NACK, no response.
  const mark = cp.mark();
  s.send({ typeUrl: TYPE_URL.cluster, versionInfo: "1", responseNonce: r1.nonce, errorDetail: { code: 13, message: "late" } });
  await cp.waitForEvent((e) => e.event === "request" && e.verdict === "stale", "the stale request", { since: mark });
  await s.expectNone(200);
  assert.equal(cp.nacks.length, 0);
  s.send({ typeUrl: TYPE_URL.cluster, versionInfo: "2", responseNonce: r2.nonce });
  await cp.waitForAck({ type: "clusters", version: "2" });
});

test("SotW: an unchanged version is not resent (same stream and on reconnect)", async (t) => {
  const cp = await server(t);
  const s = openSotw(cp.port);
  t.defer(() => s.close());
  s.send({ node: NODE, typeUrl: TYPE_URL.listener });
  const r1 = await s.next();
  assert.deepEqual(names(r1), ["l0"]);
  s.send({ typeUrl: TYPE_URL.listener, versionInfo: "1", responseNonce: r1.nonce });
  await cp.waitForAck({ type: "LDS", version: "1" });
  // Only endpoints change: LDS keeps version 1 and is not pushed.
  const res = cp.setSnapshot(basicSnapshot("2", { ports: [9999] }));
  assert.deepEqual(res.changed, ["endpoints"]);
  assert.equal(cp.versionOf("listeners"), "1");
  await s.expectNone(300);
  s.close();

  // Reconnect saying "I have version 1": nothing to send.
  const s2 = openSotw(cp.port);
  t.defer(() => s2.close());
  s2.send({ node: NODE, typeUrl: TYPE_URL.listener, versionInfo: "1" });
  await s2.expectNone(300);
  // Reconnect with an older version: sent.
  const s3 = openSotw(cp.port);
  t.defer(() => s3.close());
  s3.send({ node: NODE, typeUrl: TYPE_URL.listener, versionInfo: "0" });
  assert.equal((await s3.next()).versionInfo, "1");
});

test("SotW RDS on ADS: requested names only; held until every name exists (go-control-plane); unsubscribing is not answered", async (t) => {
  const cp = await server(t, false);
  cp.setSnapshot({ version: "1", routes: [routeConfig("a", "c"), routeConfig("b", "c"), routeConfig("z", "c")] });
  const s = openSotw(cp.port);
  t.defer(() => s.close());
  s.send({ node: NODE, typeUrl: TYPE_URL.routeConfiguration, resourceNames: ["a"] });
  const r1 = await s.next();
  assert.deepEqual(names(r1), ["a"]);
  // "nope" does not exist: on an aggregated stream the answer waits until it does.
  s.send({ typeUrl: TYPE_URL.routeConfiguration, versionInfo: "1", responseNonce: r1.nonce, resourceNames: ["a", "b", "nope"] });
  await s.expectNone(300);
  cp.setSnapshot({ version: "2", routes: [routeConfig("a", "c"), routeConfig("b", "c"), routeConfig("z", "c"), routeConfig("nope", "c")] });
  const r2 = await s.next();
  assert.equal(r2.versionInfo, "2");
  assert.deepEqual(names(r2).sort(), ["a", "b", "nope"]);
  s.send({ typeUrl: TYPE_URL.routeConfiguration, versionInfo: "2", responseNonce: r2.nonce, resourceNames: ["a"] });
  await s.expectNone(300);
});

test("SotW RDS on the per-type service: a missing name does not hold back the ones that exist", async (t) => {
  const cp = await server(t, false);
  cp.setSnapshot({ version: "1", routes: [routeConfig("a", "c")] });
  const s = openSotw(cp.port, "rds");
  t.defer(() => s.close());
  s.send({ node: NODE, typeUrl: TYPE_URL.routeConfiguration, resourceNames: ["a", "nope"] });
  assert.deepEqual(names(await s.next()), ["a"]);
});

test("SotW ADS: a snapshot change is pushed in CDS, EDS, LDS, RDS order", async (t) => {
  const cp = await server(t);
  const s = openSotw(cp.port);
  t.defer(() => s.close());
  const subs: [string, string[]][] = [
    [TYPE_URL.listener, []],
    [TYPE_URL.routeConfiguration, ["r0"]],
    [TYPE_URL.cluster, []],
    [TYPE_URL.clusterLoadAssignment, ["c0"]],
  ];
  for (const [typeUrl, resourceNames] of subs) {
    s.send({ node: NODE, typeUrl, resourceNames });
    const r = await s.next();
    s.send({ typeUrl, resourceNames, versionInfo: r.versionInfo, responseNonce: r.nonce });
  }
  await cp.waitForAck({ type: "EDS", version: "1" });
  cp.setSnapshot({
    version: "2",
    listeners: [rdsListener("l0", 10001, "r0")],
    routes: [routeConfig("r0", "c1")],
    clusters: [edsCluster("c0", "2s")],
    endpoints: [loadAssignment("c0", 1234)],
  });
  const order: string[] = [];
  for (let i = 0; i < 4; i++) {
    const r = await s.next();
    order.push(r.typeUrl);
    assert.equal(r.versionInfo, "2");
  }
  assert.deepEqual(order, [TYPE_URL.cluster, TYPE_URL.clusterLoadAssignment, TYPE_URL.listener, TYPE_URL.routeConfiguration]);
});

test("SotW: one response in flight per type; the newest version follows the ACK", async (t) => {
  const cp = await server(t);
  const s = openSotw(cp.port);
  t.defer(() => s.close());
  s.send({ node: NODE, typeUrl: TYPE_URL.cluster });
  const r1 = await s.next();
  cp.setSnapshot({ ...basicSnapshot("2"), clusters: [edsCluster("c2")] });
  cp.setSnapshot({ ...basicSnapshot("3"), clusters: [edsCluster("c3")] });
  await s.expectNone(200);
  s.send({ typeUrl: TYPE_URL.cluster, versionInfo: r1.versionInfo, responseNonce: r1.nonce });
  const r = await s.next();
  assert.equal(r.versionInfo, "3");
  assert.deepEqual(names(r), ["c3"]);
});

test("SotW single-type services: StreamClusters and StreamListeners (api_type GRPC)", async (t) => {
  const cp = await server(t);
  const cds = openSotw(cp.port, "cds");
  t.defer(() => cds.close());
  cds.send({ node: NODE }); // type_url may be left empty on a single-type service
  const r = await cds.next();
  assert.equal(r.typeUrl, TYPE_URL.cluster);
  assert.deepEqual(names(r), ["c0"]);
  const lds = openSotw(cp.port, "lds");
  t.defer(() => lds.close());
  lds.send({ node: NODE, typeUrl: TYPE_URL.cluster });
  const err = await lds.ended();
  assert.match(String(err?.message), /type_url/);
  await cp.waitForStreams((ss) => ss.some((x) => x.api === "cds" && x.nodeId === "node-1"));
});

test("delta ADS: wildcard CDS, per-resource versions, removed_resources, ACK and NACK", async (t) => {
  const cp = await server(t);
  const s = openDelta(cp.port);
  t.defer(() => s.close());
  s.send({ node: NODE, typeUrl: TYPE_URL.cluster }); // legacy wildcard: no names at all
  const r1 = await s.next();
  assert.equal(r1.systemVersionInfo, "1");
  assert.deepEqual(r1.resources.map((r) => r.name), ["c0"]);
  const v0 = r1.resources[0]!.version;
  assert.match(v0, /^[0-9a-f]+$/);
  assert.equal(resourceNameOf(r1.resources[0]!.resource), "c0");
  s.send({ typeUrl: TYPE_URL.cluster, responseNonce: r1.nonce });
  await cp.waitForAck({ type: "clusters", version: "1", protocol: "delta" });

  // Add c1, keep c0 unchanged: only c1 is sent.
  cp.setSnapshot({ ...basicSnapshot("2"), clusters: [edsCluster("c0"), edsCluster("c1")] });
  const r2 = await s.next();
  assert.deepEqual(r2.resources.map((r) => r.name), ["c1"]);
  assert.deepEqual(r2.removedResources, []);
  s.send({ typeUrl: TYPE_URL.cluster, responseNonce: r2.nonce, errorDetail: { code: 3, message: "c1: bad" } });
  const nack = await cp.waitForNack({ type: "clusters", protocol: "delta", errorDetail: "c1: bad" });
  assert.equal(nack.version, "2");

  // Remove c0.
  cp.setSnapshot({ ...basicSnapshot("3"), clusters: [edsCluster("c1")] });
  const r3 = await s.next();
  assert.deepEqual(r3.resources, []);
  assert.deepEqual(r3.removedResources, ["c0"]);
  assert.equal(r3.systemVersionInfo, "3");
});

test("delta: explicit subscribe / unsubscribe for EDS; a name that does not exist is removed", async (t) => {
  const cp = await server(t, false);
  cp.setSnapshot({ version: "1", endpoints: [loadAssignment("a", 1), loadAssignment("b", 2)] });
  const s = openDelta(cp.port, "eds");
  t.defer(() => s.close());
  s.send({ node: NODE, typeUrl: TYPE_URL.clusterLoadAssignment, resourceNamesSubscribe: ["a", "ghost"] });
  const r1 = await s.next();
  assert.deepEqual(r1.resources.map((r) => r.name), ["a"]);
  assert.deepEqual(r1.removedResources, ["ghost"]);
  s.send({ typeUrl: TYPE_URL.clusterLoadAssignment, responseNonce: r1.nonce });
  s.send({ typeUrl: TYPE_URL.clusterLoadAssignment, resourceNamesSubscribe: ["b"] });
  const r2 = await s.next();
  assert.deepEqual(r2.resources.map((r) => r.name), ["b"]);
  s.send({ typeUrl: TYPE_URL.clusterLoadAssignment, responseNonce: r2.nonce });
  // Unsubscribe from a: nothing to say; a later change of a is not sent, a change of b is.
  s.send({ typeUrl: TYPE_URL.clusterLoadAssignment, resourceNamesUnsubscribe: ["a"] });
  await s.expectNone(200);
  cp.setSnapshot({ version: "2", endpoints: [loadAssignment("a", 11), loadAssignment("b", 2)] });
  await s.expectNone(200);
  cp.setSnapshot({ version: "3", endpoints: [loadAssignment("a", 11), loadAssignment("b", 22)] });
  const r3 = await s.next();
  assert.deepEqual(r3.resources.map((r) => r.name), ["b"]);
  s.send({ typeUrl: TYPE_URL.clusterLoadAssignment, responseNonce: r3.nonce });
  // ghost springs into existence: sent.
  cp.setSnapshot({ version: "4", endpoints: [loadAssignment("a", 11), loadAssignment("b", 22), loadAssignment("ghost", 3)] });
  assert.deepEqual((await s.next()).resources.map((r) => r.name), ["ghost"]);
}, { timeoutMs: 10_000 });

test("delta: reconnect with initial_resource_versions is sent only what differs", async (t) => {
  const cp = await server(t, false);
  cp.setSnapshot({ version: "1", clusters: [edsCluster("a"), edsCluster("b"), edsCluster("c")] });
  const s = openDelta(cp.port);
  t.defer(() => s.close());
  s.send({ node: NODE, typeUrl: TYPE_URL.cluster, resourceNamesSubscribe: ["*"] });
  const r1 = await s.next();
  const versions = Object.fromEntries(r1.resources.map((r) => [r.name, r.version]));
  assert.deepEqual(Object.keys(versions).sort(), ["a", "b", "c"]);
  s.close();
  // While disconnected: b changes, c goes away, d appears.
  cp.setSnapshot({ version: "2", clusters: [edsCluster("a"), edsCluster("b", "3s"), edsCluster("d")] });
  const s2 = openDelta(cp.port);
  t.defer(() => s2.close());
  s2.send({ node: NODE, typeUrl: TYPE_URL.cluster, resourceNamesSubscribe: ["*"], initialResourceVersions: versions });
  const r2 = await s2.next();
  assert.deepEqual(r2.resources.map((r) => r.name).sort(), ["b", "d"]);
  assert.deepEqual(r2.removedResources, ["c"]);
  s2.send({ typeUrl: TYPE_URL.cluster, responseNonce: r2.nonce });
  await s2.expectNone(200);
});

test("delta: unsubscribing '*' ends the wildcard; a specific name keeps coming", async (t) => {
  const cp = await server(t, false);
  cp.setSnapshot({ version: "1", clusters: [edsCluster("a"), edsCluster("b")] });
  const s = openDelta(cp.port, "cds");
  t.defer(() => s.close());
  s.send({ node: NODE, typeUrl: TYPE_URL.cluster, resourceNamesSubscribe: ["*", "a"] });
  const r1 = await s.next();
  assert.deepEqual(r1.resources.map((r) => r.name).sort(), ["a", "b"]);
  s.send({ typeUrl: TYPE_URL.cluster, responseNonce: r1.nonce, resourceNamesUnsubscribe: ["*"] });
  await s.expectNone(200);
  cp.setSnapshot({ version: "2", clusters: [edsCluster("a", "5s"), edsCluster("b", "5s")] });
  const r2 = await s.next();
  assert.deepEqual(r2.resources.map((r) => r.name), ["a"]);
});

test("dropStreams ends every stream with UNAVAILABLE; connectedStreams follows", async (t) => {
  const cp = await server(t);
  const s = openSotw(cp.port);
  const d = openDelta(cp.port);
  t.defer(() => s.close());
  t.defer(() => d.close());
  s.send({ node: NODE, typeUrl: TYPE_URL.cluster });
  d.send({ node: NODE, typeUrl: TYPE_URL.cluster });
  await s.next();
  await d.next();
  await cp.waitForStreams((ss) => ss.length === 2);
  cp.dropStreams();
  assert.match(String((await s.ended())?.message), /unavailable|dropped/i);
  assert.match(String((await d.ended())?.message), /unavailable|dropped/i);
  await cp.waitForStreams((ss) => ss.length === 0);
});

test("delta: with a wildcard, unsubscribing a specific name resends it (or removes it if not covered)", async (t) => {
  const cp = await server(t, false);
  cp.setSnapshot({ version: "1", clusters: [edsCluster("a"), edsCluster("b")] });
  const s = openDelta(cp.port);
  t.defer(() => s.close());
  s.send({ node: NODE, typeUrl: TYPE_URL.cluster, resourceNamesSubscribe: ["*", "a", "ghost"] });
  const r1 = await s.next();
  assert.deepEqual(r1.resources.map((r) => r.name).sort(), ["a", "b"]);
  assert.deepEqual(r1.removedResources, ["ghost"]);
  s.send({ typeUrl: TYPE_URL.cluster, responseNonce: r1.nonce, resourceNamesUnsubscribe: ["a", "ghost"] });
  const r2 = await s.next();
  assert.deepEqual(r2.resources.map((r) => r.name), ["a"]);
  assert.deepEqual(r2.removedResources, ["ghost"]);
});
