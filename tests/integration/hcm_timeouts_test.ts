/**
 * HCM timeouts end to end (real sockets, timer wheel): request_headers_timeout (slowloris),
 * request_timeout, stream_idle_timeout (before and after the response started),
 * common_http_protocol_options.idle_timeout / max_connection_duration, max_requests_per_connection.
 * https://www.envoyproxy.io/docs/envoy/latest/faq/configuration/timeouts
 */
import assert from "node:assert/strict";
import { readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test, waitFor } from "../harness.ts";
import { simpleConfig, startProxy } from "../helpers/proxy.ts";
import { parseResponses, rawConnect } from "../helpers/raw_client.ts";
import { startRawServer, startUpstream } from "../helpers/upstream.ts";

const LOG_FORMAT = "%RESPONSE_CODE% %RESPONSE_FLAGS% %RESPONSE_CODE_DETAILS%\n";

function withLog(hcm: Record<string, unknown>, path: string): Record<string, unknown> {
  return {
    ...hcm,
    access_log: [{
      typed_config: {
        "@type": "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog",
        path,
        log_format: { text_format_source: { inline_string: LOG_FORMAT } },
      },
    }],
  };
}

function tmpLog(name: string): string {
  return join(tmpdir(), `legate-${name}-${Date.now()}-${Math.random().toString(36).slice(2)}.log`);
}

async function logLines(path: string, n: number): Promise<string[]> {
  const text = await waitFor(() => {
    try {
      const t = readFileSync(path, "utf8");
      return t.split("\n").filter(Boolean).length >= n ? t : "";
    } catch {
      return "";
    }
  }, `${n} access log line(s) in ${path}`);
  return text.split("\n").filter(Boolean);
}

test("slowloris: a client trickling header bytes every 100 ms is cut off at request_headers_timeout", async () => {
  const log = tmpLog("slowloris");
  try {
    await using up = await startUpstream();
    await using proxy = await startProxy(simpleConfig({ upstreamPorts: [up.port], hcm: withLog({ request_headers_timeout: "0.4s" }, log) }));
    await using c = await rawConnect(proxy.port());
    const head = "GET /slow HTTP/1.1\r\nHost: x\r\nX-Padding: " + "a".repeat(100);
    const t0 = Date.now();
    let i = 0;
    // One byte every 100 ms: each resets no timer, so the header deadline still holds.
    const trickle = setInterval(() => {
      if (!c.closed() && i < head.length) c.write(head[i++]!);
    }, 100);
    try {
      await c.waitClosed(3000);
    } finally {
      clearInterval(trickle);
    }
    const elapsed = Date.now() - t0;
    assert.ok(elapsed >= 380, `cut off too early (${elapsed} ms)`);
    assert.ok(elapsed < 2500, `cut off too late (${elapsed} ms)`);
    assert.ok(i < head.length, "the client finished its head before the timeout; the test proves nothing");
    const [res] = parseResponses(c.received());
    assert.equal(res?.status, 408);
    assert.equal(res?.body, "request header timeout");
    assert.match(c.received(), /connection: close/i);
    assert.equal(up.requests.length, 0);
    assert.equal(proxy.stat("http.ingress.downstream_rq_header_timeout"), 1);
    assert.deepEqual(await logLines(log, 1), ["408 - request_header_timeout"]);
  } finally {
    rmSync(log, { force: true });
  }
});

test("request_headers_timeout does not fire for a request whose head arrived in time", async () => {
  await using up = await startUpstream((_req, res) => void setTimeout(() => res.end("late but fine"), 400));
  await using proxy = await startProxy(simpleConfig({ upstreamPorts: [up.port], hcm: { request_headers_timeout: "0.2s" } }));
  const res = await fetch(proxy.url("/"));
  assert.equal(res.status, 200);
  assert.equal(await res.text(), "late but fine");
  assert.equal(proxy.stat("http.ingress.downstream_rq_header_timeout"), 0);
});

test("request_timeout: a body that never finishes gets 408 'request timeout'", async () => {
  const log = tmpLog("rqtimeout");
  try {
    await using up = await startUpstream();
    await using proxy = await startProxy(simpleConfig({ upstreamPorts: [up.port], hcm: withLog({ request_timeout: "0.3s" }, log) }));
    await using c = await rawConnect(proxy.port());
    const t0 = Date.now();
    c.write("POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nonly-a-bit");
    await c.waitClosed(3000);
    assert.ok(Date.now() - t0 >= 280, "timed out too early");
    const [res] = parseResponses(c.received());
    assert.equal(res?.status, 408);
    assert.equal(res?.body, "request timeout");
    assert.equal(proxy.stat("http.ingress.downstream_rq_timeout"), 1);
    assert.deepEqual(await logLines(log, 1), ["408 - request_overall_timeout"]);
  } finally {
    rmSync(log, { force: true });
  }
});

test("request_timeout is disarmed once the request is complete (a slow upstream is the route's business)", async () => {
  await using up = await startUpstream((_req, res) => void setTimeout(() => res.end("ok"), 500));
  await using proxy = await startProxy(simpleConfig({ upstreamPorts: [up.port], hcm: { request_timeout: "0.2s" } }));
  const res = await fetch(proxy.url("/"), { method: "POST", body: "complete" });
  assert.equal(res.status, 200);
  assert.equal(await res.text(), "ok");
});

test("stream_idle_timeout before the response: 504 'stream timeout', flag SI (request complete)", async () => {
  const log = tmpLog("si");
  try {
    await using raw = await startRawServer(() => {/* never answers */});
    await using proxy = await startProxy(simpleConfig({ upstreamPorts: [raw.port], timeout: "10s", hcm: withLog({ stream_idle_timeout: "0.3s" }, log) }));
    const t0 = Date.now();
    const res = await fetch(proxy.url("/idle"));
    assert.ok(Date.now() - t0 >= 280, "timed out too early");
    assert.equal(res.status, 504);
    assert.equal(await res.text(), "stream timeout");
    assert.equal(proxy.stat("http.ingress.downstream_rq_idle_timeout"), 1);
    assert.deepEqual(await logLines(log, 1), ["504 SI stream_idle_timeout"]);
    await waitFor(() => raw.openConnections() === 0, "the upstream connection to be closed");
  } finally {
    rmSync(log, { force: true });
  }
});

test("stream_idle_timeout while the request body stalls: 408, flag SI", async () => {
  await using up = await startUpstream();
  await using proxy = await startProxy(simpleConfig({ upstreamPorts: [up.port], hcm: { stream_idle_timeout: "0.3s" } }));
  await using c = await rawConnect(proxy.port());
  c.write("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc");
  await c.waitClosed(3000);
  const [res] = parseResponses(c.received());
  assert.equal(res?.status, 408);
  assert.equal(res?.body, "stream timeout");
});

test("stream_idle_timeout after the response started: the stream is reset (truncated body, SI)", async () => {
  const log = tmpLog("si-reset");
  try {
    await using raw = await startRawServer((s) => {
      s.once("data", () => s.write("HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nfirst-part"));
    });
    await using proxy = await startProxy(simpleConfig({ upstreamPorts: [raw.port], timeout: "10s", hcm: withLog({ stream_idle_timeout: "0.3s" }, log) }));
    await using c = await rawConnect(proxy.port());
    c.write("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    await c.waitClosed(3000);
    assert.match(c.received(), /^HTTP\/1\.1 200 OK\r\n/);
    assert.ok(c.received().endsWith("first-part"), "only the bytes the upstream sent");
    const [line] = await logLines(log, 1);
    assert.match(line!, /^200 SI /);
  } finally {
    rmSync(log, { force: true });
  }
});

test("stream_idle_timeout is pushed back by activity: a slow but steady response completes", async () => {
  await using up = await startUpstream((_req, res) => {
    res.writeHead(200, { "content-type": "text/plain" });
    let n = 0;
    const t = setInterval(() => {
      res.write(`tick${n}-`);
      if (++n === 8) {
        clearInterval(t);
        res.end("done");
      }
    }, 100);
  });
  await using proxy = await startProxy(simpleConfig({ upstreamPorts: [up.port], hcm: { stream_idle_timeout: "0.3s" } }));
  const t0 = Date.now();
  const res = await fetch(proxy.url("/steady"));
  const body = await res.text();
  assert.ok(Date.now() - t0 >= 700, "the response took less than the stream idle timeout twice over; nothing was proven");
  assert.equal(body, "tick0-tick1-tick2-tick3-tick4-tick5-tick6-tick7-done");
  assert.equal(proxy.stat("http.ingress.downstream_rq_idle_timeout"), 0);
});

test("idle_timeout closes a keep-alive connection with no request", async () => {
  await using up = await startUpstream();
  await using proxy = await startProxy(simpleConfig({ upstreamPorts: [up.port], hcm: { common_http_protocol_options: { idle_timeout: "0.3s" } } }));
  await using c = await rawConnect(proxy.port());
  c.write("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
  await c.waitFor((t) => t.endsWith("upstream saw GET /"), "the response");
  const t0 = Date.now();
  await c.waitClosed(3000);
  assert.ok(Date.now() - t0 >= 250, "closed too early");
  assert.equal(proxy.stat("http.ingress.downstream_cx_idle_timeout"), 1);
});

test("max_connection_duration: an idle connection closes; a busy one gets connection: close", async () => {
  await using up = await startUpstream((req, res) => {
    const delay = req.url === "/slow" ? 500 : 0;
    setTimeout(() => res.end(`r${req.url}`), delay);
  });
  await using proxy = await startProxy(simpleConfig({ upstreamPorts: [up.port], hcm: { common_http_protocol_options: { max_connection_duration: "0.3s" } } }));
  await using idle = await rawConnect(proxy.port());
  idle.write("GET /a HTTP/1.1\r\nHost: x\r\n\r\n");
  await idle.waitFor((t) => t.endsWith("r/a"), "the first response");
  assert.doesNotMatch(idle.received(), /connection: close/i);
  await idle.waitClosed(3000);

  await using busy = await rawConnect(proxy.port());
  busy.write("GET /slow HTTP/1.1\r\nHost: x\r\n\r\n");
  await busy.waitClosed(3000);
  const [res] = parseResponses(busy.received());
  assert.equal(res?.body, "r/slow", "the request in flight completes");
  assert.equal(res?.headers["connection"], "close");
  assert.equal(proxy.stat("http.ingress.downstream_cx_max_duration_reached"), 2);
});

test("max_requests_per_connection: the last allowed response says connection: close", async () => {
  await using up = await startUpstream();
  await using proxy = await startProxy(simpleConfig({ upstreamPorts: [up.port], hcm: { common_http_protocol_options: { max_requests_per_connection: 2 } } }));
  await using c = await rawConnect(proxy.port());
  c.write("GET /1 HTTP/1.1\r\nHost: x\r\n\r\n");
  await c.waitFor((t) => t.endsWith("upstream saw GET /1"), "the first response");
  c.write("GET /2 HTTP/1.1\r\nHost: x\r\n\r\n");
  await c.waitClosed();
  const rs = parseResponses(c.received());
  assert.deepEqual(rs.map((r) => r.headers["connection"]), [undefined, "close"]);
  assert.equal(proxy.stat("http.ingress.downstream_cx_max_requests_reached"), 1);
});

test("max_stream_duration: a stream that outlives it gets 504 (request complete), flag DT", async () => {
  const log = tmpLog("dt");
  try {
    await using raw = await startRawServer(() => {/* never answers */});
    await using proxy = await startProxy(simpleConfig({
      upstreamPorts: [raw.port],
      timeout: "10s",
      hcm: withLog({ common_http_protocol_options: { max_stream_duration: "0.3s" } }, log),
    }));
    const t0 = Date.now();
    const res = await fetch(proxy.url("/long"));
    assert.ok(Date.now() - t0 >= 280, "timed out too early");
    assert.equal(res.status, 504);
    assert.equal(await res.text(), "downstream duration timeout");
    assert.equal(proxy.stat("http.ingress.downstream_rq_max_duration_reached"), 1);
    assert.deepEqual(await logLines(log, 1), ["504 DT max_duration_timeout"]);
  } finally {
    rmSync(log, { force: true });
  }
});
