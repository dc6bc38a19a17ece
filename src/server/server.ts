/**
 * One running Legate generation's server (control side, plus — until the worker threads
 * land — the data plane on the same thread): stats, clusters, listeners, admin.
 * `startServer` is the embedding entry point; `await using` closes everything.
 */
import { Admin, type AdminContext, startAdminServer } from "../admin/admin.ts";
import type { BootstrapModel } from "../config/model.ts";
import { Logger } from "../core/log.ts";
import { AggregateStats, StatsStore } from "../core/stats.ts";
import { setAccessLogSink } from "../http/conn_manager/access_log.ts";
import { BatchedAccessLogSink } from "../http/conn_manager/access_log_sink.ts";
import type { Runtime, TcpListener } from "../runtime/types.ts";
import { ClusterManager } from "../upstream/cluster_manager.ts";
import { clustersJson, clustersText } from "../upstream/admin_clusters.ts";
import { loadConfigFromSources } from "../config/sources.ts";
import { VERSION } from "../version.ts";
import { DataPlane } from "../worker/data_plane.ts";
import type { Snapshot } from "../worker/protocol.ts";
import { WorkerSet } from "../worker/worker_set.ts";
import { loadClusterTlsFiles } from "../upstream/upstream_tls.ts";
import { HOT_RESTART_VERSION } from "../supervisor/protocol.ts";

/** How the server was started (for /server_info and behaviour switches). */
export interface ServerOptions {
  /** The config as the user gave it (merged file + --config-yaml), for /config_dump. */
  readonly rawConfig: unknown;
  /** Data-plane worker threads; 0 runs the data plane on the main thread. */
  readonly concurrency: number;
  /** The worker entry module (src/worker/worker_main.ts); required when concurrency > 0. */
  readonly workerUrl?: URL;
  readonly configPath?: string;
  /** Listening sockets inherited from the hot-restart supervisor, by listener name (the admin
   *  socket under "@admin"); each thread adopts its own dup. */
  readonly inheritedFds?: Record<string, number>;
  /** The bound ports of the inherited sockets (an adopted fd may not report its port). */
  readonly inheritedPorts?: Record<string, number>;
  /** Duplicates an fd (HostProcess.dup); required with inheritedFds. */
  readonly dupFd?: (fd: number) => number;
  /** --config-yaml, re-applied on reload. */
  readonly configYaml?: string;
  readonly logLevel?: string;
  readonly restartEpoch?: number;
  /** Called by POST /quitquitquit after the server closed (the CLI exits the process). */
  readonly onQuit?: () => void;
}

const log = new Logger("main");

/** A running server. */
export class Server implements AsyncDisposable {
  /** The main thread's own stats (server.*, admin). */
  readonly localStats: StatsStore;
  /** Every thread's stats summed: what /stats shows. */
  readonly stats: AggregateStats;
  /** The control-side view of clusters (for /clusters). */
  readonly clusterManager: ClusterManager;
  /** The data plane on this thread (concurrency 0), else null. */
  readonly inProcess: DataPlane | null = null;
  /** The worker threads (concurrency > 0), else null. */
  workers: WorkerSet | null = null;
  admin: TcpListener | null = null;
  #state = "PRE_INITIALIZING";
  #healthCheckFailed = false;
  readonly #startedAt = Date.now();
  readonly #sink: BatchedAccessLogSink;
  #closing: Promise<void> | null = null;
  #uptimeTimer: ReturnType<typeof setInterval> | undefined;
  #snapshot: Snapshot;
  #bootstrap: BootstrapModel;
  #raw: unknown;
  #configLoadedAt = new Date().toISOString();

  constructor(readonly runtime: Runtime, bootstrap: BootstrapModel, readonly options: ServerOptions) {
    this.#bootstrap = bootstrap;
    this.#raw = options.rawConfig;
    this.localStats = new StatsStore();
    this.stats = new AggregateStats(this.localStats, () => this.workers?.remoteStats() ?? []);
    // Control side: DNS, health checks and outlier detection run here, on the main thread.
    this.clusterManager = new ClusterManager(this.localStats, { runtime });
    this.#sink = new BatchedAccessLogSink(runtime);
    this.#snapshot = { version: 0, listeners: bootstrap.listeners, clusters: [], healthCheckFailed: false };
    if (options.concurrency === 0) {
      this.inProcess = new DataPlane(runtime, this.localStats, { reusePort: false, sink: this.clusterManager });
    }
  }

  /** The config in force. */
  get bootstrap(): BootstrapModel {
    return this.#bootstrap;
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
    const ports = this.inProcess ? this.inProcess.ports() : this.workers?.ports ?? {};
    const p = ports[name];
    if (p === undefined) throw new Error(`no listener named ${name}`);
    return p;
  }

  /** The bound admin port. */
  get adminPort(): number {
    if (!this.admin) throw new Error("no admin configured");
    return this.options.inheritedPorts?.["@admin"] || this.admin.port || this.#bootstrap.admin!.address.port;
  }

  /** The config version the data plane runs. */
  get configVersion(): number {
    return this.#snapshot.version;
  }

  /** Initialises clusters, starts the data plane and admin; LIVE when this resolves. */
  async start(): Promise<void> {
    const b = this.#bootstrap;
    setAccessLogSink(this.#sink);
    const s = this.localStats;
    s.gauge("server.concurrency", "never").set(this.options.concurrency);
    s.gauge("server.hot_restart_epoch", "never").set(this.options.restartEpoch ?? 0);
    s.gauge("server.live", "never").set(0);
    s.gauge("server.uptime", "never").set(0);
    s.gauge("server.state", "never").set(2); // PRE_INITIALIZING
    const crashes = s.counter("server.worker_crashes");
    this.#applyClusters(await loadClusterTlsFiles(this.runtime, b.clusters));
    // Envoy initialises clusters (first DNS answer, first health-check round) before LIVE.
    await this.clusterManager.initialized(15_000);
    this.#snapshot = { version: 1, listeners: b.listeners, clusters: this.clusterManager.snapshot(), healthCheckFailed: false };
    // Host health and DNS changes become new snapshot versions (coalesced per task).
    this.clusterManager.onUpdate(() => {
      if (this.#state === "PRE_INITIALIZING" || this.#closed) return;
      void this.#publish({ ...this.#snapshot, version: this.#snapshot.version + 1, clusters: this.clusterManager.snapshot() });
    });
    try {
      if (this.inProcess) {
        await this.inProcess.apply(this.#snapshot, this.options.inheritedPorts ?? {}, this.#fdsForThread());
      } else {
        if (!this.options.workerUrl) throw new Error("concurrency > 0 needs the worker entry module (workerUrl)");
        this.workers = new WorkerSet(
          this.options.concurrency,
          this.options.workerUrl,
          this.#snapshot,
          crashes,
          () => this.#fdsForThread(),
          this.options.inheritedPorts,
          this.clusterManager,
        );
        await this.workers.start();
      }
      for (const [name, port] of Object.entries(this.inProcess ? this.inProcess.ports() : this.workers!.ports)) {
        const m = b.listeners.find((l) => l.name === name);
        if (m) log.info(`listener '${name}' listening on ${m.address.address}:${port}`);
      }
      if (b.admin) {
        const admin = new Admin(this.#adminContext());
        const adminFd = this.options.inheritedFds?.["@admin"];
        this.admin = await startAdminServer(
          this.runtime,
          admin,
          b.admin.address.address,
          this.options.inheritedPorts?.["@admin"] ?? b.admin.address.port,
          new Logger("admin"),
          adminFd === undefined ? undefined : this.options.dupFd!(adminFd),
        );
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
    log.info(`starting main dispatch loop (legate ${VERSION}, ${this.runtime.name} ${this.runtime.version}, concurrency ${this.options.concurrency})`);
  }

  /**
   * Applies a new, already validated config: listeners and clusters go to the data plane as a
   * new snapshot version (in-flight requests finish on the old one). Admin changes need a
   * restart. Resolves when every data-plane thread runs the new version.
   */
  async reload(bootstrap: BootstrapModel, raw: unknown): Promise<number> {
    // Certificate files are read first: one that cannot be read rejects the reload unchanged.
    const clusters = await loadClusterTlsFiles(this.runtime, bootstrap.clusters);
    this.#bootstrap = bootstrap;
    this.#raw = raw;
    this.#configLoadedAt = new Date().toISOString();
    this.#applyClusters(clusters);
    await this.#publish({
      ...this.#snapshot,
      version: this.#snapshot.version + 1,
      listeners: bootstrap.listeners,
      clusters: this.clusterManager.snapshot(),
    });
    this.localStats.counter("server.config_reload").inc();
    log.info(`config version ${this.#snapshot.version} applied`);
    return this.#snapshot.version;
  }

  /** Adds new and changed clusters, removes dropped ones; unchanged ones keep running. */
  #applyClusters(models: BootstrapModel["clusters"]): void {
    const cm = this.clusterManager;
    const keep = new Set(models.map((m) => m.name));
    for (const c of cm.all()) if (!keep.has(c.model.name)) cm.removeCluster(c.model.name);
    const changed = models.filter((m) => {
      const old = cm.get(m.name);
      return !old || JSON.stringify(old.model) !== JSON.stringify(m);
    });
    if (changed.length) cm.addStaticClusters(changed);
  }

  async #publish(snapshot: Snapshot): Promise<void> {
    this.#snapshot = snapshot;
    if (this.inProcess) await this.inProcess.apply(snapshot);
    else await this.workers?.publish(snapshot);
  }

  #fdsForThread(): Record<string, number> {
    const out: Record<string, number> = {};
    const inherited = this.options.inheritedFds;
    if (!inherited) return out;
    for (const [name, fd] of Object.entries(inherited)) {
      if (name !== "@admin") out[name] = this.options.dupFd!(fd);
    }
    return out;
  }

  /** Hot restart: stop accepting (the next generation accepts on the same sockets) and make
   *  every connection close after its current request. */
  async stopAcceptingAndDrain(): Promise<void> {
    this.#state = "DRAINING";
    this.localStats.gauge("server.state", "never").set(1);
    await this.inProcess?.drain(true);
    this.workers?.drain(true);
    // The admin port passes to the new generation too.
    await this.admin?.close();
  }

  /** Downstream connections open on every thread. */
  activeConnections(): number {
    let n = 0;
    for (const e of this.stats.entries()) {
      if (e.name.startsWith("listener.") && e.name.endsWith(".downstream_cx_active")) n += e.value;
    }
    return n;
  }

  /** Every counter summed over threads, for carrying over to the next generation. */
  counterValues(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const e of this.stats.entries()) if (e.type === "counter" && e.value !== 0) out[e.name] = e.value;
    return out;
  }

  /** Adds a previous generation's counters to ours (Envoy: counters survive hot restarts). */
  carryCounters(counters: Record<string, number>): void {
    for (const [name, v] of Object.entries(counters)) this.localStats.counter(name).inc(v);
  }

  /** Re-reads the config sources (file and --config-yaml) and applies them; a bad config is
   *  refused with every error and the running one keeps serving. */
  async reloadFromSources(): Promise<{ ok: true; version: number } | { ok: false; error: string }> {
    try {
      const loaded = await loadConfigFromSources(this.runtime, this.options.configPath, this.options.configYaml);
      return { ok: true, version: await this.reload(loaded.bootstrap, loaded.raw) };
    } catch (e) {
      this.localStats.counter("server.config_reload_rejected").inc();
      const error = e instanceof Error ? e.message : String(e);
      log.error(`config reload refused; version ${this.#snapshot.version} keeps serving:\n${error}`);
      return { ok: false, error };
    }
  }

  /** Stops accepting, closes connections, pools and admin; flushes access logs. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#state = "DRAINING";
      this.clusterManager.close();
      clearInterval(this.#uptimeTimer);
      await this.inProcess?.close();
      await this.workers?.close();
      await this.admin?.close();
      await this.#sink.flush();
      setAccessLogSink(null);
    })();
    return this.#closing;
  }

  get #closed(): boolean {
    return this.#closing !== null;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #adminContext(): AdminContext {
    const server = this;
    const startedAt = this.#startedAt;
    return {
      stats: this.stats,
      state: () => server.#state,
      serverInfo: () => ({
        version: VERSION,
        state: server.#state,
        hot_restart_version: this.options.inheritedFds ? HOT_RESTART_VERSION : "disabled",
        command_line_options: {
          config_path: this.options.configPath ?? "",
          concurrency: this.options.concurrency,
          log_level: this.options.logLevel ?? "info",
          restart_epoch: this.options.restartEpoch ?? 0,
          mode: "Serve",
        },
        node: { id: this.#bootstrap.node.id, cluster: this.#bootstrap.node.cluster },
        uptime_current_epoch: `${Math.floor((Date.now() - startedAt) / 1000)}s`,
        uptime_all_epochs: `${Math.floor((Date.now() - startedAt) / 1000)}s`,
        runtime: `${this.runtime.name} ${this.runtime.version}`,
      }),
      configDump: (resource) => {
        const raw = this.#raw as Record<string, unknown>;
        const loadedAt = this.#configLoadedAt;
        const sr = (raw?.static_resources ?? raw?.staticResources ?? {}) as Record<string, unknown[]>;
        // Static resources carry the config version they were loaded with (reloads bump it).
        const version_info = String(this.#snapshot.version);
        const listeners = (sr.listeners ?? []).map((l) => ({ listener: l, version_info, last_updated: loadedAt }));
        const clusters = (sr.clusters ?? []).map((c) => ({ cluster: c, version_info, last_updated: loadedAt }));
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
      clustersText: () => clustersText(this.clusterManager),
      clustersJson: () => clustersJson(this.clusterManager),
      listenersText: () => this.#bootstrap.listeners.map((l) => `${l.name}::${l.address.address}:${this.listenerPort(l.name)}`).join("\n") + "\n",
      listenersJson: () => ({
        listener_statuses: this.#bootstrap.listeners.map((l) => ({
          name: l.name,
          local_address: { socket_address: { address: l.address.address, port_value: this.listenerPort(l.name) } },
        })),
      }),
      setHealthCheckFailed: (f) => {
        this.#healthCheckFailed = f;
        // Every data-plane thread's health_check filter reads it from the snapshot.
        void this.#publish({ ...this.#snapshot, version: this.#snapshot.version + 1, healthCheckFailed: f });
      },
      quit: () => {
        void this.close().then(() => this.options.onQuit?.());
      },
      reload: () => this.reloadFromSources(),
      drainListeners: () => {
        void this.inProcess?.drain();
        this.workers?.drain();
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
