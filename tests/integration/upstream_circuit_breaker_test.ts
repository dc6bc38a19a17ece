/**
 * Circuit breakers through the proxy with real sockets: max_requests, max_connections with a
 * pending queue, max_pending_requests; overflow is 503 UO with x-envoy-overloaded.
 */
import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import type * as http from "node:http";
import * as net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { waitForFile } from "../helpers/files.ts";
import { test, waitFor } from "../harness.ts";
import { simpleConfig, startProxy } from "../helpers/proxy.ts";
import { startUpstream } from "../helpers/upstream.ts";

type Json = Record<string, any>; // deno-lint-ignore no-explicit-any

function withCluster(cfg: Json, extra: Json): Json {
  Object.assign(cfg.static_resources.clusters[0], extra);
  return cfg;
}

/** An upstream that holds every response until `release()`. */
async function holdingUpstream() {
  const held: http.ServerResponse[] = [];
  const up = await startUpstream((_req, res) => {
    held.push(res);
  });
  return {
    up,
    held,
    release() {
      for (const r of held.splice(0)) {
        r.writeHead(200, { "content-length": "2" });
        r.end("ok");
      }
    },
  };
}

test("circuit breaker: max_requests overflow is 503 UO with x-envoy-overloaded", async (t) => {
  const h = await holdingUpstream();
  await using _up = h.up;
  const log = join(tmpdir(), `legate-cb-${Date.now()}-${Math.random()}.log`);
  t.defer(() => rmSync(log, { force: true }));
  const cfg = withCluster(simpleConfig({ upstreamPorts: [h.up.port], accessLogPath: log }), {
    circuit_breakers: { thresholds: [{ max_requests: 1 }] },
  });
  await using proxy = await startProxy(cfg);
  const first = fetch(proxy.url("/one"));
  await waitFor(() => h.held.length === 1, "the first request at the upstream");
  const second = await fetch(proxy.url("/two"));
  assert.equal(second.status, 503);
  assert.equal(second.headers.get("x-envoy-overloaded"), "true");
  assert.match(await second.text(), /overflow/);
  assert.equal(proxy.stat("cluster.backend.upstream_rq_pending_overflow"), 1);
  assert.equal(proxy.stat("cluster.backend.circuit_breakers.default.rq_open"), 1);
  h.release();
  assert.equal((await first).status, 200);
  await waitFor(() => proxy.stat("cluster.backend.circuit_breakers.default.rq_open") === 0, "rq_open back to 0");
  // After the first completes the breaker has room again.
  const third = fetch(proxy.url("/three"));
  await waitFor(() => h.held.length === 1, "the third request at the upstream");
  h.release();
  assert.equal((await third).status, 200);
  // The access log is written in batches: the file may not exist yet on the first polls.
  await waitForFile(log, "the UO access log line", (t) => t.includes("503 UO /two"));
});

test("circuit breaker: max_connections queues as pending; max_pending_requests overflows", async () => {
  const h = await holdingUpstream();
  await using _up = h.up;
  const cfg = withCluster(simpleConfig({ upstreamPorts: [h.up.port] }), {
    circuit_breakers: { thresholds: [{ max_connections: 1, max_pending_requests: 1 }] },
  });
  await using proxy = await startProxy(cfg);
  const first = fetch(proxy.url("/a"));
  await waitFor(() => h.held.length === 1, "first at upstream");
  const second = fetch(proxy.url("/b")); // pending: no connection slot
  await waitFor(() => proxy.stat("cluster.backend.upstream_rq_pending_active") === 1, "second pending");
  const third = await fetch(proxy.url("/c")); // pending queue full
  assert.equal(third.status, 503);
  assert.equal(third.headers.get("x-envoy-overloaded"), "true");
  await third.text();
  assert.ok(proxy.stat("cluster.backend.upstream_cx_overflow") >= 1);
  assert.equal(proxy.stat("cluster.backend.upstream_rq_pending_total"), 1);
  assert.equal(proxy.stat("cluster.backend.upstream_rq_pending_overflow"), 1);
  h.release();
  assert.equal(await (await first).text(), "ok");
  // The pending request gets the freed keep-alive connection.
  await waitFor(() => h.held.length === 1, "second at upstream");
  h.release();
  assert.equal(await (await second).text(), "ok");
  assert.equal(h.up.connections, 1, "one upstream connection served both (max_connections 1)");
  assert.equal(proxy.stat("cluster.backend.upstream_rq_pending_active"), 0);
});

test("circuit breaker: a pending request abandoned by its client leaves the queue", async () => {
  const h = await holdingUpstream();
  await using _up = h.up;
  const cfg = withCluster(simpleConfig({ upstreamPorts: [h.up.port] }), {
    circuit_breakers: { thresholds: [{ max_connections: 1, max_pending_requests: 1 }] },
  });
  await using proxy = await startProxy(cfg);
  const first = fetch(proxy.url("/a"));
  await waitFor(() => h.held.length === 1, "first at upstream");
  // A raw client (fetch implementations differ in when an abort closes the socket).
  const sock = net.connect(proxy.port(), "127.0.0.1");
  sock.on("error", () => {});
  sock.write("GET /b HTTP/1.1\r\nhost: x\r\n\r\n");
  await waitFor(() => proxy.stat("cluster.backend.upstream_rq_pending_active") === 1, "second pending");
  sock.resetAndDestroy();
  await waitFor(() => proxy.stat("cluster.backend.upstream_rq_pending_active") === 0, "pending cancelled");
  assert.equal(proxy.stat("cluster.backend.upstream_rq_cancelled"), 1);
  h.release();
  assert.equal((await first).status, 200);
});
