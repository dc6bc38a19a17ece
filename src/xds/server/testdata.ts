/**
 * Resource builders for tests of the xDS management server (and of the xDS client): Envoy v3
 * proto3 JSON, the shape a snapshot file holds.
 */
import type { Message } from "@bufbuild/protobuf";
import { type Any, anyUnpack } from "@bufbuild/protobuf/wkt";
import { xdsTypeRegistry } from "../type_registry.ts";
import type { SnapshotInput } from "./snapshot.ts";

const HCM = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager";
const ROUTER = "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router";
const ADS_SOURCE = { ads: {}, resource_api_version: "V3" };

/** An EDS cluster fed over ADS. */
export function edsCluster(name: string, connectTimeout = "1s"): Record<string, unknown> {
  return { name, type: "EDS", connect_timeout: connectTimeout, lb_policy: "ROUND_ROBIN", eds_cluster_config: { eds_config: ADS_SOURCE } };
}

/** A ClusterLoadAssignment with one endpoint per port on 127.0.0.1. */
export function loadAssignment(clusterName: string, ...ports: number[]): Record<string, unknown> {
  return {
    cluster_name: clusterName,
    endpoints: [{ lb_endpoints: ports.map((p) => ({ endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: p } } } })) }],
  };
}

/** A listener whose HTTP connection manager takes route `routeName` over ADS (RDS). */
export function rdsListener(name: string, port: number, routeName: string): Record<string, unknown> {
  return {
    name,
    address: { socket_address: { address: "127.0.0.1", port_value: port } },
    filter_chains: [{
      filters: [{
        name: "envoy.filters.network.http_connection_manager",
        typed_config: {
          "@type": HCM,
          stat_prefix: name,
          rds: { route_config_name: routeName, config_source: ADS_SOURCE },
          http_filters: [{ name: "envoy.filters.http.router", typed_config: { "@type": ROUTER } }],
        },
      }],
    }],
  };
}

/** A RouteConfiguration sending everything to `cluster`. */
export function routeConfig(name: string, cluster: string): Record<string, unknown> {
  return { name, virtual_hosts: [{ name: "all", domains: ["*"], routes: [{ match: { prefix: "/" }, route: { cluster } }] }] };
}

/** A consistent snapshot: listener l0 (port) ▶ route r0 ▶ cluster c0 ▶ endpoints on `ports`. */
export function basicSnapshot(version: string, opts: { listenerPort?: number; ports?: number[]; connectTimeout?: string } = {}): SnapshotInput {
  return {
    version,
    listeners: [rdsListener("l0", opts.listenerPort ?? 10000, "r0")],
    routes: [routeConfig("r0", "c0")],
    clusters: [edsCluster("c0", opts.connectTimeout)],
    endpoints: [loadAssignment("c0", ...(opts.ports ?? [8080]))],
  };
}

/** The name of a packed resource (`name`, or `cluster_name` of a ClusterLoadAssignment). */
export function resourceNameOf(any: Any | undefined): string {
  if (!any) return "";
  const m = anyUnpack(any, xdsTypeRegistry()) as (Message & { name?: string; clusterName?: string }) | undefined;
  return m?.name ?? m?.clusterName ?? "";
}
