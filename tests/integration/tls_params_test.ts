/**
 * DownstreamTlsContext tls_params.cipher_suites and ecdh_curves (Envoy: they apply to TLS 1.2
 * and below; TLS 1.3 suites are not configurable). Bun (the compiled binary) enforces them on
 * both handshake paths (its native TLS, and node:tls after a TLS inspector peeked); Deno's
 * node:tls ignores them, so there the config is refused rather than silently weakened.
 * Real openssl s_client against 127.0.0.1.
 */
import assert from "node:assert/strict";
import { test } from "../harness.ts";
import { startProxy } from "../helpers/proxy.ts";
import { startUpstream } from "../helpers/upstream.ts";
import { certs, FIX, httpsConfig, NO_OPENSSL, run, tlsContext } from "../helpers/tls.ts";

type Json = Record<string, unknown>;
const IS_DENO = "Deno" in globalThis;

const PARAMS = { cipher_suites: ["ECDHE-ECDSA-AES256-GCM-SHA384"], ecdh_curves: ["P-384"] };

function withInspector(config: Json): Json {
  const l = (config.static_resources as { listeners: Json[] }).listeners[0]!;
  l.listener_filters = [{
    name: "envoy.filters.listener.tls_inspector",
    typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector" },
  }];
  return config;
}

async function handshake(port: number, extra: string[]): Promise<string> {
  const r = await run("openssl", ["s_client", "-connect", `127.0.0.1:${port}`, "-servername", "a.test", "-CAfile", FIX + "ca.pem", ...extra], "");
  return r.out + r.err;
}

for (const path of ["native", "after the TLS inspector"] as const) {
  test(`tls_params (${path}): cipher_suites and ecdh_curves limit TLS 1.2 handshakes; TLS 1.3 is unaffected`, async () => {
    await using up = await startUpstream();
    let config = httpsConfig(up.port, tlsContext({ common_tls_context: { tls_certificates: certs("server"), tls_params: PARAMS } })) as Json;
    if (path !== "native") config = withInspector(config);
    if (IS_DENO) {
      await assert.rejects(startProxy(config), /common_tls_context\.tls_params: cipher_suites and ecdh_curves are not enforced by Deno's node:tls/);
      return;
    }
    await using proxy = await startProxy(config);
    const port = proxy.port();
    const ok = await handshake(port, ["-tls1_2"]);
    assert.match(ok, /Cipher is ECDHE-ECDSA-AES256-GCM-SHA384/, ok);
    assert.match(ok, /Temp Key: ECDH, (secp384r1|P-384)/, ok);
    // A suite the listener does not allow: no handshake.
    const cipher = await handshake(port, ["-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-GCM-SHA256"]);
    assert.match(cipher, /Cipher is \(NONE\)|handshake failure/, cipher);
    // Only a curve the listener does not allow: no handshake either.
    const curve = await handshake(port, ["-tls1_2", "-groups", "X25519"]);
    assert.match(curve, /Cipher is \(NONE\)|handshake failure/, curve);
    // TLS 1.3 suites are not configurable (as in Envoy): a 1.3 handshake still works.
    const v13 = await handshake(port, ["-tls1_3"]);
    assert.match(v13, /New, TLSv1\.3, Cipher is TLS_/, v13);
  }, { skip: NO_OPENSSL, timeoutMs: 20_000 });
}

test("tls_params: an unknown cipher suite or curve is refused with its path; Envoy's [A|B] groups are taken", async () => {
  const at = /listener 'https': filter_chains\[0\]\.transport_socket\.typed_config\.common_tls_context\.tls_params\./;
  const bad = (params: Json) => startProxy(httpsConfig(1, tlsContext({ common_tls_context: { tls_certificates: certs("server"), tls_params: params } })));
  if (IS_DENO) {
    await assert.rejects(bad({ cipher_suites: ["ECDHE-ECDSA-AES256-GCM-SHA384"] }), /not enforced by Deno's node:tls/);
    return;
  }
  await assert.rejects(bad({ cipher_suites: ["ECDHE-ECDSA-AES256-GCM-SHA384", "NOT-A-SUITE"] }), (e: Error) => {
    assert.match(e.message, at);
    assert.match(e.message, /cipher_suites\[1\]: unknown cipher suite "NOT-A-SUITE"/);
    return true;
  });
  await assert.rejects(bad({ cipher_suites: ["[ECDHE-ECDSA-AES128-GCM-SHA256|BOGUS]"] }), /cipher_suites\[0\]: unknown cipher suite "BOGUS"/);
  await assert.rejects(bad({ ecdh_curves: ["P-256", "P-999"] }), /ecdh_curves\[1\]: unknown curve "P-999"/);
  // Envoy's equal-preference groups are BoringSSL syntax, which Bun's TLS takes as it is.
  await using ok = await startProxy(httpsConfig(1, tlsContext({
    common_tls_context: { tls_certificates: certs("server"), tls_params: { cipher_suites: ["[ECDHE-ECDSA-AES128-GCM-SHA256|ECDHE-ECDSA-CHACHA20-POLY1305]", "ECDHE-ECDSA-AES256-GCM-SHA384"] } },
  })));
  assert.ok(ok.port() > 0);
});
