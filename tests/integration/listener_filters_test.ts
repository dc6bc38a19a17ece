/**
 * Listener filters on a real listener: tls_inspector (SNI / ALPN chain selection with the
 * ClientHello passed through untouched, split and malformed hellos, timeouts), proxy_protocol
 * (v1 / v2 headers restore the client address for XFF and source matching; malformed headers
 * close and count) and http_inspector (HTTP/1.x vs h2c chain selection).
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import * as net from "node:net";
import * as tls from "node:tls";
import { test, waitFor } from "../harness.ts";
import { HCM_TYPE, ROUTER_TYPE, startProxy, type TestProxy } from "../helpers/proxy.ts";
import { rawConnect } from "../helpers/raw_client.ts";
import { startRawServer, startUpstream } from "../helpers/upstream.ts";
import { readClientHello } from "../../src/tls/client_hello.ts";

type Json = Record<string, any>; // deno-lint-ignore no-explicit-any

const TCP_PROXY = "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy";
const TLS_INSPECTOR = "type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector";
const PROXY_PROTOCOL = "type.googleapis.com/envoy.extensions.filters.listener.proxy_protocol.v3.ProxyProtocol";
const HTTP_INSPECTOR = "type.googleapis.com/envoy.extensions.filters.listener.http_inspector.v3.HttpInspector";

const tlsInspector = { name: "envoy.filters.listener.tls_inspector", typed_config: { "@type": TLS_INSPECTOR } };
const httpInspector = { name: "envoy.filters.listener.http_inspector", typed_config: { "@type": HTTP_INSPECTOR } };
const proxyProtocol = (extra: Json = {}) => ({ name: "envoy.filters.listener.proxy_protocol", typed_config: { "@type": PROXY_PROTOCOL, ...extra } });

/** A tcp_proxy chain to cluster `to`, with `match`. */
function chain(to: string, match?: Json): Json {
  return {
    name: `to_${to}`,
    filters: [{ name: "envoy.filters.network.tcp_proxy", typed_config: { "@type": TCP_PROXY, stat_prefix: to, cluster: to } }],
    ...(match ? { filter_chain_match: match } : {}),
  };
}

function cluster(name: string, port: number): Json {
  return {
    name,
    type: "STATIC",
    connect_timeout: "1s",
    load_assignment: { cluster_name: name, endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: port } } } }] }] },
  };
}

function config(listener: Json, ports: Record<string, number>): Json {
  return {
    static_resources: {
      listeners: [{ name: "l", address: { socket_address: { address: "127.0.0.1", port_value: 0 } }, ...listener }],
      clusters: Object.entries(ports).map(([n, p]) => cluster(n, p)),
    },
  };
}

/** Upstreams that greet with their name and record every byte they receive. */
async function recorders(...names: string[]) {
  const got: Record<string, Buffer[]> = {};
  const servers = await Promise.all(names.map((n) => {
    got[n] = [];
    return startRawServer((s) => {
      s.write(n);
      s.on("data", (d: Buffer) => got[n]!.push(d));
    });
  }));
  const ports: Record<string, number> = {};
  names.forEach((n, i) => (ports[n] = servers[i]!.port));
  return {
    ports,
    received: (n: string) => new Uint8Array(Buffer.concat(got[n]!)),
    text: (n: string) => Buffer.concat(got[n]!).toString("latin1"),
    accepted: (n: string) => servers[names.indexOf(n)]!.accepted,
    [Symbol.asyncDispose]: async () => {
      for (const s of servers) await s[Symbol.asyncDispose]();
    },
  };
}

/** A TLS ClientHello from this runtime's TLS client (the server end is not TLS: it fails, which
 *  is fine, only the hello matters). */
function tlsHello(port: number, servername: string, alpn: string[]): () => void {
  const s = tls.connect({ host: "127.0.0.1", port, servername, ALPNProtocols: alpn, rejectUnauthorized: false });
  s.on("error", () => {});
  return () => s.destroy();
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const hex = (s: string) => new Uint8Array(s.match(/../g)!.map((b) => parseInt(b, 16)));
const u16 = (n: number) => [n >> 8, n & 255];

/** A hand-built ClientHello in TLS records of `recordSize` payload bytes. */
function helloRecords(sni: string, alpn: string[], recordSize = 16384, padding = 0): Uint8Array {
  const name = [...sni].map((c) => c.charCodeAt(0));
  const entry = [0, ...u16(name.length), ...name];
  const list = alpn.flatMap((p) => [p.length, ...[...p].map((c) => c.charCodeAt(0))]);
  const exts = [
    ...u16(0), ...u16(entry.length + 2), ...u16(entry.length), ...entry,
    ...u16(16), ...u16(list.length + 2), ...u16(list.length), ...list,
    ...(padding ? [...u16(21), ...u16(padding), ...new Array(padding).fill(0)] : []),
  ];
  const body = [3, 3, ...new Array(32).fill(9), 0, ...u16(2), 0x13, 0x01, 1, 0, ...u16(exts.length), ...exts];
  const hs = [1, body.length >> 16, (body.length >> 8) & 255, body.length & 255, ...body];
  const out: number[] = [];
  for (let i = 0; i < hs.length; i += recordSize) {
    const part = hs.slice(i, i + recordSize);
    out.push(22, 3, 1, ...u16(part.length), ...part);
  }
  return new Uint8Array(out);
}

function statOf(proxy: TestProxy, name: string): number {
  return proxy.stat(name);
}

const sniChains = [
  chain("A", { server_names: ["a.example.com"] }),
  chain("B", { server_names: ["*.example.org"], application_protocols: ["h2"] }),
  chain("C", { transport_protocol: "raw_buffer" }),
];

test("tls_inspector: a real ClientHello's SNI picks the chain (exact, wildcard + ALPN) and passes through untouched", async () => {
  await using up = await recorders("A", "B", "C");
  await using proxy = await startProxy(config({ listener_filters: [tlsInspector], filter_chains: sniChains }, up.ports));
  const stop1 = tlsHello(proxy.port(), "a.example.com", ["http/1.1"]);
  const stop2 = tlsHello(proxy.port(), "api.example.org", ["h2", "http/1.1"]);
  try {
    await waitFor(() => readClientHello(up.received("A")).kind === "client_hello", "the ClientHello at A");
    await waitFor(() => readClientHello(up.received("B")).kind === "client_hello", "the ClientHello at B");
  } finally {
    stop1();
    stop2();
  }
  const a = readClientHello(up.received("A"));
  const b = readClientHello(up.received("B"));
  assert.ok(a.kind === "client_hello" && b.kind === "client_hello");
  assert.equal(a.serverName, "a.example.com");
  assert.equal(b.serverName, "api.example.org");
  assert.deepEqual(b.alpn, ["h2", "http/1.1"]);
  assert.equal(up.accepted("C"), 0);
  assert.equal(statOf(proxy, "tls_inspector.tls_found"), 2);
  assert.equal(statOf(proxy, "tls_inspector.sni_found"), 2);
  assert.equal(statOf(proxy, "tls_inspector.alpn_found"), 2);
});

test("tls_inspector: openssl s_client's ClientHello is routed by SNI", async () => {
  await using up = await recorders("A", "B", "C");
  await using proxy = await startProxy(config({ listener_filters: [tlsInspector], filter_chains: sniChains }, up.ports));
  const p = spawn("openssl", ["s_client", "-connect", `127.0.0.1:${proxy.port()}`, "-servername", "x.example.org", "-alpn", "h2"], { stdio: ["pipe", "ignore", "ignore"] });
  p.on("error", () => {});
  try {
    await waitFor(() => readClientHello(up.received("B")).kind === "client_hello", "openssl's ClientHello at B");
  } finally {
    p.kill();
  }
  const b = readClientHello(up.received("B"));
  assert.ok(b.kind === "client_hello" && b.serverName === "x.example.org");
  assert.deepEqual(b.kind === "client_hello" && b.alpn, ["h2"]);
}, { skip: existsSync("/usr/bin/openssl") || existsSync("/usr/local/bin/openssl") ? false : "openssl is not installed" });

test("tls_inspector: a ClientHello split over many records and tiny packets arrives intact", async () => {
  await using up = await recorders("A", "B", "C");
  await using proxy = await startProxy(config({ listener_filters: [tlsInspector], filter_chains: sniChains }, up.ports));
  const hello = helloRecords("a.example.com", ["http/1.1"], 40);
  await using c = await rawConnect(proxy.port());
  c.socket.setNoDelay(true);
  for (let i = 0; i < hello.length; i += 7) {
    c.write(hello.subarray(i, i + 7));
    await sleep(2);
  }
  c.write("after");
  await c.waitFor((t) => t === "A", "A's greeting");
  await waitFor(() => up.received("A").length >= hello.length + 5, "all bytes at A");
  assert.deepEqual(up.received("A"), new Uint8Array([...hello, ...new TextEncoder().encode("after")]));
});

test("tls_inspector: plaintext goes to the raw_buffer chain with its bytes replayed", async () => {
  await using up = await recorders("A", "B", "C");
  await using proxy = await startProxy(config({ listener_filters: [tlsInspector], filter_chains: sniChains }, up.ports));
  await using c = await rawConnect(proxy.port());
  c.write("hello plaintext");
  await c.waitFor((t) => t === "C", "C's greeting");
  await waitFor(() => up.text("C") === "hello plaintext", "the bytes at C");
  assert.equal(statOf(proxy, "tls_inspector.tls_not_found"), 1);
});

test("tls_inspector: malformed and oversized ClientHellos close the connection and are counted", async () => {
  await using up = await recorders("A", "B", "C");
  await using proxy = await startProxy(config({ listener_filters: [tlsInspector], filter_chains: sniChains }, up.ports));
  // A handshake record whose message is not a ClientHello.
  await using c1 = await rawConnect(proxy.port());
  c1.write(hex("16030100040200000000"));
  await c1.waitClosed();
  assert.equal(c1.received(), "");
  // A ClientHello over 64 KiB (closed as soon as its length is known).
  await using c2 = await rawConnect(proxy.port());
  c2.write(helloRecords("a.example.com", [], 16384, 65500).subarray(0, 200));
  await c2.waitClosed();
  assert.equal(statOf(proxy, "tls_inspector.client_hello_too_large"), 1);
  assert.equal(statOf(proxy, "tls_inspector.tls_not_found"), 1);
  assert.equal(up.accepted("A") + up.accepted("B") + up.accepted("C"), 0);
});

test("listener filters: a truncated ClientHello times out (closed, or continued when configured); a FIN is a remote close", async () => {
  await using up = await recorders("A", "B", "C");
  const l = (extra: Json) => ({ listener_filters: [tlsInspector], filter_chains: sniChains, listener_filters_timeout: "0.2s", ...extra });
  const partial = helloRecords("a.example.com", ["h2"]).subarray(0, 30);
  await using proxy = await startProxy(config(l({}), up.ports));
  const addr = `listener.127.0.0.1_${proxy.port()}.`;
  await using c1 = await rawConnect(proxy.port());
  c1.write(partial);
  await waitFor(() => statOf(proxy, addr + "downstream_pre_cx_active") === 1, "a socket in its listener filters");
  await c1.waitClosed();
  assert.equal(statOf(proxy, addr + "downstream_pre_cx_timeout"), 1);
  assert.equal(statOf(proxy, addr + "downstream_pre_cx_active"), 0);

  await using c2 = await rawConnect(proxy.port());
  c2.write(partial);
  await sleep(20);
  c2.socket.end();
  await c2.waitClosed();
  assert.equal(statOf(proxy, addr + "downstream_listener_filter_remote_close"), 1);

  // continue_on_listener_filters_timeout: on to chain selection with what was read (no SNI: C).
  await using proxy2 = await startProxy(config(l({ continue_on_listener_filters_timeout: true }), up.ports));
  await using c3 = await rawConnect(proxy2.port());
  c3.write(partial);
  await c3.waitFor((t) => t === "C", "C after the timeout");
  await waitFor(() => up.received("C").length === partial.length, "the partial hello replayed at C");
  assert.deepEqual(up.received("C"), partial);
  assert.equal(statOf(proxy2, `listener.127.0.0.1_${proxy2.port()}.downstream_pre_cx_timeout`), 1);
});

// ---- proxy_protocol ------------------------------------------------------------------------

function hcmChain(match?: Json): Json {
  return {
    filters: [{
      name: "envoy.filters.network.http_connection_manager",
      typed_config: {
        "@type": HCM_TYPE,
        stat_prefix: "ingress",
        use_remote_address: true,
        route_config: { virtual_hosts: [{ name: "all", domains: ["*"], routes: [{ match: { prefix: "/" }, route: { cluster: "backend" } }] }] },
        http_filters: [{ name: "envoy.filters.http.router", typed_config: { "@type": ROUTER_TYPE } }],
      },
    }],
    ...(match ? { filter_chain_match: match } : {}),
  };
}

const PP2_SIG = [0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a];

test("proxy_protocol: v1 and v2 headers become the client address (XFF with use_remote_address)", async () => {
  await using upstream = await startUpstream();
  await using proxy = await startProxy(config({ listener_filters: [proxyProtocol()], filter_chains: [hcmChain()] }, { backend: upstream.port }));
  await using c1 = await rawConnect(proxy.port());
  c1.write("PROXY TCP4 203.0.113.9 10.1.2.3 40000 80\r\nGET /v1 HTTP/1.1\r\nhost: x\r\n\r\n");
  await c1.waitFor((t) => t.includes("upstream saw GET /v1"), "the v1 response");
  assert.equal(upstream.requests[0]!.headers["x-forwarded-for"], "203.0.113.9");

  await using c2 = await rawConnect(proxy.port());
  const v2 = new Uint8Array([...PP2_SIG, 0x21, 0x21, 0, 36, 0x20, 0x01, 0x0d, 0xb8, ...new Array(11).fill(0), 7, ...new Array(15).fill(0), 1, 0x9c, 0x40, 0, 80]);
  c2.write(new Uint8Array([...v2, ...new TextEncoder().encode("GET /v2 HTTP/1.1\r\nhost: x\r\n\r\n")]));
  await c2.waitFor((t) => t.includes("upstream saw GET /v2"), "the v2 response");
  assert.equal(upstream.requests[1]!.headers["x-forwarded-for"], "2001:db8::7");
  assert.equal(statOf(proxy, "proxy_proto.versions.v1.found"), 1);
  assert.equal(statOf(proxy, "proxy_proto.versions.v2.found"), 1);
});

test("proxy_protocol: the restored source picks the chain; direct source is still the real peer", async () => {
  await using up = await recorders("A", "B", "D");
  const chains = [
    chain("A", { source_prefix_ranges: [{ address_prefix: "203.0.113.0", prefix_len: 24 }] }),
    chain("B", { direct_source_prefix_ranges: [{ address_prefix: "127.0.0.1", prefix_len: 32 }] }),
  ];
  await using proxy = await startProxy(config({ listener_filters: [proxyProtocol()], filter_chains: chains }, up.ports));
  await using c1 = await rawConnect(proxy.port());
  c1.write("PROXY TCP4 198.51.100.1 10.0.0.1 1234 443\r\npayload-b");
  await c1.waitFor((t) => t === "B", "B (direct source 127.0.0.1)");
  await waitFor(() => up.text("B") === "payload-b", "the payload without the header at B");

  // Source IP is matched after direct source IP: a chain naming both wins on the PROXY source.
  await using proxy2 = await startProxy(config({
    listener_filters: [proxyProtocol()],
    filter_chains: [
      chain("A", { source_prefix_ranges: [{ address_prefix: "203.0.113.0", prefix_len: 24 }] }),
      chain("D", { source_prefix_ranges: [{ address_prefix: "127.0.0.0", prefix_len: 8 }] }),
    ],
  }, up.ports));
  await using c2 = await rawConnect(proxy2.port());
  c2.write("PROXY TCP4 203.0.113.50 10.0.0.1 1234 443\r\npayload-a");
  await c2.waitFor((t) => t === "A", "A (PROXY source 203.0.113.50)");
  await waitFor(() => up.text("A") === "payload-a", "the payload at A");
});

test("proxy_protocol: malformed or missing headers close and count; allow_requests_without_proxy_protocol lets them through", async () => {
  await using up = await recorders("A");
  await using proxy = await startProxy(config({ listener_filters: [proxyProtocol()], filter_chains: [chain("A")] }, up.ports));
  for (const bad of ["PROXY TCP4 1.2.3.4 5.6.7.8 99999 1\r\n", "PROXY TCP4 nonsense\r\n"]) {
    await using c = await rawConnect(proxy.port());
    c.write(bad);
    await c.waitClosed();
    assert.equal(c.received(), "");
  }
  await using c3 = await rawConnect(proxy.port());
  c3.write(new Uint8Array([...PP2_SIG, 0x21, 0x31, 0, 4, 1, 2, 3, 4])); // AF_UNIX
  await c3.waitClosed();
  await using c4 = await rawConnect(proxy.port());
  c4.write("GET / HTTP/1.1\r\n\r\n");
  await c4.waitClosed();
  assert.equal(statOf(proxy, "proxy_proto.versions.v1.error"), 2);
  assert.equal(statOf(proxy, "proxy_proto.versions.v2.error"), 1);
  assert.equal(statOf(proxy, "proxy_proto.not_found_disallowed"), 1);
  assert.equal(statOf(proxy, "downstream_cx_proxy_proto_error"), 3);
  assert.equal(up.accepted("A"), 0);

  await using proxy2 = await startProxy(config({
    listener_filters: [proxyProtocol({ allow_requests_without_proxy_protocol: true, disallowed_versions: ["V2"], stat_prefix: "pp" })],
    filter_chains: [chain("A")],
  }, up.ports));
  await using c5 = await rawConnect(proxy2.port());
  c5.write("no header here");
  await c5.waitFor((t) => t === "A", "A");
  await waitFor(() => up.text("A") === "no header here", "the bytes at A");
  await using c6 = await rawConnect(proxy2.port());
  c6.write(new Uint8Array([...PP2_SIG, 0x20, 0x00, 0, 0]));
  await c6.waitClosed();
  assert.equal(statOf(proxy2, "proxy_proto.pp.not_found_allowed"), 1);
  assert.equal(statOf(proxy2, "proxy_proto.pp.versions.v2.disallowed"), 1);
});

test("proxy_protocol then tls_inspector: the header is removed and the ClientHello routes by SNI", async () => {
  await using up = await recorders("A", "B", "C");
  await using proxy = await startProxy(config({ listener_filters: [proxyProtocol(), tlsInspector], filter_chains: sniChains }, up.ports));
  const hello = helloRecords("a.example.com", ["h2"]);
  await using c = await rawConnect(proxy.port());
  c.write("PROXY TCP4 192.0.2.1 192.0.2.2 5000 443\r\n");
  await sleep(20);
  c.write(hello);
  await c.waitFor((t) => t === "A", "A");
  await waitFor(() => up.received("A").length === hello.length, "the hello at A");
  assert.deepEqual(up.received("A"), hello);
});

// ---- http_inspector ------------------------------------------------------------------------

test("http_inspector: HTTP/1.1, HTTP/1.0 and the h2c preface pick their chains; other bytes the default", async () => {
  await using up = await recorders("H11", "H10", "H2C", "OTHER");
  const chains = [
    chain("H11", { application_protocols: ["http/1.1"] }),
    chain("H10", { application_protocols: ["http/1.0"] }),
    chain("H2C", { application_protocols: ["h2c"] }),
    chain("OTHER"),
  ];
  await using proxy = await startProxy(config({ listener_filters: [tlsInspector, httpInspector], filter_chains: chains }, up.ports));
  const send = async (what: string, bytes: string, name: string) => {
    await using c = await rawConnect(proxy.port());
    // Split the request line, so the inspector has to wait for the rest.
    c.write(bytes.slice(0, 5));
    await sleep(10);
    c.write(bytes.slice(5));
    await c.waitFor((t) => t === name, `${what} at ${name}`);
    await waitFor(() => up.text(name).endsWith(bytes), `${what} bytes at ${name}`);
  };
  await send("HTTP/1.1", "GET / HTTP/1.1\r\nhost: x\r\n\r\n", "H11");
  await send("HTTP/1.0", "GET / HTTP/1.0\r\n\r\n", "H10");
  await send("h2c", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "H2C");
  await send("SSH", "SSH-2.0-OpenSSH_9\r\n", "OTHER");
  assert.equal(statOf(proxy, "http_inspector.http11_found"), 1);
  assert.equal(statOf(proxy, "http_inspector.http10_found"), 1);
  assert.equal(statOf(proxy, "http_inspector.http2_found"), 1);
  assert.equal(statOf(proxy, "http_inspector.http_not_found"), 1);
});

test("listener filters: a listener without them still serves plaintext (no inspection stats)", async () => {
  await using up = await recorders("A");
  await using proxy = await startProxy(config({ filter_chains: [chain("A")] }, up.ports));
  await using c = await rawConnect(proxy.port());
  c.write("x");
  await c.waitFor((t) => t === "A", "A");
  assert.equal(statOf(proxy, "tls_inspector.tls_not_found"), 0);
  assert.equal(statOf(proxy, `listener.127.0.0.1_${proxy.port()}.downstream_pre_cx_active`), 0);
  void net;
});

test("listener filters run on data-plane workers too (--concurrency 1)", async () => {
  await using upstream = await startUpstream();
  await using proxy = await startProxy(config({ listener_filters: [proxyProtocol(), tlsInspector], filter_chains: [hcmChain({ transport_protocol: "raw_buffer" })] }, { backend: upstream.port }), { concurrency: 1 });
  await using c = await rawConnect(proxy.port());
  c.write("PROXY TCP4 192.0.2.77 10.0.0.1 40000 80\r\nGET /w HTTP/1.1\r\nhost: x\r\n\r\n");
  await c.waitFor((t) => t.includes("upstream saw GET /w"), "the response through a worker");
  assert.equal(upstream.requests[0]!.headers["x-forwarded-for"], "192.0.2.77");
  await waitFor(() => statOf(proxy, "tls_inspector.tls_not_found") === 1, "the worker's stats");
}, { timeoutMs: 20_000 });
