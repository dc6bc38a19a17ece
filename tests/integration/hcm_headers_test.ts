/**
 * HCM request/response header handling end to end, as Envoy's ConnectionManagerUtility does it:
 * Expect: 100-continue, TE, trailers, upgrades and CONNECT, x-forwarded-* with trusted hops,
 * via, server header transformation, path normalisation, host port stripping, request ids,
 * local_reply_config.
 */
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import type * as net from "node:net";
import { waitForFile } from "../helpers/files.ts";
import { test, waitFor } from "../harness.ts";
import { simpleConfig, startProxy } from "../helpers/proxy.ts";
import { parseResponses, rawConnect } from "../helpers/raw_client.ts";
import { startRawServer, startUpstream } from "../helpers/upstream.ts";

test("Expect: 100-continue is answered by the proxy and not forwarded", async () => {
  await using up = await startUpstream((req) => ({ body: `got ${new TextDecoder().decode(req.body)}` }));
  await using proxy = await startProxy(simpleConfig({ upstreamPorts: [up.port] }));
  await using c = await rawConnect(proxy.port());
  c.write("POST /up HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n");
  await c.waitFor((t) => t.startsWith("HTTP/1.1 100 Continue\r\n\r\n"), "the interim 100 response");
  c.write("hello");
  await c.waitFor((t) => t.includes("got hello"), "the final response");
  const final = c.received().slice("HTTP/1.1 100 Continue\r\n\r\n".length);
  assert.match(final, /^HTTP\/1\.1 200 OK\r\n/);
  assert.equal(up.requests[0]!.headers["expect"], undefined);
});

const CURL = spawnSync("which", ["curl"]).status === 0;

test("Expect: 100-continue with curl", async () => {
  await using up = await startUpstream((req) => ({ body: `len ${req.body.length}` }));
  await using proxy = await startProxy(simpleConfig({ upstreamPorts: [up.port] }));
  const body = "x".repeat(2048);
  // curl waits up to 1 s for the 100 before sending anyway; --expect100-timeout 3 makes a
  // missing 100 visible as a slow request.
  const t0 = Date.now();
  const r = await run("curl", ["-sS", "-v", "--max-time", "5", "--expect100-timeout", "3", "-H", "Expect: 100-continue", "--data-binary", body, proxy.url("/c")]);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, "len 2048");
  assert.match(r.stderr, /HTTP\/1\.1 100 Continue/);
  assert.ok(Date.now() - t0 < 2500, "curl waited for a 100 that never came");
}, { skip: CURL ? false : "curl is not installed" });

function run(cmd: string, args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  // Asynchronous: the proxy under test runs on this thread, so spawnSync would starve it.
  return new Promise((resolve) => {
    const child = spawn(cmd, args);
    let stdout = "", stderr = "";
    child.stdout.on("data", (d: Uint8Array) => (stdout += new TextDecoder().decode(d)));
    child.stderr.on("data", (d: Uint8Array) => (stderr += new TextDecoder().decode(d)));
    child.on("close", (status) => resolve({ status, stdout, stderr }));
  });
}

test("TE: trailers is forwarded, other TE values are not; request trailers reach the upstream with enable_trailers", async () => {
  const seen: string[] = [];
  await using raw = await startRawServer((s: net.Socket) => {
    let buf = "";
    s.on("data", (d: Uint8Array) => {
      buf += new TextDecoder("latin1").decode(d);
      if (buf.includes("0\r\n") && buf.endsWith("\r\n\r\n") || (!/transfer-encoding/i.test(buf) && buf.includes("\r\n\r\n"))) {
        seen.push(buf);
        buf = "";
        s.write("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok");
      }
    });
  });
  await using proxy = await startProxy(simpleConfig({ upstreamPorts: [raw.port], hcm: { http_protocol_options: { enable_trailers: true } } }));
  await using c = await rawConnect(proxy.port());
  c.write("GET /te HTTP/1.1\r\nHost: x\r\nTE: trailers, deflate;q=0.5\r\nConnection: TE\r\n\r\n");
  await c.waitFor((t) => t.endsWith("ok"), "first response");
  c.write("GET /te2 HTTP/1.1\r\nHost: x\r\nTE: gzip\r\n\r\n");
  await c.waitFor((t) => parseResponses(t).length === 2, "second response");
  c.write("POST /tr HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nX-Checksum: 42\r\n\r\n");
  await c.waitFor((t) => parseResponses(t).length === 3, "third response");
  assert.match(seen[0]!, /\r\nte: trailers\r\n/i);
  assert.doesNotMatch(seen[1]!, /\r\nte:/i);
  assert.match(seen[2]!, /\r\ntransfer-encoding: chunked\r\n/i);
  assert.match(seen[2]!, /3\r\nabc\r\n0\r\nx-checksum: 42\r\n\r\n$/i);
});

test("Upgrade: websocket without upgrade_configs is refused with 403 and close; h2c is ignored", async () => {
  await using up = await startUpstream();
  await using proxy = await startProxy(simpleConfig({ upstreamPorts: [up.port] }));
  await using ws = await rawConnect(proxy.port());
  ws.write("GET /chat HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n");
  await ws.waitClosed();
  assert.match(ws.received(), /^HTTP\/1\.1 403 Forbidden\r\n/);
  assert.equal(proxy.stat("http.ingress.downstream_rq_ws_on_non_ws_route"), 1);
  await using h2c = await rawConnect(proxy.port());
  h2c.write("GET /h2c HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n");
  await h2c.waitFor((t) => t.endsWith("upstream saw GET /h2c"), "the plain HTTP/1.1 response");
  const seen = up.requests.find((r) => r.url === "/h2c")!;
  assert.equal(seen.headers["upgrade"], undefined);
  assert.equal(seen.headers["http2-settings"], undefined);
  // The connection stays usable for HTTP/1.1.
  h2c.write("GET /after HTTP/1.1\r\nHost: x\r\n\r\n");
  await h2c.waitFor((t) => t.endsWith("upstream saw GET /after"), "a second response on the same connection");
  assert.equal(up.requests.some((r) => r.url === "/chat"), false);
});

test("CONNECT matches no route (Envoy: connect_matcher only): 404 and close, nothing tunnelled", async () => {
  await using up = await startUpstream();
  await using proxy = await startProxy(simpleConfig({ upstreamPorts: [up.port] }));
  await using c = await rawConnect(proxy.port());
  c.write("CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\nGET /tunnelled HTTP/1.1\r\nHost: x\r\n\r\n");
  await c.waitClosed();
  const rs = parseResponses(c.received());
  assert.equal(rs.length, 1);
  assert.equal(rs[0]!.status, 404);
  assert.equal(up.requests.length, 0);
});

test("x-forwarded-for with xff_num_trusted_hops; x-envoy-external-address; x-forwarded-proto trust", async () => {
  await using up = await startUpstream();
  await using proxy = await startProxy(simpleConfig({ upstreamPorts: [up.port], hcm: { xff_num_trusted_hops: 1 } }));
  await (await fetch(proxy.url("/1"), { headers: { "x-forwarded-for": "1.2.3.4, 5.6.7.8", "x-forwarded-proto": "https", "x-envoy-retry-on": "5xx" } })).text();
  const a = up.requests[0]!.headers;
  assert.equal(a["x-forwarded-for"], "1.2.3.4, 5.6.7.8, 127.0.0.1");
  assert.equal(a["x-envoy-external-address"], "5.6.7.8", "one trusted hop: the client is the last XFF entry");
  assert.equal(a["x-forwarded-proto"], "https", "kept: the previous hop is trusted");
  assert.equal(a["x-envoy-retry-on"], undefined, "internal headers are removed from external requests");
  assert.equal(a["x-envoy-internal"], undefined);

  await using p0 = await startProxy(simpleConfig({ upstreamPorts: [up.port] }));
  await (await fetch(p0.url("/2"), { headers: { "x-forwarded-proto": "https", "x-envoy-external-address": "9.9.9.9" } })).text();
  const b = up.requests[1]!.headers;
  assert.equal(b["x-forwarded-proto"], "http", "overwritten: no trusted hops");
  assert.equal(b["x-envoy-internal"], "true", "the peer 127.0.0.1 is internal");
  assert.equal(b["x-envoy-external-address"], "9.9.9.9", "an internal request's x-envoy-* headers are trusted");
  assert.equal(b["x-forwarded-for"], "127.0.0.1");
});

test("skip_xff_append and use_remote_address false keep XFF as received", async () => {
  await using up = await startUpstream();
  await using proxy = await startProxy(simpleConfig({ upstreamPorts: [up.port], hcm: { use_remote_address: false } }));
  await (await fetch(proxy.url("/"), { headers: { "x-forwarded-for": "10.0.0.7" } })).text();
  assert.equal(up.requests[0]!.headers["x-forwarded-for"], "10.0.0.7");
  assert.equal(up.requests[0]!.headers["x-envoy-internal"], "true", "a single internal XFF address marks the request internal");
  await using p2 = await startProxy(simpleConfig({ upstreamPorts: [up.port], hcm: { skip_xff_append: true } }));
  await (await fetch(p2.url("/"), { headers: { "x-forwarded-for": "8.8.8.8" } })).text();
  assert.equal(up.requests[1]!.headers["x-forwarded-for"], "8.8.8.8");
});

test("via is appended to requests and responses; server_header_transformation", async () => {
  await using up = await startUpstream(() => ({ headers: { server: "backend/1.0", via: "1.1 cache" }, body: "x" }));
  await using bare = await startUpstream(() => ({ body: "y" }));
  const run = async (sht: string | undefined, port: number) => {
    await using p = await startProxy(simpleConfig({ upstreamPorts: [port], hcm: { via: "legate-test", ...(sht ? { server_header_transformation: sht } : {}) } }));
    const r = await fetch(p.url("/"), { headers: { via: "1.0 client-proxy" } });
    await r.text();
    return r.headers;
  };
  const ow = await run(undefined, up.port);
  assert.equal(ow.get("server"), "legate");
  assert.equal(ow.get("via"), "1.1 cache, legate-test");
  assert.equal(up.requests[0]!.headers["via"], "1.0 client-proxy, legate-test");
  assert.equal((await run("PASS_THROUGH", up.port)).get("server"), "backend/1.0");
  assert.equal((await run("APPEND_IF_ABSENT", up.port)).get("server"), "backend/1.0");
  assert.equal((await run("APPEND_IF_ABSENT", bare.port)).get("server"), "legate");
  assert.equal((await run("PASS_THROUGH", bare.port)).get("server"), null);
});

test("normalize_path and merge_slashes rewrite the path the router and upstream see", async () => {
  await using up = await startUpstream();
  await using proxy = await startProxy(simpleConfig({ upstreamPorts: [up.port], hcm: { normalize_path: true, merge_slashes: true } }));
  await using c = await rawConnect(proxy.port());
  c.write("GET /a/./b/../c//d/%2e%2e/e?q=/../x HTTP/1.1\r\nHost: x\r\n\r\n");
  await c.waitFor((t) => t.includes("upstream saw"), "the response");
  assert.equal(up.requests[0]!.url, "/a/c/e?q=/../x");
  await using plain = await startProxy(simpleConfig({ upstreamPorts: [up.port] }));
  await using c2 = await rawConnect(plain.port());
  c2.write("GET /a/../b//c HTTP/1.1\r\nHost: x\r\n\r\n");
  await c2.waitFor((t) => t.includes("upstream saw"), "the response");
  assert.equal(up.requests[1]!.url, "/a/../b//c", "unchanged by default");
});

test("path_with_escaped_slashes_action: REJECT_REQUEST, UNESCAPE_AND_REDIRECT, UNESCAPE_AND_FORWARD, default keep", async () => {
  await using up = await startUpstream();
  const get = async (action: string | undefined, path: string) => {
    await using p = await startProxy(simpleConfig({ upstreamPorts: [up.port], hcm: action ? { path_with_escaped_slashes_action: action } : {} }));
    await using c = await rawConnect(p.port());
    c.write(`GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`);
    await c.waitFor((t) => parseResponses(t).length === 1 && (parseResponses(t)[0]!.body.length >= Number(parseResponses(t)[0]!.headers["content-length"] ?? 0)), "a response");
    return { res: parseResponses(c.received())[0]!, rejected: p.stat("http.ingress.downstream_rq_failed_path_normalization") };
  };
  const rej = await get("REJECT_REQUEST", "/a%2Fb");
  assert.equal(rej.res.status, 400);
  assert.equal(rej.rejected, 1);
  const redir = await get("UNESCAPE_AND_REDIRECT", "/a%2fb%5Cc?x=%2F");
  assert.equal(redir.res.status, 307);
  assert.equal(redir.res.headers["location"], "/a/b\\c?x=%2F");
  const fwd = await get("UNESCAPE_AND_FORWARD", "/a%2Fb");
  assert.equal(fwd.res.body, "upstream saw GET /a/b");
  const keep = await get(undefined, "/a%2Fb");
  assert.equal(keep.res.body, "upstream saw GET /a%2Fb");
  assert.equal(up.requests.length, 2, "rejected and redirected requests never reach the upstream");
});

test("strip_any_host_port and strip_matching_host_port", async () => {
  await using up = await startUpstream();
  await using any = await startProxy(simpleConfig({ upstreamPorts: [up.port], hcm: { strip_any_host_port: true } }));
  await using c = await rawConnect(any.port());
  c.write("GET /1 HTTP/1.1\r\nHost: Example.com:8443\r\n\r\n");
  await c.waitFor((t) => t.endsWith("/1"), "response 1");
  assert.equal(up.requests[0]!.headers["host"], "example.com");
  await using m = await startProxy(simpleConfig({ upstreamPorts: [up.port], hcm: { strip_matching_host_port: true } }));
  await using c2 = await rawConnect(m.port());
  c2.write(`GET /2 HTTP/1.1\r\nHost: a.test:${m.port()}\r\n\r\nGET /3 HTTP/1.1\r\nHost: [::1]:9\r\n\r\n`);
  await c2.waitFor((t) => t.endsWith("/3"), "responses 2 and 3");
  assert.equal(up.requests[1]!.headers["host"], "a.test");
  assert.equal(up.requests[2]!.headers["host"], "[::1]:9", "a port that is not the listener's stays");
});

test("always_set_request_id_in_response echoes x-request-id", async () => {
  await using up = await startUpstream();
  await using proxy = await startProxy(simpleConfig({ upstreamPorts: [up.port], hcm: { always_set_request_id_in_response: true } }));
  const r = await fetch(proxy.url("/"));
  await r.text();
  assert.match(r.headers.get("x-request-id") ?? "", /^[0-9a-f-]{36}$/);
  assert.equal(r.headers.get("x-request-id"), up.requests[0]!.headers["x-request-id"]);
  await using plain = await startProxy(simpleConfig({ upstreamPorts: [up.port] }));
  const r2 = await fetch(plain.url("/"));
  await r2.text();
  assert.equal(r2.headers.get("x-request-id"), null);
});

test("local_reply_config: a mapper rewrites status and body; body_format renders every local reply", async () => {
  await using up = await startUpstream();
  await using proxy = await startProxy(simpleConfig({
    upstreamPorts: [up.port],
    routes: [{ match: { prefix: "/ok" }, route: { cluster: "backend" } }],
    hcm: {
      local_reply_config: {
        mappers: [{
          filter: { status_code_filter: { comparison: { op: "EQ", value: { default_value: 404, runtime_key: "lr" } } } },
          status_code: 410,
          body: { inline_string: "gone for good" },
        }],
        body_format: { text_format_source: { inline_string: "[%RESPONSE_CODE% %RESPONSE_CODE_DETAILS%] %LOCAL_REPLY_BODY%" } },
      },
    },
  }));
  const r = await fetch(proxy.url("/missing"));
  assert.equal(r.status, 410);
  assert.equal(await r.text(), "[410 route_not_found] gone for good");
  assert.equal(r.headers.get("content-type"), "text/plain");
  const ok = await fetch(proxy.url("/ok"));
  assert.equal(await ok.text(), "upstream saw GET /ok", "upstream responses are not touched");
  await using c = await rawConnect(proxy.port());
  c.write("GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n");
  await c.waitClosed();
  const [bad] = parseResponses(c.received());
  assert.equal(bad!.status, 400);
  assert.equal(bad!.body, "[400 http1.content_length_and_chunked_not_allowed] Bad Request");
});

test("absolute-form targets are accepted: the URL authority replaces Host", async () => {
  await using up = await startUpstream();
  await using proxy = await startProxy(simpleConfig({ upstreamPorts: [up.port] }));
  await using c = await rawConnect(proxy.port());
  c.write("GET http://other.test/abs?q=1 HTTP/1.1\r\nHost: x\r\n\r\n");
  await c.waitFor((t) => t.endsWith("upstream saw GET /abs?q=1"), "absolute-form is accepted and rewritten");
  assert.equal(up.requests[0]!.headers["host"], "other.test");
  await waitFor(() => up.requests.length === 1, "one upstream request");
});

test("request trailers are dropped by default (Envoy's HTTP/1 codec without enable_trailers)", async () => {
  let seen = "";
  await using raw = await startRawServer((s: net.Socket) => {
    s.on("data", (d: Uint8Array) => {
      seen += new TextDecoder("latin1").decode(d);
      if (seen.endsWith("\r\n\r\n") && seen.includes("\r\n0\r\n")) s.write("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok");
    });
  });
  await using proxy = await startProxy(simpleConfig({ upstreamPorts: [raw.port] }));
  await using c = await rawConnect(proxy.port());
  c.write("POST /tr HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nX-Checksum: 42\r\n\r\n");
  await c.waitFor((t) => t.endsWith("ok"), "the response");
  assert.match(seen, /3\r\nabc\r\n0\r\n\r\n$/);
  assert.doesNotMatch(seen, /x-checksum/i);
});

test("HTTP/1.0: 426 by default; accept_http_10 needs a Host or default_host_for_http_10", async () => {
  await using up = await startUpstream();
  await using strict = await startProxy(simpleConfig({ upstreamPorts: [up.port] }));
  await using a = await rawConnect(strict.port());
  a.write("GET /old HTTP/1.0\r\nHost: x\r\n\r\n");
  await a.waitClosed();
  assert.match(a.received(), /^HTTP\/1\.1 426 Upgrade Required\r\n/);

  await using open = await startProxy(simpleConfig({ upstreamPorts: [up.port], hcm: { http_protocol_options: { accept_http_10: true } } }));
  await using b = await rawConnect(open.port());
  b.write("GET /nohost HTTP/1.0\r\n\r\n");
  await b.waitClosed();
  assert.match(b.received(), /^HTTP\/1\.1 400 Bad Request\r\n/, "no Host and no default host");
  await using b2 = await rawConnect(open.port());
  b2.write("GET /withhost HTTP/1.0\r\nHost: h.test\r\n\r\n");
  await b2.waitClosed();
  assert.ok(b2.received().endsWith("upstream saw GET /withhost"));

  await using dflt = await startProxy(simpleConfig({ upstreamPorts: [up.port], hcm: { http_protocol_options: { accept_http_10: true, default_host_for_http_10: "default.test" } } }));
  await using c = await rawConnect(dflt.port());
  c.write("GET /d HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
  await c.waitFor((t) => t.endsWith("upstream saw GET /d"), "the response");
  assert.match(c.received(), /connection: keep-alive/i);
  assert.equal(c.closed(), false);
  assert.deepEqual(up.requests.map((r) => [r.url, r.headers["host"]]), [["/withhost", "h.test"], ["/d", "default.test"]]);
});

test("edge requests (use_remote_address, an XFF hop in front) get a fresh x-request-id unless preserve_external_request_id", async () => {
  await using up = await startUpstream();
  await using proxy = await startProxy(simpleConfig({ upstreamPorts: [up.port] }));
  await (await fetch(proxy.url("/a"), { headers: { "x-request-id": "client-id", "x-forwarded-for": "203.0.113.9" } })).text();
  await (await fetch(proxy.url("/b"), { headers: { "x-request-id": "internal-id" } })).text();
  assert.notEqual(up.requests[0]!.headers["x-request-id"], "client-id", "edge: replaced");
  assert.equal(up.requests[0]!.headers["x-envoy-internal"], undefined, "two hops are not internal");
  assert.equal(up.requests[1]!.headers["x-request-id"], "internal-id", "internal: kept");
  await using keep = await startProxy(simpleConfig({ upstreamPorts: [up.port], hcm: { preserve_external_request_id: true } }));
  await (await fetch(keep.url("/c"), { headers: { "x-request-id": "client-id", "x-forwarded-for": "203.0.113.9" } })).text();
  assert.equal(up.requests[2]!.headers["x-request-id"], "client-id");
});

test("headers_with_underscores_action: DROP_HEADER drops them, REJECT_REQUEST answers 400", async () => {
  await using up = await startUpstream();
  await using drop = await startProxy(simpleConfig({ upstreamPorts: [up.port], hcm: { common_http_protocol_options: { headers_with_underscores_action: "DROP_HEADER" } } }));
  await (await fetch(drop.url("/d"), { headers: { "x_under": "1", "x-dash": "2" } })).text();
  assert.equal(up.requests[0]!.headers["x_under"], undefined);
  assert.equal(up.requests[0]!.headers["x-dash"], "2");
  assert.equal(drop.stat("http.ingress.dropped_headers_with_underscores"), 1);
  await using rej = await startProxy(simpleConfig({ upstreamPorts: [up.port], hcm: { common_http_protocol_options: { headers_with_underscores_action: "REJECT_REQUEST" } } }));
  await using c = await rawConnect(rej.port());
  c.write("GET /r HTTP/1.1\r\nHost: x\r\nX_Under: 1\r\n\r\n");
  await c.waitClosed();
  assert.match(c.received(), /^HTTP\/1\.1 400 Bad Request\r\n/);
  assert.equal(up.requests.length, 1);
  assert.equal(rej.stat("http.ingress.requests_rejected_with_underscores_in_headers"), 1);
  await using allow = await startProxy(simpleConfig({ upstreamPorts: [up.port] }));
  await (await fetch(allow.url("/a"), { headers: { "x_under": "1" } })).text();
  assert.equal(up.requests[1]!.headers["x_under"], "1", "ALLOW (the default) forwards them");
});

test("internal_address_config: only the listed ranges are internal", async () => {
  await using up = await startUpstream();
  await using none = await startProxy(simpleConfig({ upstreamPorts: [up.port], hcm: { internal_address_config: { cidr_ranges: [] } } }));
  await (await fetch(none.url("/1"), { headers: { "x-request-id": "keep-me?" } })).text();
  assert.equal(up.requests[0]!.headers["x-envoy-internal"], undefined, "127.0.0.1 is not internal when no range lists it");
  assert.equal(up.requests[0]!.headers["x-envoy-external-address"], "127.0.0.1");
  assert.notEqual(up.requests[0]!.headers["x-request-id"], "keep-me?", "an edge request id is replaced");
  await using lo = await startProxy(simpleConfig({ upstreamPorts: [up.port], hcm: { internal_address_config: { cidr_ranges: [{ address_prefix: "127.0.0.0", prefix_len: 8 }] } } }));
  await (await fetch(lo.url("/2"))).text();
  assert.equal(up.requests[1]!.headers["x-envoy-internal"], "true");
  assert.equal(up.requests[1]!.headers["x-envoy-external-address"], undefined);
});

test("strip_trailing_host_dot and scheme_header_transformation", async () => {
  const { rmSync } = await import("node:fs");
  const { tmpdir } = await import("node:os");
  const log = `${tmpdir()}/legate-scheme-${Date.now()}-${Math.random().toString(36).slice(2)}.log`;
  try {
    await using up = await startUpstream();
    await using proxy = await startProxy(simpleConfig({
      upstreamPorts: [up.port],
      hcm: {
        strip_trailing_host_dot: true,
        scheme_header_transformation: { scheme_to_overwrite: "https" },
        access_log: [{
          typed_config: {
            "@type": "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog",
            path: log,
            log_format: { text_format: "%REQ(:SCHEME)% %REQ(:AUTHORITY)%\n" },
          },
        }],
      },
    }));
    await using c = await rawConnect(proxy.port());
    c.write("GET /dot HTTP/1.1\r\nHost: Example.com.:8080\r\n\r\n");
    await c.waitFor((t) => t.endsWith("upstream saw GET /dot"), "the response");
    assert.equal(up.requests[0]!.headers["host"], "example.com:8080");
    assert.equal(up.requests[0]!.headers["x-forwarded-proto"], "http", "x-forwarded-proto follows the connection, not :scheme");
    const line = await waitForFile(log, "the access log line");
    assert.equal(line, "https example.com:8080\n");
  } finally {
    rmSync(log, { force: true });
  }
});

test("append_x_forwarded_port sets the listener port (an untrusted one is replaced)", async () => {
  await using up = await startUpstream();
  await using proxy = await startProxy(simpleConfig({ upstreamPorts: [up.port], hcm: { append_x_forwarded_port: true } }));
  await (await fetch(proxy.url("/"), { headers: { "x-forwarded-port": "1" } })).text();
  assert.equal(up.requests[0]!.headers["x-forwarded-port"], String(proxy.port()));
  await using off = await startProxy(simpleConfig({ upstreamPorts: [up.port] }));
  await (await fetch(off.url("/"))).text();
  assert.equal(up.requests[1]!.headers["x-forwarded-port"], undefined);
});

test("hop-by-hop request headers: Connection and the names it lists, keep-alive, proxy-connection", async () => {
  await using up = await startUpstream();
  await using proxy = await startProxy(simpleConfig({ upstreamPorts: [up.port] }));
  await using c = await rawConnect(proxy.port());
  c.write("GET /h HTTP/1.1\r\nHost: x\r\nConnection: keep-alive, X-Hop, close\r\nX-Hop: secret\r\nX-End: kept\r\nKeep-Alive: timeout=5\r\nProxy-Connection: keep-alive\r\n\r\n");
  await c.waitClosed();
  assert.match(c.received(), /connection: close/i, "the client asked to close");
  const h = up.requests[0]!.headers;
  for (const name of ["x-hop", "keep-alive", "proxy-connection"]) assert.equal(h[name], undefined, name);
  assert.equal(h["x-end"], "kept");
  assert.notEqual(h["connection"], "keep-alive, X-Hop, close", "the client's Connection header is not forwarded");
});
