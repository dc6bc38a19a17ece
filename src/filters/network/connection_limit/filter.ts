/**
 * Runtime half of `envoy.filters.network.connection_limit` (worker side): a new connection is
 * admitted when the count shared by all workers is below `max_connections` (compare-and-swap, so
 * concurrent workers never overshoot); otherwise it is counted in `limited_connections`, its reads
 * are stopped, and it is closed at once or after `delay`. An admitted connection is counted in the
 * `active_connections` gauge until it closes.
 * https://www.envoyproxy.io/docs/envoy/latest/configuration/listeners/network_filters/connection_limit_filter
 */
import type { Counter, Gauge } from "../../../core/stats.ts";
import { type TimerTarget, type TimerWheel, WheelTimer } from "../../../core/timer_wheel.ts";
import type { Connection } from "../../../network/connection.ts";
import { type NetworkFilter, type NetworkFilterStatus, registerNetworkFilterRuntime } from "../../../network/filter.ts";
import type { ConnectionLimitModel } from "./config.ts";

/** The ConnectionLimit @type URL (kept here so the worker does not load the config half). */
export const CONNECTION_LIMIT_TYPE_URL = "type.googleapis.com/envoy.extensions.filters.network.connection_limit.v3.ConnectionLimit";

/** Shared per config version and worker. */
export class ConnectionLimitConfig {
  readonly #count: Int32Array;
  readonly max: number;
  readonly delayMs: number;
  readonly enabled: boolean;
  readonly limitedConnections: Counter;
  readonly activeConnections: Gauge;
  constructor(model: ConnectionLimitModel, readonly wheel: TimerWheel, stats: { counter(n: string): Counter; gauge(n: string): Gauge }) {
    // A model that lost its buffer on the way (serialised as JSON) falls back to a count per worker.
    this.#count = model.counter instanceof ArrayBuffer || isShared(model.counter) ? new Int32Array(model.counter, 0, 1) : new Int32Array(1);
    this.max = model.maxConnections;
    this.delayMs = model.delayMs;
    this.enabled = model.enabled;
    const p = `connection_limit.${model.statPrefix}.`;
    this.limitedConnections = stats.counter(p + "limited_connections");
    this.activeConnections = stats.gauge(p + "active_connections");
  }

  /** Admits one more connection when under the limit (all workers together). */
  tryAdmit(): boolean {
    const a = this.#count;
    for (;;) {
      const n = Atomics.load(a, 0);
      if (n >= this.max) return false;
      if (Atomics.compareExchange(a, 0, n, n + 1) === n) {
        this.activeConnections.inc();
        return true;
      }
    }
  }

  release(): void {
    Atomics.sub(this.#count, 0, 1);
    this.activeConnections.dec();
  }

  /** Connections admitted now, across workers. */
  get count(): number {
    return Atomics.load(this.#count, 0);
  }
}

function isShared(b: unknown): boolean {
  return typeof SharedArrayBuffer === "function" && b instanceof SharedArrayBuffer;
}

const TIMER_DELAY = 1;
const ADMITTED = 1, REFUSED = 2;

/** The limit on one connection. */
export class ConnectionLimitFilter implements NetworkFilter, TimerTarget {
  #state = 0;
  #timer: WheelTimer | null = null;
  constructor(readonly conn: Connection, readonly cfg: ConnectionLimitConfig) {}

  onNewConnection(): NetworkFilterStatus {
    const cfg = this.cfg;
    if (!cfg.enabled) return "continue";
    if (cfg.tryAdmit()) {
      this.#state = ADMITTED;
      return "continue";
    }
    this.#state = REFUSED;
    cfg.limitedConnections.inc();
    if (cfg.delayMs > 0) {
      // Held, not read, so a client retrying in a loop is slowed down (Envoy's reason for delay).
      this.conn.readDisable(true);
      this.#timer = new WheelTimer(this, TIMER_DELAY);
      cfg.wheel.arm(this.#timer, cfg.delayMs);
    } else this.conn.close("now");
    return "stop";
  }

  onData(_data: Uint8Array, _endStream: boolean): NetworkFilterStatus {
    return this.#state === REFUSED ? "stop" : "continue";
  }

  onTimer(_kind: number): void {
    this.#timer = null;
    this.conn.close("now");
  }

  onClose(_local: boolean): void {
    if (this.#timer !== null) {
      this.cfg.wheel.disarm(this.#timer);
      this.#timer = null;
    }
    if (this.#state === ADMITTED) {
      this.#state = 0;
      this.cfg.release();
    }
  }
}

registerNetworkFilterRuntime({
  name: "envoy.filters.network.connection_limit",
  typeUrls: [CONNECTION_LIMIT_TYPE_URL],
  createFilterFactory(config, ctx) {
    const shared = new ConnectionLimitConfig(config as ConnectionLimitModel, ctx.wheel, ctx.stats);
    return (conn) => new ConnectionLimitFilter(conn, shared);
  },
});
