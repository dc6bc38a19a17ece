/**
 * TLS termination (envoy.transport_sockets.tls, DownstreamTlsContext) with real clients: curl
 * with SNI for several names (certificate chosen by SNI), openssl s_client for ALPN and TLS
 * versions, mutual TLS (good, missing, untrusted and expired client certificates, each counted),
 * a non-TLS client on a TLS listener, access-log operators, bad config.
 * Fixtures: tests/fixtures/tls/ (regenerate with tests/fixtures/tls/gen.sh).
 */
import assert from "node:assert/strict";
import { readFileSync, rmSync } from "node:fs";
import * as net from "node:net";
import { test, waitFor } from "../harness.ts";
import { startProxy } from "../helpers/proxy.ts";
import { certs, curl, FIX, httpsConfig, NO_CURL, NO_OPENSSL, run, tlsContext, tmpFile } from "../helpers/tls.ts";
import { startUpstream } from "../helpers/upstream.ts";

type Json = Record<string, any>; // deno-lint-ignore no-explicit-any

async function logLines(path: string, n: number): Promise<string[]> {
  const text = await waitFor(() => {
    try {
      const t = readFileSync(path, "utf8");
      return t.split("\n").filter(Boolean).length >= n ? t : "";
    } catch {
      return "";
    }
  }, `${n} access log line(s)`);
  return text.split("\n").filter(Boolean);
}

const SSL = (port: number, s: string) => `listener.127.0.0.1_${port}.ssl.${s}`;

test("TLS termination: curl with SNI for several names gets the certificate for each (chosen by SNI), logs SNI and version", async () => {
  const log = tmpFile("sni.log");
  try {
    await using up = await startUpstream();
    await using proxy = await startProxy(httpsConfig(up.port, tlsContext({ common_tls_context: { tls_certificates: certs("server", "other") } }), log));
    const port = proxy.port();
    // a.test and *.wild.test are on server.pem, b.test on other.pem: curl verifies the name, so a
    // wrong choice fails the request.
    for (const name of ["a.test", "b.test", "x.wild.test"]) {
      const r = await curl(name, port);
      assert.equal(r.code, 0, `${name}: curl failed: ${r.err}`);
      assert.equal(r.out, "upstream saw GET /");
    }
    assert.equal(proxy.stat(SSL(port, "handshake")), 3);
    assert.equal(proxy.stat(SSL(port, "versions.TLSv1.3")), 3);
    assert.equal(proxy.stat(SSL(port, "connection_error")), 0);
    const lines = await logLines(log, 3);
    assert.deepEqual(lines, ["200 sni=a.test v=TLSv1.3 peer=-", "200 sni=b.test v=TLSv1.3 peer=-", "200 sni=x.wild.test v=TLSv1.3 peer=-"]);
  } finally {
    rmSync(log, { force: true });
  }
}, { skip: NO_CURL, timeoutMs: 20_000 });

test("TLS termination: ALPN advertised and negotiated, TLS version limits honoured (openssl s_client)", async () => {
  await using up = await startUpstream();
  await using proxy = await startProxy(httpsConfig(up.port, tlsContext({
    common_tls_context: {
      tls_certificates: certs("server"),
      alpn_protocols: ["http/1.1"],
      tls_params: { tls_maximum_protocol_version: "TLSv1_2" },
    },
  })));
  const port = proxy.port();
  const base = ["s_client", "-connect", `127.0.0.1:${port}`, "-servername", "a.test", "-CAfile", FIX + "ca.pem"];
  const ok = await run("openssl", [...base, "-alpn", "h2,http/1.1"], "");
  assert.match(ok.out, /ALPN protocol: http\/1\.1/, ok.out + ok.err);
  assert.match(ok.out, /Protocol\s*: TLSv1\.2/);
  assert.match(ok.out, /Verify return code: 0 \(ok\)/);
  // TLS 1.3 only: refused by a server capped at 1.2, and counted.
  const v13 = await run("openssl", [...base, "-tls1_3"], "");
  assert.doesNotMatch(v13.out, /Protocol\s*: TLSv1\.3/);
  await waitFor(() => proxy.stat(SSL(port, "connection_error")) >= 1, "ssl.connection_error");
  assert.equal(proxy.stat(SSL(port, "versions.TLSv1.2")), 1);
}, { skip: NO_OPENSSL, timeoutMs: 20_000 });

test("mutual TLS: a trusted client certificate passes (subject logged); none, untrusted, expired are refused and counted", async () => {
  const log = tmpFile("mtls.log");
  try {
    await using up = await startUpstream();
    await using proxy = await startProxy(httpsConfig(up.port, tlsContext({
      require_client_certificate: true,
      common_tls_context: { tls_certificates: certs("server"), validation_context: { trusted_ca: { filename: FIX + "ca.pem" } } },
    }), log));
    const port = proxy.port();
    const good = await curl("a.test", port, ["--cert", FIX + "client.pem", "--key", FIX + "client.key"]);
    assert.equal(good.code, 0, good.err);
    assert.equal(good.out, "upstream saw GET /");
    assert.deepEqual(await logLines(log, 1), ["200 sni=a.test v=TLSv1.3 peer=CN=client,O=Legate Test"]);

    const none = await curl("a.test", port);
    assert.notEqual(none.code, 0, "a client without a certificate must be refused");
    await waitFor(() => proxy.stat(SSL(port, "fail_verify_no_cert")) === 1, "ssl.fail_verify_no_cert");

    const untrusted = await curl("a.test", port, ["--cert", FIX + "untrusted.pem", "--key", FIX + "untrusted.key"]);
    assert.notEqual(untrusted.code, 0, "an untrusted client certificate must be refused");
    await waitFor(() => proxy.stat(SSL(port, "fail_verify_error")) === 1, "ssl.fail_verify_error (untrusted)");

    const expired = await curl("a.test", port, ["--cert", FIX + "expired.pem", "--key", FIX + "expired.key"]);
    assert.notEqual(expired.code, 0, "an expired client certificate must be refused");
    await waitFor(() => proxy.stat(SSL(port, "fail_verify_error")) === 2, "ssl.fail_verify_error (expired)");

    assert.equal(proxy.stat(SSL(port, "handshake")), 1);
    assert.equal(proxy.stat(SSL(port, "connection_error")), 3);
    assert.equal(up.requests.length, 1, "refused clients never reach the upstream");
  } finally {
    rmSync(log, { force: true });
  }
}, { skip: NO_CURL, timeoutMs: 25_000 });

test("TLS termination: a plaintext client on a TLS listener is closed and counted; TLS clients still served", async () => {
  await using up = await startUpstream();
  await using proxy = await startProxy(httpsConfig(up.port, tlsContext({ common_tls_context: { tls_certificates: certs("server") } })));
  const port = proxy.port();
  const s = net.connect({ host: "127.0.0.1", port });
  let got = "";
  let closed = false;
  s.on("data", (d) => (got += d.toString("latin1")));
  s.on("error", () => {});
  s.on("close", () => (closed = true));
  s.write("GET / HTTP/1.1\r\nhost: a.test\r\n\r\n");
  await waitFor(() => closed, "the plaintext connection to be closed");
  assert.doesNotMatch(got, /HTTP\/1\.1/, "no plaintext answer");
  await waitFor(() => proxy.stat(SSL(port, "connection_error")) === 1, "ssl.connection_error");
  assert.equal(up.requests.length, 0);
  if (!NO_CURL) {
    const r = await curl("a.test", port);
    assert.equal(r.code, 0, r.err);
  }
}, { timeoutMs: 15_000 });

test("TLS termination: the ClientHello split over many tiny packets still completes the handshake", async () => {
  // Several certificates and no inspector: the transport socket reads the ClientHello itself.
  await using up = await startUpstream();
  await using proxy = await startProxy(httpsConfig(up.port, tlsContext({ common_tls_context: { tls_certificates: certs("server", "other") } })));
  const port = proxy.port();
  const tls = await import("node:tls");
  // A relay that trickles the client's bytes to the proxy 7 bytes at a time.
  const relay = net.createServer((c) => {
    const p = net.connect({ host: "127.0.0.1", port });
    let q: Buffer[] = [];
    let busy = false;
    const pump = () => {
      if (busy) return;
      busy = true;
      const step = () => {
        const b = Buffer.concat(q);
        if (b.length === 0) {
          busy = false;
          return;
        }
        p.write(b.subarray(0, 7));
        q = [b.subarray(7)];
        setTimeout(step, 1);
      };
      step();
    };
    c.on("data", (d) => {
      q.push(d as Buffer);
      pump();
    });
    p.on("data", (d) => c.write(d));
    c.on("error", () => p.destroy());
    p.on("error", () => c.destroy());
    c.on("close", () => p.destroy());
    p.on("close", () => c.destroy());
  });
  await new Promise<void>((r) => relay.listen(0, "127.0.0.1", r));
  try {
    const rport = (relay.address() as net.AddressInfo).port;
    const body = await new Promise<string>((resolve, reject) => {
      const c = tls.connect({ host: "127.0.0.1", port: rport, servername: "b.test", ca: readFileSync(FIX + "ca.pem", "utf8") }, () => {
        c.write("GET / HTTP/1.1\r\nhost: b.test\r\nconnection: close\r\n\r\n");
      });
      let got = "";
      c.on("data", (d) => (got += d.toString()));
      c.on("end", () => resolve(got));
      c.on("error", reject);
      setTimeout(() => reject(new Error("timeout")), 8000);
    });
    assert.match(body, /^HTTP\/1\.1 200/);
    assert.match(body, /upstream saw GET \//);
    assert.equal(proxy.stat(SSL(port, "handshake")), 1);
  } finally {
    relay.close();
  }
}, { timeoutMs: 15_000 });

test("TLS config: unsupported fields and missing files are refused with their path", async () => {
  const { loadBootstrap } = await import("../../src/config/load.ts");
  const bad = (ctx: Json) => {
    try {
      loadBootstrap({ text: JSON.stringify(httpsConfig(1, tlsContext(ctx))), sourceName: "t" });
      return "";
    } catch (e) {
      return (e as Error).message;
    }
  };
  const at = "static_resources.listeners[0].filter_chains[0].transport_socket.typed_config";
  assert.match(bad({ common_tls_context: { tls_certificates: certs("server"), tls_params: { signature_algorithms: ["ecdsa_secp256r1_sha256"] } } }),
    new RegExp(`${at.replaceAll(".", "\\.").replaceAll("[", "\\[")}\\.common_tls_context\\.tls_params\\.signature_algorithms: is not supported`));
  assert.match(bad({ common_tls_context: {} }), /common_tls_context: a server needs a certificate/);
  assert.match(bad({ require_client_certificate: true, common_tls_context: { tls_certificates: certs("server") } }), /require_client_certificate: needs common_tls_context\.validation_context\.trusted_ca/);
  assert.match(bad({ common_tls_context: { tls_certificates: certs("server"), tls_params: { tls_minimum_protocol_version: "TLSv1_0" } } }), /tls_minimum_protocol_version: TLSv1 is not supported/);
  assert.match(bad({ common_tls_context: { tls_certificate_sds_secret_configs: [{ name: "x", sds_config: { ads: {} } }] } }), /sds_config: only path_config_source/);
  // A certificate file that does not exist fails the start, naming the listener and field.
  await assert.rejects(
    startProxy(httpsConfig(1, tlsContext({ common_tls_context: { tls_certificates: [{ certificate_chain: { filename: "/nonexistent/x.pem" }, private_key: { filename: FIX + "server.key" } }] } }))),
    /listener 'https': filter_chains\[0\]\.transport_socket\.typed_config\.common_tls_context\.tls_certificates\[0\]\.certificate_chain\.filename: cannot read '\/nonexistent\/x\.pem'/,
  );
  // A key that does not match its certificate's format (garbage PEM) too.
  await assert.rejects(
    startProxy(httpsConfig(1, tlsContext({ common_tls_context: { tls_certificates: [{ certificate_chain: { inline_string: "not a certificate" }, private_key: { filename: FIX + "server.key" } }] } }))),
    /tls_certificates\[0\]: bad TLS certificate/,
  );
});

test("TLS termination with worker threads: the PEM travels in the snapshot, handshakes are counted", async () => {
  await using up = await startUpstream();
  await using proxy = await startProxy(httpsConfig(up.port, tlsContext({ common_tls_context: { tls_certificates: certs("server") } })), { concurrency: 1 });
  const port = proxy.port();
  const r = await curl("a.test", port);
  assert.equal(r.code, 0, r.err);
  assert.equal(r.out, "upstream saw GET /");
  await waitFor(() => proxy.stat(SSL(port, "handshake")) === 1, "ssl.handshake from the worker");
}, { skip: NO_CURL, timeoutMs: 20_000 });

test("TLS termination: a reload whose certificate file is unreadable is refused; the old certificate keeps serving", async () => {
  const { loadBootstrap } = await import("../../src/config/load.ts");
  await using up = await startUpstream();
  const good = httpsConfig(up.port, tlsContext({ common_tls_context: { tls_certificates: certs("server") } }));
  await using proxy = await startProxy(good);
  const port = proxy.port();
  const version = proxy.server.configVersion;
  const bad = httpsConfig(up.port, tlsContext({ common_tls_context: { tls_certificates: [{ certificate_chain: { filename: FIX + "missing.pem" }, private_key: { filename: FIX + "server.key" } }] } }));
  await assert.rejects(proxy.server.reload(loadBootstrap({ text: JSON.stringify(bad), sourceName: "t" }), bad), /certificate_chain\.filename: cannot read/);
  assert.equal(proxy.server.configVersion, version);
  if (!NO_CURL) assert.equal((await curl("a.test", port)).code, 0);
});
