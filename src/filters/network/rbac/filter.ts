/**
 * Runtime half of `envoy.filters.network.rbac` (worker side). As Envoy's network RBAC filter:
 * the policies are checked when the first bytes arrive (ONE_TIME_ON_FIRST_BYTE; CONTINUOUS checks
 * every read), shadow rules first (counted only), then the enforced rules; a denied connection is
 * closed without flushing and the bytes never reach the next filter. Stats: `<stat_prefix>rbac.
 * allowed|denied` and `<stat_prefix>rbac.<shadow_rules_stat_prefix>shadow_allowed|shadow_denied`.
 * https://www.envoyproxy.io/docs/envoy/latest/configuration/listeners/network_filters/rbac_filter
 */
import type { Counter, StatsStore } from "../../../core/stats.ts";
import type { Connection } from "../../../network/connection.ts";
import { type NetworkFilter, type NetworkFilterStatus, registerNetworkFilterRuntime } from "../../../network/filter.ts";
import type { NetworkRbacModel } from "./config.ts";
import { RbacEngine, RbacInput } from "./engine.ts";

/** The network RBAC @type URL (kept here so the worker does not load the config half). */
export const NETWORK_RBAC_TYPE_URL = "type.googleapis.com/envoy.extensions.filters.network.rbac.v3.RBAC";

/** Shared per config version and worker: compiled engines and resolved stat handles. */
export class NetworkRbacConfig {
  readonly engine: RbacEngine | null;
  readonly shadowEngine: RbacEngine | null;
  readonly continuous: boolean;
  readonly allowed: Counter;
  readonly denied: Counter;
  readonly shadowAllowed: Counter;
  readonly shadowDenied: Counter;
  constructor(readonly model: NetworkRbacModel, store: StatsStore) {
    this.engine = model.rules ? new RbacEngine(model.rules) : null;
    this.shadowEngine = model.shadowRules ? new RbacEngine(model.shadowRules) : null;
    this.continuous = model.enforcementType === "CONTINUOUS";
    // Envoy: prefix + "rbac." with no dot added (stat_prefix is usually given with one).
    const p = `${model.statPrefix}rbac.`;
    this.allowed = store.counter(p + "allowed");
    this.denied = store.counter(p + "denied");
    this.shadowAllowed = store.counter(p + model.shadowRulesStatPrefix + "shadow_allowed");
    this.shadowDenied = store.counter(p + model.shadowRulesStatPrefix + "shadow_denied");
  }
}

/** What the RBAC engine reads from a connection. The direct peer address differs from the remote
 *  one only once a PROXY protocol listener filter rewrote the latter (it then keeps the peer as
 *  `directRemoteAddress`); until then both are the socket's peer. */
function inputOf(conn: Connection): RbacInput {
  const direct = (conn as { readonly directRemoteAddress?: string }).directRemoteAddress ?? conn.remoteAddress;
  return new RbacInput(conn.localAddress, conn.localPort, conn.remoteAddress, direct, conn.requestedServerName);
}

const UNDECIDED = 0, ALLOWED = 1, DENIED = 2;

/** RBAC on one connection. */
export class NetworkRbacFilter implements NetworkFilter {
  #state = UNDECIDED;
  #shadowDone = false;
  constructor(readonly conn: Connection, readonly cfg: NetworkRbacConfig) {}

  onData(_data: Uint8Array, _endStream: boolean): NetworkFilterStatus {
    if (this.#state === ALLOWED && !this.cfg.continuous) return "continue";
    if (this.#state === DENIED) return "stop";
    const cfg = this.cfg;
    const input = inputOf(this.conn);
    if (cfg.shadowEngine !== null && !this.#shadowDone) {
      this.#shadowDone = true;
      if (cfg.shadowEngine.allowed(input)) cfg.shadowAllowed.inc();
      else cfg.shadowDenied.inc();
    }
    if (cfg.engine === null) {
      this.#state = ALLOWED;
      return "continue";
    }
    if (cfg.engine.allowed(input)) {
      cfg.allowed.inc();
      this.#state = ALLOWED;
      return "continue";
    }
    cfg.denied.inc();
    this.#state = DENIED;
    const log = this.conn.log;
    if (log.enabled("debug")) {
      log.debug(`rbac: closing connection from ${this.conn.remoteAddressString}: rbac_access_denied_matched_policy[${cfg.engine.matchedPolicy || "none"}]`);
    }
    this.conn.close("now");
    return "stop";
  }
}

registerNetworkFilterRuntime({
  name: "envoy.filters.network.rbac",
  typeUrls: [NETWORK_RBAC_TYPE_URL],
  createFilterFactory(config, ctx) {
    const shared = new NetworkRbacConfig(config as NetworkRbacModel, ctx.stats);
    return (conn) => new NetworkRbacFilter(conn, shared);
  },
});
