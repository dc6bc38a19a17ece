/**
 * The protobuf type registry for xDS: every message type that may sit inside a
 * `google.protobuf.Any` of an accepted xDS resource (the resources themselves and the
 * `typed_config` payloads Legate understands), so `fromBinary` + `toJson(…, { registry })` turns a
 * DiscoveryResponse into Envoy's proto3 JSON, which then takes the same valibot path as static
 * config (DESIGN.md §5 rule 2). Control side only; generated code stays behind this module.
 */
import { createRegistry, type DescFile, type Registry } from "@bufbuild/protobuf";
import { file_envoy_config_cluster_v3_cluster } from "../gen/envoy/config/cluster/v3/cluster_pb.ts";
import { file_envoy_config_endpoint_v3_endpoint } from "../gen/envoy/config/endpoint/v3/endpoint_pb.ts";
import { file_envoy_config_listener_v3_listener } from "../gen/envoy/config/listener/v3/listener_pb.ts";
import { file_envoy_config_route_v3_route } from "../gen/envoy/config/route/v3/route_pb.ts";
import { file_envoy_extensions_access_loggers_file_v3_file } from "../gen/envoy/extensions/access_loggers/file/v3/file_pb.ts";
import { file_envoy_extensions_access_loggers_stream_v3_stream } from "../gen/envoy/extensions/access_loggers/stream/v3/stream_pb.ts";
import { file_envoy_extensions_filters_http_router_v3_router } from "../gen/envoy/extensions/filters/http/router/v3/router_pb.ts";
import { file_envoy_extensions_filters_network_http_connection_manager_v3_http_connection_manager } from "../gen/envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager_pb.ts";
import { file_envoy_service_discovery_v3_ads } from "../gen/envoy/service/discovery/v3/ads_pb.ts";

/** `type_url` of the four resource types Legate subscribes to (Envoy's xds_protocol names). */
export const TYPE_URL = {
  listener: "type.googleapis.com/envoy.config.listener.v3.Listener",
  routeConfiguration: "type.googleapis.com/envoy.config.route.v3.RouteConfiguration",
  cluster: "type.googleapis.com/envoy.config.cluster.v3.Cluster",
  clusterLoadAssignment: "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment",
} as const;

/**
 * Files whose types (and, transitively, whose imports' types) the registry holds. To accept a new
 * extension over xDS, add its proto to ROOTS in scripts/proto_sync.ts, run `make proto`, and add
 * its file here.
 */
const FILES: readonly DescFile[] = [
  file_envoy_service_discovery_v3_ads,
  file_envoy_config_listener_v3_listener,
  file_envoy_config_route_v3_route,
  file_envoy_config_cluster_v3_cluster,
  file_envoy_config_endpoint_v3_endpoint,
  file_envoy_extensions_filters_network_http_connection_manager_v3_http_connection_manager,
  file_envoy_extensions_filters_http_router_v3_router,
  file_envoy_extensions_access_loggers_file_v3_file,
  file_envoy_extensions_access_loggers_stream_v3_stream,
];

/** Lists `files` and everything they import, each once, dependencies first. */
function withDependencies(files: readonly DescFile[]): DescFile[] {
  const seen = new Set<string>();
  const out: DescFile[] = [];
  const visit = (f: DescFile): void => {
    if (seen.has(f.name)) return;
    seen.add(f.name);
    for (const d of f.dependencies) visit(d);
    out.push(f);
  };
  for (const f of files) visit(f);
  return out;
}

let cached: Registry | undefined;

/**
 * Control side: the shared registry of every message, enum and extension in FILES and their
 * imports (google.protobuf well-known types included). Built once, on first use.
 */
export function xdsTypeRegistry(): Registry {
  cached ??= createRegistry(...withDependencies(FILES));
  return cached;
}
