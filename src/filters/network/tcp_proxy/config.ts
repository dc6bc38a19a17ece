/**
 * Config of `envoy.filters.network.tcp_proxy` (control side): validates the TcpProxy typed_config
 * into a TcpProxyModel and registers the extension by `@type`.
 * https://www.envoyproxy.io/docs/envoy/latest/api-v3/extensions/filters/network/tcp_proxy/v3/tcp_proxy.proto
 */
import * as v from "valibot";
import { parseAccessLogs } from "../../../config/access_log.ts";
import type { AccessLogModel } from "../../../config/model.ts";
import { duration, isMapping, list, message, parseWith, str, uint32 } from "../../../config/schema.ts";
import { type ConfigExtension, registerConfigExtension } from "../../../registry/registry.ts";

/** The TcpProxy `@type` URL. */
export const TCP_PROXY_TYPE_URL = "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy";

/** Envoy's idle_timeout default: 1 hour. */
export const DEFAULT_TCP_IDLE_TIMEOUT_MS = 3_600_000;

/** envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy after validation. */
export interface TcpProxyModel {
  /** Stats under `tcp.<statPrefix>.`. */
  readonly statPrefix: string;
  /** `cluster`; "" when `weightedClusters` is used. */
  readonly cluster: string;
  /** `weighted_clusters.clusters` (empty when `cluster` is used). */
  readonly weightedClusters: readonly { readonly name: string; readonly weight: number }[];
  /** `idle_timeout` in ms; 0 disables it. */
  readonly idleTimeoutMs: number;
  /** `max_connect_attempts` (≥ 1; default 1). */
  readonly maxConnectAttempts: number;
  readonly accessLog: readonly AccessLogModel[];
}

const clusterWeightSchema = message(
  { name: str({ nonEmpty: true }), weight: uint32({ min: 1 }) },
  { unsupported: ["metadata_match"] },
);

const weightedClusterSchema = message({
  clusters: v.pipe(v.array(clusterWeightSchema), v.minLength(1, "must have at least one cluster")),
});

const tcpProxySchema = message(
  {
    stat_prefix: str({ nonEmpty: true }),
    cluster: v.optional(str({ nonEmpty: true })),
    weighted_clusters: v.optional(weightedClusterSchema),
    idle_timeout: v.optional(duration()),
    max_connect_attempts: v.optional(uint32({ min: 1, wrapper: true }), 1),
    access_log: v.optional(list, []),
  },
  {
    unsupported: [
      "on_demand",
      "metadata_match",
      "downstream_idle_timeout",
      "upstream_idle_timeout",
      "hash_policy",
      "tunneling_config",
      "max_downstream_connection_duration",
      "access_log_flush_interval",
      "flush_access_log_on_connected",
      "access_log_options",
      "backoff_options",
      "proxy_protocol_tlvs",
      "max_early_data_bytes",
      "upstream_connect_mode",
    ],
    oneofs: [{ members: ["cluster", "weighted_clusters"], supported: ["cluster", "weighted_clusters"], required: true }],
  },
);

/** Control side: the TcpProxy config extension. */
export const tcpProxyExtension: ConfigExtension<TcpProxyModel> = {
  name: "envoy.filters.network.tcp_proxy",
  typeUrls: [TCP_PROXY_TYPE_URL],
  category: "network_filter",
  terminal: true,
  parseConfig(json, ctx) {
    const t = parseWith(ctx, tcpProxySchema, json);
    const raw = isMapping(json) ? json : {};
    const accessLog = Array.isArray(raw.access_log) ? parseAccessLogs(raw.access_log, ctx.child("access_log")) : [];
    if (!t || !accessLog) return undefined;
    // Envoy does not check at config time that the clusters exist (they may come later from
    // CDS): a connection to an unknown cluster is counted in downstream_cx_no_route.
    return {
      statPrefix: t.stat_prefix,
      cluster: t.cluster ?? "",
      weightedClusters: t.weighted_clusters?.clusters.map((c) => ({ name: c.name, weight: c.weight })) ?? [],
      // Envoy: unset means 1 hour; an explicit 0 disables the idle timeout.
      idleTimeoutMs: t.idle_timeout ?? DEFAULT_TCP_IDLE_TIMEOUT_MS,
      maxConnectAttempts: t.max_connect_attempts,
      accessLog,
    };
  },
};

registerConfigExtension(tcpProxyExtension);
