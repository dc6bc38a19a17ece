/**
 * The HTTP connection manager's per-config-version shared state (built once per worker per
 * snapshot): route table, filter factories, stat handles. Connections only read it.
 */
import type { Counter, Gauge } from "../../core/stats.ts";
import type { HcmModel } from "../../config/model.ts";
import { RouteTable } from "../../router/route_table.ts";
import type { NetworkFilterFactoryContext } from "../../network/filter.ts";
import { findHttpFilterRuntime, type StreamFilterFactory } from "../filter.ts";
import type { AccessLogger } from "./access_log.ts";
import { createAccessLoggers } from "./access_log.ts";
import { ROUTER_TYPE_URL } from "../../filters/http/router/filter.ts";

/** `http.<stat_prefix>.…` handles. */
export class HcmStats {
  readonly downstreamCxTotal: Counter;
  readonly downstreamCxHttp1Total: Counter;
  readonly downstreamCxActive: Gauge;
  readonly downstreamCxHttp1Active: Gauge;
  readonly downstreamCxDestroy: Counter;
  readonly downstreamCxDestroyRemoteActiveRq: Counter;
  readonly downstreamCxProtocolError: Counter;
  readonly downstreamCxIdleTimeout: Counter;
  readonly downstreamCxDrainClose: Counter;
  readonly downstreamCxRxBytesTotal: Counter;
  readonly downstreamCxTxBytesTotal: Counter;
  readonly downstreamRqTotal: Counter;
  readonly downstreamRqHttp1Total: Counter;
  readonly downstreamRqActive: Gauge;
  readonly downstreamRqCompleted: Counter;
  readonly downstreamRqRxReset: Counter;
  readonly downstreamRqTxReset: Counter;
  readonly downstreamRqTimeout: Counter;
  /** downstream_rq_1xx … downstream_rq_5xx by status / 100. */
  readonly downstreamRqByClass: Counter[];
  constructor(ctx: NetworkFilterFactoryContext, prefix: string) {
    const c = (n: string) => ctx.stats.counter(prefix + n);
    const g = (n: string) => ctx.stats.gauge(prefix + n);
    this.downstreamCxTotal = c("downstream_cx_total");
    this.downstreamCxHttp1Total = c("downstream_cx_http1_total");
    this.downstreamCxActive = g("downstream_cx_active");
    this.downstreamCxHttp1Active = g("downstream_cx_http1_active");
    this.downstreamCxDestroy = c("downstream_cx_destroy");
    this.downstreamCxDestroyRemoteActiveRq = c("downstream_cx_destroy_remote_active_rq");
    this.downstreamCxProtocolError = c("downstream_cx_protocol_error");
    this.downstreamCxIdleTimeout = c("downstream_cx_idle_timeout");
    this.downstreamCxDrainClose = c("downstream_cx_drain_close");
    this.downstreamCxRxBytesTotal = c("downstream_cx_rx_bytes_total");
    this.downstreamCxTxBytesTotal = c("downstream_cx_tx_bytes_total");
    this.downstreamRqTotal = c("downstream_rq_total");
    this.downstreamRqHttp1Total = c("downstream_rq_http1_total");
    this.downstreamRqActive = g("downstream_rq_active");
    this.downstreamRqCompleted = c("downstream_rq_completed");
    this.downstreamRqRxReset = c("downstream_rq_rx_reset");
    this.downstreamRqTxReset = c("downstream_rq_tx_reset");
    this.downstreamRqTimeout = c("downstream_rq_timeout");
    this.downstreamRqByClass = [0, 1, 2, 3, 4, 5].map((k) => c(k === 0 ? "downstream_rq_0xx" : `downstream_rq_${k}xx`));
  }
}

/** Everything an HCM connection needs from config, compiled once. */
export class HcmConfig {
  readonly statPrefix: string;
  readonly stats: HcmStats;
  readonly routeTable: RouteTable;
  readonly filterFactories: readonly StreamFilterFactory[];
  readonly accessLoggers: readonly AccessLogger[];
  constructor(readonly model: HcmModel, readonly ctx: NetworkFilterFactoryContext) {
    this.statPrefix = `http.${model.statPrefix}.`;
    this.stats = new HcmStats(ctx, this.statPrefix);
    this.routeTable = new RouteTable(model.routeConfig);
    const fctx = { clusterManager: ctx.clusterManager, wheel: ctx.wheel, stats: ctx.stats, statPrefix: this.statPrefix };
    // An HCM without HTTP filters routes with a default router, as Envoy does.
    const filters = model.httpFilters.length > 0
      ? model.httpFilters
      : [{ name: "envoy.filters.http.router", typeUrl: ROUTER_TYPE_URL, config: {} }];
    this.filterFactories = filters.map((f) => {
      const ext = findHttpFilterRuntime(f.typeUrl);
      // The config layer refuses unknown types, so a miss here is a registration bug.
      if (!ext) throw new Error(`no runtime registered for HTTP filter ${f.typeUrl}`);
      return ext.createFilterFactory(f.config, fctx);
    });
    this.accessLoggers = createAccessLoggers(model.accessLog);
  }
}
