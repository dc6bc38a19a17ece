/**
 * Worker side of the cluster manager: per-worker load balancer state and connection pools for
 * each cluster in the current snapshot. Nothing here awaits or talks to the control side.
 */
import type { Runtime } from "../runtime/types.ts";
import type { Cluster, ClusterInfo } from "./cluster_manager.ts";
import { Http1ConnPool } from "./conn_pool/http1_pool.ts";
import type { Host } from "./host.ts";
import { RoundRobinLoadBalancer } from "./load_balancer/round_robin.ts";

/** One cluster as a worker sees it. */
export class ThreadLocalCluster {
  readonly info: ClusterInfo;
  readonly hosts: readonly Host[];
  readonly #lb: RoundRobinLoadBalancer;
  readonly #pools = new Map<Host, Http1ConnPool>();

  constructor(cluster: Cluster, readonly runtime: Runtime, seed: number) {
    this.info = cluster.info;
    this.hosts = cluster.hosts;
    this.#lb = new RoundRobinLoadBalancer(cluster.hosts, seed);
  }

  /** The next host by the cluster's load balancer, or null if it has none. */
  chooseHost(): Host | null {
    return this.#lb.chooseHost();
  }

  /** The HTTP/1.1 pool for `host` (created on first use). */
  httpPool(host: Host): Http1ConnPool {
    let p = this.#pools.get(host);
    if (!p) {
      p = new Http1ConnPool(host, this.info.poolSettings, this.info.stats, this.runtime);
      this.#pools.set(host, p);
    }
    return p;
  }

  /** Upstream connections open on this worker, over all hosts. */
  get connectionCount(): number {
    let n = 0;
    for (const p of this.#pools.values()) n += p.size;
    return n;
  }

  /** Closes every pooled connection. */
  closeAll(): void {
    for (const p of this.#pools.values()) p.closeAll();
  }
}

/** The worker's view of every cluster. */
export class ThreadLocalClusterManager {
  readonly #clusters = new Map<string, ThreadLocalCluster>();
  #seed = 0;

  constructor(readonly runtime: Runtime) {}

  /** Installs the clusters of a new snapshot, keeping pools of clusters whose info is unchanged. */
  update(clusters: readonly Cluster[]): void {
    const next = new Map<string, ThreadLocalCluster>();
    for (const c of clusters) {
      const old = this.#clusters.get(c.info.name);
      if (old && old.info === c.info && old.hosts === c.hosts) next.set(c.info.name, old);
      else next.set(c.info.name, new ThreadLocalCluster(c, this.runtime, this.#seed++));
    }
    for (const [name, old] of this.#clusters) {
      if (next.get(name) !== old) old.closeAll();
    }
    this.#clusters.clear();
    for (const [k, v] of next) this.#clusters.set(k, v);
  }

  /** The cluster named `name`, or undefined (the router answers 503 NC). */
  get(name: string): ThreadLocalCluster | undefined {
    return this.#clusters.get(name);
  }

  /** Every cluster. */
  all(): IterableIterator<ThreadLocalCluster> {
    return this.#clusters.values();
  }

  /** Closes every pooled connection (worker shutdown). */
  closeAll(): void {
    for (const c of this.#clusters.values()) c.closeAll();
  }
}
