/**
 * SDS from a file: a listener's certificate comes from a Secret in a DiscoveryResponse file
 * (`tls_certificate_sds_secret_configs[].sds_config.path_config_source`); rewriting the file
 * rotates the certificate without a restart; a file that turns to garbage is refused (logged,
 * counted) and the old certificate keeps serving.
 */
import assert from "node:assert/strict";
import { readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { test, waitFor } from "../harness.ts";
import { startProxy } from "../helpers/proxy.ts";
import { startUpstream } from "../helpers/upstream.ts";
import { curl, FIX, httpsConfig, NO_CURL, tlsContext, tmpFile } from "../helpers/tls.ts";

/** A DiscoveryResponse (YAML) with Secret `name` holding fixture certificate `cert`. */
function secretYaml(name: string, cert: string): string {
  const indent = (t: string) => t.trimEnd().split("\n").map((l) => "          " + l).join("\n");
  return [
    "version_info: one",
    "resources:",
    "- \"@type\": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret",
    `  name: ${name}`,
    "  tls_certificate:",
    "    certificate_chain:",
    "      inline_string: |",
    indent(readFileSync(FIX + cert + ".pem", "utf8")),
    "    private_key:",
    `      filename: ${FIX}${cert}.key`,
    "",
  ].join("\n");
}

/** Atomically replaces a file (as SDS writers do: write aside, rename over). */
function replace(path: string, text: string): void {
  writeFileSync(path + ".tmp", text);
  renameSync(path + ".tmp", path);
}

test("SDS from a file: certificate rotated without restart; garbage keeps the old one serving", async () => {
  const sds = tmpFile("sds.yaml");
  try {
    replace(sds, secretYaml("edge_cert", "server"));
    await using up = await startUpstream();
    await using proxy = await startProxy(httpsConfig(up.port, tlsContext({
      common_tls_context: { tls_certificate_sds_secret_configs: [{ name: "edge_cert", sds_config: { path_config_source: { path: sds } } }] },
    })));
    const port = proxy.port();
    // server.pem names a.test, not b.test.
    assert.equal((await curl("a.test", port)).code, 0);
    assert.notEqual((await curl("b.test", port)).code, 0, "b.test is not on the first certificate");
    const version = proxy.server.configVersion;

    // Rotate to other.pem (b.test).
    replace(sds, secretYaml("edge_cert", "other"));
    await waitFor(async () => (await curl("b.test", port)).code === 0, "the rotated certificate (b.test) to be served", 8000, 100);
    assert.ok(proxy.server.configVersion > version, "rotation is a new snapshot version");
    assert.notEqual((await curl("a.test", port)).code, 0, "the old certificate is gone");
    assert.equal(proxy.stat("sds.edge_cert.update_success"), 2);

    // Garbage: refused, counted, and b.test keeps working.
    replace(sds, "resources: [ {{{ this is not yaml");
    await waitFor(() => proxy.stat("sds.edge_cert.update_rejected") >= 1, "the garbage update to be rejected", 8000, 50);
    const r = await curl("b.test", port);
    assert.equal(r.code, 0, `the old certificate keeps serving: ${r.err}`);
    // A Secret whose PEM is garbage is refused too.
    replace(sds, secretYaml("edge_cert", "other").replace(/MII[A-Za-z0-9+/]{20}/, "garbage"));
    await waitFor(() => proxy.stat("sds.edge_cert.update_rejected") >= 2, "the bad-PEM update to be rejected", 8000, 50);
    assert.equal((await curl("b.test", port)).code, 0);
    assert.equal(proxy.stat("sds.edge_cert.update_success"), 2);

    // And a good file afterwards is picked up again.
    replace(sds, secretYaml("edge_cert", "server"));
    await waitFor(async () => (await curl("a.test", port)).code === 0, "the certificate to rotate back", 8000, 100);
  } finally {
    rmSync(sds, { force: true });
  }
}, { skip: NO_CURL, timeoutMs: 40_000 });

test("SDS from a file: a missing file or Secret fails the start with the field path", async () => {
  const sds = tmpFile("sds-missing.yaml");
  try {
    const cfg = (path: string, name: string) =>
      httpsConfig(1, tlsContext({ common_tls_context: { tls_certificate_sds_secret_configs: [{ name, sds_config: { path_config_source: { path } } }] } }));
    await assert.rejects(startProxy(cfg(sds, "edge_cert")), /tls_certificate_sds_secret_configs\[0\]\.sds_config\.path_config_source\.path: cannot read/);
    replace(sds, secretYaml("other_name", "server"));
    await assert.rejects(startProxy(cfg(sds, "edge_cert")), /no Secret named 'edge_cert'/);
  } finally {
    rmSync(sds, { force: true });
  }
});
