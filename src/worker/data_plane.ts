/**
 * One data-plane thread (worker side): its timer wheel, thread-local clusters, listeners and
 * connections, built from snapshots. A Web Worker runs one of these; with --concurrency 0 the
 * main thread runs one in-process. Nothing here awaits the control plane.
 */
import { Logger } from "../core/log.ts";
import type { StatsStore } from "../core/stats.ts";
import { TimerWheel } from "../core/timer_wheel.ts";
import type { ListenerModel } from "../config/model.ts";
import { ActiveListener, ListenerConfig } from "../listener/active_listener.ts";
import { type BoundListener, bindListener } from "../listener/listener_manager.ts";
import type { Runtime } from "../runtime/types.ts";
import type { UpstreamEventSink } from "../upstream/outlier_detection.ts";
import { ThreadLocalClusterManager } from "../upstream/thread_local_cluster.ts";
import { RouteConfigProviders } from "../router/route_config_provider.ts";
import type { Snapshot } from "./protocol.ts";
import "../filters/network/http_connection_manager/filter.ts";
import "../filters/network/tcp_proxy/filter.ts";
import "../filters/network/rbac/filter.ts";
import "../filters/network/local_ratelimit/filter.ts";
import "../filters/network/connection_limit/filter.ts";

const log = new Logger("main");

/** Listeners, clusters and connections of one thread. */
export class DataPlane {
  readonly wheel = new TimerWheel();
  readonly tlcm: ThreadLocalClusterManager;
  readonly listeners = new Map<string, BoundListener>();
  /** RDS route tables of this thread, by route config name. */
  readonly routeConfigs = new RouteConfigProviders();
  #version = -1;
  /** JSON of each listener's model: an unchanged listener keeps its config and connections. */
  #listenerJson = new Map<string, string>();

  constructor(
    readonly runtime: Runtime,
    readonly stats: StatsStore,
    readonly options: { reusePort: boolean; sink: UpstreamEventSink | null; seed?: number },
  ) {
    this.tlcm = new ThreadLocalClusterManager(runtime, { stats, sink: options.sink ?? undefined, seed: options.seed });
  }

  /** The snapshot version in force. */
  get version(): number {
    return this.#version;
  }

  /** `previous`: the config this one replaces on the same socket (its unchanged filter chains
   *  are taken over, connections and all). */
  #listenerConfig(m: ListenerModel, previous?: ListenerConfig): ListenerConfig {
    return new ListenerConfig(m, {
      clusterManager: this.tlcm,
      wheel: this.wheel,
      stats: this.stats,
      healthCheckFailed: this.#healthCheckFailed,
      routeConfigs: this.routeConfigs,
    }, previous);
  }

  /**
   * Installs `snapshot`: clusters first (so new routes find them), then listeners — changed ones
   * get the new config for new connections (in-flight ones keep theirs; connections on changed
   * or removed filter chains drain, those on unchanged chains run on), new ones are bound,
   * removed ones stop accepting and drain. `ports` pins port-0 listeners to a known port.
   */
  async apply(snapshot: Snapshot, ports: Record<string, number> = {}, fds: Record<string, number> = {}): Promise<void> {
    this.#knownPorts = { ...this.#knownPorts, ...ports };
    this.#hcFailed = snapshot.healthCheckFailed;
    // Unchanged clusters keep their pools and in-flight requests (ThreadLocalClusterManager
    // compares config versions); changed ones are rebuilt and their old pools drain.
    this.tlcm.update(snapshot.clusters);
    // Route configs before listeners: a new listener's HCM finds its RDS table filled.
    this.routeConfigs.update(snapshot.routeConfigs ?? []);
    const keep = new Set<string>();
    for (const m of snapshot.listeners) {
      keep.add(m.name);
      const existing = this.listeners.get(m.name);
      const json = JSON.stringify(m);
      if (existing && this.#listenerJson.get(m.name) === json) continue; // unchanged: keep it all
      this.#listenerJson.set(m.name, json);
      if (existing && sameAddress(existing.model, m)) {
        const real = m.address.port === 0 ? { ...m, address: { ...m.address, port: existing.socket.port } } : m;
        // In-place filter-chain update: connections on unchanged chains run on; those on
        // removed or changed chains drain (a listener-level change drains them all).
        existing.active.update(this.#listenerConfig(real, existing.active.config));
        (existing as { model: ListenerModel }).model = m;
        continue;
      }
      if (existing) await this.#remove(existing);
      const active = new ActiveListener(this.#listenerConfig(m), this.wheel, new Logger("conn_handler"));
      const port = ports[m.name];
      const bound = await bindListener(
        this.runtime,
        port !== undefined && m.address.port === 0 ? { ...m, address: { ...m.address, port } } : m,
        active,
        log,
        fds[m.name],
        this.options.reusePort,
      );
      if (m.address.port === 0 && (ports[m.name] || bound.socket.port)) {
        // Stats are named after the bound address (listener.127.0.0.1_PORT.…), as in Envoy.
        // No connection has been accepted yet: this continuation runs before any I/O event.
        const real = { ...m, address: { ...m.address, port: ports[m.name] || bound.socket.port } };
        active.update(this.#listenerConfig(real));
      }
      this.listeners.set(m.name, { ...bound, model: m });
    }
    for (const [name, l] of this.listeners) {
      if (!keep.has(name)) await this.#remove(l);
    }
    this.#version = snapshot.version;
  }

  async #remove(l: BoundListener): Promise<void> {
    this.listeners.delete(l.model.name);
    this.#listenerJson.delete(l.model.name);
    l.active.draining = true;
    await l.socket.close();
    // Connections finish what they are doing; HTTP answers `connection: close` from now on.
  }

  /** Bound ports by listener name. */
  ports(): Record<string, number> {
    const out: Record<string, number> = {};
    // A known (inherited) port wins: Deno's node:net reports a wrong port for an adopted fd.
    for (const [name, l] of this.listeners) out[name] = this.#knownPorts[name] || l.socket.port || l.model.address.port;
    return out;
  }
  #knownPorts: Record<string, number> = {};
  #hcFailed = false;
  readonly #healthCheckFailed = () => this.#hcFailed;

  /** Marks every listener draining (HTTP/1 answers with `connection: close`); with
   *  `stopAccepting`, also closes the listening sockets (hot restart: the next generation
   *  accepts on the same shared sockets). */
  async drain(stopAccepting = false): Promise<void> {
    for (const l of this.listeners.values()) {
      l.active.draining = true;
      if (stopAccepting) await l.socket.close();
    }
    if (stopAccepting) this.#accepting = false;
  }
  #accepting = true;

  /** Connections open on this thread. */
  connectionCount(): number {
    let n = 0;
    for (const l of this.listeners.values()) n += l.active.connections.size;
    return n;
  }

  /** Stops accepting and closes every connection and pool. */
  async close(): Promise<void> {
    for (const l of this.listeners.values()) l.active.draining = true;
    if (this.#accepting) for (const l of this.listeners.values()) await l.socket.close();
    for (const l of this.listeners.values()) l.active.closeAll();
    this.listeners.clear();
    this.tlcm.closeAll();
  }
}

function sameAddress(a: ListenerModel, b: ListenerModel): boolean {
  return a.address.address === b.address.address && a.address.port === b.address.port;
}
