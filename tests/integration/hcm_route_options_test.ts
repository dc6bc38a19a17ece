/**
 * On real sockets: route match runtime_fraction (a random draw per request), route-level
 * upgrade_configs overriding the HCM's, the HCM's drain_timeout (how long an idle keep-alive
 * connection survives its listener's drain) and delayed_close_timeout (how long a connection
 * closed after a local reply waits for the peer), and proxy_100_continue.
 */
import assert from "node:assert/strict";
import * as net from "node:net";
import { test, waitFor } from "../harness.ts";
import { HCM_TYPE, ROUTER_TYPE, simpleConfig, startProxy } from "../helpers/proxy.ts";
import { parseResponses, rawConnect } from "../helpers/raw_client.ts";
import { startRawServer } from "../helpers/upstream.ts";
import { registerConfigExtension } from "../../src/registry/registry.ts";
import { registerHttpFilterRuntime, type RequestHeaders, type StreamCallbacks, type StreamFilter } from "../../src/http/filter.ts";
import { HeaderMap } from "../../src/http/header_map.ts";

type Json = Record<string, any>; // deno-lint-ignore no-explicit-any

const direct = (name: string, body: string, match: Json = { prefix: "/" }) => ({
  name,
  match,
  direct_response: { status: 200, body: { inline_string: body } },
});

/** Sends `n` keep-alive requests on one connection, one at a time; returns the bodies. */
async function bodies(port: number, n: number): Promise<string[]> {
  await using c = await rawConnect(port);
  for (let i = 1; i <= n; i++) {
    c.write("GET /x HTTP/1.1\r\nHost: x\r\n\r\n");
    await c.waitFor((t) => parseResponses(t).length >= i, `response ${i}`);
  }
  return parseResponses(c.received()).map((r) => r.body);
}

test("runtime_fraction: 0% never matches, 100% always does, 50% splits requests at random", async () => {
  const cfg = (numerator: number) =>
    simpleConfig({ routes: [direct("a", "a", { prefix: "/", runtime_fraction: { default_value: { numerator }, runtime_key: "k" } }), direct("b", "b")] });
  {
    await using proxy = await startProxy(cfg(0));
    assert.deepEqual(await bodies(proxy.port(), 20), new Array(20).fill("b"));
  }
  {
    await using proxy = await startProxy(cfg(100));
    assert.deepEqual(await bodies(proxy.port(), 20), new Array(20).fill("a"));
  }
  await using proxy = await startProxy(cfg(50));
  const got = await bodies(proxy.port(), 200);
  const a = got.filter((b) => b === "a").length;
  // Binomial(200, 0.5): outside [60, 140] has a probability far below 1e-8.
  assert.ok(a >= 60 && a <= 140, `a got ${a} of 200`);
  assert.equal(got.length - a, got.filter((b) => b === "b").length);
}, { timeoutMs: 20_000 });

test("runtime_fraction: TEN_THOUSAND denominator and header matchers together", async () => {
  await using proxy = await startProxy(simpleConfig({
    routes: [
      direct("a", "a", { prefix: "/", headers: [{ name: "x-canary", present_match: true }], runtime_fraction: { default_value: { numerator: 10_000, denominator: "TEN_THOUSAND" } } }),
      direct("never", "never", { prefix: "/", runtime_fraction: { default_value: { numerator: 0, denominator: "MILLION" } } }),
      direct("b", "b"),
    ],
  }));
  await using c = await rawConnect(proxy.port());
  c.write("GET / HTTP/1.1\r\nHost: x\r\nX-Canary: 1\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n");
  await c.waitFor((t) => parseResponses(t).length >= 2, "two responses");
  assert.deepEqual(parseResponses(c.received()).map((r) => r.body), ["a", "b"]);
});

// --- route-level upgrade_configs -------------------------------------------------------------

const ECHO_TYPE = "type.googleapis.com/legate.test.RouteUpgradeEcho";

/** Stands in for the router: answers an upgrade with 101 and echoes tunnel bytes upper-cased. */
class UpgradeEcho implements StreamFilter {
  constructor(readonly cb: StreamCallbacks) {}
  decodeHeaders(req: RequestHeaders): "stop" {
    const h = new HeaderMap();
    if (req.headers.get("upgrade") === undefined) {
      h.set("content-length", "10");
      this.cb.encodeHeaders({ status: 200, headers: h }, false);
      this.cb.encodeData(new TextEncoder().encode("no-upgrade"), true);
      return "stop";
    }
    this.cb.encodeHeaders({ status: 101, headers: h }, false);
    return "stop";
  }
  decodeData(data: Uint8Array, endStream: boolean): "stop" {
    this.cb.encodeData(new TextEncoder().encode(new TextDecoder().decode(data).toUpperCase()), endStream);
    return "stop";
  }
  onDestroy(): void {}
}

registerConfigExtension({ name: "legate.test.route_upgrade_echo", typeUrls: [ECHO_TYPE], category: "http_filter", terminal: true, parseConfig: () => ({}) });
registerHttpFilterRuntime({ name: "legate.test.route_upgrade_echo", typeUrls: [ECHO_TYPE], createFilterFactory: () => (cb) => new UpgradeEcho(cb) });

const ECHO_FILTERS = [{ name: "echo", typed_config: { "@type": ECHO_TYPE } }];
const upgradeReq = (path: string, type = "websocket") =>
  `GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: ${type}\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`;
const wsRoute = (prefix: string, upgrade_configs?: Json[]) => ({
  match: { prefix },
  route: { cluster: "backend", ...(upgrade_configs ? { upgrade_configs } : {}) },
});

/** The status line of the answer to an upgrade request on `path` (and, after a 101, the echo). */
async function tryUpgrade(port: number, path: string, type = "websocket"): Promise<string> {
  await using c = await rawConnect(port);
  c.write(upgradeReq(path, type));
  await c.waitFor((t) => t.includes("\r\n\r\n"), "a response head");
  const status = c.received().slice(0, c.received().indexOf("\r\n"));
  if (status.includes(" 101 ")) {
    c.write("ping");
    await c.waitFor((t) => t.endsWith("PING"), "the tunnelled echo");
  } else {
    await c.waitClosed();
  }
  return status;
}

test("route upgrade_configs: a route enables an upgrade the HCM does not list", async () => {
  await using proxy = await startProxy(simpleConfig({
    upstreamPorts: [1],
    hcm: { http_filters: ECHO_FILTERS },
    routes: [wsRoute("/ws", [{ upgrade_type: "WebSocket" }]), wsRoute("/")],
  }));
  assert.equal(await tryUpgrade(proxy.port(), "/ws"), "HTTP/1.1 101 Switching Protocols");
  assert.equal(proxy.stat("http.ingress.downstream_cx_upgrades_total"), 1);
  // Other routes keep the HCM's answer (no upgrade_configs: refused), and so do other types.
  assert.equal(await tryUpgrade(proxy.port(), "/other"), "HTTP/1.1 403 Forbidden");
  assert.equal(await tryUpgrade(proxy.port(), "/ws", "spdy/3"), "HTTP/1.1 403 Forbidden");
  assert.equal(proxy.stat("http.ingress.downstream_rq_ws_on_non_ws_route"), 2);
});

test("route upgrade_configs: a route disables an upgrade the HCM enabled", async () => {
  await using proxy = await startProxy(simpleConfig({
    upstreamPorts: [1],
    hcm: { http_filters: ECHO_FILTERS, upgrade_configs: [{ upgrade_type: "websocket" }] },
    routes: [wsRoute("/nows", [{ upgrade_type: "websocket", enabled: false }]), wsRoute("/")],
  }));
  assert.equal(await tryUpgrade(proxy.port(), "/nows"), "HTTP/1.1 403 Forbidden");
  assert.equal(proxy.stat("http.ingress.downstream_rq_ws_on_non_ws_route"), 1);
  assert.equal(await tryUpgrade(proxy.port(), "/ws"), "HTTP/1.1 101 Switching Protocols");
  // A plain request on the route that refuses upgrades still goes through.
  await using plain = await rawConnect(proxy.port());
  plain.write("GET /nows HTTP/1.1\r\nHost: x\r\n\r\n");
  await plain.waitFor((t) => t.endsWith("no-upgrade"), "a plain response");
});

// --- drain_timeout ---------------------------------------------------------------------------

/** A one-chain listener whose HCM answers `body`; `hcm` adds HCM fields. */
function drainConfig(body: string, hcm: Json): Json {
  return {
    static_resources: {
      listeners: [{
        name: "l",
        address: { socket_address: { address: "127.0.0.1", port_value: 0 } },
        filter_chains: [{
          filters: [{
            name: "envoy.filters.network.http_connection_manager",
            typed_config: {
              "@type": HCM_TYPE,
              stat_prefix: "d",
              route_config: { name: "r", virtual_hosts: [{ name: "all", domains: ["*"], routes: [direct("r", body)] }] },
              http_filters: [{ name: "envoy.filters.http.router", typed_config: { "@type": ROUTER_TYPE } }],
              ...hcm,
            },
          }],
        }],
      }],
      clusters: [],
    },
  };
}

/** Opens a keep-alive connection, makes one request, then drains every listener (admin
 *  /drain_listeners); returns the connection and when the drain was applied. */
async function idleThenDrain(drainTimeout: string | undefined) {
  const extra = drainTimeout === undefined ? {} : { drain_timeout: drainTimeout };
  const proxy = await startProxy({ ...drainConfig("one", extra), admin: { address: { socket_address: { address: "127.0.0.1", port_value: 0 } } } });
  const c = await rawConnect(proxy.port());
  c.write("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
  await c.waitFor((t) => parseResponses(t).length === 1, "the first response");
  const res = await fetch(`http://127.0.0.1:${proxy.adminPort}/drain_listeners`, { method: "POST" });
  assert.equal(res.status, 200);
  await res.text();
  return { proxy, c, drainedAt: Date.now() };
}

test("drain_timeout: an idle keep-alive connection of a draining listener closes after it", async () => {
  const { proxy, c, drainedAt } = await idleThenDrain("0.2s");
  await using _p = proxy;
  await using _c = c;
  await c.waitClosed(3000);
  const took = Date.now() - drainedAt;
  assert.ok(took >= 150 && took < 1500, `closed after ${took}ms`);
  assert.equal(proxy.stat("http.d.downstream_cx_drain_close"), 1);
}, { timeoutMs: 15_000 });

test("drain_timeout: a longer one keeps the idle connection usable (its response says close)", async () => {
  const { proxy, c } = await idleThenDrain("4s");
  await using _p = proxy;
  await using _c = c;
  // The old hard-coded grace was 1 s: the connection must outlive it.
  await new Promise((r) => setTimeout(r, 1600));
  assert.equal(c.closed(), false, "still open 1.6 s into a 4 s drain_timeout");
  c.write("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
  await c.waitClosed(3000);
  const rs = parseResponses(c.received());
  assert.equal(rs.length, 2);
  assert.equal(rs[1]!.body, "one");
  assert.equal(rs[1]!.headers["connection"], "close");
}, { timeoutMs: 15_000 });

test("drain_timeout: unset means Envoy's 5 s (an idle connection outlives 1.6 s of drain)", async () => {
  const { proxy, c } = await idleThenDrain(undefined);
  await using _p = proxy;
  await using _c = c;
  await new Promise((r) => setTimeout(r, 1600));
  assert.equal(c.closed(), false);
}, { timeoutMs: 15_000 });

// --- delayed_close_timeout -------------------------------------------------------------------

/** A client that keeps its side open after the proxy's FIN (allowHalfOpen), as a slow peer
 *  would; reports when the response ended (FIN) and when the socket closed. */
async function halfOpenClient(port: number) {
  const s = net.connect({ host: "127.0.0.1", port, allowHalfOpen: true });
  let got = "";
  let endAt = 0;
  let closeAt = 0;
  s.on("data", (d: Buffer) => (got += d.toString("latin1")));
  s.on("end", () => (endAt = Date.now()));
  s.on("close", () => (closeAt = Date.now()));
  s.on("error", () => {});
  await new Promise<void>((resolve, reject) => {
    s.once("connect", () => resolve());
    s.once("error", reject);
  });
  return {
    write: (t: string) => void s.write(t),
    received: () => got,
    endAt: () => endAt,
    closeAt: () => closeAt,
    [Symbol.asyncDispose]: async () => void s.destroy(),
  };
}

// HTTP/1.0 without accept_http_10: a local 426 with `connection: close`, then the proxy closes.
const HTTP10 = "GET / HTTP/1.0\r\n\r\n";

/** When the proxy's side of its one HTTP connection closed (its HCM saw the socket close;
 *  a client does not always notice an abortive close of a half-closed socket). */
async function proxyClosedAt(proxy: { stat(n: string): number }, timeoutMs: number): Promise<number> {
  await waitFor(() => proxy.stat("http.ingress.downstream_cx_destroy") === 1, "the proxy to close its connection", timeoutMs, 5);
  return Date.now();
}

test("delayed_close_timeout: the proxy waits that long for the peer before closing", async () => {
  await using proxy = await startProxy(simpleConfig({ hcm: { delayed_close_timeout: "2.5s" } }));
  await using c = await halfOpenClient(proxy.port());
  c.write(HTTP10);
  await waitFor(() => c.endAt() > 0, "the proxy's FIN", 3000);
  assert.match(c.received(), /^HTTP\/1\.1 426 /);
  await new Promise((r) => setTimeout(r, 1500));
  assert.equal(proxy.stat("http.ingress.downstream_cx_destroy"), 0, "still open 1.5 s into a 2.5 s delayed_close_timeout");
  const waited = (await proxyClosedAt(proxy, 4000)) - c.endAt();
  assert.ok(waited >= 2000 && waited < 4000, `closed ${waited}ms after the FIN`);
}, { timeoutMs: 15_000 });

test("delayed_close_timeout: 0 closes as soon as the reply is written, the reply intact", async () => {
  await using proxy = await startProxy(simpleConfig({ hcm: { delayed_close_timeout: "0s" } }));
  await using c = await halfOpenClient(proxy.port());
  const t0 = Date.now();
  c.write(HTTP10);
  const took = (await proxyClosedAt(proxy, 3000)) - t0;
  assert.ok(took < 600, `closed after ${took}ms (the 1 s default would wait)`);
  await waitFor(() => c.endAt() > 0 || c.closeAt() > 0, "the client to see the end", 3000);
  const rs = parseResponses(c.received());
  assert.equal(rs.length, 1);
  assert.equal(rs[0]!.status, 426);
  assert.equal(rs[0]!.headers["connection"], "close");
}, { timeoutMs: 10_000 });

test("delayed_close_timeout: unset means Envoy's 1 s", async () => {
  await using proxy = await startProxy(simpleConfig({}));
  await using c = await halfOpenClient(proxy.port());
  c.write(HTTP10);
  await waitFor(() => c.endAt() > 0, "the proxy's FIN", 3000);
  const waited = (await proxyClosedAt(proxy, 4000)) - c.endAt();
  assert.ok(waited >= 700 && waited < 2500, `closed ${waited}ms after the FIN`);
}, { timeoutMs: 10_000 });

// --- proxy_100_continue ----------------------------------------------------------------------

/** A raw upstream: answers `Expect: 100-continue` with its own 100 (prefixed "X-From: upstream"
 *  so the relay is visible), then echoes whether it saw the expectation and the body. */
async function continueUpstream() {
  return await startRawServer((s) => {
    let got = "";
    let sent100 = false;
    s.on("data", (d: Buffer) => {
      got += d.toString("latin1");
      const end = got.indexOf("\r\n\r\n");
      if (end < 0) return;
      const head = got.slice(0, end).toLowerCase();
      const expect = head.includes("\r\nexpect: 100-continue");
      if (expect && !sent100 && !head.startsWith("post /quiet")) {
        sent100 = true;
        s.write("HTTP/1.1 100 Continue\r\nX-From: upstream\r\n\r\n");
      }
      const len = Number(/\r\ncontent-length: *(\d+)/.exec(head)?.[1] ?? 0);
      const body = got.slice(end + 4);
      if (body.length < len) return;
      const out = `expect=${expect ? "yes" : "no"} body=${body}`;
      s.write(`HTTP/1.1 200 OK\r\ncontent-length: ${out.length}\r\n\r\n${out}`);
      got = "";
      sent100 = false;
    });
  });
}

const EXPECT_HEAD = "POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n";

test("proxy_100_continue: the expectation goes upstream and the upstream's 100 is relayed (once)", async () => {
  await using up = await continueUpstream();
  await using proxy = await startProxy(simpleConfig({ upstreamPorts: [up.port], hcm: { proxy_100_continue: true } }));
  await using c = await rawConnect(proxy.port());
  c.write(EXPECT_HEAD);
  // The client holds its body until a 100 arrives: the upstream's, not one made up locally.
  await c.waitFor((t) => t.includes("\r\n\r\n"), "the relayed 100 Continue");
  assert.equal(c.received(), "HTTP/1.1 100 Continue\r\n\r\n");
  c.write("hello");
  await c.waitFor((t) => t.endsWith("expect=yes body=hello"), "the final response");
  assert.equal(c.received().split("100 Continue").length - 1, 1, "exactly one 100");
  assert.match(c.received().slice(c.received().indexOf("\r\n\r\n") + 4), /^HTTP\/1\.1 200 OK\r\n/);
  // The next request on the connection works the same way.
  c.write(EXPECT_HEAD);
  await c.waitFor((t) => t.split("100 Continue").length - 1 === 2, "a second relayed 100");
  c.write("again");
  await c.waitFor((t) => t.endsWith("expect=yes body=again"), "the second final response");
  // An upstream that sends no 100: none reaches the client (the HCM does not answer locally).
  await using q = await rawConnect(proxy.port());
  q.write(EXPECT_HEAD.replace("/up", "/quiet"));
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(q.received(), "", "no local 100 Continue");
  q.write("quiet");
  await q.waitFor((t) => t.endsWith("expect=yes body=quiet"), "the final response");
  assert.doesNotMatch(q.received(), /100 Continue/);
});

test("proxy_100_continue: unset, the HCM answers the expectation itself and removes Expect", async () => {
  await using up = await continueUpstream();
  await using proxy = await startProxy(simpleConfig({ upstreamPorts: [up.port] }));
  await using c = await rawConnect(proxy.port());
  c.write(EXPECT_HEAD);
  await c.waitFor((t) => t.includes("\r\n\r\n"), "the local 100 Continue");
  assert.equal(c.received(), "HTTP/1.1 100 Continue\r\n\r\n");
  c.write("hello");
  await c.waitFor((t) => t.endsWith("expect=no body=hello"), "the final response");
  assert.equal(c.received().split("100 Continue").length - 1, 1);
});
