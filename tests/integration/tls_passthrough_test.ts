/**
 * TLS with the TLS inspector: passthrough (tcp_proxy routes by SNI, no termination: the client
 * talks TLS to the upstream itself), and the typical edge setup (inspector, then termination
 * on the chain chosen by SNI, with the peeked ClientHello replayed into the handshake).
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import * as tls from "node:tls";
import { test, waitFor } from "../harness.ts";
import { startProxy } from "../helpers/proxy.ts";
import { certs, curl, FIX, httpsConfig, NO_CURL, tlsContext } from "../helpers/tls.ts";
import { startUpstream } from "../helpers/upstream.ts";

type Json = Record<string, any>; // deno-lint-ignore no-explicit-any

const TCP_PROXY = "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy";
const TLS_INSPECTOR = {
  name: "envoy.filters.listener.tls_inspector",
  typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector" },
};
const pem = (n: string) => readFileSync(FIX + n, "utf8");

/** A TLS upstream (its own certificate) that answers every connection with `tag`. */
async function tlsUpstream(cert: string, tag: string): Promise<{ port: number; close(): void }> {
  const srv = tls.createServer({ cert: pem(cert + ".pem"), key: pem(cert + ".key") }, (s) => {
    s.on("error", () => {});
    s.end(`${tag} sni=${(s as tls.TLSSocket & { servername?: string }).servername}`);
  });
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
  return { port: (srv.address() as { port: number }).port, close: () => srv.close() };
}

/** A TLS client through the proxy: what it read and the CN of the certificate it saw. */
function tlsGet(port: number, servername: string): Promise<{ body: string; cn: string }> {
  return new Promise((resolve, reject) => {
    const c = tls.connect({ host: "127.0.0.1", port, servername, ca: pem("ca.pem") }, () => {});
    let body = "";
    c.on("data", (d) => (body += d.toString()));
    c.on("end", () => resolve({ body, cn: String(c.getPeerCertificate()?.subject?.CN ?? "") }));
    c.on("error", reject);
    setTimeout(() => reject(new Error("timeout")), 5000);
  });
}

function cluster(name: string, port: number): Json {
  return {
    name,
    type: "STATIC",
    connect_timeout: "1s",
    load_assignment: { cluster_name: name, endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: port } } } }] }] },
  };
}

test("TLS passthrough: tcp_proxy routes by SNI (tls_inspector + server_names), the upstream terminates", async () => {
  const a = await tlsUpstream("server", "A");
  const b = await tlsUpstream("other", "B");
  try {
    const chain = (names: string[], to: string) => ({
      filter_chain_match: { server_names: names },
      filters: [{ name: "envoy.filters.network.tcp_proxy", typed_config: { "@type": TCP_PROXY, stat_prefix: to, cluster: to } }],
    });
    await using proxy = await startProxy({
      static_resources: {
        listeners: [{
          name: "sni",
          address: { socket_address: { address: "127.0.0.1", port_value: 0 } },
          listener_filters: [TLS_INSPECTOR],
          filter_chains: [chain(["a.test", "*.wild.test"], "a"), chain(["b.test"], "b")],
        }],
        clusters: [cluster("a", a.port), cluster("b", b.port)],
      },
    });
    const port = proxy.port();
    assert.deepEqual(await tlsGet(port, "a.test"), { body: "A sni=a.test", cn: "a.test" });
    assert.deepEqual(await tlsGet(port, "b.test"), { body: "B sni=b.test", cn: "b.test" });
    assert.deepEqual(await tlsGet(port, "x.wild.test"), { body: "A sni=x.wild.test", cn: "a.test" });
    // An unknown name matches no chain: closed and counted.
    const none = await tlsGet(port, "c.test").catch(() => ({ body: "", cn: "" }));
    assert.deepEqual(none, { body: "", cn: "" });
    await waitFor(() => proxy.stat(`listener.127.0.0.1_${port}.no_filter_chain_match`) === 1, "no_filter_chain_match");
  } finally {
    a.close();
    b.close();
  }
}, { timeoutMs: 15_000 });

test("TLS inspector + termination on one listener: the chain chosen by SNI terminates with its own certificate", async () => {
  await using up = await startUpstream();
  const base = httpsConfig(up.port, tlsContext({ common_tls_context: { tls_certificates: certs("server") } }));
  const l = base.static_resources.listeners[0];
  const [first] = l.filter_chains;
  l.listener_filters = [TLS_INSPECTOR];
  l.filter_chains = [
    { ...first, filter_chain_match: { server_names: ["a.test"] }, transport_socket: tlsContext({ common_tls_context: { tls_certificates: certs("server"), alpn_protocols: ["http/1.1"] } }) },
    { ...first, filter_chain_match: { server_names: ["b.test"] }, transport_socket: tlsContext({ common_tls_context: { tls_certificates: certs("other") } }) },
  ];
  await using proxy = await startProxy(base);
  const port = proxy.port();
  // The runtime's own TLS client.
  const viaA = await new Promise<{ body: string; cn: string; alpn: string | false }>((resolve, reject) => {
    const c = tls.connect({ host: "127.0.0.1", port, servername: "a.test", ca: pem("ca.pem"), ALPNProtocols: ["h2", "http/1.1"] }, () => {
      c.write("GET /x HTTP/1.1\r\nhost: a.test\r\nconnection: close\r\n\r\n");
    });
    let body = "";
    c.on("data", (d) => (body += d.toString()));
    c.on("end", () => resolve({ body, cn: String(c.getPeerCertificate()?.subject?.CN), alpn: c.alpnProtocol ?? false }));
    c.on("error", reject);
    setTimeout(() => reject(new Error("timeout")), 5000);
  });
  assert.match(viaA.body, /^HTTP\/1\.1 200/);
  assert.match(viaA.body, /upstream saw GET \/x/);
  assert.equal(viaA.cn, "a.test");
  assert.equal(viaA.alpn, "http/1.1");
  if (!NO_CURL) {
    const r = await curl("b.test", port);
    assert.equal(r.code, 0, r.err);
    assert.equal(r.out, "upstream saw GET /");
  }
  assert.equal(proxy.stat(`listener.127.0.0.1_${port}.ssl.handshake`), NO_CURL ? 1 : 2);
}, { timeoutMs: 15_000 });
