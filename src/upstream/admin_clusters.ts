/**
 * `/clusters` output (control side): Envoy's text format (`<cluster>::<host>::<field>::<value>`)
 * and the JSON form (`envoy.admin.v3.Clusters`), from the control-side cluster manager.
 * https://www.envoyproxy.io/docs/envoy/latest/operations/admin#get--clusters
 */
import type { ClusterManager } from "./cluster_manager.ts";
import { formatHealthFlags, HealthFlag } from "./host.ts";

const EDS_STATUS: Record<string, string> = {
  UNKNOWN: "HEALTHY",
  HEALTHY: "HEALTHY",
  UNHEALTHY: "UNHEALTHY",
  DRAINING: "DRAINING",
  TIMEOUT: "TIMEOUT",
  DEGRADED: "DEGRADED",
};

/** The text form of `/clusters`. */
export function clustersText(cm: ClusterManager): string {
  const lines: string[] = [];
  for (const c of cm.all()) {
    const s = c.snapshot();
    const n = s.name;
    const cb = s.settings.circuitBreakers;
    lines.push(`${n}::observability_name::${n}`);
    for (const [label, t] of [["default_priority", cb.default], ["high_priority", cb.high]] as const) {
      lines.push(`${n}::${label}::max_connections::${t.maxConnections}`);
      lines.push(`${n}::${label}::max_pending_requests::${t.maxPendingRequests}`);
      lines.push(`${n}::${label}::max_requests::${t.maxRequests}`);
      lines.push(`${n}::${label}::max_retries::${t.maxRetries}`);
    }
    lines.push(`${n}::added_via_api::false`);
    for (const h of s.hosts) {
      const a = h.address.includes(":") ? `[${h.address}]:${h.port}` : `${h.address}:${h.port}`;
      lines.push(`${n}::${a}::hostname::${h.hostname}`);
      lines.push(`${n}::${a}::health_flags::${formatHealthFlags(h.healthFlags)}`);
      lines.push(`${n}::${a}::weight::${h.weight}`);
      lines.push(`${n}::${a}::region::${h.locality.region}`);
      lines.push(`${n}::${a}::zone::${h.locality.zone}`);
      lines.push(`${n}::${a}::sub_zone::${h.locality.subZone}`);
      lines.push(`${n}::${a}::canary::false`);
      lines.push(`${n}::${a}::priority::${h.priority}`);
      lines.push(`${n}::${a}::success_rate::-1`);
      lines.push(`${n}::${a}::local_origin_success_rate::-1`);
    }
  }
  return lines.length ? lines.join("\n") + "\n" : "";
}

/** The JSON form of `/clusters?format=json`. */
export function clustersJson(cm: ClusterManager): unknown {
  return {
    cluster_statuses: cm.all().map((c) => {
      const s = c.snapshot();
      const cb = s.settings.circuitBreakers;
      const th = (priority: string | undefined, t: typeof cb.default) => ({
        ...(priority ? { priority } : {}),
        max_connections: t.maxConnections,
        max_pending_requests: t.maxPendingRequests,
        max_requests: t.maxRequests,
        max_retries: t.maxRetries,
      });
      const byKey = new Map(c.discovered.map((d) => [d.key, d.endpoint.healthStatus]));
      return {
        name: s.name,
        observability_name: s.name,
        added_via_api: false,
        circuit_breakers: { thresholds: [th(undefined, cb.default), th("HIGH", cb.high)] },
        host_statuses: s.hosts.map((h) => {
          const hs: Record<string, unknown> = { eds_health_status: EDS_STATUS[byKey.get(h.key) ?? "UNKNOWN"] ?? "HEALTHY" };
          if (h.healthFlags & HealthFlag.FailedActiveHc) hs.failed_active_health_check = true;
          if (h.healthFlags & HealthFlag.FailedOutlierCheck) hs.failed_outlier_check = true;
          if (h.healthFlags & HealthFlag.PendingActiveHc) hs.pending_active_hc = true;
          return {
            address: { socket_address: { address: h.address, port_value: h.port } },
            stats: [],
            health_status: hs,
            weight: h.weight,
            ...(h.hostname ? { hostname: h.hostname } : {}),
            ...(h.priority ? { priority: h.priority } : {}),
            locality: { region: h.locality.region, zone: h.locality.zone, sub_zone: h.locality.subZone },
          };
        }),
      };
    }),
  };
}
