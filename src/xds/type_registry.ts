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
import { file_envoy_extensions_filters_http_cors_v3_cors } from "../gen/envoy/extensions/filters/http/cors/v3/cors_pb.ts";
import { file_envoy_extensions_filters_http_fault_v3_fault } from "../gen/envoy/extensions/filters/http/fault/v3/fault_pb.ts";
import { file_envoy_extensions_filters_http_local_ratelimit_v3_local_rate_limit } from "../gen/envoy/extensions/filters/http/local_ratelimit/v3/local_rate_limit_pb.ts";
import { file_envoy_extensions_filters_http_buffer_v3_buffer } from "../gen/envoy/extensions/filters/http/buffer/v3/buffer_pb.ts";
import { file_envoy_extensions_filters_http_header_mutation_v3_header_mutation } from "../gen/envoy/extensions/filters/http/header_mutation/v3/header_mutation_pb.ts";
import { file_envoy_extensions_filters_http_health_check_v3_health_check } from "../gen/envoy/extensions/filters/http/health_check/v3/health_check_pb.ts";
import { file_envoy_extensions_filters_network_tcp_proxy_v3_tcp_proxy } from "../gen/envoy/extensions/filters/network/tcp_proxy/v3/tcp_proxy_pb.ts";
import { file_envoy_extensions_filters_network_rbac_v3_rbac } from "../gen/envoy/extensions/filters/network/rbac/v3/rbac_pb.ts";
import { file_envoy_extensions_filters_network_local_ratelimit_v3_local_rate_limit } from "../gen/envoy/extensions/filters/network/local_ratelimit/v3/local_rate_limit_pb.ts";
import { file_envoy_extensions_filters_network_connection_limit_v3_connection_limit } from "../gen/envoy/extensions/filters/network/connection_limit/v3/connection_limit_pb.ts";
import { file_envoy_extensions_filters_listener_tls_inspector_v3_tls_inspector } from "../gen/envoy/extensions/filters/listener/tls_inspector/v3/tls_inspector_pb.ts";
import { file_envoy_extensions_filters_listener_proxy_protocol_v3_proxy_protocol } from "../gen/envoy/extensions/filters/listener/proxy_protocol/v3/proxy_protocol_pb.ts";
import { file_envoy_extensions_filters_listener_http_inspector_v3_http_inspector } from "../gen/envoy/extensions/filters/listener/http_inspector/v3/http_inspector_pb.ts";
import { file_envoy_extensions_transport_sockets_tls_v3_tls } from "../gen/envoy/extensions/transport_sockets/tls/v3/tls_pb.ts";
import { file_envoy_extensions_transport_sockets_raw_buffer_v3_raw_buffer } from "../gen/envoy/extensions/transport_sockets/raw_buffer/v3/raw_buffer_pb.ts";
import { file_envoy_extensions_upstreams_http_v3_http_protocol_options } from "../gen/envoy/extensions/upstreams/http/v3/http_protocol_options_pb.ts";
import { file_envoy_service_secret_v3_sds } from "../gen/envoy/service/secret/v3/sds_pb.ts";
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
  file_envoy_extensions_filters_http_cors_v3_cors,
  file_envoy_extensions_filters_http_fault_v3_fault,
  file_envoy_extensions_filters_http_local_ratelimit_v3_local_rate_limit,
  file_envoy_extensions_filters_http_buffer_v3_buffer,
  file_envoy_extensions_filters_http_header_mutation_v3_header_mutation,
  file_envoy_extensions_filters_http_health_check_v3_health_check,
  file_envoy_extensions_filters_network_tcp_proxy_v3_tcp_proxy,
  file_envoy_extensions_filters_network_rbac_v3_rbac,
  file_envoy_extensions_filters_network_local_ratelimit_v3_local_rate_limit,
  file_envoy_extensions_filters_network_connection_limit_v3_connection_limit,
  file_envoy_extensions_filters_listener_tls_inspector_v3_tls_inspector,
  file_envoy_extensions_filters_listener_proxy_protocol_v3_proxy_protocol,
  file_envoy_extensions_filters_listener_http_inspector_v3_http_inspector,
  file_envoy_extensions_transport_sockets_tls_v3_tls,
  file_envoy_extensions_transport_sockets_raw_buffer_v3_raw_buffer,
  file_envoy_extensions_upstreams_http_v3_http_protocol_options,
  file_envoy_service_secret_v3_sds,
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
