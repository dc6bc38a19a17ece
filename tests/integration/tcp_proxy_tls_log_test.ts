/**
 * tcp_proxy access logs with the TLS operators: %REQUESTED_SERVER_NAME% on TLS passthrough (SNI
 * from the TLS inspector), and %DOWNSTREAM_TLS_VERSION% / %DOWNSTREAM_PEER_SUBJECT% on a chain
 * that terminates (mutual) TLS in front of tcp_proxy.
 */
import assert from "node:assert/strict";
import { readFileSync, rmSync } from "node:fs";
import * as net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as tls from "node:tls";
import { test } from "../harness.ts";
import { waitForFile } from "../helpers/files.ts";
import { startProxy } from "../helpers/proxy.ts";
import { certs, FIX, tlsContext } from "../helpers/tls.ts";
import { startRawServer } from "../helpers/upstream.ts";

type Json = Record<string, any>; // deno-lint-ignore no-explicit-any

const TCP_PROXY = "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy";
const FILE_LOG = "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog";
const TLS_INSPECTOR = {
  name: "envoy.filters.listener.tls_inspector",
  typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector" },
};
const FORMAT = "sni=%REQUESTED_SERVER_NAME% v=%DOWNSTREAM_TLS_VERSION% peer=%DOWNSTREAM_PEER_SUBJECT% %UPSTREAM_CLUSTER%\n";
const pem = (n: string) => readFileSync(FIX + n, "utf8");

function tcpProxy(log: string): Json {
  return {
    name: "envoy.filters.network.tcp_proxy",
    typed_config: {
      "@type": TCP_PROXY,
      stat_prefix: "tp",
      cluster: "up",
      access_log: [{ name: "envoy.access_loggers.file", typed_config: { "@type": FILE_LOG, path: log, log_format: { text_format_source: { inline_string: FORMAT } } } }],
    },
  };
}

function config(chain: Json, upPort: number): Json {
  return {
    static_resources: {
      listeners: [{
        name: "l",
        address: { socket_address: { address: "127.0.0.1", port_value: 0 } },
        listener_filters: [TLS_INSPECTOR],
        filter_chains: [chain],
      }],
      clusters: [{
        name: "up",
        type: "STATIC",
        connect_timeout: "1s",
        load_assignment: { cluster_name: "up", endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: upPort } } } }] }] },
      }],
    },
  };
}

/** A TLS client that reads until the server ends the stream. */
function tlsRead(port: number, opts: tls.ConnectionOptions): Promise<string> {
  return new Promise((resolve, reject) => {
    const c = tls.connect({ host: "127.0.0.1", port, ca: pem("ca.pem"), ...opts });
    let body = "";
    const timer = setTimeout(() => (c.destroy(), reject(new Error("timeout"))), 5000);
    c.on("data", (d) => (body += d.toString()));
    c.on("end", () => (clearTimeout(timer), c.end(), resolve(body)));
    c.on("error", (e) => (clearTimeout(timer), reject(e)));
  });
}

const logPath = () => join(tmpdir(), `legate-tcp-tls-log-${Date.now()}-${Math.random().toString(36).slice(2)}.log`);

test("tcp_proxy access log on TLS passthrough: %REQUESTED_SERVER_NAME% from the TLS inspector", async () => {
  // The upstream terminates TLS itself (passthrough).
  const srv = tls.createServer({ cert: pem("server.pem"), key: pem("server.key") }, (s) => {
    s.on("error", () => {});
    s.end("hello from upstream");
  });
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
  const log = logPath();
  try {
    await using proxy = await startProxy(config({ filter_chain_match: { server_names: ["a.test"] }, filters: [tcpProxy(log)] }, (srv.address() as net.AddressInfo).port));
    assert.equal(await tlsRead(proxy.port(), { servername: "a.test" }), "hello from upstream");
    // Passthrough: Legate saw the SNI but no TLS session of its own.
    assert.equal(await waitForFile(log, "the tcp_proxy access log line"), "sni=a.test v=- peer=- up\n");
  } finally {
    await new Promise<void>((r) => srv.close(() => r()));
    rmSync(log, { force: true });
  }
}, { timeoutMs: 15_000 });

test("tcp_proxy access log behind TLS termination: SNI, TLS version and the client certificate's subject", async () => {
  await using up = await startRawServer((s) => s.end("plain upstream"));
  const log = logPath();
  try {
    await using proxy = await startProxy(config({
      filter_chain_match: { server_names: ["a.test"] },
      transport_socket: tlsContext({
        require_client_certificate: true,
        common_tls_context: {
          tls_certificates: certs("server"),
          tls_params: { tls_minimum_protocol_version: "TLSv1_3" },
          validation_context: { trusted_ca: { filename: FIX + "ca.pem" } },
        },
      }),
      filters: [tcpProxy(log)],
    }, up.port));
    const body = await tlsRead(proxy.port(), { servername: "a.test", cert: pem("client.pem"), key: pem("client.key") });
    assert.equal(body, "plain upstream");
    assert.equal(await waitForFile(log, "the tcp_proxy access log line"), "sni=a.test v=TLSv1.3 peer=CN=client,O=Legate Test up\n");
  } finally {
    rmSync(log, { force: true });
  }
}, { timeoutMs: 15_000 });
