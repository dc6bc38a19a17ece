/**
 * Worker side of the cluster manager: builds each cluster's info, stats, load balancer, circuit
 * breakers and connection pools from the control side's plain-data `ClusterSnapshot`s. Nothing
 * here awaits or talks to the control side except through `UpstreamEventSink` (host results
 * for outlier detection). Pools of hosts that stay in a new snapshot are kept.
 */
import { StatsStore } from "../core/stats.ts";
import type { ClusterModel } from "../config/model.ts";
import type { Runtime } from "../runtime/types.ts";
import type { Cluster, ClusterManager } from "./cluster_manager.ts";
import { ClusterStats } from "./cluster_stats.ts";
import { Http1ConnPool, type PoolCallbacks, type PoolSettings } from "./conn_pool/http1_pool.ts";
import { type ClusterSnapshot, Host } from "./host.ts";
import { createLoadBalancer, type LbContext, type LoadBalancer } from "./load_balancer/load_balancer.ts";
import { type Random, seededRandom } from "./load_balancer/prng.ts";
import type { HostResultKind, UpstreamEventSink } from "./outlier_detection.ts";
import { tlsConnectOptions } from "./upstream_tls.ts";
import { ResourceKind, ResourceManager } from "./resource_manager.ts";

/** Immutable facts about a cluster that one worker shares between its streams. */
export class ClusterInfo {
  readonly name: string;
  readonly stats: ClusterStats;
  readonly poolSettings: PoolSettings;
  /** DEFAULT-priority circuit breakers (routes have no priority yet). */
  readonly resources: ResourceManager;
  /** HIGH-priority circuit breakers. */
  readonly resourcesHigh: ResourceManager;
  readonly outlierEnabled: boolean;
  constructor(readonly model: ClusterModel, store: StatsStore, resources: SharedArrayBuffer | ArrayBuffer, readonly configVersion = 1) {
    this.name = model.name;
    this.stats = new ClusterStats(store, model.name);
    this.poolSettings = Object.freeze({
      connectTimeoutMs: model.connectTimeoutMs,
      bufferLimitBytes: model.perConnectionBufferLimitBytes,
      maxIdle: 1024,
      maxRequestsPerConnection: model.maxRequestsPerConnection ?? 0,
      idleTimeoutMs: model.idleTimeoutMs ?? 0,
      tls: model.tls && tlsConnectOptions(model.name, model.tls, store),
    });
    const cb = model.circuitBreakers ?? { default: DEFAULT_CB, high: DEFAULT_CB };
    this.resources = new ResourceManager(resources, 0, cb.default, store, model.name);
    this.resourcesHigh = new ResourceManager(resources, 1, cb.high, store, model.name);
    this.outlierEnabled = model.outlierDetection !== undefined;
  }
}

const DEFAULT_CB = Object.freeze({ maxConnections: 1024, maxPendingRequests: 1024, maxRequests: 1024, maxRetries: 3 });

/** One cluster as a worker sees it. */
export class ThreadLocalCluster implements PoolCallbacks {
  hosts: readonly Host[] = [];
  #lb: LoadBalancer;
  readonly #pools = new Map<string, Http1ConnPool>();
  /** Hosts whose last reported result was a failure (so only the next success is sent). */
  readonly #failing = new Set<string>();

  constructor(readonly info: ClusterInfo, readonly runtime: Runtime, readonly random: Random, readonly seed: number, readonly sink: UpstreamEventSink | null) {
    this.#lb = createLoadBalancer([], info.model, random, seed);
  }

  /** Installs a new host set (same cluster settings): rebuilds the LB, keeps pools of hosts
   *  that remain, drains pools of removed hosts. */
  setHosts(snap: ClusterSnapshot): void {
    const hosts = snap.hosts.map((h) => Host.fromSnapshot(h));
    const byKey = new Map<string, Host>();
    for (const h of this.hosts) byKey.set(h.key, h);
    const keep = new Set<string>();
    for (const h of hosts) {
      keep.add(h.key);
      const old = byKey.get(h.key);
      if (old) h.activeRequests = old.activeRequests;
      const pool = this.#pools.get(h.key);
      if (pool) {
        if (pool.host.address !== h.address || pool.host.port !== h.port) {
          // LOGICAL_DNS: the address changed; new connections go to the new one.
          pool.drain();
          this.#pools.delete(h.key);
        } else pool.host = h;
      }
    }
    for (const [k, pool] of this.#pools) {
      if (!keep.has(k)) {
        pool.drain();
        this.#pools.delete(k);
      }
    }
    this.hosts = hosts;
    this.#lb = createLoadBalancer(hosts, this.info.model, this.random, this.seed);
  }

  /** The next host by the cluster's load balancer, or null if it has none. */
  chooseHost(ctx?: LbContext): Host | null {
    return this.#lb.chooseHost(ctx);
  }

  /** The HTTP/1.1 pool for `host` (created on first use). */
  httpPool(host: Host): Http1ConnPool {
    let p = this.#pools.get(host.key);
    if (!p) {
      p = new Http1ConnPool(host, this.info.poolSettings, this.info.stats, this.runtime, this.info.resources, this);
      this.#pools.set(host.key, p);
    }
    return p;
  }

  /** Tries to take a retry from the max_retries circuit breaker; false = overflow (counted). */
  tryRetry(): boolean {
    const r = this.info.resources;
    if (!r.canCreate(ResourceKind.Retries)) {
      this.info.stats.upstreamRqRetryOverflow.inc();
      return false;
    }
    r.inc(ResourceKind.Retries);
    return true;
  }

  /** Gives back a retry taken with `tryRetry` (when the retried request ends). */
  retryDone(): void {
    this.info.resources.dec(ResourceKind.Retries);
  }

  /** PoolCallbacks: a host result, forwarded to the outlier detector (failures always, a success
   *  only after a failure, so healthy traffic sends nothing). */
  onHostResult(host: Host, kind: HostResultKind): void {
    if (!this.info.outlierEnabled || this.sink === null) return;
    if (kind === "success") {
      if (!this.#failing.delete(host.key)) return;
    } else this.#failing.add(host.key);
    this.sink.onHostResult(this.info.name, host.key, kind);
  }

  /** Upstream connections open on this worker, over all hosts. */
  get connectionCount(): number {
    let n = 0;
    for (const p of this.#pools.values()) n += p.size;
    return n;
  }

  /** Closes idle connections; busy ones close when their exchange ends. */
  drain(): void {
    for (const p of this.#pools.values()) p.drain();
  }

  /** Closes every pooled connection. */
  closeAll(): void {
    for (const p of this.#pools.values()) p.closeAll();
  }
}

/** Options of the worker-side manager. */
export interface ThreadLocalClusterManagerOptions {
  /** The worker's stats store (cluster stats are created in it). */
  stats?: StatsStore;
  /** Where host results go (outlier detection on the control side). */
  sink?: UpstreamEventSink;
  /** Seed for this worker's load balancer randomness. */
  seed?: number;
}

/** The worker's view of every cluster. */
export class ThreadLocalClusterManager implements UpstreamEventSink {
  readonly #clusters = new Map<string, ThreadLocalCluster>();
  #seed: number;
  #stats: StatsStore | undefined;
  #sink: UpstreamEventSink | null;
  readonly #random: Random;
  /** In-process mode: the control-side clusters this one follows (until snapshots arrive from
   *  the main thread), and the managers it listens to. */
  #bridged: readonly Cluster[] = [];
  readonly #subscriptions = new Map<ClusterManager, () => void>();
  readonly #retired = new Set<ThreadLocalCluster>();

  constructor(readonly runtime: Runtime, opts: ThreadLocalClusterManagerOptions = {}) {
    this.#stats = opts.stats;
    this.#sink = opts.sink ?? null;
    this.#seed = opts.seed ?? ((Math.random() * 0x7fffffff) | 0);
    this.#random = seededRandom(this.#seed);
  }

  /** Sets where host results go. */
  setEventSink(sink: UpstreamEventSink | null): void {
    this.#sink = sink;
  }

  /** UpstreamEventSink: forwards a host result to the current sink. */
  onHostResult(cluster: string, hostKey: string, kind: HostResultKind): void {
    this.#sink?.onHostResult(cluster, hostKey, kind);
  }

  /**
   * Installs the clusters of a new snapshot. Unchanged settings keep the cluster (and its pools
   * for hosts that remain); changed settings rebuild it and drain the old pools.
   *
   * In-process mode: given control-side `Cluster` objects (`ClusterManager.all()`), it follows
   * them — gives their managers the runtime (starting DNS and health checks), re-applies their
   * snapshots on every change, routes host results to them, and closes clusters dropped later.
   */
  update(clusters: readonly ClusterSnapshot[] | readonly Cluster[]): void {
    const first = clusters[0];
    if (first !== undefined && "manager" in first) {
      this.#bridge(clusters as readonly Cluster[]);
      return;
    }
    if (clusters.length === 0 && this.#bridged.length > 0) {
      this.#bridge([]);
      return;
    }
    this.#apply(clusters as readonly ClusterSnapshot[]);
  }

  #bridge(clusters: readonly Cluster[]): void {
    const keep = new Set(clusters);
    for (const old of this.#bridged) if (!keep.has(old)) old.close();
    this.#bridged = clusters;
    const managers = new Set(clusters.map((c) => c.manager));
    for (const [cm, unsub] of this.#subscriptions) {
      if (!managers.has(cm)) {
        unsub();
        this.#subscriptions.delete(cm);
      }
    }
    for (const cm of managers) {
      this.#stats ??= cm.store;
      if (!this.#subscriptions.has(cm)) {
        this.#subscriptions.set(cm, cm.onUpdate(() => this.#apply(this.#bridged.map((c) => c.snapshot()))));
      }
      cm.setRuntime(this.runtime);
    }
    if (this.#sink === null || this.#sink instanceof BridgeSink) this.#sink = new BridgeSink(() => this.#bridged);
    this.#apply(clusters.map((c) => c.snapshot()));
  }

  #apply(snaps: readonly ClusterSnapshot[]): void {
    const store = (this.#stats ??= new StatsStore());
    for (const r of this.#retired) if (r.connectionCount === 0) this.#retired.delete(r);
    const next = new Map<string, ThreadLocalCluster>();
    for (const s of snaps) {
      let tlc = this.#clusters.get(s.name);
      if (!tlc || tlc.info.configVersion !== s.configVersion || tlc.info.model !== s.settings && !sameModel(tlc.info.model, s.settings)) {
        if (tlc) this.#retire(tlc);
        const info = new ClusterInfo(s.settings, store, s.resources, s.configVersion);
        tlc = new ThreadLocalCluster(info, this.runtime, this.#random, this.#seed++, this);
      }
      tlc.setHosts(s);
      next.set(s.name, tlc);
    }
    for (const [name, old] of this.#clusters) {
      if (next.get(name) !== old) this.#retire(old);
    }
    this.#clusters.clear();
    for (const [k, v] of next) this.#clusters.set(k, v);
  }

  /** A replaced or removed cluster: idle connections close now, busy ones when done; kept
   *  until then so shutdown can close them too. */
  #retire(tlc: ThreadLocalCluster): void {
    if (this.#retired.has(tlc)) return;
    tlc.drain();
    this.#retired.add(tlc);
  }

  /** The cluster named `name`, or undefined (the router answers 503 NC). */
  get(name: string): ThreadLocalCluster | undefined {
    return this.#clusters.get(name);
  }

  /** Every cluster. */
  all(): IterableIterator<ThreadLocalCluster> {
    return this.#clusters.values();
  }

  /** Closes every pooled connection (worker shutdown); in-process mode also stops the
   *  followed control-side manager's DNS and health checks. */
  closeAll(): void {
    for (const c of this.#clusters.values()) c.closeAll();
    for (const c of this.#retired) c.closeAll();
    this.#retired.clear();
    for (const unsub of this.#subscriptions.values()) unsub();
    this.#subscriptions.clear();
    for (const c of this.#bridged) c.close();
    this.#bridged = [];
  }
}

/** In-process sink: host results go to the outlier detector of the followed cluster. */
class BridgeSink implements UpstreamEventSink {
  constructor(readonly clusters: () => readonly Cluster[]) {}
  onHostResult(cluster: string, hostKey: string, kind: HostResultKind): void {
    for (const c of this.clusters()) if (c.name === cluster) c.outlier?.onResult(hostKey, kind);
  }
}

/** Structural equality of two models that went through structured clone (worker side). */
function sameModel(a: ClusterModel, b: ClusterModel): boolean {
  return JSON.stringify(a, replacer) === JSON.stringify(b, replacer);
}

function replacer(_k: string, v: unknown): unknown {
  return v instanceof Uint8Array ? Array.from(v) : v;
}
