/**
 * End-to-end behaviour of the data path with real sockets on 127.0.0.1: fetch and raw TCP
 * clients, node:http and raw misbehaving upstreams, an in-process Legate.
 */
import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { waitForFile } from "../helpers/files.ts";
import { test, waitFor } from "../harness.ts";
import { simpleConfig, startProxy } from "../helpers/proxy.ts";
import { parseResponses, rawConnect } from "../helpers/raw_client.ts";
import { closedPort, startRawServer, startUpstream } from "../helpers/upstream.ts";

test("GET is proxied with Envoy's request and response headers", async () => {
  await using up = await startUpstream();
  await using proxy = await startProxy(simpleConfig({ upstreamPorts: [up.port] }));
  const res = await fetch(proxy.url("/hello?x=1"), { headers: { "x-forwarded-for": "10.9.9.9" } });
  assert.equal(res.status, 200);
  assert.equal(await res.text(), "upstream saw GET /hello?x=1");
  assert.match(res.headers.get("x-envoy-upstream-service-time") ?? "", /^\d+$/);
  assert.equal(res.headers.get("server"), "legate");
  const seen = up.requests[0]!;
  assert.equal(seen.headers["x-forwarded-for"], "10.9.9.9, 127.0.0.1", "use_remote_address appends the peer");
  assert.equal(seen.headers["x-forwarded-proto"], "http");
  assert.match(String(seen.headers["x-request-id"]), /^[0-9a-f-]{36}$/);
  assert.equal(seen.headers["host"], `127.0.0.1:${proxy.port()}`);
  assert.equal(seen.headers["x-envoy-expected-rq-timeout-ms"], "5000");
  assert.equal(proxy.stat("http.ingress.downstream_rq_2xx"), 1);
  assert.equal(proxy.stat("cluster.backend.upstream_rq_total"), 1);
});

test("an incoming x-request-id is kept; a missing one is generated", async () => {
  await using up = await startUpstream();
  await using proxy = await startProxy(simpleConfig({ upstreamPorts: [up.port] }));
  await (await fetch(proxy.url("/a"), { headers: { "x-request-id": "abc-123" } })).text();
  await (await fetch(proxy.url("/b"))).text();
  assert.equal(up.requests[0]!.headers["x-request-id"], "abc-123");
  assert.notEqual(up.requests[1]!.headers["x-request-id"], undefined);
});

test("request and response bodies stream through intact (1 MiB each way)", async () => {
  await using up = await startUpstream((req) => ({ body: req.body }));
  await using proxy = await startProxy(simpleConfig({ upstreamPorts: [up.port] }));
  const body = new Uint8Array(1 << 20);
  for (let i = 0; i < body.length; i++) body[i] = (i * 31 + 7) & 0xff;
  const res = await fetch(proxy.url("/echo"), { method: "POST", body });
  const back = new Uint8Array(await res.arrayBuffer());
  assert.equal(res.status, 200);
  assert.equal(back.length, body.length);
  assert.ok(back.every((b, i) => b === body[i]), "echoed bytes differ");
  assert.equal(up.requests[0]!.headers["content-length"], String(body.length));
});

test("chunked request bodies are re-chunked upstream; chunked responses reach the client", async () => {
  await using up = await startUpstream((req, res) => {
    res.writeHead(200, { "content-type": "text/plain" });
    res.write("part1-");
    res.write(new TextDecoder().decode(req.body));
    res.end("-end");
  });
  await using proxy = await startProxy(simpleConfig({ upstreamPorts: [up.port] }));
  await using c = await rawConnect(proxy.port());
  c.write("POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n");
  const text = await c.waitFor((t) => t.includes("0\r\n\r\n"), "the chunked response");
  assert.match(text, /^HTTP\/1\.1 200 OK\r\n/);
  assert.match(text, /transfer-encoding: chunked/i);
  const body = text.slice(text.indexOf("\r\n\r\n") + 4).replace(/\r\n[0-9a-f]+\r\n/g, "").replace(/^[0-9a-f]+\r\n/, "");
  assert.ok(body.startsWith("part1-hello world-end"), JSON.stringify(body));
  assert.equal(new TextDecoder().decode(up.requests[0]!.body), "hello world");
  assert.equal(up.requests[0]!.headers["transfer-encoding"], "chunked");
});

test("keep-alive: requests on one downstream connection reuse one upstream connection", async () => {
  await using up = await startUpstream();
  await using proxy = await startProxy(simpleConfig({ upstreamPorts: [up.port] }));
  await using c = await rawConnect(proxy.port());
  for (let i = 0; i < 5; i++) {
    const before = c.received().length;
    c.write(`GET /k${i} HTTP/1.1\r\nHost: x\r\n\r\n`);
    await c.waitFor((t) => t.length > before && t.endsWith(`upstream saw GET /k${i}`), `response ${i}`);
  }
  assert.equal(parseResponses(c.received()).length, 5);
  assert.equal(up.connections, 1);
  assert.equal(proxy.stat("cluster.backend.upstream_cx_total"), 1);
  assert.equal(c.closed(), false);
});

test("pipelined requests are answered in order", async () => {
  await using up = await startUpstream((req, res) => {
    // Answer the first request last, to prove ordering is the proxy's doing.
    const delay = req.url === "/p0" ? 80 : 0;
    setTimeout(() => res.end(`r${req.url}`), delay);
  });
  await using proxy = await startProxy(simpleConfig({ upstreamPorts: [up.port] }));
  await using c = await rawConnect(proxy.port());
  c.write("GET /p0 HTTP/1.1\r\nHost: x\r\n\r\nGET /p1 HTTP/1.1\r\nHost: x\r\n\r\nGET /p2 HTTP/1.1\r\nHost: x\r\n\r\n");
  const text = await c.waitFor((t) => t.includes("r/p2"), "three responses");
  assert.deepEqual(parseResponses(text).map((r) => r.body), ["r/p0", "r/p1", "r/p2"]);
});

test("HTTP/1.0: closes without keep-alive, keeps the connection with it", async () => {
  await using up = await startUpstream();
  // Envoy refuses HTTP/1.0 unless http_protocol_options.accept_http_10 (see hcm_headers_test.ts).
  const http10 = { http_protocol_options: { accept_http_10: true, default_host_for_http_10: "old.test" } };
  await using proxy = await startProxy(simpleConfig({ upstreamPorts: [up.port], hcm: http10 }));
  await using a = await rawConnect(proxy.port());
  a.write("GET /old HTTP/1.0\r\n\r\n");
  await a.waitClosed();
  assert.match(a.received(), /^HTTP\/1\.1 200 OK\r\n/);
  assert.match(a.received(), /connection: close/i);
  assert.ok(a.received().endsWith("upstream saw GET /old"));
  await using b = await rawConnect(proxy.port());
  b.write("GET /ka HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
  await b.waitFor((t) => t.endsWith("upstream saw GET /ka"), "the response");
  assert.match(b.received(), /connection: keep-alive/i);
  b.write("GET /ka2 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
  await b.waitFor((t) => t.endsWith("upstream saw GET /ka2"), "the second response");
});

test("no route: 404 with response flag NR", async () => {
  const log = join(tmpdir(), `legate-nr-${Date.now()}-${Math.random()}.log`);
  try {
    await using proxy = await startProxy(simpleConfig({
      upstreamPorts: [1],
      routes: [{ match: { path: "/only" }, route: { cluster: "backend" } }],
      accessLogPath: log,
    }));
    const res = await fetch(proxy.url("/other"));
    assert.equal(res.status, 404);
    await res.text();
    assert.equal(proxy.stat("http.ingress.no_route"), 1);
    const line = await waitForFile(log, "the access log line");
    assert.equal(line, "404 NR /other -\n");
  } finally {
    rmSync(log, { force: true });
  }
});

test("upstream refuses: 503 with flag UF; no healthy upstream: 503 UH", async () => {
  const port = await closedPort();
  await using proxy = await startProxy(simpleConfig({ upstreamPorts: [port] }));
  const res = await fetch(proxy.url("/"));
  assert.equal(res.status, 503);
  assert.match(await res.text(), /^upstream connect error or disconnect\/reset before headers\. reset reason: connection failure/);
  assert.equal(proxy.stat("cluster.backend.upstream_cx_connect_fail"), 1);
  await using empty = await startProxy(simpleConfig({ upstreamPorts: [] }));
  const r2 = await fetch(empty.url("/"));
  assert.equal(r2.status, 503);
  assert.equal(await r2.text(), "no healthy upstream");
});

test("upstream stalls: route timeout gives 504 UT and frees the upstream connection", async () => {
  await using raw = await startRawServer(() => {/* accept, read, never answer */});
  await using proxy = await startProxy(simpleConfig({ upstreamPorts: [raw.port], timeout: "0.2s" }));
  const t0 = Date.now();
  const res = await fetch(proxy.url("/slow"));
  assert.equal(res.status, 504);
  assert.equal(await res.text(), "upstream request timeout");
  assert.ok(Date.now() - t0 >= 190, "timed out too early");
  assert.equal(proxy.stat("cluster.backend.upstream_rq_timeout"), 1);
  await waitFor(() => raw.openConnections() === 0, "the stalled upstream connection to close");
});

test("upstream resets before responding: 503 UC; garbage response: 502 UPE", async () => {
  await using reset = await startRawServer((s) => s.once("data", () => s.destroy()));
  await using proxy = await startProxy(simpleConfig({ upstreamPorts: [reset.port] }));
  const res = await fetch(proxy.url("/"));
  assert.equal(res.status, 503);
  assert.match(await res.text(), /reset reason: connection termination/);
  await using garbage = await startRawServer((s) => s.once("data", () => s.write("NOT HTTP AT ALL\r\n\r\n")));
  await using p2 = await startProxy(simpleConfig({ upstreamPorts: [garbage.port] }));
  const r2 = await fetch(p2.url("/"));
  assert.equal(r2.status, 502);
  assert.match(await r2.text(), /reset reason: protocol error/);
  await using upgrade = await startRawServer((s) => s.once("data", () => s.write("HTTP/1.1 101 Switching Protocols\r\n\r\n")));
  await using p3 = await startProxy(simpleConfig({ upstreamPorts: [upgrade.port] }));
  const r3 = await fetch(p3.url("/"));
  assert.equal(r3.status, 502, "a 101 nobody asked for is a protocol error");
  await r3.text();
  assert.equal(p3.stat("cluster.backend.upstream_cx_protocol_error"), 1);
});

test("malformed request: 400 and close; another connection is unaffected", async () => {
  await using up = await startUpstream();
  await using proxy = await startProxy(simpleConfig({ upstreamPorts: [up.port] }));
  await using good = await rawConnect(proxy.port());
  await using bad = await rawConnect(proxy.port());
  bad.write("GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n");
  await bad.waitClosed();
  assert.match(bad.received(), /^HTTP\/1\.1 400 Bad Request\r\n/);
  assert.match(bad.received(), /connection: close/i);
  good.write("GET /fine HTTP/1.1\r\nHost: x\r\n\r\n");
  await good.waitFor((t) => t.endsWith("upstream saw GET /fine"), "the good response");
  assert.equal(up.requests.length, 1, "the malformed request never reached the upstream");
  assert.equal(proxy.stat("http.ingress.downstream_cx_protocol_error"), 1);
});

test("client disconnects mid-body: the upstream request is aborted and nothing leaks", async () => {
  await using up = await startUpstream();
  await using proxy = await startProxy(simpleConfig({ upstreamPorts: [up.port] }));
  const c = await rawConnect(proxy.port());
  c.write("POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n" + "x".repeat(1000));
  await waitFor(() => up.requests.length === 1, "the upstream to see the request");
  c.socket.destroy();
  await waitFor(() => up.requests[0]!.aborted, "the upstream request to be aborted");
  await waitFor(() => up.openConnections() === 0, "the upstream connection to close");
  await waitFor(() => proxy.stat("http.ingress.downstream_rq_active") === 0, "no active downstream request");
  assert.equal(proxy.stat("cluster.backend.upstream_cx_active"), 0);
  assert.equal(proxy.stat("cluster.backend.upstream_rq_active"), 0);
  assert.equal(proxy.stat("http.ingress.downstream_cx_active"), 0);
});

test("direct_response and prefix_rewrite", async () => {
  await using up = await startUpstream();
  await using proxy = await startProxy(simpleConfig({
    upstreamPorts: [up.port],
    routes: [
      { match: { path: "/direct" }, direct_response: { status: 202, body: { inline_string: "made here" } } },
      { match: { prefix: "/api/" }, route: { cluster: "backend", prefix_rewrite: "/v2/" } },
    ],
  }));
  const d = await fetch(proxy.url("/direct"));
  assert.equal(d.status, 202);
  assert.equal(await d.text(), "made here");
  const r = await fetch(proxy.url("/api/users?id=1"));
  assert.equal(await r.text(), "upstream saw GET /v2/users?id=1");
});

test("a port already in use names the listener and the address", async () => {
  await using up = await startUpstream();
  const cfg = simpleConfig({ upstreamPorts: [up.port], admin: false }) as { static_resources: { listeners: { address: { socket_address: { port_value: number } } }[] } };
  cfg.static_resources.listeners[0]!.address.socket_address.port_value = up.port;
  await assert.rejects(startProxy(cfg), (e: Error) => {
    assert.match(e.message, new RegExp(`listener 'ingress': cannot bind 127\\.0\\.0\\.1:${up.port} \\(address already in use\\)`));
    return true;
  });
});

test("a slow reader does not make the proxy buffer the whole response", async () => {
  const size = 16 << 20;
  await using up = await startUpstream((_req, res) => {
    res.writeHead(200, { "content-length": String(size) });
    const chunk = Buffer.alloc(64 << 10, 97);
    let sent = 0;
    const pump = () => {
      while (sent < size) {
        sent += chunk.length;
        if (!res.write(chunk)) return void res.once("drain", pump);
      }
      res.end();
    };
    pump();
  });
  await using proxy = await startProxy(simpleConfig({ upstreamPorts: [up.port] }));
  await using c = await rawConnect(proxy.port());
  c.socket.pause(); // read nothing for a while
  c.write("GET /big HTTP/1.1\r\nHost: x\r\n\r\n");
  await new Promise((r) => setTimeout(r, 400));
  const buffered = proxy.server.inProcess!.listeners.get("ingress")!.active.connections.values().next().value!.writer.buffered;
  assert.ok(buffered < 4 << 20, `proxy buffered ${buffered} bytes for a paused client`);
  let got = 0;
  c.socket.on("data", (d: Uint8Array) => (got += d.length));
  c.socket.resume();
  await waitFor(() => got >= size, "the whole body", 10000);
}, { timeoutMs: 15000 });
