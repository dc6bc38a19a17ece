import assert from "node:assert/strict";
import { test } from "../../../../tests/harness.ts";
import { DEFAULT_ACCESS_LOG_FORMAT } from "../../../config/access_log.ts";
import { OPERATOR_NAMES_FOR_DOCS, RESPONSE_FLAG_NAMES } from "../../../http/conn_manager/formatter.ts";
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
  assert.equal(m.routeConfig!.virtualHosts[0]!.routes[0]!.action.kind, "route");
  assert.ok(Object.isFrozen(m.routeConfig!.virtualHosts[0]!.routes[0]!.match));
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
const FILE_LOG = "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog";
const STDOUT_LOG = "type.googleapis.com/envoy.extensions.access_loggers.stream.v3.StdoutAccessLog";

test("issue 3 HCM options are converted (only non-defaults appear in the model)", () => {
  const m = hcm({
    xff_num_trusted_hops: 2,
    skip_xff_append: true,
    via: "legate-edge",
    server_header_transformation: "pass_through",
    normalize_path: { value: true },
    merge_slashes: true,
    path_with_escaped_slashes_action: "UNESCAPE_AND_REDIRECT",
    strip_matching_host_port: true,
    always_set_request_id_in_response: true,
    proxy_100_continue: false,
    common_http_protocol_options: { max_connection_duration: "30s", max_stream_duration: "2s", headers_with_underscores_action: "drop_header" },
    local_reply_config: {
      mappers: [{
        filter: { status_code_filter: { comparison: { op: "EQ", value: { default_value: 404, runtime_key: "k" } } } },
        status_code: 410,
        body: { inline_string: "gone" },
      }],
      body_format: { text_format_source: { inline_string: "%RESPONSE_CODE%: %LOCAL_REPLY_BODY%" }, content_type: "text/x" },
    },
  });
  assert.equal(m.xffNumTrustedHops, 2);
  assert.equal(m.skipXffAppend, true);
  assert.equal(m.via, "legate-edge");
  assert.equal(m.serverHeaderTransformation, "PASS_THROUGH");
  assert.equal(m.normalizePath, true);
  assert.equal(m.mergeSlashes, true);
  assert.equal(m.pathWithEscapedSlashesAction, "UNESCAPE_AND_REDIRECT");
  assert.equal(m.stripHostPort, "matching");
  assert.equal(m.alwaysSetRequestIdInResponse, true);
  assert.equal(m.maxConnectionDurationMs, 30_000);
  assert.equal(m.maxStreamDurationMs, 2_000);
  assert.equal(m.headersWithUnderscoresAction, "DROP_HEADER");
  assert.deepStrictEqual(m.localReply, {
    mappers: [{ filter: { kind: "status_code", op: "EQ", value: 404 }, statusCode: 410, body: "gone", bodyFormat: "", contentType: "text/plain" }],
    bodyFormat: "%RESPONSE_CODE%: %LOCAL_REPLY_BODY%",
    contentType: "text/x",
  });
  const d = hcm({ path_with_escaped_slashes_action: "IMPLEMENTATION_SPECIFIC_DEFAULT", strip_any_host_port: true });
  assert.equal(d.pathWithEscapedSlashesAction, undefined, "the default maps to KEEP_UNCHANGED, which is the default");
  assert.equal(d.stripHostPort, "any");
  assert.equal(d.via, undefined);
});

test("access logs: json_format, filters (nested and/or), text_format_source", () => {
  const m = hcm({
    access_log: [
      {
        filter: {
          or_filter: {
            filters: [
              { status_code_filter: { comparison: { op: "GE", value: { default_value: 500, runtime_key: "a" } } } },
              { and_filter: { filters: [{ duration_filter: { comparison: { op: "LE", value: { default_value: 10, runtime_key: "b" } } } }, { response_flag_filter: {} }] } },
              { not_health_check_filter: {} },
            ],
          },
        },
        typed_config: { "@type": STDOUT_LOG, log_format: { json_format: { code: "%RESPONSE_CODE%", n: { p: "%REQ(:PATH)%" } } } },
      },
      { typed_config: { "@type": FILE_LOG, path: "/tmp/x", log_format: { text_format_source: { inline_string: "%START_TIME(%s.%3f)% %REQ_WITHOUT_QUERY(:PATH)%\n" } } } },
    ],
  });
  assert.deepStrictEqual(m.accessLog[0], {
    name: "envoy.access_loggers.stdout",
    kind: "stdout",
    path: undefined,
    format: "",
    json: { code: "%RESPONSE_CODE%", n: { p: "%REQ(:PATH)%" } },
    filter: {
      kind: "or",
      filters: [
        { kind: "status_code", op: "GE", value: 500 },
        { kind: "and", filters: [{ kind: "duration", op: "LE", value: 10 }, { kind: "response_flag", flags: [] }] },
        { kind: "not_health_check" },
      ],
    },
  });
  assert.equal(m.accessLog[1]!.format, "%START_TIME(%s.%3f)% %REQ_WITHOUT_QUERY(:PATH)%\n");
  const o = hcm({ access_log: [{ typed_config: { "@type": STDOUT_LOG, log_format: { text_format: "%PROTOCOL%\n", omit_empty_values: true } } }] });
  assert.equal(o.accessLog[0]!.omitEmpty, true);
});
const BROKEN: [string, Record<string, unknown>, string[]][] = [
  ["max_request_headers_kb above 8192", { max_request_headers_kb: 8193 }, [`${TC}.max_request_headers_kb: must be between 1 and 8192, got 8193`]],
  ["max_headers_count 0", { common_http_protocol_options: { max_headers_count: 0 } }, [`${TC}.common_http_protocol_options.max_headers_count: must be at least 1, got 0`]],
  ["HTTP3", { codec_type: "HTTP3" }, [`${TC}.codec_type: HTTP3 is not supported yet`]],
  ["unsupported fields", { tracing: {}, add_user_agent: true }, [`${TC}.tracing: is not supported yet`, `${TC}.add_user_agent: is not supported yet`]],
  ["upgrade_configs: CONNECT, filters", { upgrade_configs: [{ upgrade_type: "connect" }, { upgrade_type: "websocket", filters: [] }] }, [
    `${TC}.upgrade_configs[0]: upgrade_type CONNECT is not supported yet`,
    `${TC}.upgrade_configs[1].filters: is not supported yet`,
  ]],
  ["internal_address_config with a bad range", { internal_address_config: { cidr_ranges: [{ address_prefix: "10.0.0.0", prefix_len: 33 }, { address_prefix: "nope", prefix_len: 8 }] } }, [
    `${TC}.internal_address_config.cidr_ranges[0]: prefix_len: must be at most 32 for this address, got 33`,
    `${TC}.internal_address_config.cidr_ranges[1]: address_prefix: not an IP address: "nope"`,
  ]],
  ["scheme_header_transformation: bad scheme, match_upstream", { scheme_header_transformation: { scheme_to_overwrite: "ftp", match_upstream: true } }, [
    `${TC}.scheme_header_transformation.scheme_to_overwrite: must be "http" or "https", got "ftp"`,
    `${TC}.scheme_header_transformation.match_upstream: is not supported yet`,
  ]],
  ["proxy_100_continue not a boolean", { proxy_100_continue: "yes" }, [`${TC}.proxy_100_continue: expected a boolean, got the string "yes"`]],
  ["both strip port modes", { strip_any_host_port: true, strip_matching_host_port: true }, [`${TC}: only one of strip_matching_host_port, strip_any_host_port may be set`]],
  ["unknown escaped slashes action", { path_with_escaped_slashes_action: "DROP" }, [
    `${TC}.path_with_escaped_slashes_action: unknown value "DROP" (accepted: IMPLEMENTATION_SPECIFIC_DEFAULT, KEEP_UNCHANGED, REJECT_REQUEST, UNESCAPE_AND_REDIRECT, UNESCAPE_AND_FORWARD)`,
  ]],
  ["server_header_transformation word", { server_header_transformation: "REMOVE" }, [
    `${TC}.server_header_transformation: unknown value "REMOVE" (accepted: OVERWRITE, APPEND_IF_ABSENT, PASS_THROUGH)`,
  ]],
  ["unknown access log operator, in text and JSON formats", {
    access_log: [
      { typed_config: { "@type": FILE_LOG, path: "/tmp/x", log_format: { text_format_source: { inline_string: "%PROTOCOL% %BOGUS% %REQ()%" } } } },
      { typed_config: { "@type": STDOUT_LOG, log_format: { json_format: { a: { b: "%DYNAMIC_METADATA(x)%" } } } } },
      { typed_config: { "@type": FILE_LOG, path: "/tmp/x", format: "%NOPE%" } },
    ],
  }, [
    `${TC}.access_log[0].typed_config.log_format: unsupported command operator %BOGUS% (supported: ${OPERATOR_NAMES_FOR_DOCS})`,
    `${TC}.access_log[0].typed_config.log_format: unsupported command operator %REQ()% (supported: ${OPERATOR_NAMES_FOR_DOCS})`,
    `${TC}.access_log[1].typed_config.log_format: unsupported command operator %DYNAMIC_METADATA(x)% (supported: ${OPERATOR_NAMES_FOR_DOCS})`,
    `${TC}.access_log[2].typed_config.format: unsupported command operator %NOPE% (supported: ${OPERATOR_NAMES_FOR_DOCS})`,
  ]],
  ["access log filters: empty, unsupported kind, bad flag, short and_filter, missing runtime_key", {
    access_log: [
      { filter: {}, typed_config: { "@type": STDOUT_LOG } },
      { filter: { header_filter: {} }, typed_config: { "@type": STDOUT_LOG } },
      { filter: { response_flag_filter: { flags: ["UH", "XX"] } }, typed_config: { "@type": STDOUT_LOG } },
      { filter: { and_filter: { filters: [{ not_health_check_filter: {} }] } }, typed_config: { "@type": STDOUT_LOG } },
      { filter: { status_code_filter: { comparison: { op: "GE", value: { default_value: 400 } } } }, typed_config: { "@type": STDOUT_LOG } },
    ],
  }, [
    `${TC}.access_log[0].filter: one of status_code_filter, duration_filter, not_health_check_filter, and_filter, or_filter, response_flag_filter is required`,
    `${TC}.access_log[1].filter.header_filter: is not supported yet`,
    `${TC}.access_log[2].filter.response_flag_filter.flags[1]: unknown response flag "XX" (known: ${RESPONSE_FLAG_NAMES.join(", ")})`,
    `${TC}.access_log[3].filter.and_filter.filters: must have at least 2 items, got 1`,
    `${TC}.access_log[4].filter.status_code_filter.comparison.value.runtime_key: is required`,
  ]],
  ["log_format json_format_options", { access_log: [{ typed_config: { "@type": STDOUT_LOG, log_format: { json_format: { a: "%PROTOCOL%" }, json_format_options: {} } } }] }, [
    `${TC}.access_log[0].typed_config.log_format.json_format_options: is not supported yet`,
  ]],
  ["local_reply_config: mapper without filter, bad status, unknown operator", {
    local_reply_config: {
      mappers: [{ status_code: 200 }, { filter: { status_code_filter: { comparison: { value: { default_value: 1, runtime_key: "k" } } } }, status_code: 700 }],
      body_format: { text_format: "%NOPE%" },
    },
  }, [
    `${TC}.local_reply_config.body_format: unsupported command operator %NOPE% (supported: ${OPERATOR_NAMES_FOR_DOCS})`,
    `${TC}.local_reply_config.mappers[0].filter: is required`,
    `${TC}.local_reply_config.mappers[1].status_code: must be between 200 and 599, got 700`,
  ]],
  ["empty stat_prefix", { stat_prefix: "" }, [`${TC}.stat_prefix: must not be empty`]],
  ["wrapper with a wrong shape", { use_remote_address: { val: true } }, [`${TC}.use_remote_address: expected a boolean or {value: <boolean>}, got a mapping`]],
  ["router not last", { http_filters: [ROUTER, { ...ROUTER, name: "again" }] }, [
    `${TC}.http_filters[0]: terminal filter named "envoy.filters.http.router" of type envoy.filters.http.router must be the last filter in a http filter chain`,
  ]],
  ["http filter without a name", { http_filters: [{ typed_config: ROUTER.typed_config }] }, [`${TC}.http_filters[0].name: is required`]],
  ["http filter with a network filter @type", { http_filters: [{ name: "x", typed_config: { "@type": HCM_TYPE_URL } }] }, [
    `${TC}.http_filters[0].typed_config.@type: "${HCM_TYPE_URL}" is a network filter, not an HTTP filter`,
  ]],
  ["unknown http filter @type", { http_filters: [{ name: "x", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.lua.v3.Lua" } }, ROUTER] }, [
    `${TC}.http_filters[0].typed_config.@type: unknown extension type "type.googleapis.com/envoy.extensions.filters.http.lua.v3.Lua"`,
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
  ["route without cluster; weighted_clusters without clusters", {
    route_config: { virtual_hosts: [{ name: "v", domains: ["*"], routes: [{ match: { prefix: "/" }, route: {} }, { match: { prefix: "/" }, route: { weighted_clusters: {} } }] }] },
  }, [
    `${TC}.route_config.virtual_hosts[0].routes[0].route: one of cluster, cluster_header, weighted_clusters is required`,
    `${TC}.route_config.virtual_hosts[0].routes[1].route.weighted_clusters.clusters: is required`,
  ]],
  ["virtual host without a name", { route_config: { virtual_hosts: [{ domains: ["*"] }] } }, [`${TC}.route_config.virtual_hosts[0].name: is required`]],
];

for (const [name, fields, lines] of BROKEN) {
  test(`HCM refuses: ${name}`, () => {
    assert.deepStrictEqual(problems(fields), lines);
  });
}
