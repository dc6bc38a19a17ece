import assert from "node:assert/strict";
import { test } from "../../tests/harness.ts";
import { ConfigError } from "../core/errors.ts";
import { DEFAULT_ACCESS_LOG_FORMAT } from "./access_log.ts";
import { clusterModelDefaults, endpointModel } from "./cluster.ts";
import { loadBootstrap, mergeConfig, parseConfigText } from "./load.ts";
import type { BootstrapModel, HcmModel } from "./model.ts";

const HCM = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager";
const ROUTER = "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router";
const FILE_LOG = "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog";
const STDOUT_LOG = "type.googleapis.com/envoy.extensions.access_loggers.stream.v3.StdoutAccessLog";

/** A full bootstrap in Envoy's snake_case spelling. */
const FULL_SNAKE = `
node: { id: edge-1, cluster: edge }
admin:
  access_log_path: /dev/null
  address: { socket_address: { address: 127.0.0.1, port_value: 9901 } }
static_resources:
  listeners:
  - name: ingress
    address: { socket_address: { address: 0.0.0.0, port_value: 10000, protocol: TCP } }
    per_connection_buffer_limit_bytes: 65536
    filter_chains:
    - name: main
      filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": ${HCM}
          stat_prefix: ingress_http
          codec_type: http1
          use_remote_address: true
          generate_request_id: { value: false }
          server_name: edge
          stream_idle_timeout: 10s
          request_timeout: { seconds: 2, nanos: 500000000 }
          common_http_protocol_options:
            idle_timeout: 0s
            max_headers_count: 50
            max_requests_per_connection: { value: 1000 }
          max_request_headers_kb: 96
          access_log:
          - name: file_log
            typed_config:
              "@type": ${FILE_LOG}
              path: /tmp/access.log
              log_format:
                text_format_source:
                  inline_string: "%REQ(:METHOD)% %RESPONSE_CODE%\\n"
          - typed_config:
              "@type": ${STDOUT_LOG}
          route_config:
            name: local
            virtual_hosts:
            - name: backend
              domains: ["Example.COM", "*.example.com", "api.*"]
              routes:
              - name: api
                match: { prefix: /api/ }
                route: { cluster: api, timeout: 0.250s, prefix_rewrite: / }
              - match: { path: /Exact, case_sensitive: false }
                route: { cluster: web }
            - name: fallback
              domains: ["*"]
              routes:
              - match: { prefix: /healthz }
                direct_response: { status: 200, body: { inline_string: "ok\\n" } }
              - match: { prefix: /hello }
                direct_response: { status: 200, body: { inline_bytes: aGVsbG8= } }
              - match: { prefix: / }
                direct_response: { status: 404 }
          http_filters:
          - name: envoy.filters.http.router
            typed_config:
              "@type": ${ROUTER}
  clusters:
  - name: api
    type: STATIC
    connect_timeout: 1s
    lb_policy: ROUND_ROBIN
    load_assignment:
      cluster_name: api
      endpoints:
      - lb_endpoints:
        - endpoint: { address: { socket_address: { address: 10.0.0.1, port_value: 8080 } } }
          load_balancing_weight: 2
        - endpoint: { address: { socket_address: { address: "::1", port_value: 8081 } } }
  - name: web
    per_connection_buffer_limit_bytes: 32768
`;

/** The same bootstrap with proto3 JSON (lowerCamelCase) names. */
const FULL_CAMEL = `
node: { id: edge-1, cluster: edge }
admin:
  accessLogPath: /dev/null
  address: { socketAddress: { address: 127.0.0.1, portValue: 9901 } }
staticResources:
  listeners:
  - name: ingress
    address: { socketAddress: { address: 0.0.0.0, portValue: 10000, protocol: TCP } }
    perConnectionBufferLimitBytes: 65536
    filterChains:
    - name: main
      filters:
      - name: envoy.filters.network.http_connection_manager
        typedConfig:
          "@type": ${HCM}
          statPrefix: ingress_http
          codecType: HTTP1
          useRemoteAddress: true
          generateRequestId: false
          serverName: edge
          streamIdleTimeout: 10s
          requestTimeout: 2.5s
          commonHttpProtocolOptions:
            idleTimeout: 0s
            maxHeadersCount: { value: 50 }
            maxRequestsPerConnection: 1000
          maxRequestHeadersKb: 96
          accessLog:
          - name: file_log
            typedConfig:
              "@type": ${FILE_LOG}
              path: /tmp/access.log
              logFormat:
                textFormatSource:
                  inlineString: "%REQ(:METHOD)% %RESPONSE_CODE%\\n"
          - typedConfig:
              "@type": ${STDOUT_LOG}
          routeConfig:
            name: local
            virtualHosts:
            - name: backend
              domains: ["Example.COM", "*.example.com", "api.*"]
              routes:
              - name: api
                match: { prefix: /api/ }
                route: { cluster: api, timeout: 0.25s, prefixRewrite: / }
              - match: { path: /Exact, caseSensitive: false }
                route: { cluster: web }
            - name: fallback
              domains: ["*"]
              routes:
              - match: { prefix: /healthz }
                directResponse: { status: 200, body: { inlineString: "ok\\n" } }
              - match: { prefix: /hello }
                directResponse: { status: 200, body: { inlineBytes: aGVsbG8= } }
              - match: { prefix: / }
                directResponse: { status: 404 }
          httpFilters:
          - name: envoy.filters.http.router
            typedConfig:
              "@type": ${ROUTER}
  clusters:
  - name: api
    type: STATIC
    connectTimeout: 1s
    lbPolicy: ROUND_ROBIN
    loadAssignment:
      clusterName: api
      endpoints:
      - lbEndpoints:
        - endpoint: { address: { socketAddress: { address: 10.0.0.1, portValue: 8080 } } }
          loadBalancingWeight: 2
        - endpoint: { address: { socketAddress: { address: "::1", portValue: 8081 } } }
  - name: web
    perConnectionBufferLimitBytes: 32768
`;

const EXPECTED_HCM: HcmModel = {
  statPrefix: "ingress_http",
  codecType: "HTTP1",
  routeConfig: {
    name: "local",
    virtualHosts: [
      {
        name: "backend",
        domains: ["example.com", "*.example.com", "api.*"],
        routes: [
          {
            name: "api",
            match: { kind: "prefix", value: "/api/", caseSensitive: true },
            action: { kind: "route", cluster: "api", timeoutMs: 250, prefixRewrite: "/" },
          },
          {
            name: "",
            match: { kind: "path", value: "/Exact", caseSensitive: false },
            action: { kind: "route", cluster: "web", timeoutMs: 15_000, prefixRewrite: undefined },
          },
        ],
      },
      {
        name: "fallback",
        domains: ["*"],
        routes: [
          { name: "", match: { kind: "prefix", value: "/healthz", caseSensitive: true }, action: { kind: "direct_response", status: 200, body: "ok\n" } },
          { name: "", match: { kind: "prefix", value: "/hello", caseSensitive: true }, action: { kind: "direct_response", status: 200, body: "hello" } },
          { name: "", match: { kind: "prefix", value: "/", caseSensitive: true }, action: { kind: "direct_response", status: 404, body: undefined } },
        ],
      },
    ],
  },
  httpFilters: [{ name: "envoy.filters.http.router", typeUrl: ROUTER, config: {} }],
  useRemoteAddress: true,
  generateRequestId: false,
  preserveExternalRequestId: false,
  serverName: "edge",
  streamIdleTimeoutMs: 10_000,
  requestTimeoutMs: 2_500,
  requestHeadersTimeoutMs: 0,
  idleTimeoutMs: 0,
  maxRequestHeadersKb: 96,
  maxHeadersCount: 50,
  maxRequestsPerConnection: 1000,
  accessLog: [
    { name: "file_log", kind: "file", path: "/tmp/access.log", format: "%REQ(:METHOD)% %RESPONSE_CODE%\n" },
    { name: "envoy.access_loggers.stdout", kind: "stdout", path: undefined, format: DEFAULT_ACCESS_LOG_FORMAT },
  ],
};

const EXPECTED: BootstrapModel = {
  node: { id: "edge-1", cluster: "edge" },
  admin: { address: { address: "127.0.0.1", port: 9901 }, accessLogPath: "/dev/null" },
  listeners: [
    {
      name: "ingress",
      address: { address: "0.0.0.0", port: 10000 },
      filterChains: [{ name: "main", filters: [{ name: "envoy.filters.network.http_connection_manager", typeUrl: HCM, config: EXPECTED_HCM }] }],
      perConnectionBufferLimitBytes: 65536,
    },
  ],
  clusters: [
    {
      name: "api",
      type: "STATIC",
      connectTimeoutMs: 1000,
      lbPolicy: "ROUND_ROBIN",
      endpoints: [endpointModel("10.0.0.1", 8080, 2), endpointModel("::1", 8081, 1)],
      perConnectionBufferLimitBytes: 1_048_576,
      ...clusterModelDefaults(),
    },
    { name: "web", type: "STATIC", connectTimeoutMs: 5000, lbPolicy: "ROUND_ROBIN", endpoints: [], perConnectionBufferLimitBytes: 32768, ...clusterModelDefaults() },
  ],
};

test("a full bootstrap loads to the expected model (values converted, defaults applied)", () => {
  assert.deepStrictEqual(loadBootstrap({ text: FULL_SNAKE, sourceName: "full.yaml" }), EXPECTED);
});

test("lowerCamelCase (proto3 JSON) names give the same model as snake_case", () => {
  assert.deepStrictEqual(loadBootstrap({ text: FULL_CAMEL, sourceName: "full.yaml" }), EXPECTED);
});

test("JSON text loads like YAML", () => {
  const yamlModel = loadBootstrap({ text: FULL_SNAKE });
  const json = JSON.stringify(parseConfigText(FULL_SNAKE, "full.yaml"), null, "\t");
  assert.deepStrictEqual(loadBootstrap({ text: json, sourceName: "full.json" }), yamlModel);
});

test("the loaded model is deeply frozen", () => {
  const m = loadBootstrap({ text: FULL_SNAKE });
  const hcm = m.listeners[0]!.filterChains[0]!.filters[0]!.config as HcmModel;
  for (const x of [m, m.node, m.listeners, m.clusters[0]!.endpoints[0]!.address, hcm, hcm.routeConfig!.virtualHosts[0]!.domains, hcm.httpFilters[0]!.config, hcm.accessLog[0]]) {
    assert.ok(Object.isFrozen(x));
  }
  assert.throws(() => {
    (m.clusters as unknown as unknown[]).push({});
  });
});

test("a minimal bootstrap gets Envoy's defaults", () => {
  const m = loadBootstrap({ text: "static_resources: { clusters: [ { name: c } ] }" });
  assert.deepStrictEqual(m, {
    node: { id: "", cluster: "" },
    admin: undefined,
    listeners: [],
    clusters: [{ name: "c", type: "STATIC", connectTimeoutMs: 5000, lbPolicy: "ROUND_ROBIN", endpoints: [], perConnectionBufferLimitBytes: 1_048_576, ...clusterModelDefaults() }],
  });
});

// ---------------------------------------------------------------------------------------------
// Broken configs: each case edits a fresh copy of a valid bootstrap and lists the exact lines.

// deno-lint-ignore no-explicit-any
type Json = any;

function validBootstrap(): Json {
  return {
    static_resources: {
      listeners: [{
        name: "l0",
        address: { socket_address: { address: "127.0.0.1", port_value: 10000 } },
        filter_chains: [{
          filters: [{
            name: "envoy.filters.network.http_connection_manager",
            typed_config: {
              "@type": HCM,
              stat_prefix: "in",
              route_config: {
                virtual_hosts: [
                  { name: "a", domains: ["a.example"], routes: [{ match: { prefix: "/" }, route: { cluster: "c0" } }] },
                  { name: "b", domains: ["b.example"], routes: [{ match: { prefix: "/" }, route: { cluster: "c1" } }] },
                  { name: "c", domains: ["*"], routes: [{ match: { prefix: "/" }, direct_response: { status: 404 } }] },
                ],
              },
              http_filters: [{ name: "envoy.filters.http.router", typed_config: { "@type": ROUTER } }],
            },
          }],
        }],
      }],
      clusters: [
        { name: "c0", load_assignment: { cluster_name: "c0", endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: 8080 } } } }] }] } },
        { name: "c1" },
      ],
    },
  };
}

const L0 = "static_resources.listeners[0]";
const TC = `${L0}.filter_chains[0].filters[0].typed_config`;
const VH = `${TC}.route_config.virtual_hosts`;
const C0 = "static_resources.clusters[0]";
const EP0 = `${C0}.load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address`;

const hcm = (b: Json): Json => b.static_resources.listeners[0].filter_chains[0].filters[0].typed_config;

const BROKEN: { name: string; edit: (b: Json) => void; lines: string[] }[] = [
  { name: "unknown field", edit: (b) => (b.static_resources.clusters[0].foo = 1), lines: [`${C0}: unknown field "foo"`] },
  {
    name: "known Envoy field not supported yet",
    edit: (b) => (b.static_resources.clusters[0].lb_subset_config = {}),
    lines: [`${C0}.lb_subset_config: is not supported yet`],
  },
  {
    name: "CLUSTER_PROVIDED",
    edit: (b) => (b.static_resources.clusters[1].lb_policy = "CLUSTER_PROVIDED"),
    lines: ["static_resources.clusters[1].lb_policy: CLUSTER_PROVIDED is not supported yet"],
  },
  {
    name: "unknown lb_policy word",
    edit: (b) => (b.static_resources.clusters[1].lb_policy = "FASTEST"),
    lines: ['static_resources.clusters[1].lb_policy: unknown value "FASTEST" (accepted: ROUND_ROBIN, LEAST_REQUEST, RANDOM, RING_HASH, MAGLEV)'],
  },
  {
    name: "EDS",
    edit: (b) => (b.static_resources.clusters[1].type = "eds"),
    lines: ["static_resources.clusters[1].eds_cluster_config.eds_config: is required for an EDS cluster"],
  },
  {
    name: "bad duration",
    edit: (b) => (b.static_resources.clusters[0].connect_timeout = "5 seconds"),
    lines: [`${C0}.connect_timeout: invalid duration "5 seconds": expected seconds with an "s" suffix, such as "5s" or "0.250s"`],
  },
  {
    name: "duration as a bare number",
    edit: (b) => (hcm(b).stream_idle_timeout = 30),
    lines: [`${TC}.stream_idle_timeout: expected a duration such as "5s", got the number 30`],
  },
  {
    name: "zero connect_timeout",
    edit: (b) => (b.static_resources.clusters[0].connect_timeout = "0s"),
    lines: [`${C0}.connect_timeout: must be greater than 0, got "0s"`],
  },
  { name: "missing stat_prefix", edit: (b) => delete hcm(b).stat_prefix, lines: [`${TC}.stat_prefix: is required`] },
  { name: "missing route_config", edit: (b) => delete hcm(b).route_config, lines: [`${TC}: one of route_config, rds is required`] },
  { name: "rds beside route_config", edit: (b) => (hcm(b).rds = { route_config_name: "x" }), lines: [`${TC}.rds.config_source: is required`, `${TC}: only one of rds, route_config may be set`] },
  {
    name: "rds with an ADS source but no ads_config",
    edit: (b) => {
      delete hcm(b).route_config;
      hcm(b).rds = { route_config_name: "x", config_source: { ads: {} } };
      b.dynamic_resources = { lds_config: { ads: {} } };
    },
    lines: ["dynamic_resources.lds_config.ads: an ADS config source needs dynamic_resources.ads_config"],
  },
  {
    name: "ads_config naming a cluster that is not static",
    edit: (b) => (b.dynamic_resources = { ads_config: { api_type: "GRPC", grpc_services: [{ envoy_grpc: { cluster_name: "xds" } }] }, cds_config: { ads: {} } }),
    lines: ['dynamic_resources.ads_config.grpc_services[0].envoy_grpc.cluster_name: unknown cluster "xds": an xDS server must be a static cluster'],
  },
  {
    name: "config source with two sources",
    edit: (b) => (b.dynamic_resources = { lds_config: { ads: {}, path_config_source: { path: "/x" } } }),
    lines: ["dynamic_resources.lds_config: only one of ads, path_config_source may be set"],
  },
  { name: "missing cluster name", edit: (b) => b.static_resources.clusters.push({}), lines: ["static_resources.clusters[2].name: is required"] },
  {
    name: "unknown @type",
    edit: (b) => (b.static_resources.listeners[0].filter_chains[0].filters[0].typed_config = { "@type": "type.googleapis.com/envoy.extensions.filters.network.redis_proxy.v3.RedisProxy", stat_prefix: "x" }),
    lines: [`${TC}.@type: unknown extension type "type.googleapis.com/envoy.extensions.filters.network.redis_proxy.v3.RedisProxy"`],
  },
  {
    name: "HTTP filter @type in a network filter",
    edit: (b) => (b.static_resources.listeners[0].filter_chains[0].filters[0].typed_config = { "@type": ROUTER }),
    lines: [`${TC}.@type: "${ROUTER}" is an HTTP filter, not a network filter`],
  },
  {
    name: "missing typed_config",
    edit: (b) => delete b.static_resources.listeners[0].filter_chains[0].filters[0].typed_config,
    lines: [`${L0}.filter_chains[0].filters[0].typed_config: is required`],
  },
  {
    name: "duplicate domain across virtual hosts",
    edit: (b) => (hcm(b).route_config.virtual_hosts[2].domains = ["A.example", "*"]),
    lines: [`${VH}[2].domains: duplicate domain "a.example"`],
  },
  {
    name: "a second *",
    edit: (b) => (hcm(b).route_config.virtual_hosts[1].domains = ["*"]),
    lines: [`${VH}[2].domains: duplicate domain "*"`],
  },
  {
    name: "bad wildcard",
    edit: (b) => (hcm(b).route_config.virtual_hosts[0].domains = ["a.*.example"]),
    lines: [`${VH}[0].domains[0]: invalid domain "a.*.example": a wildcard "*" may appear once, at the start or at the end`],
  },
  {
    name: "empty domains",
    edit: (b) => (hcm(b).route_config.virtual_hosts[0].domains = []),
    lines: [`${VH}[0].domains: must list at least one domain`],
  },
  {
    name: "unknown cluster",
    edit: (b) => (hcm(b).route_config.virtual_hosts[1].routes[0].route.cluster = "nope"),
    lines: [`${VH}[1].routes[0].route.cluster: unknown cluster "nope"`],
  },
  {
    name: "validate_clusters: false skips the cluster check",
    edit: (b) => {
      hcm(b).route_config.validate_clusters = false;
      hcm(b).route_config.virtual_hosts[1].routes[0].route.cluster = "nope";
    },
    lines: [],
  },
  {
    name: "hostname in a STATIC cluster",
    edit: (b) => (b.static_resources.clusters[0].load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address.address = "backend.local"),
    lines: [
      `${EP0}.address: malformed IP address: "backend.local"; a STATIC cluster needs IP addresses (use STRICT_DNS or LOGICAL_DNS for host names)`,
    ],
  },
  {
    name: "endpoint port 0",
    edit: (b) => delete b.static_resources.clusters[0].load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address.port_value,
    lines: [`${EP0}.port_value: an endpoint needs a port other than 0`],
  },
  {
    name: "port out of range",
    edit: (b) => (b.static_resources.listeners[0].address.socket_address.port_value = 70000),
    lines: [`${L0}.address.socket_address.port_value: must be between 0 and 65535, got 70000`],
  },
  {
    name: "listener on a hostname",
    edit: (b) => (b.static_resources.listeners[0].address.socket_address.address = "localhost"),
    lines: [`${L0}.address.socket_address.address: malformed IP address: "localhost"`],
  },
  {
    name: "duplicate listener name and address",
    edit: (b) => b.static_resources.listeners.push(structuredClone(b.static_resources.listeners[0])),
    lines: [
      "static_resources.listeners[1].name: duplicate listener name \"l0\"",
      "static_resources.listeners[1].address: listener \"l0\" has duplicate address 127.0.0.1:10000 as existing listener \"l0\"",
    ],
  },
  {
    name: "duplicate cluster name",
    edit: (b) => b.static_resources.clusters.push({ name: "c1" }),
    lines: ['static_resources.clusters[2].name: duplicate cluster name "c1"'],
  },
  {
    name: "filter_chain_match.address_suffix",
    edit: (b) => (b.static_resources.listeners[0].filter_chains[0].filter_chain_match = { address_suffix: "a" }),
    lines: [`${L0}.filter_chains[0].filter_chain_match.address_suffix: is not supported yet`],
  },
  {
    name: "two filter chains",
    edit: (b) => b.static_resources.listeners[0].filter_chains.push({ filters: [] }),
    lines: [`${L0}.filter_chains[1]: multiple filter chains with the same matching rules are defined: filter_chains[1] has the same matching rules as filter_chains[0]`],
  },
  {
    name: "no filter chains",
    edit: (b) => (b.static_resources.listeners[0].filter_chains = []),
    lines: [`${L0}.filter_chains: no filter chains specified`],
  },
  {
    name: "router not last",
    edit: (b) => hcm(b).http_filters.push({ name: "second", typed_config: { "@type": ROUTER } }),
    lines: [`${TC}.http_filters[0]: terminal filter named "envoy.filters.http.router" of type envoy.filters.http.router must be the last filter in a http filter chain`],
  },
  {
    name: "HTTP/2 codec",
    edit: (b) => (hcm(b).codec_type = "HTTP2"),
    lines: [`${TC}.codec_type: HTTP2 is not supported yet`],
  },
  {
    name: "both prefix and path",
    edit: (b) => (hcm(b).route_config.virtual_hosts[0].routes[0].match = { prefix: "/", path: "/x" }),
    lines: [`${VH}[0].routes[0].match: only one of prefix, path may be set`],
  },
  {
    name: "no action",
    edit: (b) => delete hcm(b).route_config.virtual_hosts[0].routes[0].route,
    lines: [`${VH}[0].routes[0]: one of route, redirect, direct_response is required`],
  },
  {
    name: "direct_response status out of range",
    edit: (b) => (hcm(b).route_config.virtual_hosts[2].routes[0].direct_response.status = 700),
    lines: [`${VH}[2].routes[0].direct_response.status: must be between 200 and 599, got 700`],
  },
  {
    name: "prefix_rewrite with regex_rewrite",
    edit: (b) => (hcm(b).route_config.virtual_hosts[0].routes[0] = { match: { path: "/x" }, route: { cluster: "c0", prefix_rewrite: "/y", regex_rewrite: { pattern: { regex: "x" }, substitution: "y" } } }),
    lines: [`${VH}[0].routes[0].route: only one of prefix_rewrite, regex_rewrite may be set`],
  },
  {
    name: "safe_regex match RE2 would refuse",
    edit: (b) => (hcm(b).route_config.virtual_hosts[0].routes[0].match = { safe_regex: { regex: "(a)\\1" } }),
    lines: [`${VH}[0].routes[0].match.safe_regex.regex: backreference \\1 is not supported by RE2`],
  },
  {
    name: "dynamic_resources locators and layered_runtime",
    edit: (b) => Object.assign(b, { dynamic_resources: { lds_resources_locator: "xdstp://x" }, layered_runtime: {} }),
    lines: ["layered_runtime: is not supported yet", "dynamic_resources.lds_resources_locator: is not supported yet"],
  },
  {
    name: "node locality with an unknown field",
    edit: (b) => (b.node = { id: "n", locality: { zone: "z", planet: "earth" } }),
    lines: ['node.locality: unknown field "planet"'],
  },
  {
    name: "a field in both spellings",
    edit: (b) => Object.assign(b.static_resources.clusters[1], { connect_timeout: "1s", connectTimeout: "2s" }),
    lines: ['static_resources.clusters[1].connect_timeout: is given twice (as "connect_timeout" and "connectTimeout")'],
  },
  {
    name: "wrong types",
    edit: (b) => b.static_resources.clusters.push({ name: 5, load_assignment: [] }),
    lines: ["static_resources.clusters[2].name: expected a string, got the number 5", "static_resources.clusters[2].load_assignment: expected a mapping, got a list"],
  },
  {
    name: "several errors in one config are all reported",
    edit: (b) => {
      b.static_resources.clusters[0].foo = 1;
      b.static_resources.clusters[1].lb_policy = "CLUSTER_PROVIDED";
      hcm(b).route_config.virtual_hosts[0].routes[0].route.cluster = "nope";
      hcm(b).route_config.virtual_hosts[1].domains = ["a.example"];
      hcm(b).tracing = {};
      b.static_resources.listeners[0].use_original_dst = true;
    },
    lines: [
      `${L0}.use_original_dst: is not supported yet`,
      `${TC}.tracing: is not supported yet`,
      `${VH}[0].routes[0].route.cluster: unknown cluster "nope"`,
      `${VH}[1].domains: duplicate domain "a.example"`,
      `${C0}: unknown field "foo"`,
      "static_resources.clusters[1].lb_policy: CLUSTER_PROVIDED is not supported yet",
    ],
  },
];

function loadLines(text: string, overlayYaml?: string): string[] {
  try {
    loadBootstrap({ text, sourceName: "x.yaml", overlayYaml });
  } catch (e) {
    if (e instanceof ConfigError) {
      assert.equal(e.message, e.issues.map((i) => (i.path ? `${i.path}: ${i.message}` : i.message)).join("\n"));
      return e.message.split("\n");
    }
    throw e;
  }
  return [];
}

test("the broken-config base is valid", () => {
  assert.deepStrictEqual(loadLines(JSON.stringify(validBootstrap())), []);
});

for (const c of BROKEN) {
  test(`broken config: ${c.name}`, () => {
    const b = validBootstrap();
    c.edit(b);
    assert.deepStrictEqual(loadLines(JSON.stringify(b)), c.lines);
  });
}

const TEXT_ERRORS: { name: string; text: string; lines: string[] }[] = [
  {
    name: "YAML syntax error",
    text: "admin:\n  address:\n    socket_address: { address: 127.0.0.1, port_value: 9901\n",
    lines: ["x.yaml:4:1: Flow map in block collection must be sufficiently indented and end with a }"],
  },
  { name: "compact nested mapping", text: "admin:\n  address: socket_address: x\n", lines: ["x.yaml:2:12: Nested mappings are not allowed in compact mappings"] },
  { name: "duplicate key", text: "admin: {}\nnode: {}\nadmin: {}\n", lines: ["x.yaml:3:1: Map keys must be unique"] },
  { name: "duplicate key in JSON", text: '{"node": {"id": "a", "id": "b"}}', lines: ["x.yaml:1:22: Map keys must be unique"] },
  { name: "two documents", text: "node: {}\n---\nnode: {}\n", lines: ["x.yaml:2:1: only one YAML document is allowed (found 2)"] },
  { name: "not a mapping", text: "- a\n- b\n", lines: ["x.yaml:1:1: the document must be a mapping, got a list"] },
  { name: "empty", text: "# nothing\n", lines: ["x.yaml: the document is empty"] },
  { name: "unknown anchor", text: "node: *n\n", lines: ['x.yaml:1:7: unknown anchor "n"'] },
];

for (const c of TEXT_ERRORS) {
  test(`text error: ${c.name}`, () => {
    assert.deepStrictEqual(loadLines(c.text), c.lines);
  });
}

test("YAML anchors, merge keys and !ignore keys work", () => {
  const text = `
!ignore defs:
  ep: &ep { address: { socket_address: { address: 127.0.0.1, port_value: 80 } } }
  base: &base { connect_timeout: 2s }
static_resources:
  clusters:
  - <<: *base
    name: a
    load_assignment: { cluster_name: a, endpoints: [ { lb_endpoints: [ { endpoint: *ep } ] } ] }
`;
  const m = loadBootstrap({ text });
  assert.equal(m.clusters[0]!.connectTimeoutMs, 2000);
  assert.deepStrictEqual(m.clusters[0]!.endpoints, [endpointModel("127.0.0.1", 80)]);
});

// ---------------------------------------------------------------------------------------------
// --config-yaml

test("mergeConfig: messages merge, repeated fields append, scalars are replaced", () => {
  const base = { a: { b: 1, c: [1], d: "x" }, list: [{ n: 1 }], connect_timeout: "1s", filter_metadata: { k: { x: 1 } } };
  const overlay = { a: { b: 2, c: [2] }, list: [{ n: 2 }], connectTimeout: "2s", e: true, filter_metadata: { k: { y: 2 } } };
  assert.deepStrictEqual(mergeConfig(base, overlay), {
    a: { b: 2, c: [1, 2], d: "x" },
    list: [{ n: 1 }, { n: 2 }],
    connect_timeout: "2s",
    e: true,
    // Struct/map entries are replaced by key, not merged.
    filter_metadata: { k: { y: 2 } },
  });
  assert.deepStrictEqual(base.a.c, [1], "inputs are not modified");
});

test("--config-yaml adds a cluster (repeated fields append)", () => {
  const overlay = "static_resources: { clusters: [ { name: extra, connect_timeout: 3s } ] }";
  const m = loadBootstrap({ text: FULL_SNAKE, overlayYaml: overlay });
  assert.deepStrictEqual(m.clusters.map((c) => c.name), ["api", "web", "extra"]);
  assert.equal(m.clusters[2]!.connectTimeoutMs, 3000);
});

test("--config-yaml replaces the admin port (any spelling) and keeps the rest", () => {
  const m = loadBootstrap({ text: FULL_SNAKE, overlayYaml: "admin: { address: { socketAddress: { portValue: 9999 } } }" });
  assert.deepStrictEqual(m.admin, { address: { address: "127.0.0.1", port: 9999 }, accessLogPath: "/dev/null" });
  assert.equal(m.listeners.length, 1);
});

test("--config-yaml alone is a whole config; its errors name their source", () => {
  const m = loadBootstrap({ overlayYaml: "admin: { address: { socket_address: { address: '::', port_value: 0 } } }" });
  assert.deepStrictEqual(m.admin, { address: { address: "::", port: 0 }, accessLogPath: undefined });
  assert.throws(() => loadBootstrap({ overlayYaml: "admin: [" }), (e: unknown) => e instanceof ConfigError && e.message.startsWith("--config-yaml:1:"));
  assert.throws(() => loadBootstrap({}), ConfigError);
});

test("an overlay can introduce errors, reported on the merged config", () => {
  assert.deepStrictEqual(loadLines(FULL_SNAKE, "static_resources: { clusters: [ { name: web } ] }"), ['static_resources.clusters[2].name: duplicate cluster name "web"']);
});
