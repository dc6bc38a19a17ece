/**
 * One running Legate generation's server (control side, plus — until the worker threads
 * land — the data plane on the same thread): stats, clusters, listeners, admin.
 * `startServer` is the embedding entry point; `await using` closes everything.
 */
import { Admin, type AdminContext, type AdminListener, startAdminServer } from "../admin/admin.ts";
import type { BootstrapModel, ListenerModel, PemSourceModel } from "../config/model.ts";
import { Logger } from "../core/log.ts";
import { AggregateStats, StatsStore } from "../core/stats.ts";
import { setAccessLogSink } from "../http/conn_manager/access_log.ts";
import { BatchedAccessLogSink } from "../http/conn_manager/access_log_sink.ts";
import type { Runtime } from "../runtime/types.ts";
import { ClusterManager } from "../upstream/cluster_manager.ts";
import { clustersJson, clustersText } from "../upstream/admin_clusters.ts";
import { loadConfigFromSources } from "../config/sources.ts";
import { VERSION } from "../version.ts";
import { DataPlane } from "../worker/data_plane.ts";
import type { Snapshot } from "../worker/protocol.ts";
import { WorkerSet } from "../worker/worker_set.ts";
import { loadClusterTlsFiles } from "../upstream/upstream_tls.ts";
import { ListenerTlsFiles } from "../tls/tls_files.ts";
import { HOT_RESTART_VERSION } from "../supervisor/protocol.ts";
import { XdsManager } from "../xds/xds_manager.ts";
import { xdsClustersDump, xdsEndpointsDump, xdsListenersDump, xdsRoutesDump } from "../xds/config_dump.ts";
import { grpcTransport } from "../runtime/grpc.ts";
import type { ClusterSnapshot } from "../upstream/host.ts";
import type { Cluster } from "../upstream/cluster_manager.ts";

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
  admin: AdminListener | null = null;
  #state = "PRE_INITIALIZING";
  #healthCheckFailed = false;
  readonly #startedAt = Date.now();
  readonly #sink: BatchedAccessLogSink;
  #closing: Promise<void> | null = null;
  #uptimeTimer: ReturnType<typeof setInterval> | undefined;
  #snapshot: Snapshot;
  #bootstrap: BootstrapModel;
  #raw: unknown;
  /** Static listeners with their TLS files and SDS secrets read (PEM inline); SDS watcher. */
  #staticListeners: BootstrapModel["listeners"] | undefined = undefined;
  #tlsFiles: ListenerTlsFiles | undefined = undefined;
  /** LDS listeners with their TLS files and SDS secrets read (PEM inline), and the xDS models
   *  they were read from (unchanged models are not read again); their own SDS watcher. */
  #dynamicListeners: readonly ListenerModel[] = [];
  #dynamicListenersFrom: readonly ListenerModel[] = [];
  #dynamicTlsFiles: ListenerTlsFiles | undefined = undefined;
  #configLoadedAt = new Date().toISOString();
  /** The xDS client (when the config uses dynamic_resources, RDS or EDS), else null. */
  readonly xds: XdsManager | null = null;
  /** Serialises applying xDS updates (each one awaits certificate files and the data plane). */
  #xdsChain: Promise<void> = Promise.resolve();
  #xdsLive = false;
  /** The static clusters with their certificate files read (what the cluster manager runs). */
  #staticClusters: BootstrapModel["clusters"] = [];
  /** The last snapshot of each cluster the data plane got: an updated CDS cluster keeps serving
   *  it until its replacement is warm. */
  readonly #lastClusterSnapshot = new Map<string, ClusterSnapshot>();
  /** The EDS assignment last applied to each cluster object. */
  readonly #appliedEds = new WeakMap<Cluster, string>();

  constructor(readonly runtime: Runtime, bootstrap: BootstrapModel, readonly options: ServerOptions) {
    this.#bootstrap = bootstrap;
    this.#raw = options.rawConfig;
    this.localStats = new StatsStore();
    this.stats = new AggregateStats(this.localStats, () => this.workers?.remoteStats() ?? []);
    // Control side: DNS, health checks and outlier detection run here, on the main thread.
    this.clusterManager = new ClusterManager(this.localStats, { runtime });
    this.#sink = new BatchedAccessLogSink(runtime);
    this.#snapshot = { version: 0, listeners: bootstrap.listeners, clusters: [], healthCheckFailed: false };
    if (XdsManager.needed(bootstrap)) {
      this.xds = new XdsManager({
        runtime,
        stats: this.localStats,
        grpcTransport: (cluster) => {
          const ep = cluster.endpoints[0];
          if (!ep) throw new Error(`xDS cluster ${cluster.name} has no endpoint`);
          // The cluster manager holds the model with its certificate files read.
          const t = this.clusterManager.get(cluster.name)?.model.tls ?? cluster.tls;
          const pem = (src: PemSourceModel | undefined) => (src && "inline" in src ? src.inline : undefined);
          const tls = t
            ? {
              ca: pem(t.trustedCa),
              cert: pem(t.clientCertificate?.certificateChain),
              key: pem(t.clientCertificate?.privateKey),
              serverName: t.sni || undefined,
              // Envoy: without a validation context the server certificate is not verified.
              rejectUnauthorized: t.trustedCa !== undefined,
            }
            : undefined;
          return grpcTransport({ host: ep.address.address, port: ep.address.port, tls });
        },
        onChange: () => this.#onXdsChange(),
      }, bootstrap);
    }
    if (options.concurrency === 0) {
      // Under the supervisor a listener that was not inherited (LDS) is bound with SO_REUSEPORT,
      // so the next generation can bind it beside this one during a hot restart.
      this.inProcess = new DataPlane(runtime, this.localStats, { reusePort: options.inheritedFds !== undefined, sink: this.clusterManager });
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

  /**
   * Initialises clusters, starts the data plane and admin; LIVE when this resolves.
   *
   * As in Envoy, the admin endpoint comes up first, so /ready (503 until LIVE), /stats and
   * /config_dump answer while clusters and xDS initialise. The exception is a hot restart's
   * new generation (epoch > 0): the admin socket is shared, and the old generation keeps
   * answering on it until this one is LIVE and takes over.
   */
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
    const adminFirst = this.options.inheritedFds?.["@admin"] === undefined || (this.options.restartEpoch ?? 0) === 0;
    if (adminFirst) await this.#startAdmin();
    try {
      this.#staticClusters = await loadClusterTlsFiles(this.runtime, b.clusters);
      this.#staticListeners = await this.#listenerTls().load(b.listeners);
    } catch (e) {
      await this.close();
      throw e;
    }
    if (this.#closed) throw new ServerClosedError();
    this.#applyClusters(this.#staticClusters);
    this.#state = "INITIALIZING";
    s.gauge("server.state", "never").set(3);
    // Envoy initialises clusters (first DNS answer, first health-check round) before LIVE.
    await this.clusterManager.initialized(15_000);
    if (this.xds && !this.#closed) {
      // Envoy's init manager: the first LDS/CDS answers, then the RDS/EDS they reference (each
      // bounded by its initial_fetch_timeout), then warming of the dynamic clusters.
      this.xds.start();
      await this.xds.ready();
      await this.#applyXds();
      await this.clusterManager.initialized(15_000);
    }
    // POST /quitquitquit (or a signal) while initialising: nothing more to start.
    if (this.#closed) throw new ServerClosedError();
    this.#snapshot = {
      version: 1,
      listeners: this.#listeners(),
      clusters: this.#clusterSnapshots(),
      healthCheckFailed: this.#healthCheckFailed,
      routeConfigs: this.xds?.view().routeConfigs ?? [],
    };
    // Host health and DNS changes become new snapshot versions (coalesced per task).
    this.clusterManager.onUpdate(() => {
      if (this.#initializing || this.#closed) return;
      void this.#publish({ ...this.#snapshot, version: this.#snapshot.version + 1, clusters: this.#clusterSnapshots() });
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
          this.options.inheritedFds !== undefined,
        );
        await this.workers.start();
      }
      for (const [name, port] of Object.entries(this.inProcess ? this.inProcess.ports() : this.workers!.ports)) {
        const m = this.#snapshot.listeners.find((l) => l.name === name);
        if (m) log.info(`listener '${name}' listening on ${m.address.address}:${port}`);
      }
      if (!adminFirst) await this.#startAdmin();
    } catch (e) {
      await this.close();
      throw e;
    }
    if (this.xds) {
      // Updates that arrived while the data plane started are applied now.
      this.#xdsLive = true;
      this.#onXdsChange();
    }
    if (this.#closed) {
      // close() ran while the data plane started, perhaps before it could see the workers.
      await this.workers?.close();
      await this.inProcess?.close();
      await this.admin?.close();
      throw new ServerClosedError();
    }
    this.#state = "LIVE";
    s.gauge("server.live", "never").set(1);
    s.gauge("server.state", "never").set(0);
    this.#uptimeTimer = setInterval(() => {
      s.gauge("server.uptime", "never").set(Math.floor((Date.now() - this.#startedAt) / 1000));
    }, 1000);
    log.info(`starting main dispatch loop (legate ${VERSION}, ${this.runtime.name} ${this.runtime.version}, concurrency ${this.options.concurrency})`);
  }

  /** Binds the admin endpoint (from the inherited socket under the supervisor). */
  async #startAdmin(): Promise<void> {
    const b = this.#bootstrap;
    if (!b.admin) return;
    const adminFd = this.options.inheritedFds?.["@admin"];
    this.admin = await startAdminServer(
      this.runtime,
      new Admin(this.#adminContext()),
      b.admin.address.address,
      this.options.inheritedPorts?.["@admin"] ?? b.admin.address.port,
      new Logger("admin"),
      adminFd === undefined ? undefined : this.options.dupFd!(adminFd),
    );
  }

  /** Before LIVE: clusters and xDS are still initialising; snapshots are not published yet. */
  get #initializing(): boolean {
    return this.#state === "PRE_INITIALIZING" || this.#state === "INITIALIZING";
  }

  /**
   * Applies a new, already validated config: listeners and clusters go to the data plane as a
   * new snapshot version (in-flight requests finish on the old one). Admin changes need a
   * restart. Resolves when every data-plane thread runs the new version.
   */
  async reload(bootstrap: BootstrapModel, raw: unknown): Promise<number> {
    if (this.#initializing) throw new Error(`the server is ${this.#state}; reload once it is LIVE`);
    // Certificate files are read first: one that cannot be read rejects the reload unchanged.
    const clusters = await loadClusterTlsFiles(this.runtime, bootstrap.clusters);
    this.#staticListeners = await this.#listenerTls().load(bootstrap.listeners);
    this.#bootstrap = bootstrap;
    this.#raw = raw;
    this.#configLoadedAt = new Date().toISOString();
    this.xds?.setBootstrap(bootstrap);
    this.#staticClusters = clusters;
    this.#applyClusters([...clusters, ...await this.#dynamicClusters()]);
    this.#applyEds();
    await this.#publish({
      ...this.#snapshot,
      version: this.#snapshot.version + 1,
      listeners: this.#listeners(),
      clusters: this.#clusterSnapshots(),
      routeConfigs: this.xds?.view().routeConfigs ?? [],
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

  /** Static listeners plus the warm LDS ones (with their TLS files read: #loadDynamicListenerTls). */
  #listeners(): Snapshot["listeners"] {
    const dyn = this.#dynamicListeners;
    const st = this.#staticListeners ?? this.#bootstrap.listeners;
    return dyn.length ? [...st, ...dyn] : st;
  }

  /**
   * Reads the certificate, key, CA and SDS files of the warm LDS listeners (control side, before
   * a snapshot carries them), and watches their SDS files as for static listeners. A listener
   * whose files cannot be read is not applied: its previous version keeps serving (or it is left
   * out when new), logged and counted (`listener_manager.listener_create_failure`).
   */
  async #loadDynamicListenerTls(): Promise<void> {
    const from = this.xds?.view().listeners ?? [];
    const prev = this.#dynamicListenersFrom;
    if (from.length === prev.length && from.every((l, i) => l === prev[i])) return; // unchanged
    if (from.length === 0 && this.#dynamicTlsFiles === undefined) {
      this.#dynamicListenersFrom = from;
      this.#dynamicListeners = [];
      return;
    }
    const t = this.#dynamicTlsFiles ??= this.#dynamicListenerTls();
    const { listeners, errors } = await t.loadEach(from);
    const loaded = new Map(listeners.map((l) => [l.name, l]));
    const before = new Map(this.#dynamicListeners.map((l) => [l.name, l]));
    const out: ListenerModel[] = [];
    for (const l of from) {
      const ok = loaded.get(l.name);
      if (ok) {
        out.push(ok);
        continue;
      }
      this.localStats.counter("listener_manager.listener_create_failure").inc();
      const old = before.get(l.name);
      log.error(`LDS listener '${l.name}' not applied (${old ? "its previous version keeps serving" : "not added"}): ${errors.get(l.name)}`);
      if (old) out.push(old);
    }
    this.#dynamicListenersFrom = from;
    this.#dynamicListeners = out;
  }

  /** The SDS watcher of LDS listeners: a changed secret publishes a new snapshot version. */
  #dynamicListenerTls(): ListenerTlsFiles {
    const t = new ListenerTlsFiles(this.runtime, this.localStats);
    t.onUpdate = (listeners) => {
      if (this.#closed) return;
      const fresh = new Map(listeners.map((l) => [l.name, l]));
      this.#dynamicListeners = this.#dynamicListeners.map((l) => fresh.get(l.name) ?? l);
      if (this.#initializing) return;
      void this.#publish({ ...this.#snapshot, version: this.#snapshot.version + 1, listeners: this.#listeners() });
    };
    return t;
  }

  /** Downstream TLS files; an SDS file that changes publishes a new snapshot version. */
  #listenerTls(): ListenerTlsFiles {
    if (this.#tlsFiles) return this.#tlsFiles;
    const t = this.#tlsFiles = new ListenerTlsFiles(this.runtime, this.localStats);
    t.onUpdate = (listeners) => {
      if (this.#closed) return;
      this.#staticListeners = listeners;
      if (this.#initializing) return;
      void this.#publish({ ...this.#snapshot, version: this.#snapshot.version + 1, listeners: this.#listeners() });
    };
    return t;
  }

  /** CDS clusters with their certificate files read; a cluster whose files cannot be read is
   *  left out (and logged), the others go on. */
  async #dynamicClusters(): Promise<BootstrapModel["clusters"]> {
    const models = this.xds?.view().clusters ?? [];
    const out: BootstrapModel["clusters"][number][] = [];
    for (const m of models) {
      try {
        out.push(...await loadClusterTlsFiles(this.runtime, [m]));
      } catch (e) {
        log.error(`CDS cluster '${m.name}' not applied: ${e instanceof Error ? e.message : String(e)}`);
        const old = this.clusterManager.get(m.name);
        if (old) out.push(old.model);
      }
    }
    return out;
  }

  /** Hands EDS assignments to their clusters (once per assignment per cluster object). */
  #applyEds(): void {
    if (!this.xds) return;
    for (const [name, cla] of this.xds.view().endpoints) {
      const c = this.clusterManager.get(name);
      if (!c || c.model.type !== "EDS") continue;
      const key = JSON.stringify(cla.endpoints);
      if (this.#appliedEds.get(c) === key) continue;
      this.#appliedEds.set(c, key);
      this.clusterManager.updateEndpoints(name, cla.endpoints);
    }
  }

  /** The data plane's clusters: warm ones as they are now; a CDS cluster still warming is left
   *  out, or keeps the snapshot of the version it replaces. */
  #clusterSnapshots(): ClusterSnapshot[] {
    const dynamic = new Set(this.xds?.clusters.keys() ?? []);
    const out: ClusterSnapshot[] = [];
    for (const snap of this.clusterManager.snapshot()) {
      const c = this.clusterManager.get(snap.name);
      if (!dynamic.has(snap.name) || c?.initialized) {
        out.push(snap);
        if (dynamic.has(snap.name)) this.#lastClusterSnapshot.set(snap.name, snap);
      } else {
        const prev = this.#lastClusterSnapshot.get(snap.name);
        if (prev) out.push(prev);
      }
    }
    for (const name of [...this.#lastClusterSnapshot.keys()]) if (!dynamic.has(name)) this.#lastClusterSnapshot.delete(name);
    return out;
  }

  /** Applies the xDS view to the cluster manager (clusters, endpoints) and reads the TLS files
   *  of the LDS listeners. */
  async #applyXds(): Promise<void> {
    this.#applyClusters([...this.#staticClusters, ...await this.#dynamicClusters()]);
    this.#applyEds();
    await this.#loadDynamicListenerTls();
  }

  /** An xDS update arrived: apply it and publish a new snapshot (one update at a time). */
  #onXdsChange(): void {
    if (!this.#xdsLive) return; // start() applies the initial state, then opens this path
    this.#xdsChain = this.#xdsChain.then(async () => {
      if (this.#closed) return;
      await this.#applyXds();
      await this.#publish({
        ...this.#snapshot,
        version: this.#snapshot.version + 1,
        listeners: this.#listeners(),
        clusters: this.#clusterSnapshots(),
        routeConfigs: this.xds!.view().routeConfigs,
      });
    }).catch((e) => log.error(`applying an xDS update failed: ${e instanceof Error ? e.stack : String(e)}`));
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
    // The admin port passes to the new generation too (requests already sent here are answered).
    await this.admin?.stopAccepting();
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
      if (this.#initializing) throw new Error(`the server is ${this.#state}; reload once it is LIVE`);
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
      this.xds?.close();
      this.#tlsFiles?.close();
      this.#dynamicTlsFiles?.close();
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
    // The bound port once the data plane listens; before that (initialising), the configured one.
    const boundPort = (l: ListenerModel): number => {
      const ports = this.inProcess ? this.inProcess.ports() : this.workers?.ports ?? {};
      return ports[l.name] ?? l.address.port;
    };
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
          { "@type": "type.googleapis.com/envoy.admin.v3.ClustersConfigDump", static_clusters: clusters, ...xdsClustersDump(this.xds) },
          { "@type": "type.googleapis.com/envoy.admin.v3.ListenersConfigDump", static_listeners: listeners, ...xdsListenersDump(this.xds) },
          ...(this.xds ? [xdsRoutesDump(this.xds), xdsEndpointsDump(this.xds)] : []),
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
      listenersText: () => this.#snapshot.listeners.map((l) => `${l.name}::${l.address.address}:${boundPort(l)}`).join("\n") + "\n",
      listenersJson: () => ({
        listener_statuses: this.#snapshot.listeners.map((l) => ({
          name: l.name,
          local_address: { socket_address: { address: l.address.address, port_value: boundPort(l) } },
        })),
      }),
      setHealthCheckFailed: (f) => {
        this.#healthCheckFailed = f;
        // Before LIVE there is no data plane yet: its first snapshot carries the flag.
        if (this.#initializing) return;
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

/** start() was cut short by close() (POST /quitquitquit or a signal while initialising). */
export class ServerClosedError extends Error {
  constructor() {
    super("the server was closed while it was initialising");
    this.name = "ServerClosedError";
  }
}

/** Starts a server for `bootstrap` on `runtime`; it is LIVE when the promise resolves. */
export async function startServer(runtime: Runtime, bootstrap: BootstrapModel, options: ServerOptions): Promise<Server> {
  const s = new Server(runtime, bootstrap, options);
  await s.start();
  return s;
}
