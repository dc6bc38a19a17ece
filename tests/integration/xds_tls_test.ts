/**
 * TLS on LDS listeners: certificate files named by a listener that arrives by LDS are read on the
 * control side before the snapshot is published, its SDS files (path_config_source) are watched
 * and rotate the certificate as for static listeners, and a listener whose files cannot be read
 * is not applied (its previous version keeps serving). Real sockets, LDS from a watched file.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as tls from "node:tls";
import { test, waitFor } from "../harness.ts";
import { HCM_TYPE, ROUTER_TYPE, startProxy } from "../helpers/proxy.ts";
import { parseResponses } from "../helpers/raw_client.ts";
import { certs, FIX, tlsContext } from "../helpers/tls.ts";

type Json = Record<string, any>; // deno-lint-ignore no-explicit-any

const LISTENER = "type.googleapis.com/envoy.config.listener.v3.Listener";
const SECRET = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret";
const TLS_INSPECTOR = {
  name: "envoy.filters.listener.tls_inspector",
  typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector" },
};
const pem = (n: string) => readFileSync(FIX + n, "utf8");

/** Writes `doc` as JSON to `path` by atomic rename. */
function put(path: string, doc: unknown): void {
  writeFileSync(path + ".tmp", JSON.stringify(doc));
  renameSync(path + ".tmp", path);
}

/** An SDS file: Secret `name` with fixture certificate `cert` (chain inline, key by file name). */
function secret(path: string, name: string, cert: string): void {
  put(path, {
    version_info: cert,
    resources: [{ "@type": SECRET, name, tls_certificate: { certificate_chain: { inline_string: pem(cert + ".pem") }, private_key: { filename: FIX + cert + ".key" } } }],
  });
}

/** An HCM answering every request with `body`. */
function hcm(body: string): Json {
  return {
    name: "envoy.filters.network.http_connection_manager",
    typed_config: {
      "@type": HCM_TYPE,
      stat_prefix: "tls",
      route_config: { virtual_hosts: [{ name: "all", domains: ["*"], routes: [{ match: { prefix: "/" }, direct_response: { status: 200, body: { inline_string: body } } }] }] },
      http_filters: [{ name: "envoy.filters.http.router", typed_config: { "@type": ROUTER_TYPE } }],
    },
  };
}

function listener(name: string, chains: Json[]): Json {
  return { "@type": LISTENER, name, address: { socket_address: { address: "127.0.0.1", port_value: 0 } }, listener_filters: [TLS_INSPECTOR], filter_chains: chains };
}

/** A chain for SNI `sni` terminating TLS with `tlsCtx` (a common_tls_context), answering `body`. */
function sniChain(sni: string, common: Json, body: string): Json {
  return { filter_chain_match: { server_names: [sni] }, transport_socket: tlsContext({ common_tls_context: common }), filters: [hcm(body)] };
}

function bootstrap(lds: string): Json {
  return { node: { id: "test-node", cluster: "test" }, dynamic_resources: { lds_config: { path_config_source: { path: lds }, resource_api_version: "V3" } } };
}

/** A keep-alive HTTPS/1.1 client (no certificate verification: the CN is what is checked). */
async function tlsKeepAlive(port: number, servername: string) {
  const c = tls.connect({ host: "127.0.0.1", port, servername, rejectUnauthorized: false });
  let got = "";
  let closed = false;
  c.on("data", (d: Buffer) => (got += d.toString("latin1")));
  c.on("close", () => (closed = true));
  c.on("error", () => {});
  await new Promise<void>((resolve, reject) => {
    c.once("secureConnect", () => resolve());
    c.once("error", reject);
    setTimeout(() => reject(new Error("TLS handshake timed out")), 5000);
  });
  const cn = String(c.getPeerCertificate()?.subject?.CN ?? "");
  let n = 0;
  return {
    cn,
    async get(): Promise<{ body: string; connection: string | undefined }> {
      c.write(`GET / HTTP/1.1\r\nhost: ${servername}\r\n\r\n`);
      const want = n + 1;
      await waitFor(() => parseResponses(got).length >= want, "a response", 5000);
      const r = parseResponses(got)[n++]!;
      return { body: r.body, connection: r.headers["connection"] };
    },
    closed: () => closed,
    [Symbol.asyncDispose]: async () => void c.destroy(),
  };
}

/** CN and body of one fresh connection. */
async function once(port: number, sni: string): Promise<{ cn: string; body: string }> {
  await using c = await tlsKeepAlive(port, sni);
  return { cn: c.cn, body: (await c.get()).body };
}

test("LDS listener with TLS: certificate files read before publishing, SDS file watched and rotated", async () => {
  const dir = mkdtempSync(join(tmpdir(), "legate-xds-tls-"));
  const lds = join(dir, "lds.json");
  const sds = join(dir, "sds.json");
  try {
    secret(sds, "b_cert", "other");
    put(lds, {
      version_info: "1",
      resources: [listener("edge", [
        sniChain("a.test", { tls_certificates: certs("server") }, "A"),
        sniChain("b.test", { tls_certificate_sds_secret_configs: [{ name: "b_cert", sds_config: { path_config_source: { path: sds } } }] }, "B"),
      ])],
    });
    await using proxy = await startProxy(bootstrap(lds));
    const port = proxy.port("edge");
    await using onA = await tlsKeepAlive(port, "a.test");
    await using onB = await tlsKeepAlive(port, "b.test");
    assert.equal(onA.cn, "a.test", "the certificate file named by the LDS listener");
    assert.equal(onB.cn, "b.test", "the certificate from the SDS file");
    assert.deepEqual(await onA.get(), { body: "A", connection: undefined });
    assert.deepEqual(await onB.get(), { body: "B", connection: undefined });
    assert.equal(proxy.stat("sds.b_cert.update_success"), 1);

    // Rotate b's secret to server.pem (CN a.test): new connections to b.test get it.
    secret(sds, "b_cert", "server");
    await waitFor(async () => (await once(port, "b.test")).cn === "a.test", "the rotated certificate on b.test", 8000, 100);
    assert.equal(proxy.stat("sds.b_cert.update_success"), 2);
    // Only the chain whose secret changed drains; the other one's connection runs on.
    assert.deepEqual(await onA.get(), { body: "A", connection: undefined });
    assert.deepEqual(await onB.get(), { body: "B", connection: "close" });
    assert.deepEqual(await once(port, "a.test"), { cn: "a.test", body: "A" });

    // Garbage in the SDS file: refused and counted; the rotated certificate keeps serving.
    put(sds, { resources: "nope" });
    await waitFor(() => proxy.stat("sds.b_cert.update_rejected") >= 1, "the bad SDS file to be rejected", 8000, 50);
    assert.deepEqual(await once(port, "b.test"), { cn: "a.test", body: "B" });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}, { timeoutMs: 30_000 });

test("LDS listener whose certificate file cannot be read is not applied; its previous version keeps serving", async () => {
  const dir = mkdtempSync(join(tmpdir(), "legate-xds-tls-"));
  const lds = join(dir, "lds.json");
  const missing = join(dir, "missing.pem");
  try {
    put(lds, { version_info: "1", resources: [listener("edge", [sniChain("a.test", { tls_certificates: certs("server") }, "v1")])] });
    await using proxy = await startProxy(bootstrap(lds));
    const port = proxy.port("edge");
    assert.deepEqual(await once(port, "a.test"), { cn: "a.test", body: "v1" });

    // v2 names a file that does not exist; in the same update a second, good listener arrives.
    const broken = sniChain("a.test", { tls_certificates: [{ certificate_chain: { filename: missing }, private_key: { filename: FIX + "server.key" } }] }, "v2");
    put(lds, {
      version_info: "2",
      resources: [listener("edge", [broken]), listener("other", [sniChain("b.test", { tls_certificates: certs("other") }, "other")])],
    });
    await waitFor(() => proxy.stat("listener_manager.listener_create_failure") >= 1, "the broken listener to be refused", 5000);
    await waitFor(() => {
      try {
        return proxy.port("other") > 0;
      } catch {
        return false;
      }
    }, "the good listener of the same update to be added", 5000);
    assert.deepEqual(await once(proxy.port("other"), "b.test"), { cn: "b.test", body: "other" });
    assert.deepEqual(await once(port, "a.test"), { cn: "a.test", body: "v1" }, "the previous version keeps serving");

    // Once the file exists, the next update applies.
    writeFileSync(missing, pem("server.pem"));
    put(lds, { version_info: "3", resources: [listener("edge", [broken])] });
    await waitFor(async () => (await once(port, "a.test")).body === "v2", "v3 applied", 5000, 50);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}, { timeoutMs: 30_000 });
