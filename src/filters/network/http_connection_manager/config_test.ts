import assert from "node:assert/strict";
import { test } from "../../../../tests/harness.ts";
import { DEFAULT_ACCESS_LOG_FORMAT } from "../../../config/access_log.ts";
import { loadTypedConfig } from "../../../config/load.ts";
import type { HcmModel } from "../../../config/model.ts";
import { ConfigError } from "../../../core/errors.ts";
import { HCM_TYPE_URL } from "./config.ts";

const ROUTER = { name: "envoy.filters.http.router", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" } };
const ROUTE_CONFIG = { virtual_hosts: [{ name: "all", domains: ["*"], routes: [{ match: { prefix: "/" }, route: { cluster: "backend" } }] }] };

function hcm(fields: Record<string, unknown>): HcmModel {
  const r = loadTypedConfig({ "@type": HCM_TYPE_URL, stat_prefix: "in", route_config: ROUTE_CONFIG, http_filters: [ROUTER], ...fields }, "network_filter", {
    clusterNames: ["backend"],
  });
  assert.equal(r.extension.name, "envoy.filters.network.http_connection_manager");
  assert.equal(r.typeUrl, HCM_TYPE_URL);
  return r.config as HcmModel;
}

function problems(fields: Record<string, unknown>): string[] {
  try {
    hcm(fields);
  } catch (e) {
    if (e instanceof ConfigError) return e.message.split("\n");
    throw e;
  }
  return [];
}

test("HCM defaults follow Envoy (server name ours)", () => {
  const m = hcm({});
  assert.equal(m.codecType, "AUTO");
  assert.equal(m.useRemoteAddress, false);
  assert.equal(m.generateRequestId, true);
  assert.equal(m.preserveExternalRequestId, false);
  assert.equal(m.serverName, "legate");
  assert.equal(m.streamIdleTimeoutMs, 300_000);
  assert.equal(m.requestTimeoutMs, 0);
  assert.equal(m.requestHeadersTimeoutMs, 0);
  assert.equal(m.idleTimeoutMs, 3_600_000);
  assert.equal(m.maxRequestHeadersKb, 60);
  assert.equal(m.maxHeadersCount, 100);
  assert.equal(m.maxRequestsPerConnection, 0);
  assert.deepStrictEqual(m.accessLog, []);
  assert.deepStrictEqual(m.httpFilters.map((f) => f.name), ["envoy.filters.http.router"]);
  assert.equal(m.routeConfig.virtualHosts[0]!.routes[0]!.action.kind, "route");
  assert.ok(Object.isFrozen(m.routeConfig.virtualHosts[0]!.routes[0]!.match));
});

test("HCM values are converted", () => {
  const m = hcm({
    codec_type: "HTTP1",
    preserve_external_request_id: true,
    server_name: "edge",
    stream_idle_timeout: "0s",
    request_headers_timeout: "0.5s",
    common_http_protocol_options: { idle_timeout: "90s", max_headers_count: { value: 10 } },
    max_request_headers_kb: { value: 8192 },
  });
  assert.equal(m.codecType, "HTTP1");
  assert.equal(m.preserveExternalRequestId, true);
  assert.equal(m.serverName, "edge");
  assert.equal(m.streamIdleTimeoutMs, 0);
  assert.equal(m.requestHeadersTimeoutMs, 500);
  assert.equal(m.idleTimeoutMs, 90_000);
  assert.equal(m.maxHeadersCount, 10);
  assert.equal(m.maxRequestHeadersKb, 8192);
});

test("access loggers: file (format, log_format), stdout, stderr; default format", () => {
  const m = hcm({
    access_log: [
      { name: "a", typed_config: { "@type": "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog", path: "/tmp/a", format: "%PROTOCOL%\n" } },
      { typed_config: { "@type": "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog", path: "/tmp/b" } },
      { typed_config: { "@type": "type.googleapis.com/envoy.extensions.access_loggers.stream.v3.StderrAccessLog", log_format: { text_format: "%DURATION%\n" } } },
    ],
  });
  assert.deepStrictEqual(m.accessLog, [
    { name: "a", kind: "file", path: "/tmp/a", format: "%PROTOCOL%\n" },
    { name: "envoy.access_loggers.file", kind: "file", path: "/tmp/b", format: DEFAULT_ACCESS_LOG_FORMAT },
    { name: "envoy.access_loggers.stderr", kind: "stderr", path: undefined, format: "%DURATION%\n" },
  ]);
  assert.ok(DEFAULT_ACCESS_LOG_FORMAT.startsWith('[%START_TIME%] "%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%"'));
});

test("an empty http_filters list is accepted, as Envoy does", () => {
  assert.deepStrictEqual(hcm({ http_filters: [] }).httpFilters, []);
});

const TC = "typed_config";
const BROKEN: [string, Record<string, unknown>, string[]][] = [
  ["max_request_headers_kb above 8192", { max_request_headers_kb: 8193 }, [`${TC}.max_request_headers_kb: must be between 1 and 8192, got 8193`]],
  ["max_headers_count 0", { common_http_protocol_options: { max_headers_count: 0 } }, [`${TC}.common_http_protocol_options.max_headers_count: must be at least 1, got 0`]],
  ["HTTP3", { codec_type: "HTTP3" }, [`${TC}.codec_type: HTTP3 is not supported yet`]],
  ["unsupported fields", { normalize_path: true, upgrade_configs: [] }, [`${TC}.normalize_path: is not supported yet`, `${TC}.upgrade_configs: is not supported yet`]],
  ["empty stat_prefix", { stat_prefix: "" }, [`${TC}.stat_prefix: must not be empty`]],
  ["wrapper with a wrong shape", { use_remote_address: { val: true } }, [`${TC}.use_remote_address: expected a boolean or {value: <boolean>}, got a mapping`]],
  ["router not last", { http_filters: [ROUTER, { ...ROUTER, name: "again" }] }, [
    `${TC}.http_filters[0]: terminal filter named "envoy.filters.http.router" of type envoy.filters.http.router must be the last filter in a http filter chain`,
  ]],
  ["http filter without a name", { http_filters: [{ typed_config: ROUTER.typed_config }] }, [`${TC}.http_filters[0].name: is required`]],
  ["http filter with a network filter @type", { http_filters: [{ name: "x", typed_config: { "@type": HCM_TYPE_URL } }] }, [
    `${TC}.http_filters[0].typed_config.@type: "${HCM_TYPE_URL}" is a network filter, not an HTTP filter`,
  ]],
  ["unknown http filter @type", { http_filters: [{ name: "x", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.cors.v3.Cors" } }, ROUTER] }, [
    `${TC}.http_filters[0].typed_config.@type: unknown extension type "type.googleapis.com/envoy.extensions.filters.http.cors.v3.Cors"`,
  ]],
  ["access log filter and json_format", {
    access_log: [{
      filter: {},
      typed_config: { "@type": "type.googleapis.com/envoy.extensions.access_loggers.stream.v3.StdoutAccessLog", log_format: { json_format: { a: "%PROTOCOL%" } } },
    }],
  }, [
    `${TC}.access_log[0].filter: is not supported yet`,
    `${TC}.access_log[0].typed_config.log_format.json_format: is not supported yet`,
  ]],
  ["file access log without a path", { access_log: [{ typed_config: { "@type": "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog" } }] }, [
    `${TC}.access_log[0].typed_config.path: is required`,
  ]],
  ["route to a cluster the context does not know", { route_config: { virtual_hosts: [{ name: "v", domains: ["*"], routes: [{ match: { path: "/" }, route: { cluster: "x" } }] }] } }, [
    `${TC}.route_config.virtual_hosts[0].routes[0].route.cluster: unknown cluster "x"`,
  ]],
  ["direct response body too large", {
    route_config: { virtual_hosts: [{ name: "v", domains: ["*"], routes: [{ match: { prefix: "/" }, direct_response: { status: 200, body: { inline_string: "x".repeat(4097) } } }] }] },
  }, [`${TC}.route_config.virtual_hosts[0].routes[0].direct_response.body: response body size is 4097 bytes; maximum is 4096`]],
  ["direct response body from a file", {
    route_config: { virtual_hosts: [{ name: "v", domains: ["*"], routes: [{ match: { prefix: "/" }, direct_response: { status: 200, body: { filename: "/x" } } }] }] },
  }, [`${TC}.route_config.virtual_hosts[0].routes[0].direct_response.body.filename: is not supported yet`]],
  ["route without cluster; weighted_clusters", {
    route_config: { virtual_hosts: [{ name: "v", domains: ["*"], routes: [{ match: { prefix: "/" }, route: {} }, { match: { prefix: "/" }, route: { weighted_clusters: {} } }] }] },
  }, [
    `${TC}.route_config.virtual_hosts[0].routes[0].route.cluster: is required`,
    `${TC}.route_config.virtual_hosts[0].routes[1].route.weighted_clusters: is not supported yet`,
  ]],
  ["virtual host without a name", { route_config: { virtual_hosts: [{ domains: ["*"] }] } }, [`${TC}.route_config.virtual_hosts[0].name: is required`]],
];

for (const [name, fields, lines] of BROKEN) {
  test(`HCM refuses: ${name}`, () => {
    assert.deepStrictEqual(problems(fields), lines);
  });
}
