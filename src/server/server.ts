/**
 * One running Legate generation's server (control side, plus — until the worker threads
 * land — the data plane on the same thread): stats, clusters, listeners, admin.
 * `startServer` is the embedding entry point; `await using` closes everything.
 */
import { Admin, type AdminContext, startAdminServer } from "../admin/admin.ts";
import type { BootstrapModel } from "../config/model.ts";
import { Logger } from "../core/log.ts";
import { StatsStore } from "../core/stats.ts";
import { TimerWheel } from "../core/timer_wheel.ts";
import { setAccessLogSink, type AccessLogSink } from "../http/conn_manager/access_log.ts";
import { ActiveListener, ListenerConfig } from "../listener/active_listener.ts";
import { type BoundListener, bindListener } from "../listener/listener_manager.ts";
import type { Runtime, TcpListener } from "../runtime/types.ts";
import { ClusterManager } from "../upstream/cluster_manager.ts";
import { ThreadLocalClusterManager } from "../upstream/thread_local_cluster.ts";
import { VERSION } from "../version.ts";
import "../filters/network/http_connection_manager/filter.ts";

/** How the server was started (for /server_info and behaviour switches). */
export interface ServerOptions {
  /** The config as the user gave it (merged file + --config-yaml), for /config_dump. */
  readonly rawConfig: unknown;
  readonly concurrency: number;
  readonly configPath?: string;
  readonly logLevel?: string;
  readonly restartEpoch?: number;
  /** Called by POST /quitquitquit after the server closed (the CLI exits the process). */
  readonly onQuit?: () => void;
}

const log = new Logger("main");

/** Batches access-log lines and writes them once per tick (off the request path). */
class BatchedAccessLogSink implements AccessLogSink {
  #lines = new Map<string, string[]>();
  #scheduled = false;
  #chain: Promise<void> = Promise.resolve();
  constructor(readonly runtime: Runtime) {}
  write(kind: "file" | "stdout" | "stderr", path: string | undefined, line: string): void {
    const key = kind === "file" ? `file:${path}` : kind;
    let arr = this.#lines.get(key);
    if (!arr) this.#lines.set(key, (arr = []));
    arr.push(line.endsWith("\n") ? line : line + "\n");
    if (!this.#scheduled) {
      this.#scheduled = true;
      setTimeout(() => this.flush(), 0);
    }
  }
  /** Writes everything queued; resolves when file appends are done. */
  flush(): Promise<void> {
    this.#scheduled = false;
    const batches = this.#lines;
    this.#lines = new Map();
    for (const [key, lines] of batches) {
      const text = lines.join("");
      if (key === "stdout") this.runtime.writeStdout(text);
      else if (key === "stderr") this.runtime.writeStderr(text);
      else {
        const path = key.slice(5);
        this.#chain = this.#chain.then(() =>
          this.runtime.appendFile(path, new TextEncoder().encode(text)).catch((e) =>
            log.error(`access log ${path}: ${e instanceof Error ? e.message : e}`)
          )
        );
      }
    }
    return this.#chain;
  }
}

/** A running server. */
export class Server implements AsyncDisposable {
  readonly stats = new StatsStore();
  readonly wheel = new TimerWheel();
  readonly clusterManager: ClusterManager;
  readonly tlcm: ThreadLocalClusterManager;
  readonly listeners: BoundListener[] = [];
  admin: TcpListener | null = null;
  #state = "PRE_INITIALIZING";
  #healthCheckFailed = false;
  readonly #startedAt = Date.now();
  readonly #sink: BatchedAccessLogSink;
  #closed: Promise<void> | null = null;
  #uptimeTimer: ReturnType<typeof setInterval> | undefined;

  constructor(readonly runtime: Runtime, readonly bootstrap: BootstrapModel, readonly options: ServerOptions) {
    this.clusterManager = new ClusterManager(this.stats);
    this.tlcm = new ThreadLocalClusterManager(runtime);
    this.#sink = new BatchedAccessLogSink(runtime);
  }

  /** Server state as /ready reports it. */
  get state(): string {
    return this.#state;
  }

  /** True after POST /healthcheck/fail (the health_check filter will read it). */
  get healthCheckFailed(): boolean {
    return this.#healthCheckFailed;
  }

  /** The bound port of listener `name` (useful with port 0). */
  listenerPort(name: string): number {
    const l = this.listeners.find((x) => x.model.name === name);
    if (!l) throw new Error(`no listener named ${name}`);
    return l.socket.port;
  }

  /** The bound admin port. */
  get adminPort(): number {
    if (!this.admin) throw new Error("no admin configured");
    return this.admin.port;
  }

  /** Initialises clusters, binds listeners and admin; the server is LIVE when this resolves. */
  async start(): Promise<void> {
    const b = this.bootstrap;
    setAccessLogSink(this.#sink);
    const s = this.stats;
    s.gauge("server.concurrency", "never").set(this.options.concurrency);
    s.gauge("server.hot_restart_epoch", "never").set(this.options.restartEpoch ?? 0);
    s.gauge("server.live", "never").set(0);
    s.gauge("server.uptime", "never").set(0);
    s.gauge("server.state", "never").set(2); // PRE_INITIALIZING
    this.clusterManager.addStaticClusters(b.clusters);
    this.tlcm.update(this.clusterManager.all());
    try {
      for (const lm of b.listeners) {
        const cfg = new ListenerConfig(lm, { clusterManager: this.tlcm, wheel: this.wheel, stats: s, drain: { draining: false } });
        const active = new ActiveListener(cfg, this.wheel, new Logger("conn_handler"));
        // The drain state is the listener itself: rebuild the config so filters see it.
        active.update(new ListenerConfig(lm, { clusterManager: this.tlcm, wheel: this.wheel, stats: s, drain: active }));
        this.listeners.push(await bindListener(this.runtime, lm, active, log));
      }
      if (b.admin) {
        const admin = new Admin(this.#adminContext());
        this.admin = await startAdminServer(this.runtime, admin, b.admin.address.address, b.admin.address.port, new Logger("admin"));
      }
    } catch (e) {
      await this.close();
      throw e;
    }
    this.#state = "LIVE";
    s.gauge("server.live", "never").set(1);
    s.gauge("server.state", "never").set(0);
    this.#uptimeTimer = setInterval(() => {
      s.gauge("server.uptime", "never").set(Math.floor((Date.now() - this.#startedAt) / 1000));
    }, 1000);
    log.info(`starting main dispatch loop (legate ${VERSION}, ${this.runtime.name} ${this.runtime.version})`);
  }

  /** Stops accepting, closes connections, pools and admin; flushes access logs. */
  close(): Promise<void> {
    this.#closed ??= (async () => {
      this.#state = "DRAINING";
      clearInterval(this.#uptimeTimer);
      for (const l of this.listeners) {
        l.active.draining = true;
        await l.socket.close();
      }
      for (const l of this.listeners) l.active.closeAll();
      this.tlcm.closeAll();
      await this.admin?.close();
      await this.#sink.flush();
      setAccessLogSink(null);
    })();
    return this.#closed;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #adminContext(): AdminContext {
    const server = this;
    const startedAt = this.#startedAt;
    const b = this.bootstrap;
    const raw = this.options.rawConfig as Record<string, unknown>;
    const loadedAt = new Date().toISOString();
    return {
      stats: this.stats,
      state: () => server.#state,
      serverInfo: () => ({
        version: VERSION,
        state: server.#state,
        hot_restart_version: "disabled",
        command_line_options: {
          config_path: this.options.configPath ?? "",
          concurrency: this.options.concurrency,
          log_level: this.options.logLevel ?? "info",
          restart_epoch: this.options.restartEpoch ?? 0,
          mode: "Serve",
        },
        node: { id: b.node.id, cluster: b.node.cluster },
        uptime_current_epoch: `${Math.floor((Date.now() - startedAt) / 1000)}s`,
        uptime_all_epochs: `${Math.floor((Date.now() - startedAt) / 1000)}s`,
        runtime: `${this.runtime.name} ${this.runtime.version}`,
      }),
      configDump: (resource) => {
        const sr = (raw?.static_resources ?? raw?.staticResources ?? {}) as Record<string, unknown[]>;
        const listeners = (sr.listeners ?? []).map((l) => ({ listener: l, last_updated: loadedAt }));
        const clusters = (sr.clusters ?? []).map((c) => ({ cluster: c, last_updated: loadedAt }));
        const configs: Record<string, unknown>[] = [
          { "@type": "type.googleapis.com/envoy.admin.v3.BootstrapConfigDump", bootstrap: raw, last_updated: loadedAt },
          { "@type": "type.googleapis.com/envoy.admin.v3.ClustersConfigDump", static_clusters: clusters },
          { "@type": "type.googleapis.com/envoy.admin.v3.ListenersConfigDump", static_listeners: listeners },
        ];
        if (resource === undefined) return { configs };
        const key = resource.replace(/([A-Z])/g, "_$1").toLowerCase();
        const out: unknown[] = [];
        for (const c of configs) {
          const v = c[key];
          if (Array.isArray(v)) out.push(...v.map((x) => ({ "@type": c["@type"], ...x })));
        }
        if (out.length === 0 && !configs.some((c) => key in c)) throw new Error(`${resource} not found in config dump`);
        return { configs: out };
      },
      clustersText: () => {
        const lines: string[] = [];
        for (const c of this.clusterManager.all()) {
          const n = c.info.name;
          lines.push(`${n}::default_priority::max_connections::1024`);
          lines.push(`${n}::added_via_api::false`);
          for (const h of c.hosts) {
            const a = h.addressString;
            lines.push(`${n}::${a}::weight::${h.weight}`);
            lines.push(`${n}::${a}::health_flags::healthy`);
          }
        }
        return lines.join("\n") + "\n";
      },
      clustersJson: () => ({
        cluster_statuses: this.clusterManager.all().map((c) => ({
          name: c.info.name,
          added_via_api: false,
          host_statuses: c.hosts.map((h) => ({
            address: { socket_address: { address: h.address, port_value: h.port } },
            weight: h.weight,
            health_status: { eds_health_status: "HEALTHY" },
          })),
        })),
      }),
      listenersText: () => this.listeners.map((l) => `${l.model.name}::${l.model.address.address}:${l.socket.port}`).join("\n") + "\n",
      listenersJson: () => ({
        listener_statuses: this.listeners.map((l) => ({
          name: l.model.name,
          local_address: { socket_address: { address: l.model.address.address, port_value: l.socket.port } },
        })),
      }),
      setHealthCheckFailed: (f) => {
        this.#healthCheckFailed = f;
      },
      quit: () => {
        void this.close().then(() => this.options.onQuit?.());
      },
      memory: () => {
        const m = this.runtime.memoryUsage();
        return { allocated: String(m.heapUsed), heap_size: String(m.rss) };
      },
    };
  }
}

/** Starts a server for `bootstrap` on `runtime`; it is LIVE when the promise resolves. */
export async function startServer(runtime: Runtime, bootstrap: BootstrapModel, options: ServerOptions): Promise<Server> {
  const s = new Server(runtime, bootstrap, options);
  await s.start();
  return s;
}
