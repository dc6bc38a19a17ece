/**
 * The test/example xDS management server end to end: snapshot files watched and replaced by
 * atomic rename, snapshot directories, REST-JSON, and the `legate xds-server` command.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test, type TestContext, waitFor } from "../harness.ts";
import { ROOT, startBinary } from "../helpers/binary.ts";
import { TYPE_URL } from "../../src/xds/type_registry.ts";
import { startXdsServer } from "../../src/xds/server/server.ts";
import { openSotw } from "../../src/xds/server/test_client.ts";
import { basicSnapshot, resourceNameOf } from "../../src/xds/server/testdata.ts";
import { buildSnapshot, checkConsistency, snapshotInputFromDocument } from "../../src/xds/server/snapshot.ts";
import { parse as parseYaml } from "yaml";
import { loadBootstrap } from "../../src/config/load.ts";

const NODE = { id: "it-node", cluster: "it" };

function tempDir(t: TestContext): string {
  const d = mkdtempSync(join(tmpdir(), "legate-xds-"));
  t.defer(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

/** Writes `doc` to `path` the safe way: a temp file, then rename over the target. */
function replaceAtomically(path: string, doc: unknown): void {
  const tmp = `${path}.tmp`;
  writeFileSync(tmp, JSON.stringify(doc, null, 1));
  renameSync(tmp, path);
}

const fileDoc = (version: string, ports: number[]) => {
  const s = basicSnapshot(version, { ports });
  return { version, resources: { listeners: s.listeners, routes: s.routes, clusters: s.clusters, endpoints: s.endpoints } };
};

test("snapshot file replaced by atomic rename is pushed; a broken one is not applied", async (t) => {
  const dir = tempDir(t);
  const file = join(dir, "snapshot.json");
  replaceAtomically(file, fileDoc("1", [8001]));
  const cp = await startXdsServer({ port: 0, snapshotPath: file, pollMs: 50 });
  t.defer(() => cp.close());
  assert.equal(cp.snapshot?.version, "1");
  const s = openSotw(cp.port);
  t.defer(() => s.close());
  s.send({ node: NODE, typeUrl: TYPE_URL.clusterLoadAssignment, resourceNames: ["c0"] });
  const r1 = await s.next();
  assert.equal(r1.versionInfo, "1");
  s.send({ typeUrl: TYPE_URL.clusterLoadAssignment, resourceNames: ["c0"], versionInfo: "1", responseNonce: r1.nonce });
  await cp.waitForAck({ type: "EDS", version: "1" });

  replaceAtomically(file, fileDoc("2", [8002]));
  const r2 = await s.next(3000);
  assert.equal(r2.versionInfo, "2");
  assert.deepEqual(r2.resources.map((a) => resourceNameOf(a)), ["c0"]);
  s.send({ typeUrl: TYPE_URL.clusterLoadAssignment, resourceNames: ["c0"], versionInfo: "2", responseNonce: r2.nonce });
  await cp.waitForAck({ type: "EDS", version: "2" });

  // Not YAML/JSON, then a resource that does not convert: neither is applied, version 2 stays.
  writeFileSync(`${file}.tmp`, "{ not json");
  renameSync(`${file}.tmp`, file);
  await waitFor(() => cp.snapshotPathError, "the parse error to be reported", 3000);
  const bad = fileDoc("3", [8003]);
  (bad.resources.clusters![0] as Record<string, unknown>).connect_timeout = "soon";
  replaceAtomically(file, bad);
  await waitFor(() => /connect_timeout|Duration/i.test(cp.snapshotPathError?.message ?? ""), "the conversion error to be reported", 3000);
  assert.equal(cp.snapshot?.version, "2");
  await s.expectNone(200);

  replaceAtomically(file, fileDoc("4", [8004]));
  assert.equal((await s.next(3000)).versionInfo, "4");
  assert.equal(cp.snapshotPathError, undefined);
});

test("snapshot directory: the last file by name (numbers compared as numbers) is served", async (t) => {
  const dir = tempDir(t);
  replaceAtomically(join(dir, "v1.json"), fileDoc("1", [1]));
  replaceAtomically(join(dir, "v2.json"), { resources: fileDoc("x", [2]).resources }); // version from the name
  writeFileSync(join(dir, ".v99.json.swp"), "ignored");
  const cp = await startXdsServer({ port: 0, snapshotPath: dir, pollMs: 50 });
  t.defer(() => cp.close());
  assert.equal(cp.snapshot?.version, "v2");
  const s = openSotw(cp.port);
  t.defer(() => s.close());
  s.send({ node: NODE, typeUrl: TYPE_URL.cluster });
  const r1 = await s.next();
  assert.equal(r1.versionInfo, "v2");
  s.send({ typeUrl: TYPE_URL.cluster, versionInfo: r1.versionInfo, responseNonce: r1.nonce });
  const doc = fileDoc("10", [10]);
  (doc.resources.clusters![0] as Record<string, unknown>).connect_timeout = "10s";
  replaceAtomically(join(dir, "v10.json"), doc);
  const r2 = await s.next(3000);
  assert.equal(r2.versionInfo, "10");
});

test("REST-JSON: POST /v3/discovery:<type> answers, 304 when unchanged, NACK logged", async (t) => {
  const cp = await startXdsServer({ port: 0, restPort: 0, snapshot: basicSnapshot("1") });
  t.defer(() => cp.close());
  const url = (type: string) => `http://127.0.0.1:${cp.restPort}/v3/discovery:${type}`;
  const post = (type: string, body: unknown) => fetch(url(type), { method: "POST", body: JSON.stringify(body), headers: { "content-type": "application/json" } });

  const r1 = await post("clusters", { node: NODE, typeUrl: TYPE_URL.cluster });
  assert.equal(r1.status, 200);
  const j1 = await r1.json() as { versionInfo: string; typeUrl: string; resources: { "@type": string; name: string; type: string }[] };
  assert.equal(j1.versionInfo, "1");
  assert.equal(j1.typeUrl, TYPE_URL.cluster);
  assert.equal(j1.resources[0]!["@type"], TYPE_URL.cluster);
  assert.equal(j1.resources[0]!.name, "c0");
  assert.equal(j1.resources[0]!.type, "EDS");

  const r2 = await post("clusters", { node: NODE, version_info: "1", type_url: TYPE_URL.cluster }); // snake_case works too
  assert.equal(r2.status, 304);
  await r2.body?.cancel();
  await cp.waitForAck({ type: "clusters", version: "1", protocol: "rest", nodeId: "it-node" });

  const r3 = await post("endpoints", { node: NODE, resourceNames: ["c0", "nope"] });
  const j3 = await r3.json() as { resources: { clusterName: string }[] };
  assert.deepEqual(j3.resources.map((r) => r.clusterName), ["c0"]);

  cp.setSnapshot(basicSnapshot("2", { connectTimeout: "2s" }));
  const r4 = await post("clusters", { node: NODE, versionInfo: "1" });
  assert.equal((await r4.json() as { versionInfo: string }).versionInfo, "2");
  const r5 = await post("clusters", { node: NODE, versionInfo: "1", errorDetail: { code: 3, message: "c0: rejected" } });
  assert.equal(r5.status, 304); // the rejected version is not served again
  await r5.body?.cancel();
  const nack = await cp.waitForNack({ type: "clusters", protocol: "rest", errorDetail: /rejected/ });
  assert.equal(nack.version, "2");

  const r6 = await fetch(`http://127.0.0.1:${cp.restPort}/v3/discovery:secrets`, { method: "POST", body: "{}" });
  assert.equal(r6.status, 404);
  await r6.body?.cancel();
  const r7 = await post("listeners", { typeUrl: TYPE_URL.cluster });
  assert.equal(r7.status, 400);
  await r7.body?.cancel();
});

test("examples/xds/snapshot.yaml is a consistent snapshot", () => {
  const doc = parseYaml(readFileSync(join(ROOT, "examples/xds/snapshot.yaml"), "utf8"));
  const snap = buildSnapshot(snapshotInputFromDocument(doc));
  assert.deepEqual(checkConsistency(snap), { consistent: true, issues: [] });
  assert.deepEqual([...snap.types.listeners.resources.keys()], ["ingress", "demo_upstream"]);
});

test("examples/xds/bootstrap.yaml is a valid bootstrap (dynamic_resources over ADS)", () => {
  const text = readFileSync(join(ROOT, "examples/xds/bootstrap.yaml"), "utf8");
  loadBootstrap({ text, sourceName: "examples/xds/bootstrap.yaml" });
  const raw = parseYaml(text) as { dynamic_resources: Record<string, unknown> };
  assert.deepEqual(raw.dynamic_resources.cds_config, { ads: {}, resource_api_version: "V3" });
});

test("legate xds-server serves a snapshot file over ADS and REST", async (t) => {
  const isDeno = "Deno" in globalThis;
  const args = [...(isDeno ? ["run", "-A"] : []), "src/main.ts", "xds-server", "--snapshot", "examples/xds/snapshot.yaml", "--port", "0", "--rest-port", "0"];
  await using proc = startBinary(args, process.execPath);
  const m = await waitFor(() => /listening on 127\.0\.0\.1:(\d+) .*REST-JSON on 127\.0\.0\.1:(\d+)/.exec(proc.stderr()), `the listening line in:\n${proc.stderr()}`, 15000);
  const [grpcPort, restPort] = [Number(m![1]), Number(m![2])];
  const s = openSotw(grpcPort);
  t.defer(() => s.close());
  s.send({ node: NODE, typeUrl: TYPE_URL.listener });
  const r = await s.next();
  assert.equal(r.versionInfo, "1");
  assert.deepEqual(r.resources.map((a) => resourceNameOf(a)).sort(), ["demo_upstream", "ingress"]);
  s.send({ typeUrl: TYPE_URL.listener, versionInfo: "1", responseNonce: r.nonce });
  await waitFor(() => /ACK listeners version '1'/.test(proc.stderr()), "the ACK in the log", 5000);
  const res = await fetch(`http://127.0.0.1:${restPort}/v3/discovery:routes`, { method: "POST", body: JSON.stringify({ resourceNames: ["local_route"] }) });
  assert.equal(res.status, 200);
  assert.equal((await res.json() as { resources: { name: string }[] }).resources[0]!.name, "local_route");
  s.close();
  proc.signal("SIGTERM");
  assert.equal(await proc.exited(5000), 0);
}, { timeoutMs: 30_000 });

test("legate xds-server refuses a missing snapshot and bad flags", async () => {
  const isDeno = "Deno" in globalThis;
  const pre = isDeno ? ["run", "-A"] : [];
  await using a = startBinary([...pre, "src/main.ts", "xds-server", "--snapshot", "/nonexistent/snap.yaml", "--port", "0"], process.execPath);
  assert.equal(await a.exited(15000), 1);
  assert.match(a.stderr(), /does not exist/);
  await using b = startBinary([...pre, "src/main.ts", "xds-server", "--port", "x"], process.execPath);
  assert.equal(await b.exited(15000), 1);
  assert.match(b.stderr(), /--port must be a port number/);
}, { timeoutMs: 30_000 });
