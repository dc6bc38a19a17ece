/**
 * /config_dump sections for xDS resources (control side), in the shape of Envoy's admin v3
 * ListenersConfigDump / ClustersConfigDump / RoutesConfigDump / EndpointsConfigDump: each
 * dynamic resource with version_info and last_updated, and `error_state` (failed_configuration,
 * last_update_attempt, details) for the last rejection of a resource.
 */
import type { ResourceKind } from "./client/resources.ts";
import { KIND_TYPE_URL } from "./client/resources.ts";
import type { ResourceError, XdsManager } from "./xds_manager.ts";

function errorState(e: ResourceError | undefined, kind: ResourceKind): Record<string, unknown> {
  if (!e) return {};
  return {
    error_state: {
      failed_configuration: { "@type": KIND_TYPE_URL[kind], ...(typeof e.raw === "object" && e.raw ? e.raw : {}) },
      last_update_attempt: e.lastUpdateAttempt,
      details: e.detail,
    },
  };
}

function withType(kind: ResourceKind, raw: unknown): Record<string, unknown> {
  return { "@type": KIND_TYPE_URL[kind], ...(typeof raw === "object" && raw ? raw : {}) };
}

/** ListenersConfigDump fields for LDS listeners (active, warming, and rejected ones). */
export function xdsListenersDump(x: XdsManager | null): Record<string, unknown> {
  if (!x) return {};
  const warming = new Set(x.warmingListeners().map((e) => e.name));
  const names = new Set([...x.listeners.keys(), ...x.errors.listener.keys()]);
  const dynamic = [...names].sort().map((name) => {
    const e = x.listeners.get(name);
    const state = e ? { version_info: e.version, listener: withType("listener", e.raw), last_updated: e.lastUpdated } : undefined;
    return {
      name,
      ...(e && !warming.has(name) ? { active_state: state } : {}),
      ...(e && warming.has(name) ? { warming_state: state } : {}),
      ...errorState(x.errors.listener.get(name), "listener"),
      client_status: x.errors.listener.has(name) ? "NACKED" : "ACKED",
    };
  });
  return { version_info: x.versionInfo.listener, dynamic_listeners: dynamic };
}

/** ClustersConfigDump fields for CDS clusters: each a DynamicCluster; a rejected update sets its
 *  error_state (and client_status NACKED); a cluster rejected before it was ever accepted is
 *  listed with only its name, error_state and NACKED. */
export function xdsClustersDump(x: XdsManager | null): Record<string, unknown> {
  if (!x) return {};
  const names = [...new Set([...x.clusters.keys(), ...x.errors.cluster.keys()])].sort();
  const active = names.map((name) => {
    const e = x.clusters.get(name);
    const err = x.errors.cluster.get(name);
    return {
      ...(e ? { version_info: e.version, cluster: withType("cluster", e.raw), last_updated: e.lastUpdated } : { cluster: { "@type": KIND_TYPE_URL.cluster, name } }),
      ...errorState(err, "cluster"),
      client_status: err ? "NACKED" : "ACKED",
    };
  });
  return { version_info: x.versionInfo.cluster, dynamic_active_clusters: active };
}

/** RoutesConfigDump (RDS route configurations). */
export function xdsRoutesDump(x: XdsManager): Record<string, unknown> {
  const names = new Set([...x.routes.keys(), ...x.errors.route.keys()]);
  return {
    "@type": "type.googleapis.com/envoy.admin.v3.RoutesConfigDump",
    dynamic_route_configs: [...names].sort().map((n) => {
      const e = x.routes.get(n);
      return {
        ...(e ? { version_info: e.version, route_config: withType("route", e.raw), last_updated: e.lastUpdated } : { route_config: { name: n } }),
        ...errorState(x.errors.route.get(n), "route"),
      };
    }),
  };
}

/** EndpointsConfigDump (EDS assignments). */
export function xdsEndpointsDump(x: XdsManager): Record<string, unknown> {
  const names = new Set([...x.endpoints.keys(), ...x.errors.endpoint.keys()]);
  return {
    "@type": "type.googleapis.com/envoy.admin.v3.EndpointsConfigDump",
    dynamic_endpoint_configs: [...names].sort().map((n) => {
      const e = x.endpoints.get(n);
      return {
        ...(e ? { version_info: e.version, endpoint_config: withType("endpoint", e.raw), last_updated: e.lastUpdated } : { endpoint_config: { cluster_name: n } }),
        ...errorState(x.errors.endpoint.get(n), "endpoint"),
      };
    }),
  };
}
