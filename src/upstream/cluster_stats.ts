/**
 * Envoy's per-cluster stats (`cluster.<name>.…`), resolved to handles once per cluster so the
 * data path never builds a stat name.
 * https://www.envoyproxy.io/docs/envoy/latest/configuration/upstream/cluster_manager/cluster_stats
 */
import type { Counter, Gauge, Histogram, StatsStore } from "../core/stats.ts";

/** Handles for one cluster's stats (both sides read/write them). */
export class ClusterStats {
  readonly upstreamCxTotal: Counter;
  readonly upstreamCxHttp1Total: Counter;
  readonly upstreamCxActive: Gauge;
  readonly upstreamCxConnectFail: Counter;
  readonly upstreamCxConnectTimeout: Counter;
  readonly upstreamCxDestroy: Counter;
  readonly upstreamCxDestroyLocal: Counter;
  readonly upstreamCxDestroyRemote: Counter;
  readonly upstreamCxDestroyWithActiveRq: Counter;
  readonly upstreamCxRxBytesTotal: Counter;
  readonly upstreamCxTxBytesTotal: Counter;
  readonly upstreamCxProtocolError: Counter;
  readonly upstreamCxNoneHealthy: Counter;
  readonly upstreamRqTotal: Counter;
  readonly upstreamRqActive: Gauge;
  readonly upstreamRqCompleted: Counter;
  /** upstream_rq_time (ms), from the upstream request's start to its response's end. */
  readonly upstreamRqTime: Histogram;
  readonly upstreamRqTimeout: Counter;
  readonly upstreamRqRxReset: Counter;
  readonly upstreamRqTxReset: Counter;
  readonly upstreamRqPendingTotal: Counter;
  readonly upstreamRqPendingFailureEject: Counter;
  readonly upstreamRqPendingOverflow: Counter;
  readonly upstreamRqPendingActive: Gauge;
  readonly upstreamRqCancelled: Counter;
  readonly upstreamRqRetryOverflow: Counter;
  readonly upstreamCxOverflow: Counter;
  readonly upstreamCxMaxRequests: Counter;
  readonly upstreamCxIdleTimeout: Counter;
  /** upstream_rq_1xx … upstream_rq_5xx, indexed by status / 100. */
  readonly upstreamRqByClass: Counter[];
  readonly membershipTotal: Gauge;
  readonly membershipHealthy: Gauge;

  constructor(store: StatsStore, clusterName: string) {
    const p = `cluster.${clusterName}.`;
    const c = (n: string) => store.counter(p + n);
    const g = (n: string, mode: "accumulate" | "never" = "accumulate") => store.gauge(p + n, mode);
    this.upstreamCxTotal = c("upstream_cx_total");
    this.upstreamCxHttp1Total = c("upstream_cx_http1_total");
    this.upstreamCxActive = g("upstream_cx_active");
    this.upstreamCxConnectFail = c("upstream_cx_connect_fail");
    this.upstreamCxConnectTimeout = c("upstream_cx_connect_timeout");
    this.upstreamCxDestroy = c("upstream_cx_destroy");
    this.upstreamCxDestroyLocal = c("upstream_cx_destroy_local");
    this.upstreamCxDestroyRemote = c("upstream_cx_destroy_remote");
    this.upstreamCxDestroyWithActiveRq = c("upstream_cx_destroy_with_active_rq");
    this.upstreamCxRxBytesTotal = c("upstream_cx_rx_bytes_total");
    this.upstreamCxTxBytesTotal = c("upstream_cx_tx_bytes_total");
    this.upstreamCxProtocolError = c("upstream_cx_protocol_error");
    this.upstreamCxNoneHealthy = c("upstream_cx_none_healthy");
    this.upstreamRqTotal = c("upstream_rq_total");
    this.upstreamRqActive = g("upstream_rq_active");
    this.upstreamRqCompleted = c("upstream_rq_completed");
    this.upstreamRqTime = store.histogram(p + "upstream_rq_time");
    this.upstreamRqTimeout = c("upstream_rq_timeout");
    this.upstreamRqRxReset = c("upstream_rq_rx_reset");
    this.upstreamRqTxReset = c("upstream_rq_tx_reset");
    this.upstreamRqPendingTotal = c("upstream_rq_pending_total");
    this.upstreamRqPendingFailureEject = c("upstream_rq_pending_failure_eject");
    this.upstreamRqPendingOverflow = c("upstream_rq_pending_overflow");
    this.upstreamRqPendingActive = g("upstream_rq_pending_active");
    this.upstreamRqCancelled = c("upstream_rq_cancelled");
    this.upstreamRqRetryOverflow = c("upstream_rq_retry_overflow");
    this.upstreamCxOverflow = c("upstream_cx_overflow");
    this.upstreamCxMaxRequests = c("upstream_cx_max_requests");
    this.upstreamCxIdleTimeout = c("upstream_cx_idle_timeout");
    this.upstreamRqByClass = [0, 1, 2, 3, 4, 5].map((k) => c(k === 0 ? "upstream_rq_0xx" : `upstream_rq_${k}xx`));
    this.membershipTotal = g("membership_total", "never");
    this.membershipHealthy = g("membership_healthy", "never");
  }
}
