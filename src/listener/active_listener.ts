/**
 * A listener on the worker side: accepts sockets, wraps them in Connections and gives each the
 * network filters of the listener's current config. A connection keeps the config it was
 * accepted with for life; a config swap only affects new connections.
 */
import type { Logger } from "../core/log.ts";
import type { StatsStore } from "../core/stats.ts";
import type { TimerWheel } from "../core/timer_wheel.ts";
import type { ListenerModel } from "../config/model.ts";
import { Connection, type ConnectionStats } from "../network/connection.ts";
import {
  type DrainState,
  findNetworkFilterRuntime,
  type NetworkFilterFactory,
} from "../network/filter.ts";
import type { TcpSocket } from "../runtime/types.ts";
import type { ThreadLocalClusterManager } from "../upstream/thread_local_cluster.ts";

/** Envoy's stat name for a listener address: "127.0.0.1_10000" (":" of IPv6 kept as in Envoy). */
export function listenerStatName(address: string, port: number): string {
  return `${address}_${port}`;
}

/** A listener's compiled config (one per config version per worker). */
export class ListenerConfig {
  readonly filterFactories: readonly NetworkFilterFactory[];
  readonly stats: ConnectionStats;
  readonly bufferLimit: number;
  /** Set when this config is replaced or the listener drains: its connections answer with
   *  `connection: close`, so clients reconnect onto the current config (Envoy's listener drain). */
  readonly drain: { draining: boolean } = { draining: false };
  constructor(
    readonly model: ListenerModel,
    ctx: { clusterManager: ThreadLocalClusterManager; wheel: TimerWheel; stats: StatsStore },
  ) {
    const p = `listener.${listenerStatName(model.address.address, model.address.port)}.`;
    this.stats = {
      cxTotal: ctx.stats.counter(p + "downstream_cx_total"),
      cxActive: ctx.stats.gauge(p + "downstream_cx_active"),
      cxDestroy: ctx.stats.counter(p + "downstream_cx_destroy"),
    };
    this.bufferLimit = model.perConnectionBufferLimitBytes;
    // Filter-chain match is not supported yet: the config layer allows exactly one chain.
    const chain = model.filterChains[0];
    this.filterFactories = (chain?.filters ?? []).map((f) => {
      const ext = findNetworkFilterRuntime(f.typeUrl);
      if (!ext) throw new Error(`no runtime registered for network filter ${f.typeUrl}`);
      return ext.createFilterFactory(f.config, { ...ctx, drain: this.drain });
    });
  }
}

/** Accepts connections for one listener on this worker. */
export class ActiveListener implements DrainState {
  #config: ListenerConfig;
  readonly connections = new Set<Connection>();
  #draining = false;
  readonly #onClosed = (c: Connection) => void this.connections.delete(c);

  constructor(config: ListenerConfig, readonly wheel: TimerWheel, readonly log: Logger) {
    this.#config = config;
  }

  /** The config new connections get. */
  get config(): ListenerConfig {
    return this.#config;
  }

  /** Installs a new config for connections accepted from now on; connections on the old one
   *  drain (HTTP answers `connection: close` after their current request). */
  update(config: ListenerConfig): void {
    if (config === this.#config) return;
    this.#config.drain.draining = true;
    config.drain.draining = this.#draining;
    this.#config = config;
  }

  /** True while the whole listener drains (hot restart, removal, /drain_listeners). */
  get draining(): boolean {
    return this.#draining;
  }
  set draining(v: boolean) {
    this.#draining = v;
    if (v) this.#config.drain.draining = true;
  }

  /** The accept callback (runtime.listen's onConnection). */
  onAccept(sock: TcpSocket): void {
    const cfg = this.#config;
    const conn = new Connection(sock, cfg.bufferLimit, this.wheel, cfg.stats, this.log, this.#onClosed);
    this.connections.add(conn);
    try {
      const fs = cfg.filterFactories;
      const filters = new Array(fs.length);
      for (let i = 0; i < fs.length; i++) filters[i] = fs[i]!(conn);
      conn.start(filters);
    } catch (e) {
      this.log.error(`listener ${cfg.model.name}: closing a new connection after an internal error: ${e instanceof Error ? e.stack : e}`);
      conn.close("now");
    }
  }

  /** Closes every connection now (shutdown). */
  closeAll(): void {
    for (const c of [...this.connections]) c.close("now");
  }
}
