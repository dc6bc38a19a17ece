/**
 * Test helper: an in-process Legate server from an Envoy YAML/JSON config (listeners on port 0),
 * closed by `await using`.
 */
import { loadBootstrap, parseConfigText } from "../../src/config/load.ts";
import { loadRuntime } from "../../src/runtime/mod.ts";
import { type Server, startServer } from "../../src/server/server.ts";
import { configureLogging } from "../../src/core/log.ts";

configureLogging({ level: (process.env.LEGATE_TEST_LOG as never) ?? "error" });

export const HCM_TYPE = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager";
export const ROUTER_TYPE = "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router";

/** A running proxy for a test. */
export interface TestProxy extends AsyncDisposable {
  server: Server;
  /** Port of listener `name` (default: the first listener). */
  port(name?: string): number;
  adminPort: number;
  /** "http://127.0.0.1:<port>" of listener `name`. */
  url(path?: string, name?: string): string;
  /** Reads a stat from the in-process store (0 when absent). */
  stat(name: string): number;
}

/** The worker entry module, for proxies started with worker threads. */
export const WORKER_URL = new URL("../../src/worker/worker_main.ts", import.meta.url);

/** Starts a proxy from a config object or YAML text; `concurrency` 0 (default) serves on this
 *  thread, N > 0 starts N data-plane workers. */
export async function startProxy(config: unknown, opts: { concurrency?: number } = {}): Promise<TestProxy> {
  const text = typeof config === "string" ? config : JSON.stringify(config);
  const bootstrap = loadBootstrap({ text, sourceName: "test-config" });
  const runtime = await loadRuntime();
  const server = await startServer(runtime, bootstrap, {
    rawConfig: parseConfigText(text, "test-config"),
    concurrency: opts.concurrency ?? 0,
    workerUrl: WORKER_URL,
  });
  const first = bootstrap.listeners[0]?.name;
  const port = (name = first) => server.listenerPort(name!);
  return {
    server,
    port,
    adminPort: server.admin ? server.adminPort : 0,
    url: (path = "/", name) => `http://127.0.0.1:${port(name)}${path}`,
    stat: (name) => server.stats.value(name),
    [Symbol.asyncDispose]: () => server.close(),
  };
}

/** Options for `simpleConfig`. */
export interface SimpleConfigOptions {
  upstreamPorts?: number[];
  timeout?: string;
  hcm?: Record<string, unknown>;
  routes?: unknown[];
  admin?: boolean;
  connectTimeout?: string;
  accessLogPath?: string;
}

/** A one-listener, one-cluster ("backend") proxy config; routes default to prefix "/" → backend. */
export function simpleConfig(o: SimpleConfigOptions = {}): Record<string, unknown> {
  const hcm: Record<string, unknown> = {
    "@type": HCM_TYPE,
    stat_prefix: "ingress",
    use_remote_address: true,
    route_config: {
      name: "local",
      virtual_hosts: [{
        name: "all",
        domains: ["*"],
        routes: o.routes ?? [{ match: { prefix: "/" }, route: { cluster: "backend", timeout: o.timeout ?? "5s" } }],
      }],
    },
    http_filters: [{ name: "envoy.filters.http.router", typed_config: { "@type": ROUTER_TYPE } }],
    ...(o.accessLogPath
      ? {
        access_log: [{
          name: "envoy.access_loggers.file",
          typed_config: {
            "@type": "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog",
            path: o.accessLogPath,
            log_format: { text_format_source: { inline_string: "%RESPONSE_CODE% %RESPONSE_FLAGS% %REQ(:PATH)% %UPSTREAM_HOST%\n" } },
          },
        }],
      }
      : {}),
    ...o.hcm,
  };
  return {
    ...(o.admin === false ? {} : { admin: { address: { socket_address: { address: "127.0.0.1", port_value: 0 } } } }),
    static_resources: {
      listeners: [{
        name: "ingress",
        address: { socket_address: { address: "127.0.0.1", port_value: 0 } },
        filter_chains: [{ filters: [{ name: "envoy.filters.network.http_connection_manager", typed_config: hcm }] }],
      }],
      clusters: [{
        name: "backend",
        type: "STATIC",
        connect_timeout: o.connectTimeout ?? "1s",
        lb_policy: "ROUND_ROBIN",
        load_assignment: {
          cluster_name: "backend",
          endpoints: [{
            lb_endpoints: (o.upstreamPorts ?? []).map((p) => ({
              endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: p } } },
            })),
          }],
        },
      }],
    },
  };
}
