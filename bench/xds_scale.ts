/**
 * xDS at scale (issue #7): Legate (a separate process: dist/legate, else `bun src/main.ts`) on
 * ADS from the repo's management server (in this process). Live traffic runs on one route while
 * a snapshot with N clusters x M endpoints and N routes is pushed. Reports:
 *   - time from the push to the ACK of every type, and to the first 200 on the last new route,
 *   - Legate's RSS before and after,
 *   - p50/p99 latency of the live requests before the push and during it (push → +1 s after apply).
 *
 *   node_modules/.bin/bun bench/xds_scale.ts
 *   knobs: XDS_CLUSTERS=1000 XDS_ENDPOINTS=10 XDS_MODE=GRPC|DELTA_GRPC LEGATE_BIN=dist/legate
 *
 * A tool, not part of the proxy: it may use node:* freely.
 */
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, renameSync, writeFileSync } from "node:fs";
import * as http from "node:http";
import type * as net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { edsCluster, loadAssignment, rdsListener } from "../src/xds/server/testdata.ts";

const N = Number(process.env.XDS_CLUSTERS ?? 1000);
const M = Number(process.env.XDS_ENDPOINTS ?? 10);
const MODE = (process.env.XDS_MODE ?? "GRPC") as "GRPC" | "DELTA_GRPC";
const root = new URL("..", import.meta.url).pathname;

/** A free port, found by a short-lived child process (Bun's in-process server.close() may keep
 *  the socket, and Legate binds with SO_REUSEPORT: it would share the port with a ghost). */
function freePort(): number {
  const out = spawnSync(process.execPath, ["-e", `const s=require("node:net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close(()=>process.exit(0))})`]);
  return Number(String(out.stdout).trim());
}

// Upstreams: M tiny HTTP servers; every cluster uses all of them.
const upstreams: http.Server[] = [];
const upstreamPorts: number[] = [];
for (let i = 0; i < M; i++) {
  const s = http.createServer((_req, res) => res.end("ok"));
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", () => r()));
  upstreams.push(s);
  upstreamPorts.push((s.address() as net.AddressInfo).port);
}

const listenerPort = freePort();
if (process.env.XDS_DEBUG) console.error(`listener port ${listenerPort}`);
const adminPort = freePort();

function routes(n: number) {
  const rs = [{ match: { prefix: "/live" }, route: { cluster: "c0" } }];
  for (let i = 0; i < n; i++) rs.push({ match: { prefix: `/svc/${i}/` }, route: { cluster: `c${i}` } });
  return [{ name: "r0", virtual_hosts: [{ name: "all", domains: ["*"], routes: rs }] }];
}
function snapshot(version: string, n: number) {
  return {
    version,
    listeners: [rdsListener("l0", listenerPort, "r0")],
    routes: routes(n),
    clusters: Array.from({ length: Math.max(n, 1) }, (_, i) => edsCluster(`c${i}`)),
    endpoints: Array.from({ length: Math.max(n, 1) }, (_, i) => loadAssignment(`c${i}`, ...upstreamPorts)),
  };
}

// The management server runs in its own process (the bench process generates load and must not
// share an event loop with it), serving a snapshot file that is replaced by atomic rename.
const dir = mkdtempSync(join(tmpdir(), "legate-xds-bench-"));
const snapFile = join(dir, "snapshot.json");
function writeSnapshot(version: string, n: number): void {
  const s = snapshot(version, n);
  writeFileSync(snapFile + ".tmp", JSON.stringify({ version: s.version, resources: { listeners: s.listeners, routes: s.routes, clusters: s.clusters, endpoints: s.endpoints } }));
  renameSync(snapFile + ".tmp", snapFile);
}
writeSnapshot("1", 1);
const cpPort = freePort();
const cpProc = spawn(join(root, "node_modules/.bin/bun"), [join(root, "src/main.ts"), "xds-server", "--snapshot", snapFile, "--port", String(cpPort), "--poll-ms", "50", "-l", "warning"], { stdio: ["ignore", "inherit", "inherit"] });
const cp = { port: cpPort };
const config = join(dir, "legate.json");
writeFileSync(config, JSON.stringify({
  node: { id: "bench", cluster: "bench" },
  admin: { address: { socket_address: { address: "127.0.0.1", port_value: adminPort } } },
  dynamic_resources: {
    ads_config: { api_type: MODE, transport_api_version: "V3", grpc_services: [{ envoy_grpc: { cluster_name: "xds" } }] },
    cds_config: { ads: {}, resource_api_version: "V3" },
    lds_config: { ads: {}, resource_api_version: "V3" },
  },
  static_resources: {
    clusters: [{
      name: "xds",
      connect_timeout: "1s",
      http2_protocol_options: {},
      load_assignment: { cluster_name: "xds", endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: cp.port } } } }] }] },
    }],
  },
}));
// LEGATE_BIN=path runs a compiled binary (e.g. dist/legate after `make build`); default: source.
const cmd = process.env.LEGATE_BIN ? [process.env.LEGATE_BIN] : [join(root, "node_modules/.bin/bun"), join(root, "src/main.ts")];
const child = spawn(cmd[0]!, [...cmd.slice(1), "-c", config, "--concurrency", "1", "--disable-hot-restart", "-l", process.env.LEGATE_LOG ?? "warning"], { stdio: ["ignore", "inherit", "inherit"] });
const cleanup = async () => {
  child.kill("SIGTERM");
  cpProc.kill("SIGTERM");
  for (const s of upstreams) s.close();
};

async function waitUntil(f: () => Promise<boolean>, what: string, ms = 60_000): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (process.env.XDS_DEBUG) console.error(`waiting: ${what}`);
    if (await f().catch((e) => (process.env.XDS_DEBUG && console.error(e), false))) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`timed out: ${what}`);
}
/** GET over node:http (Bun's fetch in a process that also runs an http2 server refused to
 *  connect here; node:http does not). */
function get(port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http.get({ host: "127.0.0.1", port, path, agent: false }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c) => (body += c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    }).on("error", reject);
  });
}
async function rss(): Promise<number> {
  const m = JSON.parse((await get(adminPort, "/memory")).body) as { heap_size: string };
  return Number(m.heap_size);
}

try {
  await waitUntil(async () => (await get(listenerPort, "/live")).status === 200, "Legate serving v1");
  // Live traffic: 4 concurrent request loops on keep-alive connections.
  const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
  const samples: { at: number; ms: number; status: number }[] = [];
  let stop = false;
  const loop = async () => {
    while (!stop) {
      const t0 = performance.now();
      const status = await new Promise<number>((resolve) => {
        http.get({ host: "127.0.0.1", port: listenerPort, path: "/live", agent }, (res) => {
          res.resume();
          res.on("end", () => resolve(res.statusCode ?? 0));
        }).on("error", () => resolve(0));
      });
      samples.push({ at: t0, ms: performance.now() - t0, status });
    }
  };
  const loops = Array.from({ length: 4 }, loop);
  await new Promise((r) => setTimeout(r, 2000));
  const rssBefore = await rss();
  const stat = async (name: string): Promise<number> => {
    const text = (await get(adminPort, `/stats?filter=^${name.replaceAll(".", "\\.")}$`)).body;
    return Number(/: (\d+)/.exec(text)?.[1] ?? 0);
  };
  const base = { cds: await stat("cluster_manager.cds.update_success"), lds: await stat("listener_manager.lds.update_success"), rds: await stat("rds.r0.update_success") };
  const pushAt = performance.now();
  writeSnapshot("2", N);
  const acked: Record<string, number> = {};
  await Promise.all(([["CDS", "cluster_manager.cds.update_success", base.cds], ["LDS", "listener_manager.lds.update_success", base.lds], ["RDS", "rds.r0.update_success", base.rds]] as const).map(async ([t, name, b]) => {
    if (t === "LDS") return; // the listener does not change in this push
    await waitUntil(async () => (await stat(name)) > b, `${t} applied`, 120_000);
    acked[t] = performance.now() - pushAt;
  }));
  await waitUntil(async () => (await get(listenerPort, `/svc/${N - 1}/x`)).status === 200, "last route serving", 120_000);
  const servingAt = performance.now() - pushAt;
  await new Promise((r) => setTimeout(r, 1000));
  stop = true;
  await Promise.all(loops);
  const rssAfter = await rss();
  const pct = (xs: number[], p: number) => {
    const s = [...xs].sort((a, b) => a - b);
    return s.length ? s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]! : NaN;
  };
  const before = samples.filter((s) => s.at < pushAt).map((s) => s.ms);
  const during = samples.filter((s) => s.at >= pushAt).map((s) => s.ms);
  const failed = samples.filter((s) => s.status !== 200).length;
  const f = (x: number) => x.toFixed(1);
  console.log(`xDS scale (${MODE}): ${N} clusters x ${M} endpoints, ${N} routes, one push`);
  console.log(`| figure | value |`);
  console.log(`| --- | --- |`);
  console.log(`| accepted after push (ms, file rename to update_success) | CDS ${f(acked.CDS!)}, RDS ${f(acked.RDS!)} |`);
  console.log(`| last new route serving after push (ms) | ${f(servingAt)} |`);
  console.log(`| Legate RSS before / after (MiB) | ${f(rssBefore / 2 ** 20)} / ${f(rssAfter / 2 ** 20)} |`);
  console.log(`| live requests before push: n, p50, p99 (ms) | ${before.length}, ${f(pct(before, 50))}, ${f(pct(before, 99))} |`);
  console.log(`| live requests during push (+1 s): n, p50, p99, max (ms) | ${during.length}, ${f(pct(during, 50))}, ${f(pct(during, 99))}, ${f(pct(during, 100))} |`);
  console.log(`| live requests failed | ${failed} |`);
  agent.destroy();
} finally {
  await cleanup();
}
process.exit(0);
