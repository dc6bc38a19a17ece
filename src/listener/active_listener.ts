/**
 * A listener on the worker side: accepts sockets, wraps them in Connections and gives each the
 * network filters of the listener's current config. A connection keeps the config it was
 * accepted with for life; a config swap only affects new connections, and drains the
 * connections of the chains it removed or changed (unchanged chains keep theirs).
 */
import type { Logger } from "../core/log.ts";
import type { StatsStore } from "../core/stats.ts";
import type { TimerWheel } from "../core/timer_wheel.ts";
import type { Counter } from "../core/stats.ts";
// [listener filters]
import type { ListenerFilterFactory } from "./listener_filter.ts";
import { findListenerFilterRuntime } from "./listener_filter.ts";
import { type AcceptCompletion, AcceptingSocket, type ListenerFilterPhase, type PreConnectionStats } from "./accepting_socket.ts";
import type { AcceptedConnectionInfo, DownstreamTransportSocketFactory } from "../network/transport_socket.ts";
import "../filters/listener/builtin.ts";
// [/listener filters]
import type { FilterChainModel, ListenerModel } from "../config/model.ts";
import { Connection, type ConnectionStats } from "../network/connection.ts";
import {
  type DrainState,
  findNetworkFilterRuntime,
  type NetworkFilterFactory,
} from "../network/filter.ts";
import type { SocketEvents, TcpSocket } from "../runtime/types.ts";
import type { ThreadLocalClusterManager } from "../upstream/thread_local_cluster.ts";
import type { RouteConfigProviders } from "../router/route_config_provider.ts";
import { type FilterChainMatchInput, FilterChainMatcher } from "./filter_chain_match.ts";
import { createDownstreamTlsFactory } from "../tls/downstream_tls.ts"; // [tls]

/** A filter chain ready to instantiate: its name and per-connection filter constructors. */
export interface CompiledFilterChain {
  readonly name: string;
  readonly filterFactories: readonly NetworkFilterFactory[];
  /** The chain's transport socket (TLS); absent = raw_buffer, the accepted socket itself. */
  readonly transportSocket?: DownstreamTransportSocketFactory;
  /** Set when this chain is removed or changed by a listener update, or the listener drains:
   *  connections on it answer with `connection: close` (the chain's filters hold this object).
   *  A chain left unchanged by an update keeps this object, and so its connections run on. */
  readonly drain: { draining: boolean };
  /** The chain's identity across versions of one listener: the chain model's JSON (its match
   *  included). Equal keys, under an equal `ListenerConfig.listenerKey`, = the same chain. */
  readonly key: string;
}

/** What a transport socket learns about a socket accepted without listener filters. */
const NO_LISTENER_FILTER_INFO: AcceptedConnectionInfo = { serverName: "", applicationProtocols: [] };

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
export class ListenerConfig implements ListenerFilterPhase {
  readonly stats: ConnectionStats;
  // [listener filters]
  /** Per-connection constructors of `listener_filters`, in order (empty = none). */
  readonly listenerFilters: readonly ListenerFilterFactory[];
  readonly listenerFiltersTimeoutMs: number;
  readonly continueOnListenerFiltersTimeout: boolean;
  readonly preCx: PreConnectionStats;
  // [/listener filters]
  /** `listener.<address>.no_filter_chain_match`. */
  readonly noFilterChainMatch: Counter;
  readonly bufferLimit: number;
  /** The chains, compiled into Envoy's filter-chain match tree (once per config version). */
  readonly chains: FilterChainMatcher<CompiledFilterChain>;
  /** Every compiled chain of this version (the default chain included), each once. */
  readonly compiledChains: readonly CompiledFilterChain[];
  /** What every chain depends on: the listener without its chains (address, listener filters,
   *  buffer limit, …). Chains are reused from a previous version only when this is equal. */
  readonly listenerKey: string;
  /**
   * `previous`: the version this one replaces on the same socket. Chains whose model did not
   * change are taken over from it as they are (filter factories, TLS context, drain flag), so
   * their connections keep running untouched: Envoy's in-place filter-chain update
   * (https://www.envoyproxy.io/docs/envoy/latest/intro/arch_overview/listeners/listeners#filter-chains-only-update).
   */
  constructor(
    readonly model: ListenerModel,
    ctx: { clusterManager: ThreadLocalClusterManager; wheel: TimerWheel; stats: StatsStore; healthCheckFailed?: () => boolean; routeConfigs?: RouteConfigProviders },
    previous?: ListenerConfig,
  ) {
    const p = `listener.${listenerStatName(model.address.address, model.address.port)}.`;
    this.stats = {
      cxTotal: ctx.stats.counter(p + "downstream_cx_total"),
      cxActive: ctx.stats.gauge(p + "downstream_cx_active"),
      cxDestroy: ctx.stats.counter(p + "downstream_cx_destroy"),
    };
    this.noFilterChainMatch = ctx.stats.counter(p + "no_filter_chain_match");
    // [listener filters]
    this.preCx = {
      active: ctx.stats.gauge(p + "downstream_pre_cx_active"),
      timeout: ctx.stats.counter(p + "downstream_pre_cx_timeout"),
      remoteClose: ctx.stats.counter(p + "downstream_listener_filter_remote_close"),
      error: ctx.stats.counter(p + "downstream_listener_filter_error"),
    };
    this.listenerFilters = (model.listenerFilters ?? []).map((f) => {
      const ext = findListenerFilterRuntime(f.typeUrl);
      if (!ext) throw new Error(`no runtime registered for listener filter ${f.typeUrl}`);
      return ext.createFilterFactory(f.config, { stats: ctx.stats });
    });
    this.listenerFiltersTimeoutMs = model.listenerFiltersTimeoutMs ?? 15_000;
    this.continueOnListenerFiltersTimeout = model.continueOnListenerFiltersTimeout ?? false;
    // [/listener filters]
    this.bufferLimit = model.perConnectionBufferLimitBytes;
    const { filterChains: _chains, defaultFilterChain: _default, ...listenerLevel } = model;
    this.listenerKey = p + JSON.stringify(listenerLevel);
    const reusable = new Map<string, CompiledFilterChain>();
    if (previous !== undefined && previous.listenerKey === this.listenerKey) {
      for (const c of previous.compiledChains) reusable.set(c.key, c);
    }
    const compiled = new Map<string, CompiledFilterChain>();
    const compile = (chain: FilterChainModel, isDefault: boolean): CompiledFilterChain => {
      const key = (isDefault ? "default " : "") + JSON.stringify(chain);
      const known = compiled.get(key) ?? reusable.get(key);
      if (known !== undefined) return (compiled.set(key, known), known);
      const drain = { draining: false };
      const c: CompiledFilterChain = {
        name: chain.name,
        ...(chain.tls ? { transportSocket: createDownstreamTlsFactory(chain.tls, ctx.clusterManager.runtime, ctx.stats, p) } : {}), // [tls]
        filterFactories: chain.filters.map((f) => {
          const ext = findNetworkFilterRuntime(f.typeUrl);
          if (!ext) throw new Error(`no runtime registered for network filter ${f.typeUrl}`);
          return ext.createFilterFactory(f.config, { ...ctx, drain });
        }),
        drain,
        key,
      };
      compiled.set(key, c);
      return c;
    };
    this.chains = new FilterChainMatcher(
      model.filterChains.map((c) => ({ match: c.match, value: compile(c, false) })),
      model.defaultFilterChain ? compile(model.defaultFilterChain, true) : undefined,
    );
    this.compiledChains = [...compiled.values()];
  }

  /** Marks every chain of this version draining (listener removal, hot restart, shutdown). */
  drainAll(): void {
    for (const c of this.compiledChains) c.drain.draining = true;
  }

  /** Worker side: the chain for an accepted socket, or undefined when none matches. */
  selectChain(sock: TcpSocket): CompiledFilterChain | undefined {
    return this.chains.match(new SocketMatchInput(sock));
  }
}

/** Accepts connections for one listener on this worker. */
export class ActiveListener implements DrainState, AcceptCompletion<ListenerConfig> {
  #config: ListenerConfig;
  readonly connections = new Set<Connection>();
  /** Sockets in their listener-filter phase. */
  readonly accepting = new Set<AcceptingSocket<ListenerConfig>>();
  #draining = false;
  readonly #onClosed = (c: Connection) => void this.connections.delete(c);

  constructor(config: ListenerConfig, readonly wheel: TimerWheel, readonly log: Logger) {
    this.#config = config;
  }

  /** The config new connections get. */
  get config(): ListenerConfig {
    return this.#config;
  }

  /** Installs a new config for connections accepted from now on. Connections on chains the
   *  new config no longer has (removed or changed) drain: HTTP answers `connection: close`
   *  after the current request. Chains the new config took over unchanged (see ListenerConfig)
   *  keep their connections running as they are. */
  update(config: ListenerConfig): void {
    if (config === this.#config) return;
    const kept = new Set(config.compiledChains);
    for (const c of this.#config.compiledChains) if (!kept.has(c)) c.drain.draining = true;
    if (this.#draining) config.drainAll();
    this.#config = config;
  }

  /** True while the whole listener drains (hot restart, removal, /drain_listeners). */
  get draining(): boolean {
    return this.#draining;
  }
  set draining(v: boolean) {
    const was = this.#draining;
    this.#draining = v;
    if (v) this.#config.drainAll();
    // Idle connections close now; busy ones after their current request.
    if (v && !was) for (const c of [...this.connections]) c.drain();
  }

  /** The accept callback (runtime.listen's onConnection). */
  onAccept(sock: TcpSocket): void {
    const cfg = this.#config;
    if (cfg.listenerFilters.length !== 0) {
      // Listener filters first; the chain is chosen when they are done (completeAccept).
      const a = new AcceptingSocket<ListenerConfig>(this, cfg, sock, this.wheel);
      this.accepting.add(a);
      a.start();
      return;
    }
    let chain: CompiledFilterChain | undefined;
    try {
      chain = cfg.selectChain(sock);
    } catch (e) {
      this.log.error(`listener ${cfg.model.name}: filter chain match failed: ${e instanceof Error ? e.stack : e}`);
    }
    this.#connect(cfg, chain, sock, undefined);
  }

  /** Worker side: the listener filters of `a` are done: choose its chain and connect it. */
  completeAccept(a: AcceptingSocket<ListenerConfig>): void {
    const cfg = a.config;
    let chain: CompiledFilterChain | undefined;
    try {
      chain = cfg.chains.match(a);
    } catch (e) {
      this.log.error(`listener ${cfg.model.name}: filter chain match failed: ${e instanceof Error ? e.stack : e}`);
    }
    this.#connect(cfg, chain, a.socket, a);
  }

  /** A socket left its listener-filter phase. */
  acceptEnded(a: AcceptingSocket<ListenerConfig>): void {
    this.accepting.delete(a);
  }

  logFailure(what: string, e: unknown): void {
    this.log.error(`listener ${this.#config.model.name}: closing a socket: ${what}${e === undefined ? "" : `: ${e instanceof Error ? e.stack : e}`}`);
  }

  /** Makes the Connection for `sock` on `chain` (or closes it when no chain matched). `a` is
   *  set after listener filters: its addresses, SNI and transport protocol go to the connection
   *  and its peeked bytes are replayed (or handed to the transport socket). */
  #connect(cfg: ListenerConfig, chain: CompiledFilterChain | undefined, sock: TcpSocket, a: AcceptingSocket<ListenerConfig> | undefined): void {
    if (chain === undefined) {
      // Envoy closes the socket before it becomes a connection, and counts it.
      cfg.noFilterChainMatch.inc();
      sock.events = DISCARD;
      sock.destroy();
      return;
    }
    const peeked = a ? a.peeked : null;
    let s = sock;
    if (chain.transportSocket) {
      try {
        s = chain.transportSocket.wrap(sock, peeked, a ?? NO_LISTENER_FILTER_INFO);
      } catch (e) {
        this.log.error(`listener ${cfg.model.name}: transport socket ${chain.transportSocket.name} failed: ${e instanceof Error ? e.stack : e}`);
        sock.events = DISCARD;
        sock.destroy();
        return;
      }
    }
    const conn = new Connection(s, cfg.bufferLimit, this.wheel, cfg.stats, this.log, this.#onClosed, a);
    if (a) {
      conn.requestedServerName = a.serverName;
      conn.transportProtocol = a.transportProtocol;
    }
    this.connections.add(conn);
    try {
      const fs = chain.filterFactories;
      const filters = new Array(fs.length);
      for (let i = 0; i < fs.length; i++) filters[i] = fs[i]!(conn);
      conn.start(filters);
    } catch (e) {
      this.log.error(`listener ${cfg.model.name}: closing a new connection after an internal error: ${e instanceof Error ? e.stack : e}`);
      conn.close("now");
      return;
    }
    // Without a transport socket, what the listener filters read is the connection's first data.
    if (peeked !== null && !chain.transportSocket && !conn.closing) conn.onData(peeked);
  }

  /** Closes every connection now (shutdown), and sockets still in their listener filters. */
  closeAll(): void {
    for (const a of [...this.accepting]) a.close();
    for (const c of [...this.connections]) c.close("now");
  }
}
