/**
 * A listener on the worker side: accepts sockets, wraps them in Connections and gives each the
 * network filters of the listener's current config. A connection keeps the config it was
 * accepted with for life; a config swap only affects new connections.
 */
import type { Logger } from "../core/log.ts";
import type { StatsStore } from "../core/stats.ts";
import type { TimerWheel } from "../core/timer_wheel.ts";
import type { Counter } from "../core/stats.ts";
import type { FilterChainModel, ListenerModel } from "../config/model.ts";
import { Connection, type ConnectionStats } from "../network/connection.ts";
import {
  type DrainState,
  findNetworkFilterRuntime,
  type NetworkFilterFactory,
} from "../network/filter.ts";
import type { SocketEvents, TcpSocket } from "../runtime/types.ts";
import type { ThreadLocalClusterManager } from "../upstream/thread_local_cluster.ts";
import { type FilterChainMatchInput, FilterChainMatcher } from "./filter_chain_match.ts";

/** A filter chain ready to instantiate: its name and per-connection filter constructors. */
export interface CompiledFilterChain {
  readonly name: string;
  readonly filterFactories: readonly NetworkFilterFactory[];
}

const noop = () => {};
/** Events for a socket closed before it got a Connection (no filter chain matched). */
const DISCARD: SocketEvents = { onOpen: noop, onData: noop, onDrain: noop, onEnd: noop, onClose: noop };

/** The matcher's view of an accepted socket, before any listener filter (no SNI, no ALPN). */
class SocketMatchInput implements FilterChainMatchInput {
  readonly serverName = "";
  readonly transportProtocol = "raw_buffer";
  readonly applicationProtocols: readonly string[] = [];
  constructor(readonly s: TcpSocket) {}
  get localAddress(): string {
    return this.s.localAddress;
  }
  get localPort(): number {
    return this.s.localPort;
  }
  get remoteAddress(): string {
    return this.s.remoteAddress;
  }
  get remotePort(): number {
    return this.s.remotePort;
  }
  get directRemoteAddress(): string {
    return this.s.remoteAddress;
  }
}

/** Envoy's stat name for a listener address: "127.0.0.1_10000" (":" of IPv6 kept as in Envoy). */
export function listenerStatName(address: string, port: number): string {
  return `${address}_${port}`;
}

/** A listener's compiled config (one per config version per worker). */
export class ListenerConfig {
  readonly stats: ConnectionStats;
  /** `listener.<address>.no_filter_chain_match`. */
  readonly noFilterChainMatch: Counter;
  readonly bufferLimit: number;
  /** The chains, compiled into Envoy's filter-chain match tree (once per config version). */
  readonly chains: FilterChainMatcher<CompiledFilterChain>;
  /** Set when this config is replaced or the listener drains: its connections answer with
   *  `connection: close`, so clients reconnect onto the current config (Envoy's listener drain). */
  readonly drain: { draining: boolean } = { draining: false };
  constructor(
    readonly model: ListenerModel,
    ctx: { clusterManager: ThreadLocalClusterManager; wheel: TimerWheel; stats: StatsStore; healthCheckFailed?: () => boolean },
  ) {
    const p = `listener.${listenerStatName(model.address.address, model.address.port)}.`;
    this.stats = {
      cxTotal: ctx.stats.counter(p + "downstream_cx_total"),
      cxActive: ctx.stats.gauge(p + "downstream_cx_active"),
      cxDestroy: ctx.stats.counter(p + "downstream_cx_destroy"),
    };
    this.noFilterChainMatch = ctx.stats.counter(p + "no_filter_chain_match");
    this.bufferLimit = model.perConnectionBufferLimitBytes;
    const compile = (chain: FilterChainModel): CompiledFilterChain => ({
      name: chain.name,
      filterFactories: chain.filters.map((f) => {
        const ext = findNetworkFilterRuntime(f.typeUrl);
        if (!ext) throw new Error(`no runtime registered for network filter ${f.typeUrl}`);
        return ext.createFilterFactory(f.config, { ...ctx, drain: this.drain });
      }),
    });
    this.chains = new FilterChainMatcher(
      model.filterChains.map((c) => ({ match: c.match, value: compile(c) })),
      model.defaultFilterChain ? compile(model.defaultFilterChain) : undefined,
    );
  }

  /** Worker side: the chain for an accepted socket, or undefined when none matches. */
  selectChain(sock: TcpSocket): CompiledFilterChain | undefined {
    return this.chains.match(new SocketMatchInput(sock));
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
    const was = this.#draining;
    this.#draining = v;
    if (v) this.#config.drain.draining = true;
    // Idle connections close now; busy ones after their current request.
    if (v && !was) for (const c of [...this.connections]) c.drain();
  }

  /** The accept callback (runtime.listen's onConnection). */
  onAccept(sock: TcpSocket): void {
    const cfg = this.#config;
    let chain: CompiledFilterChain | undefined;
    try {
      chain = cfg.selectChain(sock);
    } catch (e) {
      this.log.error(`listener ${cfg.model.name}: filter chain match failed: ${e instanceof Error ? e.stack : e}`);
    }
    if (chain === undefined) {
      // Envoy closes the socket before it becomes a connection, and counts it.
      cfg.noFilterChainMatch.inc();
      sock.events = DISCARD;
      sock.destroy();
      return;
    }
    const conn = new Connection(sock, cfg.bufferLimit, this.wheel, cfg.stats, this.log, this.#onClosed);
    this.connections.add(conn);
    try {
      const fs = chain.filterFactories;
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
