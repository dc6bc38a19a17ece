/**
 * The compiled binary, driven as a user would: --version, --mode validate, serving a config,
 * the quickstart that `make run` starts, POST /quitquitquit.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test, waitFor } from "../harness.ts";
import { runBinary, startBinary } from "../helpers/binary.ts";
import { freePort } from "../helpers/ports.ts";
import { simpleConfig } from "../helpers/proxy.ts";
import { adsBootstrap } from "../helpers/xds.ts";
import { startUpstream } from "../helpers/upstream.ts";

function tempFile(name: string, text: string): { path: string; [Symbol.dispose](): void } {
  const dir = mkdtempSync(join(tmpdir(), "legate-e2e-"));
  const path = join(dir, name);
  writeFileSync(path, text);
  return { path, [Symbol.dispose]: () => rmSync(dir, { recursive: true, force: true }) };
}

test("binary: --version and --help", () => {
  const v = runBinary(["--version"]);
  assert.equal(v.status, 0);
  assert.match(v.stdout, /^legate version: \d+\.\d+\.\d+ \(bun /);
  const h = runBinary(["--help"]);
  assert.equal(h.status, 0);
  assert.match(h.stdout, /--config-path/);
  const bad = runBinary(["--bogus"]);
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /unknown option '--bogus'/);
}, { timeoutMs: 30000 });

test("binary: --mode validate accepts the quickstart and prints OK", () => {
  const r = runBinary(["--mode", "validate", "-c", "examples/quickstart.yaml"]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /OK/);
});

test("binary: --mode validate prints every error with its path and exits 1", () => {
  using f = tempFile("bad.yaml", `
static_resources:
  clusters:
  - name: a
    type: STATIC
    lb_policy: CLUSTER_PROVIDED
    connect_timeout: 1s
  - name: b
    type: STATIC
    bogus_field: 1
`);
  const r = runBinary(["--mode", "validate", "-c", f.path]);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /static_resources\.clusters\[0\]\.lb_policy: CLUSTER_PROVIDED is not supported yet/);
  assert.match(r.stderr, /static_resources\.clusters\[1\]: unknown field "bogus_field"/);
});

test("binary: a missing file and a YAML syntax error are reported clearly", () => {
  const missing = runBinary(["--mode", "validate", "-c", "/nonexistent/legate.yaml"]);
  assert.equal(missing.status, 1);
  assert.match(missing.stderr, /cannot read config file '\/nonexistent\/legate\.yaml': ENOENT/);
  using f = tempFile("syntax.yaml", "admin:\n  address: [unclosed\n");
  const r = runBinary(["--mode", "validate", "-c", f.path]);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /syntax\.yaml:\d+:\d+: /);
});

test("binary: serves a config, counts the request, exits on POST /quitquitquit", async () => {
  await using up = await startUpstream();
  using f = tempFile("serve.json", JSON.stringify(simpleConfig({ upstreamPorts: [up.port] })));
  await using bin = startBinary(["-c", f.path, "--log-level", "info"]);
  const admin = await bin.adminPort();
  const listeners = await (await fetch(`http://127.0.0.1:${admin}/listeners?format=json`)).json() as {
    listener_statuses: { local_address: { socket_address: { port_value: number } } }[];
  };
  const port = listeners.listener_statuses[0]!.local_address.socket_address.port_value;
  const res = await fetch(`http://127.0.0.1:${port}/through`);
  assert.equal(await res.text(), "upstream saw GET /through");
  const stats = await (await fetch(`http://127.0.0.1:${admin}/stats?filter=downstream_rq_2xx`)).text();
  assert.match(stats, /http\.ingress\.downstream_rq_2xx: 1/);
  const get = await fetch(`http://127.0.0.1:${admin}/quitquitquit`);
  assert.equal(get.status, 405, "mutating admin endpoints require POST");
  await get.text();
  const q = await fetch(`http://127.0.0.1:${admin}/quitquitquit`, { method: "POST" });
  assert.equal(await q.text(), "OK\n");
  assert.equal(await bin.exited(), 0);
}, { timeoutMs: 20000 });

test("binary (supervisor): POST /quitquitquit while xDS initialises exits 0; /ready said 503 before", async () => {
  using f = tempFile("init.json", JSON.stringify(adsBootstrap(freePort(), { initialFetchTimeout: "30s" })));
  await using bin = startBinary(["-c", f.path, "--concurrency", "1"]);
  const admin = await bin.adminPort({ live: false });
  const ready = await fetch(`http://127.0.0.1:${admin}/ready`);
  assert.equal(ready.status, 503);
  assert.equal((await ready.text()).trim(), "INITIALIZING");
  const q = await fetch(`http://127.0.0.1:${admin}/quitquitquit`, { method: "POST" });
  assert.equal(await q.text(), "OK\n");
  assert.equal(await bin.exited(), 0, bin.stderr());
}, { timeoutMs: 20000 });

test("binary: the quickstart answers through the proxy (what make run starts)", async () => {
  await using bin = startBinary(["-c", "examples/quickstart.yaml"]);
  await bin.adminPort();
  const body = await (await fetch("http://127.0.0.1:10000/")).text();
  assert.match(body, /^Hello from Legate/);
  const stats = await (await fetch("http://127.0.0.1:9901/stats")).text();
  assert.match(stats, /http\.ingress\.downstream_rq_2xx: 1\n/);
  assert.match(stats, /cluster\.demo\.upstream_rq_2xx: 1\n/);
  await waitFor(() => bin.stdout().includes('"GET / HTTP/1.1" 200 -'), "the access log line on stdout");
  bin.signal("SIGTERM");
  assert.equal(await bin.exited(), 0);
}, { timeoutMs: 20000 });

for (const mode of ["supervisor", "standalone"] as const) {
  test(`binary (${mode}): SIGTERM drains — a request in flight completes, then the process exits 0`, async () => {
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    await using up = await startUpstream((req, res) => {
      if (req.url === "/slow") void held.then(() => res.end("finished"));
      else res.end("ok");
    });
    using f = tempFile("drain.json", JSON.stringify(simpleConfig({ upstreamPorts: [up.port] })));
    const extra = mode === "standalone" ? ["--disable-hot-restart"] : [];
    await using bin = startBinary(["-c", f.path, "--concurrency", "1", "--drain-time-s", "10", ...extra]);
    const admin = await bin.adminPort();
    const listeners = await (await fetch(`http://127.0.0.1:${admin}/listeners?format=json`)).json() as {
      listener_statuses: { local_address: { socket_address: { port_value: number } } }[];
    };
    const port = listeners.listener_statuses[0]!.local_address.socket_address.port_value;
    const slow = fetch(`http://127.0.0.1:${port}/slow`);
    await waitFor(() => up.requests.length === 1, "the slow request to reach the upstream");
    bin.signal("SIGTERM");
    await new Promise((r) => setTimeout(r, 200));
    release();
    const res = await slow;
    assert.equal(res.status, 200);
    assert.equal(await res.text(), "finished");
    assert.equal(await bin.exited(10000), 0);
  }, { timeoutMs: 30000 });
}
