/**
 * Test helper: an Envoy bootstrap with only dynamic_resources over ADS (gRPC), its xDS server a
 * static h2c cluster on 127.0.0.1:`xdsPort`, and an admin on port 0.
 */
export function adsBootstrap(
  xdsPort: number,
  opts: { apiType?: "GRPC" | "DELTA_GRPC"; initialFetchTimeout?: string; staticListeners?: unknown[] } = {},
): Record<string, unknown> {
  const source = { ads: {}, resource_api_version: "V3", ...(opts.initialFetchTimeout ? { initial_fetch_timeout: opts.initialFetchTimeout } : {}) };
  return {
    node: { id: "legate-test", cluster: "test" },
    admin: { address: { socket_address: { address: "127.0.0.1", port_value: 0 } } },
    dynamic_resources: {
      ads_config: { api_type: opts.apiType ?? "GRPC", transport_api_version: "V3", grpc_services: [{ envoy_grpc: { cluster_name: "xds" } }] },
      cds_config: source,
      lds_config: { ...source },
    },
    static_resources: {
      ...(opts.staticListeners ? { listeners: opts.staticListeners } : {}),
      clusters: [{
        name: "xds",
        type: "STATIC",
        connect_timeout: "1s",
        typed_extension_protocol_options: {
          "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
            "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
            explicit_http_config: { http2_protocol_options: {} },
          },
        },
        load_assignment: { cluster_name: "xds", endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: xdsPort } } } }] }] },
      }],
    },
  };
}
