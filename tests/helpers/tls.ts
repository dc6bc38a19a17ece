/**
 * Test helpers for TLS tests: fixture paths (tests/fixtures/tls/, see gen.sh there), curl and
 * openssl runners, DownstreamTlsContext config builders.
 */
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { HCM_TYPE, ROUTER_TYPE } from "./proxy.ts";

type Json = Record<string, any>; // deno-lint-ignore no-explicit-any

export const FIX = new URL("../fixtures/tls/", import.meta.url).pathname;
export const TLS_TYPE = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext";
const FILE_LOG = "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog";

/** Whether a command exists (tests that need it are skipped, and say so, otherwise). */
function has(cmd: string): boolean {
  for (const dir of (process.env.PATH ?? "").split(":")) {
    try {
      readFileSync(join(dir, cmd));
      return true;
    } catch {
      // next
    }
  }
  return false;
}
export const NO_CURL = has("curl") ? false : "curl is not installed";
export const NO_OPENSSL = has("openssl") ? false : "openssl is not installed";

/** Runs a command; resolves with its exit code and output (never rejects on a non-zero exit). */
export function run(cmd: string, args: string[], input = "", timeoutMs = 8000): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolve) => {
    const p = execFile(cmd, args, { timeout: timeoutMs, encoding: "utf8" }, (e, out, err) => {
      resolve({ code: e ? (typeof (e as { code?: unknown }).code === "number" ? (e as { code: number }).code : 1) : 0, out: String(out), err: String(err) });
    });
    p.stdin?.end(input);
  });
}

/** curl https://<name>:<port><path> through --resolve, trusting the test CA. */
export function curl(name: string, port: number, extra: string[] = [], path = "/"): Promise<{ code: number; out: string; err: string }> {
  return run("curl", ["-sS", "--max-time", "5", "--resolve", `${name}:${port}:127.0.0.1`, "--cacert", FIX + "ca.pem", ...extra, `https://${name}:${port}${path}`]);
}

export function tlsContext(ctx: Json): Json {
  return { name: "envoy.transport_sockets.tls", typed_config: { "@type": TLS_TYPE, ...ctx } };
}

export function certs(...names: string[]): Json[] {
  return names.map((n) => ({ certificate_chain: { filename: FIX + n + ".pem" }, private_key: { filename: FIX + n + ".key" } }));
}

/** An HCM listener (one chain, `transport`) to an upstream; access log with the TLS operators. */
export function httpsConfig(upPort: number, transport: Json, log?: string): Json {
  return {
    admin: { address: { socket_address: { address: "127.0.0.1", port_value: 0 } } },
    static_resources: {
      listeners: [{
        name: "https",
        address: { socket_address: { address: "127.0.0.1", port_value: 0 } },
        filter_chains: [{
          transport_socket: transport,
          filters: [{
            name: "envoy.filters.network.http_connection_manager",
            typed_config: {
              "@type": HCM_TYPE,
              stat_prefix: "https",
              route_config: { virtual_hosts: [{ name: "all", domains: ["*"], routes: [{ match: { prefix: "/" }, route: { cluster: "backend" } }] }] },
              http_filters: [{ name: "envoy.filters.http.router", typed_config: { "@type": ROUTER_TYPE } }],
              ...(log
                ? {
                  access_log: [{
                    typed_config: {
                      "@type": FILE_LOG,
                      path: log,
                      log_format: { text_format_source: { inline_string: "%RESPONSE_CODE% sni=%REQUESTED_SERVER_NAME% v=%DOWNSTREAM_TLS_VERSION% peer=%DOWNSTREAM_PEER_SUBJECT%\n" } },
                    },
                  }],
                }
                : {}),
            },
          }],
        }],
      }],
      clusters: [{
        name: "backend",
        type: "STATIC",
        connect_timeout: "1s",
        load_assignment: { cluster_name: "backend", endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: upPort } } } }] }] },
      }],
    },
  };
}

export function tmpFile(name: string): string {
  return join(tmpdir(), `legate-tls-${name}-${Date.now()}-${Math.random().toString(36).slice(2)}`);
}

