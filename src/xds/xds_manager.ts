/**
 * The xDS state of one server (control side): which config sources exist (ADS, per-type gRPC,
 * REST, files), what to subscribe to on each (LDS/CDS wildcard; RDS/EDS names referenced by the
 * listeners and clusters in force), the resources received, per-resource acceptance and errors,
 * warming, and the merged view the server publishes to the data plane.
 *
 * Envoy's rules followed here (xds_protocol, listener and cluster managers):
 * - A response's valid resources are applied and its invalid ones rejected (the response is
 *   NACKed with every problem in error_detail); a rejected resource keeps its previous version.
 * - SotW LDS/CDS: a listener or cluster absent from a response is removed. RDS/EDS are removed
 *   when nothing references them any more. Delta: `removed_resources`.
 * - Warming: a listener is used once every route config its HCMs name has arrived (or its
 *   initial_fetch_timeout passed); until then the version it replaces keeps serving. A cluster
 *   is used once its endpoints (EDS) arrived and its first health-check round ended (the server
 *   keeps serving the previous version of an updated cluster until then).
 */
import { create } from "@bufbuild/protobuf";
import type { Transport } from "@connectrpc/connect";
import { Logger } from "../core/log.ts";
import type { Counter, Gauge, StatsStore } from "../core/stats.ts";
import type { ClusterLoadAssignmentModel } from "../config/cluster.ts";
import type {
  BootstrapModel,
  ClusterModel,
  ConfigSourceModel,
  FilterChainModel,
  HcmModel,
  ListenerModel,
  RouteConfigModel,
} from "../config/model.ts";
import { type Node, NodeSchema } from "../gen/envoy/config/core/v3/base_pb.ts";
import type { Runtime } from "../runtime/types.ts";
import { VERSION } from "../version.ts";
import { FileSource } from "./client/file_source.ts";
import { GrpcMux } from "./client/grpc_mux.ts";
import type { DecodedResource, KindModel, ResourceKind } from "./client/resources.ts";
import { RestPoller } from "./client/rest.ts";
import type { Interest, XdsWatcher } from "./client/watcher.ts";

const log = new Logger("config");

const HCM_TYPE_URL = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager";

/** One accepted resource. */
export interface ResourceEntry<K extends ResourceKind> {
  readonly name: string;
  readonly version: string;
  readonly model: KindModel[K];
  readonly raw: unknown;
  readonly lastUpdated: string;
}

/** The last rejection of a resource (for /config_dump's error_state). */
export interface ResourceError {
  readonly name: string;
  readonly version: string;
  readonly detail: string;
  readonly lastUpdateAttempt: string;
  readonly raw: unknown;
}

/** What the server publishes from xDS: the warm listeners, the clusters, routes and endpoints. */
export interface XdsView {
  readonly listeners: readonly ListenerModel[];
  readonly clusters: readonly ClusterModel[];
  readonly routeConfigs: readonly RouteConfigModel[];
  /** EDS endpoints by cluster name (for every EDS cluster, static or dynamic, whose
   *  ClusterLoadAssignment arrived or timed out: an empty assignment then). */
  readonly endpoints: ReadonlyMap<string, ClusterLoadAssignmentModel>;
}

/** How the manager reaches the network and the server. */
export interface XdsManagerHost {
  readonly runtime: Runtime;
  readonly stats: StatsStore;
  /** A gRPC transport to the static cluster `name` (h2c or TLS as the cluster says). */
  grpcTransport(cluster: ClusterModel): Transport;
  /** Called (coalesced per task) whenever the view changed. */
  onChange(): void;
}

/** Per-type stats with Envoy's names. */
class SubscriptionStats {
  readonly attempt: Counter;
  readonly success: Counter;
  readonly rejected: Counter;
  readonly failure: Counter;
  readonly empty: Counter;
  readonly initFetchTimeout: Counter;
  readonly version: Gauge;
  constructor(store: StatsStore, prefix: string) {
    this.attempt = store.counter(prefix + "update_attempt");
    this.success = store.counter(prefix + "update_success");
    this.rejected = store.counter(prefix + "update_rejected");
    this.failure = store.counter(prefix + "update_failure");
    this.empty = store.counter(prefix + "update_empty");
    this.initFetchTimeout = store.counter(prefix + "init_fetch_timeout");
    this.version = store.gauge(prefix + "version", "never");
  }
}

/** Envoy's `version` gauge: a 64-bit hash of version_info; we keep 52 bits (a JS number). */
function versionHash(v: string): number {
  let h1 = 0x811c9dc5, h2 = 0x01000193;
  for (let i = 0; i < v.length; i++) {
    const c = v.charCodeAt(i);
    h1 = Math.imul(h1 ^ c, 0x01000193) >>> 0;
    h2 = Math.imul(h2 ^ c, 0x5bd1e995) >>> 0;
  }
  return (h2 & 0xfffff) * 0x100000000 + h1;
}

/** A transport a source uses: gRPC stream, REST poller or file. */
interface SourceTransport {
  start(): void;
  updateInterest(kind: ResourceKind): void;
  close(): void;
}

/** One config source (ADS, or one API/file) and the kinds it serves. */
class Source implements XdsWatcher {
  transport: SourceTransport | null = null;
  connected = false;
  constructor(readonly key: string, readonly manager: XdsManager) {}
  interest(kind: ResourceKind): Interest | null {
    return this.manager.interestFor(this.key, kind);
  }
  onSotw(kind: ResourceKind, resources: readonly DecodedResource[], version: string): string | null {
    return this.manager.applySotw(kind, resources, version);
  }
  onDelta(kind: ResourceKind, added: readonly DecodedResource[], removed: readonly string[], systemVersion: string): string | null {
    return this.manager.applyDelta(kind, added, removed, systemVersion);
  }
  knownVersions(kind: ResourceKind): Record<string, string> {
    return this.manager.knownVersions(kind);
  }
  onConnectionState(connected: boolean): void {
    this.connected = connected;
    this.manager.connectionChanged();
  }
  onStreamFailure(): void {
    this.manager.streamFailed(this.key);
  }
}

/** Identity of a config source: the same key means the same stream/poller/file. */
export function sourceKey(src: ConfigSourceModel, kind: ResourceKind): string {
  switch (src.kind) {
    case "ads":
      return "ads";
    case "path":
      return `path:${src.path}`;
    case "api":
      // Non-aggregated gRPC and REST: one stream or poller per type and server.
      return `api:${src.api.apiType}:${src.api.clusterName}:${kind}`;
  }
}

/** Route config names an HCM in `chains` takes from RDS, with their sources. */
function rdsRefs(l: ListenerModel): { name: string; source: ConfigSourceModel }[] {
  const out: { name: string; source: ConfigSourceModel }[] = [];
  const chains: FilterChainModel[] = [...l.filterChains, ...(l.defaultFilterChain ? [l.defaultFilterChain] : [])];
  for (const c of chains) {
    for (const f of c.filters) {
      if (f.typeUrl !== HCM_TYPE_URL) continue;
      const rds = (f.config as HcmModel).rds;
      if (rds) out.push({ name: rds.routeConfigName, source: rds.configSource });
    }
  }
  return out;
}

/** The xDS client side of a server (control side). */
export class XdsManager {
  readonly listeners = new Map<string, ResourceEntry<"listener">>();
  readonly clusters = new Map<string, ResourceEntry<"cluster">>();
  readonly routes = new Map<string, ResourceEntry<"route">>();
  readonly endpoints = new Map<string, ResourceEntry<"endpoint">>();
  readonly errors: Record<ResourceKind, Map<string, ResourceError>> = {
    listener: new Map(),
    cluster: new Map(),
    route: new Map(),
    endpoint: new Map(),
  };
  /** version_info of the last accepted response per kind (for /config_dump). */
  readonly versionInfo: Record<ResourceKind, string> = { listener: "", cluster: "", route: "", endpoint: "" };
  readonly node: Node;
  readonly #sources = new Map<string, Source>();
  readonly #stats: Record<"listener" | "cluster", SubscriptionStats>;
  readonly #connectedState: Gauge;
  /** Listener versions in force (the last warm one per name). */
  readonly #active = new Map<string, ListenerModel>();
  /** Subscriptions (kind:name, or kind:* for wildcard) whose first answer or timeout is pending. */
  readonly #initial = new Map<string, ReturnType<typeof setTimeout> | undefined>();
  /** Subscriptions whose initial fetch timed out (treated as arrived-empty). */
  readonly #timedOut = new Set<string>();
  /** Kinds (kind:*) or names (kind:name) that got a first answer. */
  readonly #answered = new Set<string>();
  #readyWaiters: (() => void)[] = [];
  #changeQueued = false;
  #closed = false;
  #bootstrap: BootstrapModel;

  constructor(readonly host: XdsManagerHost, bootstrap: BootstrapModel) {
    this.#bootstrap = bootstrap;
    const n = bootstrap.node;
    this.node = create(NodeSchema, {
      id: n.id,
      cluster: n.cluster,
      metadata: n.metadata as never,
      locality: n.locality ? { region: n.locality.region, zone: n.locality.zone, subZone: n.locality.subZone } : undefined,
      userAgentName: n.userAgentName ?? "legate",
      userAgentVersionType: { case: "userAgentVersion", value: VERSION },
    });
    this.#stats = {
      listener: new SubscriptionStats(host.stats, "listener_manager.lds."),
      cluster: new SubscriptionStats(host.stats, "cluster_manager.cds."),
    };
    this.#connectedState = host.stats.gauge("control_plane.connected_state", "never");
  }

  /** True when the bootstrap uses xDS at all (dynamic_resources, RDS or EDS). */
  static needed(b: BootstrapModel): boolean {
    if (b.dynamicResources?.lds || b.dynamicResources?.cds) return true;
    if (b.clusters.some((c) => c.eds)) return true;
    return b.listeners.some((l) => rdsRefs(l).length > 0);
  }

  /** Opens the sources the bootstrap names (LDS and CDS, and RDS/EDS of static resources). */
  start(): void {
    const d = this.#bootstrap.dynamicResources;
    if (d?.cds) this.#watchInitial("cluster:*", d.cds.initialFetchTimeoutMs);
    if (d?.lds) this.#watchInitial("listener:*", d.lds.initialFetchTimeoutMs);
    this.#refreshInterest();
  }

  /** The bootstrap changed (reload): new static references may need new subscriptions. */
  setBootstrap(b: BootstrapModel): void {
    this.#bootstrap = b;
    this.#refreshInterest();
    this.#changed();
  }

  /** Resolves when the first LDS/CDS answers (or their initial_fetch_timeouts) arrived and every
   *  RDS/EDS name referenced then has answered or timed out (Envoy's init manager). */
  ready(): Promise<void> {
    if (this.#isReady()) return Promise.resolve();
    return new Promise((r) => this.#readyWaiters.push(r));
  }

  #isReady(): boolean {
    return this.#initial.size === 0;
  }

  #checkReady(): void {
    if (!this.#isReady()) return;
    const w = this.#readyWaiters;
    this.#readyWaiters = [];
    for (const f of w) f();
  }

  #watchInitial(key: string, timeoutMs: number): void {
    if (this.#initial.has(key) || this.#answered.has(key) || this.#timedOut.has(key)) return;
    const t = timeoutMs > 0
      ? setTimeout(() => {
        if (!this.#initial.has(key)) return;
        this.#initial.delete(key);
        this.#timedOut.add(key);
        const kind = key.slice(0, key.indexOf(":")) as ResourceKind;
        if (kind === "listener" || kind === "cluster") this.#stats[kind].initFetchTimeout.inc();
        else this.host.stats.counter(`${kind === "route" ? "rds" : "eds"}.${key.slice(key.indexOf(":") + 1)}.init_fetch_timeout`).inc();
        log.warn(`xDS: no answer for ${key} within initial_fetch_timeout (${timeoutMs} ms); going on without it`);
        this.#afterUpdate();
        this.#checkReady();
      }, timeoutMs)
      : undefined;
    this.#initial.set(key, t);
  }

  #answer(key: string): void {
    this.#answered.add(key);
    const t = this.#initial.get(key);
    if (this.#initial.delete(key)) {
      clearTimeout(t);
      queueMicrotask(() => this.#checkReady());
    }
  }

  // ---- what to subscribe to -------------------------------------------------------------

  /** Every listener whose RDS names count: static ones, and the LDS ones (active or warming). */
  #allListeners(): ListenerModel[] {
    return [...this.#bootstrap.listeners, ...[...this.listeners.values()].map((e) => e.model), ...this.#active.values()];
  }

  #allClusters(): ClusterModel[] {
    return [...this.#bootstrap.clusters, ...[...this.clusters.values()].map((e) => e.model)];
  }

  /** RDS names per source key, and their config sources. */
  #routeRefs(): Map<string, Map<string, ConfigSourceModel>> {
    const out = new Map<string, Map<string, ConfigSourceModel>>();
    for (const l of this.#allListeners()) {
      for (const r of rdsRefs(l)) {
        const k = sourceKey(r.source, "route");
        let m = out.get(k);
        if (!m) out.set(k, m = new Map());
        m.set(r.name, r.source);
      }
    }
    return out;
  }

  #endpointRefs(): Map<string, Map<string, ConfigSourceModel>> {
    const out = new Map<string, Map<string, ConfigSourceModel>>();
    for (const c of this.#allClusters()) {
      if (!c.eds) continue;
      const k = sourceKey(c.eds.configSource, "endpoint");
      let m = out.get(k);
      if (!m) out.set(k, m = new Map());
      m.set(c.eds.serviceName, c.eds.configSource);
    }
    return out;
  }

  /** XdsWatcher.interest for source `key`. */
  interestFor(key: string, kind: ResourceKind): Interest | null {
    const d = this.#bootstrap.dynamicResources;
    if (kind === "listener") return d?.lds && sourceKey(d.lds, "listener") === key ? { wildcard: true, names: [] } : null;
    if (kind === "cluster") return d?.cds && sourceKey(d.cds, "cluster") === key ? { wildcard: true, names: [] } : null;
    const refs = kind === "route" ? this.#routeRefs() : this.#endpointRefs();
    const names = refs.get(key);
    return names && names.size ? { wildcard: false, names: [...names.keys()].sort() } : null;
  }

  /** Creates the sources now needed, tells every source its interest may have changed, drops
   *  resources nothing references any more, and starts initial-fetch timers for new names. */
  #refreshInterest(): void {
    if (this.#closed) return;
    const d = this.#bootstrap.dynamicResources;
    const want = new Map<string, ConfigSourceModel & { forKind: ResourceKind }>();
    if (d?.lds) want.set(sourceKey(d.lds, "listener"), { ...d.lds, forKind: "listener" });
    if (d?.cds) want.set(sourceKey(d.cds, "cluster"), { ...d.cds, forKind: "cluster" });
    const routeRefs = this.#routeRefs();
    const endpointRefs = this.#endpointRefs();
    for (const [kind, refs] of [["route", routeRefs], ["endpoint", endpointRefs]] as const) {
      for (const [key, names] of refs) {
        for (const [name, src] of names) {
          if (!want.has(key)) want.set(key, { ...src, forKind: kind });
          this.#watchInitial(`${kind}:${name}`, src.initialFetchTimeoutMs);
        }
      }
    }
    // Unreferenced RDS/EDS resources are removed (Envoy drops them with their last subscriber).
    const routeNames = new Set([...routeRefs.values()].flatMap((m) => [...m.keys()]));
    const endpointNames = new Set([...endpointRefs.values()].flatMap((m) => [...m.keys()]));
    for (const n of [...this.routes.keys()]) if (!routeNames.has(n)) this.routes.delete(n);
    for (const n of [...this.endpoints.keys()]) if (!endpointNames.has(n)) this.endpoints.delete(n);
    for (const n of [...this.errors.route.keys()]) if (!routeNames.has(n)) this.errors.route.delete(n);
    for (const n of [...this.errors.endpoint.keys()]) if (!endpointNames.has(n)) this.errors.endpoint.delete(n);
    for (const key of [...this.#initial.keys()]) {
      const [kind, name] = [key.slice(0, key.indexOf(":")), key.slice(key.indexOf(":") + 1)];
      if ((kind === "route" && !routeNames.has(name)) || (kind === "endpoint" && !endpointNames.has(name))) {
        clearTimeout(this.#initial.get(key));
        this.#initial.delete(key);
      }
    }
    for (const [key, src] of want) {
      let s = this.#sources.get(key);
      if (!s) {
        s = new Source(key, this);
        const t = this.#makeTransport(s, src, src.forKind);
        if (!t) continue;
        s.transport = t;
        this.#sources.set(key, s);
        t.start();
      }
    }
    for (const s of this.#sources.values()) {
      s.transport?.updateInterest("route");
      s.transport?.updateInterest("endpoint");
    }
    this.#checkReady();
  }

  #makeTransport(s: Source, src: ConfigSourceModel, kind: ResourceKind): SourceTransport | null {
    const h = this.host;
    if (src.kind === "path") {
      const f = new FileSource(h.runtime, src.path, kind, s);
      return { start: () => f.start(), updateInterest: () => f.updateInterest(), close: () => f.close() };
    }
    const api = src.kind === "ads" ? this.#bootstrap.dynamicResources?.ads : src.api;
    if (!api) {
      log.error(`xDS: an "ads" config source without dynamic_resources.ads_config`);
      return null;
    }
    const cluster = this.#bootstrap.clusters.find((c) => c.name === api.clusterName);
    if (!cluster) {
      log.error(`xDS: the management server cluster ${JSON.stringify(api.clusterName)} is not a static cluster`);
      return null;
    }
    if (api.apiType === "REST") {
      const ep = cluster.endpoints[0];
      if (!ep) {
        log.error(`xDS: cluster ${api.clusterName} has no endpoint`);
        return null;
      }
      const a = ep.address.address.includes(":") ? `[${ep.address.address}]` : ep.address.address;
      const p = new RestPoller({
        baseUrl: `${cluster.tls ? "https" : "http"}://${a}:${ep.address.port}`,
        kind,
        node: this.node,
        refreshDelayMs: api.refreshDelayMs,
        requestTimeoutMs: api.requestTimeoutMs,
        watcher: s,
      });
      return { start: () => p.start(), updateInterest: () => p.updateInterest(), close: () => p.close() };
    }
    const aggregated = api.apiType === "AGGREGATED_GRPC" || api.apiType === "AGGREGATED_DELTA_GRPC";
    const mux = new GrpcMux({
      transport: h.grpcTransport(cluster),
      node: this.node,
      scope: aggregated ? "ads" : kind,
      delta: api.apiType === "DELTA_GRPC" || api.apiType === "AGGREGATED_DELTA_GRPC",
      watcher: s,
      headers: api.initialMetadata,
      label: aggregated ? `ADS (${api.clusterName})` : `${kind} xDS (${api.clusterName})`,
      setNodeOnFirstMessageOnly: api.setNodeOnFirstMessageOnly,
    });
    return { start: () => mux.start(), updateInterest: (k) => mux.updateInterest(k), close: () => mux.close() };
  }

  // ---- applying responses -----------------------------------------------------------------

  #store<K extends ResourceKind>(kind: K): Map<string, ResourceEntry<K>> {
    return (kind === "listener" ? this.listeners : kind === "cluster" ? this.clusters : kind === "route" ? this.routes : this.endpoints) as unknown as Map<
      string,
      ResourceEntry<K>
    >;
  }

  #statsFor(kind: ResourceKind, name?: string): SubscriptionStats {
    if (kind === "listener" || kind === "cluster") return this.#stats[kind];
    // Envoy: http.<stat_prefix>.rds.<route_config_name>.* and cluster.<name>.update_*; we key
    // RDS by route config name and EDS by cluster (service) name.
    const prefix = kind === "route" ? `rds.${name}.` : `cluster.${name}.`;
    return new SubscriptionStats(this.host.stats, prefix);
  }

  /** Checks a valid resource against the rest of the config (names, addresses). */
  #crossCheck(kind: ResourceKind, r: DecodedResource): string | null {
    if (kind === "cluster" && this.#bootstrap.clusters.some((c) => c.name === r.name)) {
      return `cluster ${JSON.stringify(r.name)} is a static cluster and cannot be replaced by CDS`;
    }
    if (kind === "listener") {
      const l = r.model as ListenerModel;
      if (this.#bootstrap.listeners.some((s) => s.name === l.name)) return `listener ${JSON.stringify(l.name)} is a static listener`;
      if (l.address.port !== 0) {
        const key = `${l.address.address.toLowerCase()}:${l.address.port}`;
        const clash = [...this.#bootstrap.listeners, ...[...this.listeners.values()].map((e) => e.model)]
          .find((o) => o.name !== l.name && `${o.address.address.toLowerCase()}:${o.address.port}` === key);
        if (clash) return `listener ${JSON.stringify(l.name)} has duplicate address ${key} as existing listener ${JSON.stringify(clash.name)}`;
      }
    }
    return null;
  }

  /** Applies added/updated resources; returns the error lines of rejected ones. */
  #upsert(kind: ResourceKind, list: readonly DecodedResource[]): string[] {
    const store = this.#store(kind);
    const errors: string[] = [];
    const now = new Date().toISOString();
    const seen = new Set<string>();
    for (const r of list) {
      if (seen.has(r.name)) {
        errors.push(`${kind} ${JSON.stringify(r.name)}: duplicate resource name in one response`);
        continue;
      }
      seen.add(r.name);
      const why = r.error ?? this.#crossCheck(kind, r);
      if (why !== null) {
        errors.push(`${kind} ${JSON.stringify(r.name)}: ${why}`);
        this.errors[kind].set(r.name, { name: r.name, version: r.version, detail: why, lastUpdateAttempt: now, raw: r.raw });
        continue;
      }
      this.errors[kind].delete(r.name);
      const old = store.get(r.name);
      if (old && JSON.stringify(old.model) === JSON.stringify(r.model)) {
        store.set(r.name, { ...old, version: r.version });
        continue;
      }
      store.set(r.name, { name: r.name, version: r.version, model: r.model as never, raw: r.raw, lastUpdated: now });
      if (kind === "route" || kind === "endpoint") this.#answer(`${kind}:${r.name}`);
    }
    return errors;
  }

  #remove(kind: ResourceKind, name: string): void {
    this.#store(kind).delete(name);
    this.errors[kind].delete(name);
    if (kind === "listener") this.#active.delete(name);
  }

  /** XdsWatcher.onSotw (via a Source). */
  applySotw(kind: ResourceKind, resources: readonly DecodedResource[], version: string): string | null {
    const names = resources.map((r) => r.name);
    const stats = kind === "listener" || kind === "cluster" ? this.#stats[kind] : null;
    stats?.attempt.inc();
    // A resource without a readable name makes the whole response unusable: nothing can be
    // removed safely. It is rejected and everything in force stays.
    const unnamed = resources.find((r) => r.name === "");
    if (unnamed) {
      stats?.rejected.inc();
      return `${kind} response rejected: ${unnamed.error ?? "a resource has no name"}`;
    }
    const errors = this.#upsert(kind, resources);
    if (kind === "listener" || kind === "cluster") {
      // SotW for wildcard types: what the response does not list is gone.
      const keep = new Set(names);
      for (const n of [...this.#store(kind).keys()]) if (!keep.has(n)) this.#remove(kind, n);
      for (const n of [...this.errors[kind].keys()]) if (!keep.has(n)) this.errors[kind].delete(n);
      if (resources.length === 0) stats!.empty.inc();
      this.#answer(`${kind}:*`);
    } else this.#countPerName(kind, names, version);
    if (errors.length) stats?.rejected.inc();
    else {
      stats?.success.inc();
      stats?.version.set(versionHash(version));
      this.versionInfo[kind] = version;
    }
    this.#afterUpdate();
    return errors.length ? errors.join("\n") : null;
  }

  /** RDS/EDS stats per resource name (update_attempt / success / rejected / version). */
  #countPerName(kind: ResourceKind, names: readonly string[], version: string): void {
    for (const n of new Set(names)) {
      const s = this.#statsFor(kind, n);
      s.attempt.inc();
      if (this.errors[kind].has(n)) s.rejected.inc();
      else {
        s.success.inc();
        if (version !== "") s.version.set(versionHash(version));
      }
    }
  }

  /** XdsWatcher.onDelta. */
  applyDelta(kind: ResourceKind, added: readonly DecodedResource[], removed: readonly string[], systemVersion: string): string | null {
    const stats = kind === "listener" || kind === "cluster" ? this.#stats[kind] : null;
    stats?.attempt.inc();
    const unnamed = added.find((r) => r.name === "");
    if (unnamed) {
      stats?.rejected.inc();
      return `${kind} response rejected: ${unnamed.error ?? "a resource has no name"}`;
    }
    const errors = this.#upsert(kind, added);
    for (const n of removed) {
      this.#remove(kind, n);
      if (kind === "route" || kind === "endpoint") this.#answer(`${kind}:${n}`);
    }
    if (kind === "listener" || kind === "cluster") this.#answer(`${kind}:*`);
    else this.#countPerName(kind, added.map((r) => r.name), systemVersion);
    if (errors.length) stats?.rejected.inc();
    else {
      stats?.success.inc();
      if (systemVersion !== "") {
        stats?.version.set(versionHash(systemVersion));
        this.versionInfo[kind] = systemVersion;
      }
    }
    this.#afterUpdate();
    return errors.length ? errors.join("\n") : null;
  }

  /** XdsWatcher.knownVersions (delta reconnect). */
  knownVersions(kind: ResourceKind): Record<string, string> {
    const out: Record<string, string> = {};
    for (const [n, e] of this.#store(kind)) out[n] = e.version;
    return out;
  }

  connectionChanged(): void {
    let up = 0;
    for (const s of this.#sources.values()) if (s.connected) up = 1;
    this.#connectedState.set(up);
  }

  streamFailed(key: string): void {
    const d = this.#bootstrap.dynamicResources;
    if (d?.lds && sourceKey(d.lds, "listener") === key) this.#stats.listener.failure.inc();
    if (d?.cds && sourceKey(d.cds, "cluster") === key) this.#stats.cluster.failure.inc();
  }

  #afterUpdate(): void {
    // Warm listeners replace the versions they update first: a route config only the replaced
    // version named is then no longer referenced, and is unsubscribed now.
    this.#promoteWarm();
    this.#refreshInterest();
    this.#changed();
  }

  /** Makes every LDS listener whose route configs have all arrived the active version. */
  #promoteWarm(): void {
    for (const [name, e] of this.listeners) {
      if (this.#active.get(name) === e.model) continue;
      if (rdsRefs(e.model).every((r) => this.#routeArrived(r.name))) this.#active.set(name, e.model);
    }
    for (const name of [...this.#active.keys()]) if (!this.listeners.has(name)) this.#active.delete(name);
  }

  #changed(): void {
    if (this.#changeQueued || this.#closed) return;
    this.#changeQueued = true;
    queueMicrotask(() => {
      this.#changeQueued = false;
      if (!this.#closed) this.host.onChange();
    });
  }

  // ---- the view ---------------------------------------------------------------------------

  #routeArrived(name: string): boolean {
    return this.routes.has(name) || this.#timedOut.has(`route:${name}`) || this.#answered.has(`route:${name}`);
  }

  /** The merged dynamic state the server publishes (warm listeners only). */
  view(): XdsView {
    this.#promoteWarm();
    const listeners: ListenerModel[] = [];
    for (const name of this.listeners.keys()) {
      const active = this.#active.get(name);
      if (active) listeners.push(active);
    }
    const routeConfigs = [...this.routes.values()].map((e) => e.model);
    const endpoints = new Map<string, ClusterLoadAssignmentModel>();
    for (const c of this.#allClusters()) {
      if (!c.eds) continue;
      const cla = this.endpoints.get(c.eds.serviceName);
      if (cla) endpoints.set(c.name, cla.model);
      else if (this.#timedOut.has(`endpoint:${c.eds.serviceName}`) || this.#answered.has(`endpoint:${c.eds.serviceName}`)) {
        endpoints.set(c.name, { clusterName: c.eds.serviceName, endpoints: [], overprovisioningFactor: 140 });
      }
    }
    return { listeners, clusters: [...this.clusters.values()].map((e) => e.model), routeConfigs, endpoints };
  }

  /** Listeners received but not yet warm (their routes have not arrived). */
  warmingListeners(): ResourceEntry<"listener">[] {
    return [...this.listeners.values()].filter((e) => this.#active.get(e.name) !== e.model);
  }

  close(): void {
    this.#closed = true;
    for (const t of this.#initial.values()) clearTimeout(t);
    this.#initial.clear();
    for (const s of this.#sources.values()) s.transport?.close();
    this.#sources.clear();
    this.#connectedState.set(0);
    this.#checkReady();
    const w = this.#readyWaiters;
    this.#readyWaiters = [];
    for (const f of w) f();
  }
}
