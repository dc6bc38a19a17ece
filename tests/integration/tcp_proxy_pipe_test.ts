/**
 * envoy.filters.network.tcp_proxy with real sockets: the byte pipe, half-close both ways,
 * connect failures and max_connect_attempts, weighted clusters, idle timeout, no route,
 * backpressure and access logs.
 */
import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import * as net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { waitForFile } from "../helpers/files.ts";
import { test, waitFor } from "../harness.ts";
import { startProxy } from "../helpers/proxy.ts";
import { rawConnect } from "../helpers/raw_client.ts";
import { closedPort, startRawServer } from "../helpers/upstream.ts";

type Json = Record<string, any>; // deno-lint-ignore no-explicit-any

const TCP_PROXY = "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy";

function cluster(name: string, ports: number[], extra: Json = {}): Json {
  return {
    name,
    type: "STATIC",
    connect_timeout: "1s",
    load_assignment: {
      cluster_name: name,
      endpoints: [{ lb_endpoints: ports.map((p) => ({ endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: p } } } })) }],
    },
    ...extra,
  };
}

/** One listener whose only filter is tcp_proxy with `tcp` (stat_prefix "tp" unless given). */
function tcpConfig(tcp: Json, clusters: Json[], listener: Json = {}): Json {
  return {
    static_resources: {
      listeners: [{
        name: "tcp",
        address: { socket_address: { address: "127.0.0.1", port_value: 0 } },
        filter_chains: [{ filters: [{ name: "envoy.filters.network.tcp_proxy", typed_config: { "@type": TCP_PROXY, stat_prefix: "tp", ...tcp } }] }],
        ...listener,
      }],
      clusters,
    },
  };
}

/** Connects and collects what arrives until the proxy closes the connection (the connect itself
 *  may fail with a reset when the proxy closes at once). */
async function untilClosed(port: number, timeoutMs = 5000): Promise<string> {
  const s = net.connect({ host: "127.0.0.1", port });
  let got = "";
  let closed = false;
  s.on("data", (d) => (got += d.toString()));
  s.on("error", () => {});
  s.on("close", () => (closed = true));
  try {
    await waitFor(() => closed, "the proxy to close the connection", timeoutMs);
  } finally {
    s.destroy();
  }
  return got;
}

const echo = (s: net.Socket) => s.on("data", (d) => s.write(d));

test("tcp_proxy: bytes go both ways and are counted", async () => {
  await using up = await startRawServer(echo);
  await using proxy = await startProxy(tcpConfig({ cluster: "b" }, [cluster("b", [up.port])]));
  await using c = await rawConnect(proxy.port());
  c.write("hello ");
  await c.waitFor((t) => t === "hello ", "the first echo");
  c.write("world");
  await c.waitFor((t) => t === "hello world", "the second echo");
  assert.equal(proxy.stat("tcp.tp.downstream_cx_total"), 1);
  await waitFor(() => proxy.stat("tcp.tp.downstream_cx_rx_bytes_total") === 11, "rx bytes counted");
  await waitFor(() => proxy.stat("tcp.tp.downstream_cx_tx_bytes_total") === 11, "tx bytes counted");
  assert.equal(proxy.stat("cluster.b.upstream_cx_total"), 1);
  assert.equal(proxy.stat("cluster.b.upstream_cx_active"), 1);
  assert.equal(proxy.stat("cluster.b.upstream_cx_rx_bytes_total"), 11);
  c.socket.destroy();
  await waitFor(() => proxy.stat("cluster.b.upstream_cx_active") === 0, "the upstream connection closed with the downstream");
  await waitFor(() => up.openConnections() === 0, "the upstream socket closed");
});

test("tcp_proxy: downstream half-close reaches the upstream, which can still answer", async () => {
  // The upstream answers only after the client's FIN.
  await using up = await startRawServer((s) => {
    let got = "";
    s.on("data", (d) => (got += d.toString()));
    s.on("end", () => s.end(`got:${got}`));
  });
  await using proxy = await startProxy(tcpConfig({ cluster: "b" }, [cluster("b", [up.port])]));
  await using c = await rawConnect(proxy.port());
  c.write("abc");
  c.socket.end();
  await c.waitFor((t) => t === "got:abc", "the answer after the half-close");
  await c.waitClosed();
});

test("tcp_proxy: upstream half-close reaches the downstream, which can still send", async () => {
  const seen: string[] = [];
  const server = net.createServer({ allowHalfOpen: true }, (s) => {
    s.on("error", () => {});
    s.end("bye"); // FIN at once; keep reading.
    s.on("data", (d) => seen.push(d.toString()));
    s.on("end", () => seen.push("<eof>"));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  try {
    const port = (server.address() as net.AddressInfo).port;
    await using proxy = await startProxy(tcpConfig({ cluster: "b" }, [cluster("b", [port])]));
    const c = net.connect({ host: "127.0.0.1", port: proxy.port(), allowHalfOpen: true });
    c.on("error", () => {});
    let got = "";
    let ended = false;
    let closed = false;
    c.on("data", (d) => (got += d.toString()));
    c.on("end", () => (ended = true));
    c.on("close", () => (closed = true));
    await waitFor(() => ended, "the downstream to see the upstream's FIN");
    assert.equal(got, "bye");
    c.write("still here");
    await waitFor(() => seen.join("") === "still here", "bytes sent after the upstream's FIN");
    c.end();
    await waitFor(() => seen.includes("<eof>"), "the downstream's FIN at the upstream");
    await waitFor(() => closed, "the downstream closed");
  } finally {
    await new Promise<void>((r) => server.close(() => r()));
  }
});

test("tcp_proxy: a failed upstream connect closes the downstream and is counted", async () => {
  const port = await closedPort();
  const log = join(tmpdir(), `legate-tcp-al-${Date.now()}-${Math.random().toString(36).slice(2)}.log`);
  try {
    await using proxy = await startProxy(tcpConfig({
      cluster: "dead",
      access_log: [{
        name: "envoy.access_loggers.file",
        typed_config: {
          "@type": "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog",
          path: log,
          log_format: { text_format_source: { inline_string: "%UPSTREAM_CLUSTER% %RESPONSE_FLAGS% %BYTES_RECEIVED% %BYTES_SENT%\n" } },
        },
      }],
    }, [cluster("dead", [port])]));
    await using c = await rawConnect(proxy.port());
    c.write("lost");
    await c.waitClosed();
    assert.equal(proxy.stat("cluster.dead.upstream_cx_connect_fail"), 1);
    assert.equal(proxy.stat("cluster.dead.upstream_cx_connect_attempts_exceeded"), 1);
    assert.equal(proxy.stat("tcp.tp.downstream_cx_total"), 1);
    const line = await waitForFile(log, "the access log line");
    assert.equal(line, "dead UF,URX 0 0\n");
  } finally {
    rmSync(log, { force: true });
  }
});

test("tcp_proxy: max_connect_attempts retries another host", async () => {
  await using up = await startRawServer(echo);
  const dead = await closedPort();
  // Round robin over [dead, live]: about half the connections try the dead host first.
  await using proxy = await startProxy(tcpConfig({ cluster: "b", max_connect_attempts: 3 }, [cluster("b", [dead, up.port])]));
  for (let i = 0; i < 4; i++) {
    await using c = await rawConnect(proxy.port());
    c.write(`x${i}`);
    await c.waitFor((t) => t === `x${i}`, `echo through connection ${i}`);
  }
  assert.ok(proxy.stat("cluster.b.upstream_cx_connect_fail") >= 1, "some attempt hit the dead host");
  assert.equal(proxy.stat("cluster.b.upstream_cx_connect_attempts_exceeded"), 0);
});

test("tcp_proxy: weighted_clusters spreads connections by weight; unknown cluster is no_route", async () => {
  const tag = (t: string) => (s: net.Socket) => s.end(t);
  await using a = await startRawServer(tag("A"));
  await using b = await startRawServer(tag("B"));
  const wc = { weighted_clusters: { clusters: [{ name: "a", weight: 1 }, { name: "b", weight: 1 }] } };
  await using proxy = await startProxy(tcpConfig(wc, [cluster("a", [a.port]), cluster("b", [b.port])]));
  const seen = new Set<string>();
  for (let i = 0; i < 24 && seen.size < 2; i++) seen.add(await untilClosed(proxy.port()));
  assert.deepEqual([...seen].sort(), ["A", "B"]);

  await using proxy2 = await startProxy(tcpConfig({ cluster: "missing" }, [cluster("a", [a.port])]));
  assert.equal(await untilClosed(proxy2.port()), "");
  assert.equal(proxy2.stat("tcp.tp.downstream_cx_no_route"), 1);
  assert.equal(a.accepted >= 1, true);
});

test("tcp_proxy: idle_timeout closes a quiet connection; traffic keeps it open", async () => {
  await using up = await startRawServer(echo);
  await using proxy = await startProxy(tcpConfig({ cluster: "b", idle_timeout: "0.5s" }, [cluster("b", [up.port])]));
  await using busy = await rawConnect(proxy.port());
  await using quiet = await rawConnect(proxy.port());
  for (let i = 0; i < 6; i++) {
    busy.write(".");
    await busy.waitFor((t) => t.length === i + 1, "echo");
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.equal(busy.closed(), false, "a connection with traffic every 100 ms outlives a 500 ms idle timeout");
  await quiet.waitClosed(3000);
  assert.equal(proxy.stat("tcp.tp.idle_timeout") >= 1, true);
  await busy.waitClosed(3000);
  assert.equal(proxy.stat("tcp.tp.idle_timeout"), 2);
  await waitFor(() => up.openConnections() === 0, "the upstream sides closed");
});

test("tcp_proxy: a slow upstream pauses the downstream (flow control) and every byte arrives", async () => {
  let received = 0;
  let sock: net.Socket | undefined;
  await using up = await startRawServer((s) => {
    sock = s;
    s.pause(); // read nothing until told
    s.on("data", (d) => (received += d.length));
  });
  const total = 32 * 1024 * 1024;
  await using proxy = await startProxy(tcpConfig({ cluster: "b" }, [cluster("b", [up.port], { per_connection_buffer_limit_bytes: 65536 })], {
    per_connection_buffer_limit_bytes: 65536,
  }));
  await using c = await rawConnect(proxy.port());
  const chunk = new Uint8Array(64 * 1024).fill(120);
  for (let sent = 0; sent < total; sent += chunk.length) c.socket.write(chunk);
  await waitFor(() => proxy.stat("tcp.tp.downstream_flow_control_paused_reading_total") >= 1, "the downstream paused", 5000);
  await waitFor(() => sock !== undefined, "the upstream accepted");
  // Reading stopped: the proxy holds about one buffer limit plus what the kernel queues, not
  // everything the client sent.
  await new Promise((r) => setTimeout(r, 200));
  const held = proxy.stat("tcp.tp.downstream_cx_rx_bytes_total");
  assert.ok(held < total / 2, `the proxy stopped reading the downstream (read ${held} of ${total})`);
  sock!.resume();
  await waitFor(() => received === total, `all ${total} bytes at the upstream (got ${received})`, 20000);
  assert.ok(proxy.stat("tcp.tp.downstream_flow_control_resumed_reading_total") >= 1);
  assert.equal(proxy.stat("tcp.tp.downstream_cx_rx_bytes_total"), total);
  void up;
}, { timeoutMs: 30000 });

test("tcp_proxy: a downstream that goes away leaves the upstream flushing what it sent (upstream_flush_*)", async () => {
  let received = 0;
  let sawEnd = false;
  let sock: net.Socket | undefined;
  await using up = await startRawServer((s) => {
    sock = s;
    s.pause();
    s.on("data", (d) => (received += d.length));
    s.on("end", () => (sawEnd = true));
  });
  // A large upstream buffer limit: the downstream is never paused, so its close is seen while
  // the upstream still has bytes queued (a paused socket would not notice the close).
  await using proxy = await startProxy(tcpConfig({ cluster: "b" }, [cluster("b", [up.port], { per_connection_buffer_limit_bytes: 128 << 20 })]));
  const c = net.connect({ host: "127.0.0.1", port: proxy.port() });
  c.on("error", () => {});
  const chunk = new Uint8Array(64 * 1024).fill(1);
  for (let i = 0; i < 512; i++) c.write(chunk);
  await waitFor(() => proxy.stat("tcp.tp.downstream_cx_rx_bytes_total") >= 24 << 20, "24 MiB through the proxy", 10000);
  const proxied = () => proxy.stat("tcp.tp.downstream_cx_rx_bytes_total");
  // A reset, not a FIN: a FIN would only half-close (the upstream could still answer).
  c.resetAndDestroy();
  await waitFor(() => proxy.stat("tcp.tp.upstream_flush_total") === 1, "the flush to start");
  assert.equal(proxy.stat("tcp.tp.upstream_flush_active"), 1);
  await waitFor(() => sock !== undefined, "the upstream accepted");
  sock!.resume();
  await waitFor(() => sawEnd, "the upstream to get every byte and then FIN", 10000);
  assert.equal(received, proxied());
  await waitFor(() => proxy.stat("tcp.tp.upstream_flush_active") === 0, "the flush to finish");
}, { timeoutMs: 20000 });

test("tcp_proxy: a slow downstream pauses the upstream and every byte arrives", async () => {
  const total = 32 * 1024 * 1024;
  const chunk = new Uint8Array(64 * 1024).fill(7);
  await using up = await startRawServer((s) => {
    for (let sent = 0; sent < total; sent += chunk.length) s.write(chunk);
  });
  await using proxy = await startProxy(tcpConfig({ cluster: "b" }, [cluster("b", [up.port])], { per_connection_buffer_limit_bytes: 65536 }));
  const c = net.connect({ host: "127.0.0.1", port: proxy.port() });
  c.on("error", () => {});
  c.pause();
  let received = 0;
  await waitFor(() => proxy.stat("cluster.b.upstream_cx_rx_bytes_total") > 0, "upstream bytes at the proxy");
  await new Promise((r) => setTimeout(r, 300));
  const held = proxy.stat("cluster.b.upstream_cx_rx_bytes_total");
  assert.ok(held < total / 2, `the proxy stopped reading the upstream (read ${held} of ${total})`);
  c.on("data", (d: Uint8Array) => (received += d.length));
  c.resume();
  try {
    await waitFor(() => received === total, `all ${total} bytes at the client (got ${received})`, 20000);
  } finally {
    c.destroy();
  }
  void up;
}, { timeoutMs: 30000 });

test("tcp_proxy under wrk: keep-alive and new-connection load pass through without an error", async () => {
  const { spawn } = await import("node:child_process");
  const { startUpstream } = await import("../helpers/upstream.ts");
  await using up = await startUpstream();
  await using p = await startProxy(tcpConfig({ stat_prefix: "tp", cluster: "up" }, [cluster("up", [up.port])]));
  const wrk = (args: string[]) =>
    new Promise<string>((resolve, reject) => {
      const child = spawn("wrk", [...args, `http://127.0.0.1:${p.port("tcp")}/`], { stdio: ["ignore", "pipe", "pipe"] });
      let out = "";
      child.stdout.on("data", (d) => (out += d));
      child.stderr.on("data", (d) => (out += d));
      child.on("error", (e) => reject(new Error(`wrk is needed (make test installs it): ${e.message}`)));
      child.on("close", () => resolve(out));
    });
  for (const args of [["-t1", "-c16", "-d2s"], ["-t1", "-c8", "-d2s", "-H", "Connection: close"]]) {
    const out = await wrk(args);
    const n = Number(/(\d+) requests in/.exec(out)?.[1] ?? 0);
    assert.ok(n > 100, `wrk ran (${n} requests):\n${out}`);
    assert.doesNotMatch(out, /Non-2xx or 3xx responses|Socket errors/, out);
  }
  assert.ok(p.stat("tcp.tp.downstream_cx_total") > 100, "new-connection load made many connections");
}, { timeoutMs: 30_000 });
