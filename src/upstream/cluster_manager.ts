/**
 * Cluster manager, control side: owns every cluster's discovery (STATIC, STRICT_DNS,
 * LOGICAL_DNS), active health checks and outlier detection, and publishes each cluster as a
 * plain-data `ClusterSnapshot` (`snapshot()`, `onUpdate()`) for the workers'
 * `ThreadLocalClusterManager`. Host health flags combine EDS/config health status, active HC and
 * outlier ejection. Workers report per-host results back through `UpstreamEventSink`.
 */
import { tlsConnectOptions } from "./upstream_tls.ts";
import type { ClusterModel, EndpointModel } from "../config/model.ts";
import { type Clock, realClock } from "../core/clock.ts";
import { Logger } from "../core/log.ts";
import type { Counter, Gauge, StatsStore } from "../core/stats.ts";
import type { Runtime } from "../runtime/types.ts";
import { HealthChecker, HealthCheckStats } from "./health_checker.ts";
import { type ClusterSnapshot, formatHealthFlags, HealthFlag, Host, type HostSnapshot, UNHEALTHY_FLAGS } from "./host.ts";
import { type Random, seededRandom } from "./load_balancer/prng.ts";
import { type HostResultKind, OutlierDetector, OutlierStats, type UpstreamEventSink } from "./outlier_detection.ts";
import { allocateResources } from "./resource_manager.ts";

const log = new Logger("upstream");

/** `cluster.<name>.*` stats the control side owns. */
class ControlStats {
  readonly membershipTotal: Gauge;
  readonly membershipHealthy: Gauge;
  readonly membershipDegraded: Gauge;
  readonly membershipExcluded: Gauge;
  readonly updateAttempt: Counter;
  readonly updateSuccess: Counter;
  readonly updateFailure: Counter;
  readonly updateEmpty: Counter;
  readonly updateNoRebuild: Counter;
  readonly upstreamCxTotal: Counter;
  constructor(store: StatsStore, name: string) {
    const p = `cluster.${name}.`;
    this.membershipTotal = store.gauge(p + "membership_total", "never");
    this.membershipHealthy = store.gauge(p + "membership_healthy", "never");
    this.membershipDegraded = store.gauge(p + "membership_degraded", "never");
    this.membershipExcluded = store.gauge(p + "membership_excluded", "never");
    this.updateAttempt = store.counter(p + "update_attempt");
    this.updateSuccess = store.counter(p + "update_success");
    this.updateFailure = store.counter(p + "update_failure");
    this.updateEmpty = store.counter(p + "update_empty");
    this.updateNoRebuild = store.counter(p + "update_no_rebuild");
    this.upstreamCxTotal = store.counter(p + "upstream_cx_total");
  }
}

/** Options of the control-side cluster manager. */
export interface ClusterManagerOptions {
  /** Needed for DNS and health checks; may be given later with `setRuntime`. */
  runtime?: Runtime;
  clock?: Clock;
  /** Random source for jitter and enforcement (seeded in tests). */
  random?: Random;
}

/** A host from discovery, before health is applied. */
interface DiscoveredHost {
  key: string;
  address: string;
  port: number;
  endpoint: EndpointModel;
}

const EDS_FLAGS: Record<string, number> = {
  UNHEALTHY: HealthFlag.FailedEdsHealth,
  DRAINING: HealthFlag.FailedEdsHealth,
  TIMEOUT: HealthFlag.FailedEdsHealth,
  DEGRADED: HealthFlag.DegradedEdsHealth,
};

/** One cluster, control side. */
export class Cluster {
  readonly name: string;
  readonly stats: ControlStats;
  /** Read by the admin page: `info.name`. */
  readonly info: { readonly name: string; readonly model: ClusterModel };
  readonly resources = allocateResources();
  configVersion = 1;
  discovered: DiscoveredHost[] = [];
  healthChecker: HealthChecker | null = null;
  outlier: OutlierDetector | null = null;
  /** First DNS resolution attempted (always true for STATIC). */
  dnsDone: boolean;
  #dnsTimer: unknown = undefined;
  #snapshot: ClusterSnapshot | null = null;
  #hosts: Host[] | null = null;
  #closed = false;

  constructor(readonly model: ClusterModel, readonly manager: ClusterManager) {
    this.name = model.name;
    this.info = { name: model.name, model };
    this.stats = new ControlStats(manager.store, model.name);
    this.dnsDone = model.type === "STATIC";
    if (model.type === "STATIC") {
      this.discovered = model.endpoints.map((e) => {
        const h = new Host(e.address.address, e.address.port, e.weight);
        return { key: h.addressString, address: e.address.address, port: e.address.port, endpoint: e };
      });
    }
  }

  /** True once the first discovery and the first health check round are done (warming over). */
  get initialized(): boolean {
    return this.dnsDone && (this.healthChecker === null || this.healthChecker.firstRoundDone);
  }

  /** Starts DNS, health checks and outlier detection (needs the runtime). */
  start(runtime: Runtime): void {
    const m = this.model;
    const mgr = this.manager;
    if (m.healthChecks.length > 0) {
      if (m.healthChecks.length > 1) log.warn(`cluster ${m.name}: only the first of ${m.healthChecks.length} health checks is used`);
      this.healthChecker = new HealthChecker(
        m.healthChecks[0]!,
        m.name,
        runtime,
        mgr.clock,
        new HealthCheckStats(mgr.store, m.name),
        mgr.random,
        () => this.stats.upstreamCxTotal.value > 0,
        () => this.changed(),
        (key) => this.outlier?.uneject(key),
        m.tls ? tlsConnectOptions(m.name, m.tls, mgr.store) : undefined,
      );
    }
    if (m.outlierDetection) {
      this.outlier = new OutlierDetector(m.outlierDetection, mgr.clock, new OutlierStats(mgr.store, m.name), mgr.random, () => this.changed());
    }
    this.#applyDiscovered();
    if (m.type === "STRICT_DNS" || m.type === "LOGICAL_DNS") void this.#resolve(runtime);
  }

  #applyDiscovered(): void {
    const m = this.model;
    this.healthChecker?.setHosts(this.discovered.map((d) => ({
      key: d.key,
      address: d.address,
      port: d.endpoint.healthCheckPort || d.port,
    })));
    this.outlier?.setHosts(this.discovered.map((d) => d.key));
    void m;
    this.changed();
  }

  async #resolve(runtime: Runtime): Promise<void> {
    if (this.#closed) return;
    const m = this.model;
    this.stats.updateAttempt.inc();
    let ttl = Infinity;
    let failed = false;
    const found: DiscoveredHost[] = [];
    const seen = new Set<string>();
    const endpoints = m.endpoints;
    for (const e of endpoints) {
      let addrs: { address: string; ttlSeconds?: number }[] = [];
      try {
        addrs = await resolveFamily(runtime, e.address.address, m.dnsLookupFamily);
      } catch (err) {
        failed = true;
        log.debug(`cluster ${m.name}: DNS resolution of ${e.address.address} failed: ${(err as Error).message}`);
        continue;
      }
      if (m.type === "LOGICAL_DNS") addrs = addrs.slice(0, 1);
      for (const a of addrs) {
        if (a.ttlSeconds !== undefined) ttl = Math.min(ttl, a.ttlSeconds);
        const h = new Host(a.address, e.address.port, e.weight);
        const key = m.type === "LOGICAL_DNS" ? `${e.address.address}:${e.address.port}` : h.addressString;
        if (seen.has(key)) continue;
        seen.add(key);
        found.push({ key, address: a.address, port: e.address.port, endpoint: e });
      }
    }
    if (this.#closed) return;
    if (failed) this.stats.updateFailure.inc();
    else this.stats.updateSuccess.inc();
    if (found.length === 0 && !failed) this.stats.updateEmpty.inc();
    // On failure Envoy keeps the last good hosts; an endpoint that did resolve still counts.
    const keep = failed && found.length === 0 ? this.discovered : found;
    const same = keep.length === this.discovered.length &&
      keep.every((d, i) => d.key === this.discovered[i]!.key && d.address === this.discovered[i]!.address);
    const first = !this.dnsDone;
    this.dnsDone = true;
    if (!same) {
      this.discovered = keep;
      this.#applyDiscovered();
    } else {
      this.stats.updateNoRebuild.inc();
      if (first) this.changed();
    }
    let next = failed ? m.dnsFailureRefreshRateMs : m.dnsRefreshRateMs;
    if (!failed && m.respectDnsTtl && Number.isFinite(ttl)) next = Math.max(1000, ttl * 1000);
    this.#dnsTimer = this.manager.clock.setTimeout(() => void this.#resolve(runtime), next);
  }

  /** Replaces the endpoints (an EDS ClusterLoadAssignment; endpoints must be IP addresses).
   *  Hosts that stay keep their health-check and outlier state. */
  setEndpoints(endpoints: readonly EndpointModel[]): void {
    this.discovered = endpoints.map((e) => {
      const h = new Host(e.address.address, e.address.port, e.weight);
      return { key: h.addressString, address: e.address.address, port: e.address.port, endpoint: e };
    });
    this.dnsDone = true;
    this.#applyDiscovered();
  }

  /** Marks the snapshot stale and tells the manager. */
  changed(): void {
    this.#snapshot = null;
    this.#hosts = null;
    this.manager.notify();
  }

  /** Health flags of host `key` now. */
  flagsOf(d: DiscoveredHost): number {
    let f = EDS_FLAGS[d.endpoint.healthStatus] ?? 0;
    const hc = this.healthChecker;
    if (hc !== null) {
      if (hc.isFailed(d.key)) f |= HealthFlag.FailedActiveHc;
      if (hc.isPending(d.key)) f |= HealthFlag.PendingActiveHc;
    }
    if (this.outlier?.isEjected(d.key)) f |= HealthFlag.FailedOutlierCheck;
    return f;
  }

  /** This cluster as plain data (cached until something changes). */
  snapshot(): ClusterSnapshot {
    if (this.#snapshot) return this.#snapshot;
    const hosts: HostSnapshot[] = this.discovered.map((d) => ({
      key: d.key,
      address: d.address,
      port: d.port,
      weight: d.endpoint.weight,
      priority: d.endpoint.priority,
      locality: d.endpoint.locality,
      localityWeight: d.endpoint.localityWeight,
      healthFlags: this.flagsOf(d),
      hostname: this.model.type === "STRICT_DNS" || this.model.type === "LOGICAL_DNS" ? d.endpoint.address.address : d.endpoint.hostname,
    }));
    let healthy = 0, degraded = 0;
    for (const h of hosts) {
      if ((h.healthFlags & UNHEALTHY_FLAGS) === 0) healthy++;
      if (h.healthFlags & HealthFlag.DegradedEdsHealth) degraded++;
    }
    this.stats.membershipTotal.set(hosts.length);
    this.stats.membershipHealthy.set(healthy);
    this.stats.membershipDegraded.set(degraded);
    this.#snapshot = {
      name: this.name,
      configVersion: this.configVersion,
      settings: this.model,
      hosts,
      resources: this.resources,
      initialized: this.initialized,
    };
    return this.#snapshot;
  }

  /** The current hosts as Host objects (admin output). */
  get hosts(): readonly Host[] {
    return (this.#hosts ??= this.snapshot().hosts.map((h) => Host.fromSnapshot(h)));
  }

  /** Stops DNS, health checks and outlier timers. */
  close(): void {
    this.#closed = true;
    if (this.#dnsTimer !== undefined) this.manager.clock.clearTimeout(this.#dnsTimer);
    this.healthChecker?.close();
    this.outlier?.close();
  }
}

async function resolveFamily(runtime: Runtime, name: string, family: ClusterModel["dnsLookupFamily"]): Promise<{ address: string; ttlSeconds?: number }[]> {
  const tryOrder = async (a: "v4" | "v6", b: "v4" | "v6") => {
    let first: { address: string; ttlSeconds?: number }[] = [];
    let err: unknown = undefined;
    try {
      first = await runtime.resolve(name, a);
    } catch (e) {
      err = e;
    }
    if (first.length > 0) return first;
    try {
      const second = await runtime.resolve(name, b);
      if (second.length > 0 || err === undefined) return second;
    } catch (e) {
      err ??= e;
    }
    if (err !== undefined) throw err;
    return [];
  };
  switch (family) {
    case "V4_ONLY":
      return runtime.resolve(name, "v4");
    case "V6_ONLY":
      return runtime.resolve(name, "v6");
    case "V4_PREFERRED":
      return tryOrder("v4", "v6");
    case "ALL":
      return runtime.resolve(name, "auto");
    default:
      return tryOrder("v6", "v4");
  }
}

/** Owns every cluster (control side). */
export class ClusterManager implements UpstreamEventSink {
  readonly #clusters = new Map<string, Cluster>();
  readonly #listeners: (() => void)[] = [];
  #notifyScheduled = false;
  #runtime: Runtime | undefined;
  #started = false;
  #closed = false;
  readonly clock: Clock;
  readonly random: Random;
  readonly #activeClusters: Gauge;
  readonly #warmingClusters: Gauge;
  readonly #initWaiters: (() => void)[] = [];

  constructor(readonly store: StatsStore, opts: ClusterManagerOptions = {}) {
    this.clock = opts.clock ?? realClock;
    this.random = opts.random ?? Math.random;
    this.#runtime = opts.runtime;
    this.#activeClusters = store.gauge("cluster_manager.active_clusters", "never");
    this.#warmingClusters = store.gauge("cluster_manager.warming_clusters", "never");
  }

  /** The runtime DNS and health checks use; starts them if clusters were added before. */
  setRuntime(runtime: Runtime): void {
    if (this.#runtime) return;
    this.#runtime = runtime;
    this.start();
  }

  /** True once a runtime is known. */
  get hasRuntime(): boolean {
    return this.#runtime !== undefined;
  }

  /** Adds or replaces clusters from static config. With a runtime they start at once. */
  addStaticClusters(models: readonly ClusterModel[]): void {
    for (const m of models) {
      const old = this.#clusters.get(m.name);
      const c = new Cluster(m, this);
      if (old) {
        old.close();
        c.configVersion = old.configVersion + 1;
        (c as { resources: SharedArrayBuffer | ArrayBuffer }).resources = old.resources;
      }
      this.#clusters.set(m.name, c);
      if (this.#started && this.#runtime) c.start(this.#runtime);
    }
    this.#activeClusters.set(this.#clusters.size);
    if (this.#runtime && !this.#started) this.start();
    this.notify();
  }

  /** Removes a cluster (CDS removal). */
  removeCluster(name: string): boolean {
    const c = this.#clusters.get(name);
    if (!c) return false;
    c.close();
    this.#clusters.delete(name);
    this.#activeClusters.set(this.#clusters.size);
    this.notify();
    return true;
  }

  /** Starts DNS and health checks of every cluster (needs the runtime). Idempotent. */
  start(): void {
    if (this.#started || !this.#runtime || this.#closed) return;
    this.#started = true;
    for (const c of this.#clusters.values()) c.start(this.#runtime);
  }

  /** Resolves when every cluster finished warming (first DNS answer and first health-check
   *  round), or after `timeoutMs` (Envoy waits for warming before the server goes LIVE). */
  initialized(timeoutMs = 15_000): Promise<void> {
    if (this.#allInitialized()) return Promise.resolve();
    return new Promise((resolve) => {
      const t = this.clock.setTimeout(() => resolve(), timeoutMs);
      this.#initWaiters.push(() => {
        this.clock.clearTimeout(t);
        resolve();
      });
    });
  }

  #allInitialized(): boolean {
    let warming = 0;
    for (const c of this.#clusters.values()) if (!c.initialized) warming++;
    this.#warmingClusters.set(warming);
    return warming === 0;
  }

  /** The cluster named `name`. */
  get(name: string): Cluster | undefined {
    return this.#clusters.get(name);
  }

  /** Every cluster, in insertion order. */
  all(): Cluster[] {
    return [...this.#clusters.values()];
  }

  /** Every cluster as plain data for the workers. */
  snapshot(): ClusterSnapshot[] {
    const out: ClusterSnapshot[] = [];
    for (const c of this.#clusters.values()) out.push(c.snapshot());
    return out;
  }

  /** Calls `cb` (coalesced, after the current task) whenever any cluster's snapshot changed.
   *  Returns an unsubscribe function. */
  onUpdate(cb: () => void): () => void {
    this.#listeners.push(cb);
    return () => {
      const i = this.#listeners.indexOf(cb);
      if (i >= 0) this.#listeners.splice(i, 1);
    };
  }

  /** @internal a cluster changed. */
  notify(): void {
    if (this.#notifyScheduled || this.#closed) return;
    this.#notifyScheduled = true;
    queueMicrotask(() => {
      this.#notifyScheduled = false;
      if (this.#closed) return;
      for (const cb of [...this.#listeners]) {
        try {
          cb();
        } catch (e) {
          log.error(`cluster update listener failed: ${(e as Error)?.message ?? e}`);
        }
      }
      if (this.#initWaiters.length && this.#allInitialized()) {
        for (const w of this.#initWaiters.splice(0)) w();
      }
    });
  }

  /** Applies an endpoint update (EDS) to cluster `name`; false when there is no such cluster. */
  updateEndpoints(name: string, endpoints: readonly EndpointModel[]): boolean {
    const c = this.#clusters.get(name);
    if (!c) return false;
    c.setEndpoints(endpoints);
    return true;
  }

  /** UpstreamEventSink: a worker's result for one host feeds outlier detection. */
  onHostResult(cluster: string, hostKey: string, kind: HostResultKind): void {
    this.#clusters.get(cluster)?.outlier?.onResult(hostKey, kind);
  }

  /** Stops DNS, health checks and outlier detection. */
  close(): void {
    this.#closed = true;
    for (const c of this.#clusters.values()) c.close();
    for (const w of this.#initWaiters.splice(0)) w();
  }
}

export { formatHealthFlags };
