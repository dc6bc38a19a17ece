/**
 * Cluster manager, control side: turns cluster config into `Cluster` objects (info, stats,
 * hosts) and publishes them to the workers' thread-local cluster managers.
 */
import type { StatsStore } from "../core/stats.ts";
import type { ClusterModel } from "../config/model.ts";
import { ClusterStats } from "./cluster_stats.ts";
import { Host } from "./host.ts";
import type { PoolSettings } from "./conn_pool/http1_pool.ts";

/** Immutable facts about a cluster that workers share (control side builds it). */
export class ClusterInfo {
  readonly name: string;
  readonly stats: ClusterStats;
  readonly poolSettings: PoolSettings;
  constructor(readonly model: ClusterModel, store: StatsStore) {
    this.name = model.name;
    this.stats = new ClusterStats(store, model.name);
    this.poolSettings = Object.freeze({
      connectTimeoutMs: model.connectTimeoutMs,
      bufferLimitBytes: model.perConnectionBufferLimitBytes,
      maxIdle: 1024,
    });
  }
}

/** A cluster and its current hosts (control side). */
export class Cluster {
  constructor(readonly info: ClusterInfo, readonly hosts: readonly Host[]) {}
}

/** Owns every cluster (control side). */
export class ClusterManager {
  readonly #clusters = new Map<string, Cluster>();

  constructor(readonly store: StatsStore) {}

  /** Adds or replaces clusters from static config. */
  addStaticClusters(models: readonly ClusterModel[]): void {
    for (const m of models) {
      const info = new ClusterInfo(m, this.store);
      const hosts = m.endpoints.map((e) => new Host(e.address.address, e.address.port, e.weight));
      info.stats.membershipTotal.set(hosts.length);
      info.stats.membershipHealthy.set(hosts.length);
      this.#clusters.set(m.name, new Cluster(info, Object.freeze(hosts)));
    }
    this.store.gauge("cluster_manager.active_clusters").set(this.#clusters.size);
  }

  /** The cluster named `name`. */
  get(name: string): Cluster | undefined {
    return this.#clusters.get(name);
  }

  /** Every cluster, in insertion order. */
  all(): Cluster[] {
    return [...this.#clusters.values()];
  }
}
