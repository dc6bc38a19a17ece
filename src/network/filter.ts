/**
 * The network (L4) filter API (worker side): filters see a connection's bytes before any HTTP.
 * A read filter returns "continue" to pass data on or "stop" to hold it; the last filter
 * (tcp_proxy, the HTTP connection manager) consumes it.
 */
import type { StatsStore } from "../core/stats.ts";
import type { TimerWheel } from "../core/timer_wheel.ts";
import type { ThreadLocalClusterManager } from "../upstream/thread_local_cluster.ts";
import type { Connection } from "./connection.ts";
import type { RouteConfigProviders } from "../router/route_config_provider.ts";

/** How a network filter tells the chain to proceed. */
export type NetworkFilterStatus = "continue" | "stop";

/** One network filter instance on one connection. */
export interface NetworkFilter {
  /** Called once when the connection is set up. */
  onNewConnection?(): NetworkFilterStatus;
  /** Bytes from the peer; `endStream` when the peer half-closed (then `data` is empty). */
  onData(data: Uint8Array, endStream: boolean): NetworkFilterStatus;
  /** The connection closed (`local` when we closed it). */
  onClose?(local: boolean): void;
  /** The listener drains (hot restart, shutdown, /drain_listeners): wind the connection down. */
  onDrain?(): void;
  /** The connection's write buffer crossed its watermarks. */
  onAboveWriteBufferHighWatermark?(): void;
  onBelowWriteBufferLowWatermark?(): void;
}

/** The per-connection constructor a network filter factory returns. */
export type NetworkFilterFactory = (conn: Connection) => NetworkFilter;

/** What a network filter factory may use when it is built (per config version, per worker). */
export interface NetworkFilterFactoryContext {
  readonly clusterManager: ThreadLocalClusterManager;
  readonly wheel: TimerWheel;
  readonly stats: StatsStore;
  /** Set while the listener drains: HTTP answers with `Connection: close`. */
  readonly drain: DrainState;
  /** True after POST /healthcheck/fail (the health_check filter fails its checks). */
  readonly healthCheckFailed?: () => boolean;
  /** This thread's RDS route tables (an HCM with `rds` takes its holder). */
  readonly routeConfigs?: RouteConfigProviders;
}

/** Whether new work on a listener should wind down (hot restart, listener removal). */
export interface DrainState {
  readonly draining: boolean;
}

/** Runtime half of a network filter extension. */
export interface NetworkFilterRuntimeExtension {
  readonly name: string;
  readonly typeUrls: readonly string[];
  createFilterFactory(config: unknown, ctx: NetworkFilterFactoryContext): NetworkFilterFactory;
}

const byTypeUrl = new Map<string, NetworkFilterRuntimeExtension>();

/** Registers the runtime half of a network filter (at module load). */
export function registerNetworkFilterRuntime(ext: NetworkFilterRuntimeExtension): void {
  for (const url of ext.typeUrls) byTypeUrl.set(url, ext);
}

/** Finds the runtime half of a network filter by its typed_config @type URL. */
export function findNetworkFilterRuntime(typeUrl: string): NetworkFilterRuntimeExtension | undefined {
  return byTypeUrl.get(typeUrl);
}
