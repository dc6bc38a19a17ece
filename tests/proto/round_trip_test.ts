/**
 * The generated Envoy v3 types carry a DiscoveryResponse through binary and out as Envoy's
 * proto3 JSON (the shape config/ validates): `@type` URLs on Any, lowerCamelCase field names,
 * durations as "5s", enums by name, wrappers as plain values, defaults omitted.
 */
import assert from "node:assert/strict";
import { create, equals, fromBinary, fromJson, toBinary, toJson } from "@bufbuild/protobuf";
import { anyPack, anyUnpack, DurationSchema, type Duration } from "@bufbuild/protobuf/wkt";
import { test } from "../harness.ts";
import { TYPE_URL, xdsTypeRegistry } from "../../src/xds/type_registry.ts";
import { ClusterSchema, Cluster_DiscoveryType, Cluster_LbPolicy } from "../../src/gen/envoy/config/cluster/v3/cluster_pb.ts";
import { AddressSchema, type Address } from "../../src/gen/envoy/config/core/v3/address_pb.ts";
import { ClusterLoadAssignmentSchema } from "../../src/gen/envoy/config/endpoint/v3/endpoint_pb.ts";
import { LbEndpointSchema, LocalityLbEndpointsSchema, EndpointSchema } from "../../src/gen/envoy/config/endpoint/v3/endpoint_components_pb.ts";
import { ListenerSchema } from "../../src/gen/envoy/config/listener/v3/listener_pb.ts";
import { FilterChainSchema, FilterSchema } from "../../src/gen/envoy/config/listener/v3/listener_components_pb.ts";
import { RouteConfigurationSchema } from "../../src/gen/envoy/config/route/v3/route_pb.ts";
import { RouteActionSchema, RouteMatchSchema, RouteSchema, VirtualHostSchema } from "../../src/gen/envoy/config/route/v3/route_components_pb.ts";
import { AccessLogSchema } from "../../src/gen/envoy/config/accesslog/v3/accesslog_pb.ts";
import { StdoutAccessLogSchema } from "../../src/gen/envoy/extensions/access_loggers/stream/v3/stream_pb.ts";
import { RouterSchema } from "../../src/gen/envoy/extensions/filters/http/router/v3/router_pb.ts";
import { HttpConnectionManagerSchema, HttpFilterSchema } from "../../src/gen/envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager_pb.ts";
import { DiscoveryResponseSchema } from "../../src/gen/envoy/service/discovery/v3/discovery_pb.ts";
import { AggregatedDiscoveryService } from "../../src/gen/envoy/service/discovery/v3/ads_pb.ts";

const seconds = (s: number, nanos = 0): Duration => create(DurationSchema, { seconds: BigInt(s), nanos });
const socket = (address: string, port: number): Address =>
  create(AddressSchema, { address: { case: "socketAddress", value: { address, portSpecifier: { case: "portValue", value: port } } } });

function buildResponse() {
  const cluster = create(ClusterSchema, {
    name: "backend",
    clusterDiscoveryType: { case: "type", value: Cluster_DiscoveryType.STATIC },
    connectTimeout: seconds(5),
    lbPolicy: Cluster_LbPolicy.LEAST_REQUEST,
    perConnectionBufferLimitBytes: 32768,
    loadAssignment: create(ClusterLoadAssignmentSchema, {
      clusterName: "backend",
      endpoints: [create(LocalityLbEndpointsSchema, {
        lbEndpoints: [create(LbEndpointSchema, {
          hostIdentifier: { case: "endpoint", value: create(EndpointSchema, { address: socket("127.0.0.1", 8080) }) },
        })],
      })],
    }),
  });
  const hcm = create(HttpConnectionManagerSchema, {
    statPrefix: "ingress_http",
    requestTimeout: seconds(0, 250_000_000),
    routeSpecifier: {
      case: "routeConfig",
      value: create(RouteConfigurationSchema, {
        name: "local_route",
        virtualHosts: [create(VirtualHostSchema, {
          name: "backend",
          domains: ["*"],
          routes: [create(RouteSchema, {
            match: create(RouteMatchSchema, { pathSpecifier: { case: "prefix", value: "/" } }),
            action: { case: "route", value: create(RouteActionSchema, { clusterSpecifier: { case: "cluster", value: "backend" }, timeout: seconds(15) }) },
          })],
        })],
      }),
    },
    httpFilters: [create(HttpFilterSchema, {
      name: "envoy.filters.http.router",
      configType: { case: "typedConfig", value: anyPack(RouterSchema, create(RouterSchema)) },
    })],
    accessLog: [create(AccessLogSchema, {
      name: "envoy.access_loggers.stdout",
      configType: { case: "typedConfig", value: anyPack(StdoutAccessLogSchema, create(StdoutAccessLogSchema)) },
    })],
  });
  const listener = create(ListenerSchema, {
    name: "listener_0",
    address: socket("0.0.0.0", 10000),
    filterChains: [create(FilterChainSchema, {
      filters: [create(FilterSchema, {
        name: "envoy.filters.network.http_connection_manager",
        configType: { case: "typedConfig", value: anyPack(HttpConnectionManagerSchema, hcm) },
      })],
    })],
  });
  // A real server sends one type per response; mixing two here exercises both in one message.
  return create(DiscoveryResponseSchema, {
    versionInfo: "1",
    typeUrl: TYPE_URL.cluster,
    nonce: "n-1",
    resources: [anyPack(ClusterSchema, cluster), anyPack(ListenerSchema, listener)],
  });
}

const EXPECTED_JSON = {
  versionInfo: "1",
  resources: [
    {
      "@type": "type.googleapis.com/envoy.config.cluster.v3.Cluster",
      name: "backend",
      type: "STATIC",
      connectTimeout: "5s",
      lbPolicy: "LEAST_REQUEST",
      perConnectionBufferLimitBytes: 32768,
      loadAssignment: {
        clusterName: "backend",
        endpoints: [{ lbEndpoints: [{ endpoint: { address: { socketAddress: { address: "127.0.0.1", portValue: 8080 } } } }] }],
      },
    },
    {
      "@type": "type.googleapis.com/envoy.config.listener.v3.Listener",
      name: "listener_0",
      address: { socketAddress: { address: "0.0.0.0", portValue: 10000 } },
      filterChains: [{
        filters: [{
          name: "envoy.filters.network.http_connection_manager",
          typedConfig: {
            "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
            statPrefix: "ingress_http",
            routeConfig: {
              name: "local_route",
              virtualHosts: [{
                name: "backend",
                domains: ["*"],
                routes: [{ match: { prefix: "/" }, route: { cluster: "backend", timeout: "15s" } }],
              }],
            },
            httpFilters: [{
              name: "envoy.filters.http.router",
              typedConfig: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" },
            }],
            requestTimeout: "0.250s",
            accessLog: [{
              name: "envoy.access_loggers.stdout",
              typedConfig: { "@type": "type.googleapis.com/envoy.extensions.access_loggers.stream.v3.StdoutAccessLog" },
            }],
          },
        }],
      }],
    },
  ],
  typeUrl: "type.googleapis.com/envoy.config.cluster.v3.Cluster",
  nonce: "n-1",
};

test("DiscoveryResponse with a Cluster and a Listener survives binary and prints Envoy's proto3 JSON", () => {
  const original = buildResponse();
  const wire = toBinary(DiscoveryResponseSchema, original);
  const decoded = fromBinary(DiscoveryResponseSchema, wire);
  assert.ok(equals(DiscoveryResponseSchema, original, decoded), "binary round trip changed the message");
  const registry = xdsTypeRegistry();
  const json = toJson(DiscoveryResponseSchema, decoded, { registry });
  assert.deepEqual(json, EXPECTED_JSON);

  // The REST and filesystem config sources read the JSON form: it must parse back to the same bytes.
  const reparsed = fromJson(DiscoveryResponseSchema, JSON.parse(JSON.stringify(json)), { registry });
  assert.deepEqual(toBinary(DiscoveryResponseSchema, reparsed), wire);

  // Resources unpack by their type_url through the same registry.
  const cluster = anyUnpack(decoded.resources[0]!, registry);
  assert.equal(cluster?.$typeName, "envoy.config.cluster.v3.Cluster");
});

test("proto field names are available for snake_case consumers", () => {
  const json = toJson(DiscoveryResponseSchema, buildResponse(), { registry: xdsTypeRegistry(), useProtoFieldName: true }) as {
    version_info: string;
    resources: Record<string, unknown>[];
  };
  assert.equal(json.version_info, "1");
  assert.equal(json.resources[0]!.connect_timeout, "5s");
  assert.deepEqual(json.resources[0]!.load_assignment, {
    cluster_name: "backend",
    endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: 8080 } } } }] }],
  });
});

test("the type registry knows every subscribed resource type and refuses unknown Any payloads", () => {
  const registry = xdsTypeRegistry();
  for (const url of Object.values(TYPE_URL)) {
    const name = url.slice("type.googleapis.com/".length);
    assert.equal(registry.getMessage(name)?.typeName, name, url);
  }
  for (const t of [
    "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
    "envoy.extensions.filters.http.router.v3.Router",
    "envoy.extensions.access_loggers.file.v3.FileAccessLog",
    "envoy.extensions.access_loggers.stream.v3.StdoutAccessLog",
    "envoy.extensions.access_loggers.stream.v3.StderrAccessLog",
    "envoy.service.discovery.v3.Resource",
    "google.protobuf.Duration",
  ]) {
    assert.ok(registry.getMessage(t), t);
  }
  // An Any whose type Legate does not know cannot be printed: the xDS client must reject that
  // resource (NACK), as Envoy does for an unregistered typed_config.
  const unknown = create(DiscoveryResponseSchema, {
    resources: [{ typeUrl: "type.googleapis.com/envoy.extensions.filters.network.redis_proxy.v3.RedisProxy", value: new Uint8Array() }],
  });
  assert.throws(() => toJson(DiscoveryResponseSchema, unknown, { registry }), /RedisProxy/);
});

test("ADS service descriptor has the SotW and delta streaming methods", () => {
  assert.equal(AggregatedDiscoveryService.typeName, "envoy.service.discovery.v3.AggregatedDiscoveryService");
  assert.equal(AggregatedDiscoveryService.method.streamAggregatedResources.methodKind, "bidi_streaming");
  assert.equal(AggregatedDiscoveryService.method.deltaAggregatedResources.methodKind, "bidi_streaming");
  assert.equal(AggregatedDiscoveryService.method.streamAggregatedResources.input.typeName, "envoy.service.discovery.v3.DiscoveryRequest");
});
