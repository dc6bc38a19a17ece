/**
 * `envoy.config.cluster.v3.Cluster` (control side): the supported subset of a cluster, its
 * load assignment and endpoints, and Envoy's checks (IP endpoints for STATIC, no port 0).
 */
import * as v from "valibot";
import type { ParseContext } from "../registry/registry.ts";
import { addressSchema, DEFAULT_BUFFER_LIMIT_BYTES } from "./address.ts";
import { isIpLiteral } from "./ip.ts";
import type { ClusterModel, EndpointModel } from "./model.ts";
import { duration, enumOf, message, parseWith, str, uint32 } from "./schema.ts";

const endpointSchema = message(
  { address: addressSchema },
  { unsupported: ["health_check_config", "hostname", "additional_addresses"] },
);

const lbEndpointSchema = message(
  { endpoint: v.optional(endpointSchema), load_balancing_weight: v.optional(uint32({ min: 1, wrapper: true }), 1) },
  {
    unsupported: ["endpoint_name", "health_status", "metadata"],
    oneofs: [{ members: ["endpoint", "endpoint_name"], supported: ["endpoint"], required: true }],
  },
);

const localityLbEndpointsSchema = message(
  { lb_endpoints: v.optional(v.array(lbEndpointSchema), []) },
  {
    unsupported: [
      "locality",
      "metadata",
      "load_balancer_endpoints",
      "leds_cluster_locality_config",
      "load_balancing_weight",
      "priority",
      "proximity",
    ],
  },
);

const loadAssignmentSchema = message(
  { cluster_name: str({ nonEmpty: true }), endpoints: v.optional(v.array(localityLbEndpointsSchema), []) },
  { unsupported: ["named_endpoints", "policy"] },
);

const clusterSchema = message(
  {
    name: str({ nonEmpty: true }),
    type: v.optional(enumOf(["STATIC"], ["STRICT_DNS", "LOGICAL_DNS", "EDS", "ORIGINAL_DST"]), "STATIC"),
    connect_timeout: v.optional(duration({ positive: true }), "5s"),
    lb_policy: v.optional(
      enumOf(["ROUND_ROBIN"], ["LEAST_REQUEST", "RING_HASH", "RANDOM", "MAGLEV", "CLUSTER_PROVIDED", "LOAD_BALANCING_POLICY_CONFIG"]),
      "ROUND_ROBIN",
    ),
    load_assignment: v.optional(loadAssignmentSchema),
    per_connection_buffer_limit_bytes: v.optional(uint32({ wrapper: true }), DEFAULT_BUFFER_LIMIT_BYTES),
  },
  {
    unsupported: [
      "transport_socket_matches",
      "alt_stat_name",
      "cluster_type",
      "eds_cluster_config",
      "health_checks",
      "max_requests_per_connection",
      "circuit_breakers",
      "upstream_http_protocol_options",
      "common_http_protocol_options",
      "http_protocol_options",
      "http2_protocol_options",
      "typed_extension_protocol_options",
      "dns_refresh_rate",
      "dns_jitter",
      "dns_failure_refresh_rate",
      "respect_dns_ttl",
      "dns_lookup_family",
      "dns_resolvers",
      "use_tcp_for_dns_lookups",
      "dns_resolution_config",
      "typed_dns_resolver_config",
      "wait_for_warm_on_init",
      "outlier_detection",
      "cleanup_interval",
      "upstream_bind_config",
      "lb_subset_config",
      "ring_hash_lb_config",
      "maglev_lb_config",
      "original_dst_lb_config",
      "least_request_lb_config",
      "round_robin_lb_config",
      "common_lb_config",
      "transport_socket",
      "metadata",
      "protocol_selection",
      "upstream_connection_options",
      "close_connections_on_host_health_failure",
      "ignore_health_on_host_removal",
      "filters",
      "load_balancing_policy",
      "lrs_server",
      "lrs_report_endpoint_metrics",
      "track_timeout_budgets",
      "upstream_config",
      "track_cluster_stats",
      "preconnect_policy",
      "connection_pool_per_downstream_connection",
    ],
  },
);

/** Control side: parses one cluster; problems are reported on `ctx`; undefined if any. */
export function parseCluster(raw: unknown, ctx: ParseContext): ClusterModel | undefined {
  const c = parseWith(ctx, clusterSchema, raw);
  if (!c) return undefined;
  let ok = true;
  const endpoints: EndpointModel[] = [];
  c.load_assignment?.endpoints.forEach((locality, i) => {
    locality.lb_endpoints.forEach((lbe, j) => {
      const at = `load_assignment.endpoints[${i}].lb_endpoints[${j}].endpoint.address`;
      const address = lbe.endpoint!.address;
      if (!isIpLiteral(address.address)) {
        ctx.issue(
          `${at}.socket_address.address`,
          `malformed IP address: ${JSON.stringify(address.address)}; a STATIC cluster needs IP addresses (hostnames need STRICT_DNS, which is not supported yet)`,
        );
        ok = false;
      }
      if (address.port === 0) {
        ctx.issue(`${at}.socket_address.port_value`, "an endpoint needs a port other than 0");
        ok = false;
      }
      endpoints.push({ address, weight: lbe.load_balancing_weight });
    });
  });
  if (!ok) return undefined;
  return {
    name: c.name,
    type: c.type,
    connectTimeoutMs: c.connect_timeout,
    lbPolicy: c.lb_policy,
    endpoints,
    perConnectionBufferLimitBytes: c.per_connection_buffer_limit_bytes,
  };
}

