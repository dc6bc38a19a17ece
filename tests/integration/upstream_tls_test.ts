/**
 * Upstream TLS (cluster transport_socket envoy.transport_sockets.tls) over real sockets, on both
 * runtimes: SNI, server certificate verification against trusted_ca (503 UF and
 * ssl.connection_error when it fails), no verification without a validation context (as Envoy),
 * mutual TLS with a client certificate, and certificates given as files or inline.
 * Certificates are made at test time with the openssl CLI; without it the tests skip.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import net from "node:net";
import { join } from "node:path";
import tls, { type TLSSocket } from "node:tls";
import { rawConnect } from "../helpers/raw_client.ts";
import { test, waitFor } from "../harness.ts";
import { waitForFile } from "../helpers/files.ts";
import { simpleConfig, startProxy } from "../helpers/proxy.ts";

const TLS_TYPE = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext";

function findOpenssl(): string | undefined {
  for (const p of ["/usr/bin/openssl", "/usr/local/bin/openssl", "/bin/openssl"]) if (existsSync(p)) return p;
  try {
    return execFileSync("sh", ["-c", "command -v openssl"], { encoding: "utf8" }).trim() || undefined;
  } catch {
    return undefined;
  }
}
const OPENSSL = findOpenssl();
const SKIP = OPENSSL === undefined ? "the openssl CLI is not installed (needed to make test certificates)" : false;

interface Pki {
  dir: string;
  file(name: string): string;
  pem(name: string): string;
}

let pki: Pki | undefined;

/** Makes (once per run) two CAs, a server certificate for "backend.test" from each, and a
 *  client certificate from the first. */
function makePki(): Pki {
  if (pki) return pki;
  const dir = mkdtempSync(join(tmpdir(), "legate-tls-"));
  const run = (...args: string[]) => execFileSync(OPENSSL!, args, { cwd: dir, stdio: ["ignore", "ignore", "pipe"] });
  const ca = (name: string) => {
    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", `${name}.key`, "-out", `${name}.crt`, "-days", "2", "-subj", `/CN=${name}`);
  };
  const leaf = (name: string, caName: string, cn: string, ext: string) => {
    run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", `${name}.key`, "-out", `${name}.csr`, "-subj", `/CN=${cn}`);
    execFileSync("sh", ["-c", `printf '%s\\n' '${ext}' > ${name}.ext`], { cwd: dir });
    run("x509", "-req", "-in", `${name}.csr`, "-CA", `${caName}.crt`, "-CAkey", `${caName}.key`, "-CAcreateserial", "-out", `${name}.crt`, "-days", "2", "-extfile", `${name}.ext`);
  };
  ca("ca1");
  ca("ca2");
  leaf("server1", "ca1", "backend.test", "subjectAltName=DNS:backend.test");
  leaf("server2", "ca2", "backend.test", "subjectAltName=DNS:backend.test");
  leaf("client", "ca1", "legate-client", "extendedKeyUsage=clientAuth");
  pki = { dir, file: (n) => join(dir, n), pem: (n) => readFileSync(join(dir, n), "utf8") };
  return pki;
}

interface TlsUpstream extends AsyncDisposable {
  port: number;
  /** SNI per request ("" when none was sent). */
  servernames: string[];
  /** The client certificate's CN per request ("" when none). */
  clientCns: string[];
  /** The cipher suite negotiated, per request. */
  ciphers: string[];
}

/** A TLS upstream on 127.0.0.1:0 with `server` as its certificate, answering each HTTP/1.1
 *  request (no body) with "hello over <TLS version>"; `mtls` asks for and requires a client
 *  certificate from ca1. node:tls rather than node:https: Bun's https server sockets lack
 *  `servername` and `getPeerCertificate()`. */
async function startTlsUpstream(p: Pki, server: "server1" | "server2", mtls = false, extra: tls.TlsOptions = {}): Promise<TlsUpstream> {
  const servernames: string[] = [];
  const clientCns: string[] = [];
  const ciphers: string[] = [];
  const sockets = new Set<TLSSocket>();
  const srv = tls.createServer({
    key: p.pem(`${server}.key`),
    cert: p.pem(`${server}.crt`),
    ...(mtls ? { requestCert: true, rejectUnauthorized: true, ca: p.pem("ca1.crt") } : {}),
    ...extra,
  }, (sock) => {
    sockets.add(sock);
    sock.on("close", () => sockets.delete(sock));
    sock.on("error", () => {});
    let buf = "";
    sock.on("data", (d: Uint8Array) => {
      buf += new TextDecoder().decode(d);
      let i: number;
      while ((i = buf.indexOf("\r\n\r\n")) >= 0) {
        buf = buf.slice(i + 4);
        const sn = (sock as unknown as { servername?: string | false }).servername;
        servernames.push(typeof sn === "string" ? sn : "");
        clientCns.push(mtls ? String(sock.getPeerCertificate()?.subject?.CN ?? "") : "");
        ciphers.push(sock.getCipher()?.name ?? "");
        const body = `hello over ${sock.getProtocol()}`;
        sock.write(`HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: ${body.length}\r\n\r\n${body}`);
      }
    });
  });
  // Handshake errors (the negative tests) are expected here.
  srv.on("tlsClientError", () => {});
  await new Promise<void>((resolve) => srv.listen(0, "127.0.0.1", resolve));
  const port = (srv.address() as { port: number }).port;
  return {
    port,
    servernames,
    clientCns,
    ciphers,
    [Symbol.asyncDispose]: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        srv.close(() => resolve());
      }),
  };
}

/** simpleConfig with `transport_socket` on the cluster and an access log with the flags. */
function tlsConfig(port: number, tlsContext: Record<string, unknown>, accessLogPath?: string) {
  const c = simpleConfig({ upstreamPorts: [port], accessLogPath });
  (c.static_resources as any).clusters[0].transport_socket = {
    name: "envoy.transport_sockets.tls",
    typed_config: { "@type": TLS_TYPE, ...tlsContext },
  };
  return c;
}

test("upstream TLS: SNI reaches the upstream; trusted_ca (file) verifies the chain; handshake counted", async () => {
  const p = makePki();
  await using up = await startTlsUpstream(p, "server1");
  await using proxy = await startProxy(tlsConfig(up.port, {
    sni: "backend.test",
    common_tls_context: { validation_context: { trusted_ca: { filename: p.file("ca1.crt") } }, alpn_protocols: ["http/1.1"] },
  }));
  for (let i = 0; i < 2; i++) {
    const res = await fetch(proxy.url("/a"));
    assert.equal(res.status, 200);
    assert.match(await res.text(), /^hello over TLSv1\.[23]$/);
  }
  assert.deepEqual(up.servernames, ["backend.test", "backend.test"]);
  // Keep-alive: one handshake served both requests.
  assert.equal(proxy.stat("cluster.backend.ssl.handshake"), 1);
  assert.equal(proxy.stat("cluster.backend.ssl.connection_error"), 0);
}, { skip: SKIP });

test("upstream TLS: a certificate from another CA fails the handshake → 503 UF, ssl.connection_error", async () => {
  const p = makePki();
  const log = join(p.dir, `access-${Date.now()}.log`);
  await using up = await startTlsUpstream(p, "server2");
  await using proxy = await startProxy(tlsConfig(up.port, {
    sni: "backend.test",
    common_tls_context: { validation_context: { trusted_ca: { inline_string: p.pem("ca1.crt") } } },
  }, log));
  const res = await fetch(proxy.url("/bad"));
  assert.equal(res.status, 503);
  await res.text();
  assert.equal(up.servernames.length, 0, "no request reached the upstream");
  assert.equal(proxy.stat("cluster.backend.ssl.connection_error"), 1);
  assert.equal(proxy.stat("cluster.backend.ssl.handshake"), 0);
  assert.equal(proxy.stat("cluster.backend.upstream_cx_connect_fail"), 1);
  const line = await waitForFile(log, "the access log line");
  assert.match(line, /^503 UF \/bad /);
}, { skip: SKIP });

test("upstream TLS: without a validation context the server certificate is not verified (Envoy's default)", async () => {
  const p = makePki();
  await using up = await startTlsUpstream(p, "server2");
  await using proxy = await startProxy(tlsConfig(up.port, {}));
  const res = await fetch(proxy.url("/"));
  assert.equal(res.status, 200);
  assert.match(await res.text(), /^hello over TLS/);
  assert.deepEqual(up.servernames, [""], "no sni configured: none sent (the host is an IP)");
  assert.equal(proxy.stat("cluster.backend.ssl.handshake"), 1);
}, { skip: SKIP });

test("upstream TLS: trusted_ca checks the chain, not the name (as Envoy without SAN matchers)", async () => {
  const p = makePki();
  await using up = await startTlsUpstream(p, "server1");
  // No sni: the certificate (backend.test) does not name 127.0.0.1, yet its chain is trusted.
  await using proxy = await startProxy(tlsConfig(up.port, { common_tls_context: { validation_context: { trusted_ca: { filename: p.file("ca1.crt") } } } }));
  const res = await fetch(proxy.url("/"));
  assert.equal(res.status, 200);
  await res.text();
  assert.equal(proxy.stat("cluster.backend.ssl.handshake"), 1);
}, { skip: SKIP });

test("upstream TLS: tls_params bound the protocol version", async () => {
  const p = makePki();
  await using up = await startTlsUpstream(p, "server1");
  for (const [params, want] of [[{ tls_maximum_protocol_version: "TLSv1_2" }, "TLSv1.2"], [{ tls_minimum_protocol_version: "TLSv1_3" }, "TLSv1.3"]] as const) {
    await using proxy = await startProxy(tlsConfig(up.port, { common_tls_context: { tls_params: params } }));
    const res = await fetch(proxy.url("/"));
    assert.equal(res.status, 200);
    assert.equal(await res.text(), `hello over ${want}`);
  }
}, { skip: SKIP });

test("upstream TLS: tls_params cipher_suites and ecdh_curves are what Legate offers (Bun); refused on Deno, which ignores them", async () => {
  const p = makePki();
  await using up = await startTlsUpstream(p, "server1");
  const params = (cipher: string, curve: string) => ({ common_tls_context: { tls_params: { tls_maximum_protocol_version: "TLSv1_2", cipher_suites: [cipher], ecdh_curves: [curve] } } });
  if ("Deno" in globalThis) {
    await assert.rejects(startProxy(tlsConfig(up.port, params("ECDHE-RSA-AES256-GCM-SHA384", "P-384"))),
      /cluster 'backend': transport_socket\.typed_config\.common_tls_context\.tls_params: cipher_suites and ecdh_curves are not enforced by Deno's node:tls/);
    return;
  }
  // The upstream (node:tls defaults) takes whatever suite Legate offers: it shows the offer.
  for (const cipher of ["ECDHE-RSA-AES256-GCM-SHA384", "ECDHE-RSA-AES128-GCM-SHA256"]) {
    await using proxy = await startProxy(tlsConfig(up.port, params(cipher, "P-256")));
    const res = await fetch(proxy.url("/"));
    assert.equal(res.status, 200);
    assert.equal(await res.text(), "hello over TLSv1.2");
    assert.equal(up.ciphers.at(-1), cipher);
  }
  // An upstream that only takes P-384: offering P-256 alone fails the handshake (503 UF).
  await using p384 = await startTlsUpstream(p, "server1", false, { ecdhCurve: "P-384" });
  for (const [curve, status] of [["P-256", 503], ["P-384", 200]] as const) {
    await using proxy = await startProxy(tlsConfig(p384.port, params("ECDHE-RSA-AES128-GCM-SHA256", curve)));
    const res = await fetch(proxy.url("/"));
    await res.text();
    assert.equal(res.status, status, `ecdh_curves [${curve}]`);
  }
  // A suite the upstream does not know is refused at load, with its path.
  await assert.rejects(startProxy(tlsConfig(up.port, params("NOT-A-SUITE", "P-256"))),
    /cluster 'backend': transport_socket\.typed_config\.common_tls_context\.tls_params\.cipher_suites\[0\]: unknown cipher suite "NOT-A-SUITE"/);
}, { skip: SKIP });

test("upstream TLS with worker threads: the PEM text travels in the cluster snapshot", async () => {
  const p = makePki();
  await using up = await startTlsUpstream(p, "server1", true);
  await using proxy = await startProxy(tlsConfig(up.port, {
    sni: "backend.test",
    common_tls_context: {
      validation_context: { trusted_ca: { filename: p.file("ca1.crt") } },
      tls_certificates: [{ certificate_chain: { filename: p.file("client.crt") }, private_key: { filename: p.file("client.key") } }],
    },
  }), { concurrency: 1 });
  const res = await fetch(proxy.url("/w"));
  assert.equal(res.status, 200);
  await res.text();
  assert.deepEqual(up.clientCns, ["legate-client"]);
}, { skip: SKIP, timeoutMs: 20_000 });

test("upstream mTLS: the client certificate is presented; without it the upstream refuses", async () => {
  const p = makePki();
  await using up = await startTlsUpstream(p, "server1", true);
  {
    await using proxy = await startProxy(tlsConfig(up.port, {
      sni: "backend.test",
      common_tls_context: {
        validation_context: { trusted_ca: { filename: p.file("ca1.crt") } },
        tls_certificates: [{ certificate_chain: { filename: p.file("client.crt") }, private_key: { inline_string: p.pem("client.key") } }],
      },
    }));
    const res = await fetch(proxy.url("/m"));
    assert.equal(res.status, 200);
    await res.text();
    assert.deepEqual(up.clientCns, ["legate-client"]);
  }
  {
    await using proxy = await startProxy(tlsConfig(up.port, {
      sni: "backend.test",
      common_tls_context: { validation_context: { trusted_ca: { filename: p.file("ca1.crt") } } },
    }));
    const res = await fetch(proxy.url("/m"));
    // With TLS 1.3 the client's handshake completes before the server checks the certificate;
    // the server's alert then resets the connection: 503 either way, and no request is served.
    assert.equal(res.status, 503);
    await res.text();
    assert.deepEqual(up.clientCns, ["legate-client"], "the request without a certificate was not served");
  }
}, { skip: SKIP });

test("upstream TLS: an upstream that never answers the handshake hits connect_timeout (503 UF)", async () => {
  const p = makePki();
  const log = join(p.dir, `access-timeout-${Date.now()}.log`);
  const held = new Set<net.Socket>();
  const srv = net.createServer((s) => {
    held.add(s);
    s.on("error", () => {});
  });
  await new Promise<void>((resolve) => srv.listen(0, "127.0.0.1", resolve));
  try {
    const cfg = tlsConfig((srv.address() as { port: number }).port, {}, log);
    (cfg.static_resources as any).clusters[0].connect_timeout = "0.2s";
    await using proxy = await startProxy(cfg);
    const res = await fetch(proxy.url("/slow"));
    assert.equal(res.status, 503);
    await res.text();
    assert.equal(proxy.stat("cluster.backend.upstream_cx_connect_timeout"), 1);
    assert.equal(proxy.stat("cluster.backend.ssl.handshake"), 0);
    assert.match(await waitForFile(log, "the access log line"), /^503 UF \/slow /);
  } finally {
    for (const s of held) s.destroy();
    await new Promise<void>((resolve) => srv.close(() => resolve()));
  }
}, { skip: SKIP });

test("upstream TLS: an unreadable certificate file fails the proxy start with the field path", async () => {
  const p = makePki();
  const cfg = tlsConfig(1, { common_tls_context: { validation_context: { trusted_ca: { filename: join(p.dir, "missing.crt") } } } });
  await assert.rejects(async () => {
    await using _proxy = await startProxy(cfg);
  }, /cluster 'backend': transport_socket\.typed_config\.common_tls_context\.validation_context\.trusted_ca\.filename: cannot read/);
}, { skip: SKIP });

test("upstream TLS: tcp_proxy to a TLS cluster speaks TLS to the host (SNI and all)", async () => {
  const p = makePki();
  await using up = await startTlsUpstream(p, "server1");
  const c = tlsConfig(up.port, { sni: "backend.test", common_tls_context: { validation_context: { trusted_ca: { filename: p.file("ca1.crt") } } } });
  (c.static_resources as any).listeners[0].filter_chains[0].filters = [{
    name: "envoy.filters.network.tcp_proxy",
    typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy", stat_prefix: "tp", cluster: "backend" },
  }];
  await using proxy = await startProxy(c);
  await using client = await rawConnect(proxy.port());
  client.write("GET / HTTP/1.1\r\nHost: backend.test\r\n\r\n");
  const text = await client.waitFor((t) => t.includes("hello over TLS"), "the upstream's answer through the TLS pipe");
  assert.match(text, /^HTTP\/1\.1 200 OK/);
  assert.deepEqual(up.servernames, ["backend.test"]);
  assert.equal(proxy.stat("cluster.backend.ssl.handshake"), 1);
}, { skip: SKIP });

test("upstream TLS: health checks speak TLS to a TLS cluster; a bad chain marks the host unhealthy", async () => {
  const p = makePki();
  const hc = [{ timeout: "1s", interval: "0.2s", unhealthy_threshold: 1, healthy_threshold: 1, http_health_check: { path: "/healthz" } }];
  await using good = await startTlsUpstream(p, "server1");
  const ok = tlsConfig(good.port, { sni: "backend.test", common_tls_context: { validation_context: { trusted_ca: { filename: p.file("ca1.crt") } } } });
  (ok.static_resources as any).clusters[0].health_checks = hc;
  await using proxy = await startProxy(ok);
  await waitFor(() => good.servernames.length >= 1, "a health check over TLS");
  assert.equal((await (await fetch(proxy.url("/"))).text()).startsWith("hello over TLS"), true);
  // Same CA, but the upstream's certificate comes from another one: checks fail → no healthy host.
  await using bad = await startTlsUpstream(p, "server2");
  const nok = tlsConfig(bad.port, { sni: "backend.test", common_tls_context: { validation_context: { trusted_ca: { filename: p.file("ca1.crt") } } } });
  (nok.static_resources as any).clusters[0].health_checks = hc;
  // Without this, Envoy's panic mode (0% healthy < 50%) would still send to the host (UF).
  (nok.static_resources as any).clusters[0].common_lb_config = { healthy_panic_threshold: { value: 0 } };
  await using proxy2 = await startProxy(nok);
  await waitFor(() => proxy2.stat("cluster.backend.health_check.failure") >= 1, "the failed TLS health check");
  const r = await fetch(proxy2.url("/"));
  assert.equal(r.status, 503);
  assert.equal(await r.text(), "no healthy upstream");
  assert.equal(bad.servernames.length, 0, "the upstream never got a request");
}, { skip: SKIP, timeoutMs: 15000 });

test("upstream TLS: test certificates are removed", () => {
  if (pki) rmSync(pki.dir, { recursive: true, force: true });
  pki = undefined;
}, { skip: SKIP });
