/**
 * envoy.filters.http.buffer over real sockets: the request reaches the upstream only once its
 * whole body is in, with a content-length when it came chunked; max_request_bytes bounds it
 * (413) and replaces the connection's buffer limit for the stream; BufferPerRoute disables it
 * or overrides the limit per route; config errors name the field.
 */
import assert from "node:assert/strict";
import { test, waitFor } from "../harness.ts";
import { ROUTER_TYPE, simpleConfig, startProxy } from "../helpers/proxy.ts";
import { parseResponses, rawConnect } from "../helpers/raw_client.ts";
import { startUpstream } from "../helpers/upstream.ts";

const BUFFER = "type.googleapis.com/envoy.extensions.filters.http.buffer.v3.Buffer";
const BUFFER_PER_ROUTE = "type.googleapis.com/envoy.extensions.filters.http.buffer.v3.BufferPerRoute";

function config(upstreamPort: number, buffer: Record<string, unknown>, o: { routes?: unknown[]; connLimit?: number } = {}): Record<string, unknown> {
  const cfg = simpleConfig({
    upstreamPorts: [upstreamPort],
    routes: o.routes,
    hcm: {
      http_filters: [
        { name: "envoy.filters.http.buffer", typed_config: { "@type": BUFFER, ...buffer } },
        { name: "envoy.filters.http.router", typed_config: { "@type": ROUTER_TYPE } },
      ],
    },
  }) as { static_resources: { listeners: Record<string, unknown>[] } };
  if (o.connLimit !== undefined) cfg.static_resources.listeners[0]!.per_connection_buffer_limit_bytes = o.connLimit;
  return cfg;
}

const echoBody = (req: { body: Uint8Array; headers: Record<string, unknown> }) => {
  const body = `cl=${req.headers["content-length"] ?? "-"} te=${req.headers["transfer-encoding"] ?? "-"} body=${Buffer.from(req.body).toString()}`;
  return { headers: { "content-length": String(body.length) }, body };
};

const CHUNKED_HEAD = (path: string) => `POST ${path} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n`;

test("buffer: a chunked request reaches the upstream only when complete, with content-length instead of chunking", async () => {
  await using up = await startUpstream(echoBody);
  await using proxy = await startProxy(config(up.port, { max_request_bytes: 1000 }));
  await using c = await rawConnect(proxy.port());
  const first = CHUNKED_HEAD("/up") + "5\r\nhello\r\n";
  c.write(first);
  await waitFor(() => proxy.stat("http.ingress.downstream_cx_rx_bytes_total") >= first.length, "the proxy to read the first chunk");
  // Give a proxy that does not buffer the time to open the upstream request (it would by now).
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(up.requests.length, 0, "the upstream saw nothing of a partial request");
  c.write("6\r\n world\r\n0\r\n\r\n");
  const text = await c.waitFor((t) => t.includes("body="), "the response");
  assert.equal(parseResponses(text)[0]?.body, "cl=11 te=- body=hello world");
});

test("buffer: a request with content-length keeps it; a header-only request passes straight through", async () => {
  await using up = await startUpstream(echoBody);
  await using proxy = await startProxy(config(up.port, { max_request_bytes: 1000 }));
  const r = await fetch(proxy.url("/cl"), { method: "POST", body: "abc", headers: { "content-length": "3" } });
  assert.equal(await r.text(), "cl=3 te=- body=abc");
  const g = await fetch(proxy.url("/get"));
  assert.equal(await g.text(), "cl=- te=- body=");
});

test("buffer: a body over max_request_bytes gets 413 and never reaches the upstream", async () => {
  await using up = await startUpstream();
  await using proxy = await startProxy(config(up.port, { max_request_bytes: 1024 }));
  await using c = await rawConnect(proxy.port());
  c.write(CHUNKED_HEAD("/big") + `fa0\r\n${"z".repeat(4000)}\r\n0\r\n\r\n`);
  await c.waitClosed();
  const [res] = parseResponses(c.received());
  assert.equal(res?.status, 413);
  assert.equal(res?.body, "Payload Too Large");
  assert.equal(up.requests.length, 0);
  assert.equal(proxy.stat("http.ingress.downstream_rq_too_large"), 1);
});

test("buffer: max_request_bytes above per_connection_buffer_limit_bytes is the stream's limit (Envoy's setDecoderBufferLimit)", async () => {
  await using up = await startUpstream((req) => ({ body: `got ${req.body.length}` }));
  await using proxy = await startProxy(config(up.port, { max_request_bytes: { value: 20000 } }, { connLimit: 1024 }));
  const r = await fetch(proxy.url("/large"), { method: "POST", body: "q".repeat(5000) });
  assert.equal(r.status, 200);
  assert.equal(await r.text(), "got 5000");
});

test("buffer: BufferPerRoute disabled turns it off for a route; buffer.max_request_bytes overrides the limit", async () => {
  await using up = await startUpstream(echoBody);
  const routes = [
    { match: { prefix: "/off" }, route: { cluster: "backend" }, typed_per_filter_config: { "envoy.filters.http.buffer": { "@type": BUFFER_PER_ROUTE, disabled: true } } },
    { match: { prefix: "/small" }, route: { cluster: "backend" }, typed_per_filter_config: { "envoy.filters.http.buffer": { "@type": BUFFER_PER_ROUTE, buffer: { max_request_bytes: 10 } } } },
    { match: { prefix: "/" }, route: { cluster: "backend" } },
  ];
  await using proxy = await startProxy(config(up.port, { max_request_bytes: 1000 }, { routes }));
  {
    // Not buffered: the upstream sees the request while its body is still open, chunked.
    await using c = await rawConnect(proxy.port());
    c.write(CHUNKED_HEAD("/off") + "5\r\nhello\r\n");
    await waitFor(() => up.requests.length === 1, "the upstream to see the unbuffered request");
    c.write("0\r\n\r\n");
    const text = await c.waitFor((t) => t.includes("body="), "the response");
    assert.equal(parseResponses(text)[0]?.body, "cl=- te=chunked body=hello");
  }
  const small = await fetch(proxy.url("/small"), { method: "POST", body: "x".repeat(100) });
  assert.equal(small.status, 413);
  const other = await fetch(proxy.url("/other"), { method: "POST", body: "x".repeat(100) });
  assert.equal(other.status, 200);
});

test("buffer: config errors name the field", async () => {
  await assert.rejects(startProxy(config(1, {})), /http_filters\[0\]\.typed_config\.max_request_bytes: is required/);
  await assert.rejects(startProxy(config(1, { max_request_bytes: 10, max_request_time: "1s" })), /http_filters\[0\]\.typed_config: unknown field "max_request_time"/);
  const route = (pfc: Record<string, unknown>) => [{ match: { prefix: "/" }, route: { cluster: "backend" }, typed_per_filter_config: { "envoy.filters.http.buffer": { "@type": BUFFER_PER_ROUTE, ...pfc } } }];
  await assert.rejects(startProxy(config(1, { max_request_bytes: 10 }, { routes: route({ disabled: false }) })), /disabled: must be true/);
  await assert.rejects(startProxy(config(1, { max_request_bytes: 10 }, { routes: route({}) })), /typed_per_filter_config\.envoy\.filters\.http\.buffer: one of disabled, buffer is required/);
  await assert.rejects(startProxy(config(1, { max_request_bytes: 10 }, { routes: route({ buffer: {} }) })), /buffer\.max_request_bytes: /);
});
