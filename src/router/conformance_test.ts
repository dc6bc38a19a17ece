/**
 * Route conformance: (route configuration, request) → (chosen route and cluster, the request as
 * it would go upstream, or the local reply), written from Envoy's documented semantics in
 * route_components.proto and the router filter docs. Runs the same compiled table and the same
 * finalizeRequestHeaders / finalizeResponseHeaders the router uses.
 */
import assert from "node:assert/strict";
import { test } from "../../tests/harness.ts";
import { createParseContext } from "../config/context.ts";
import { parseRouteConfiguration } from "../config/route.ts";
import type { ConfigIssue } from "../core/errors.ts";
import type { RequestHeaders } from "../http/filter.ts";
import { HeaderMap } from "../http/header_map.ts";
import { StreamInfo } from "../http/stream_info.ts";
import type { HeaderFormatInput } from "./header_formatter.ts";
import { finalizeRequestHeaders, finalizeResponseHeaders, resolveRoute, RouteTable } from "./route_table.ts";

function table(rc: Record<string, unknown>): RouteTable {
  const issues: ConfigIssue[] = [];
  const m = parseRouteConfiguration(rc, createParseContext({ issues, path: "route_config" }));
  if (!m) throw new Error(issues.map((i) => `${i.path}: ${i.message}`).join("\n"));
  return new RouteTable(m);
}

function configIssues(rc: Record<string, unknown>): string[] {
  const issues: ConfigIssue[] = [];
  parseRouteConfiguration(rc, createParseContext({ issues, path: "rc" }));
  return issues.map((i) => `${i.path}: ${i.message}`);
}

/** One vhost "*" with `routes`, plus optional route-config fields. */
function rc(routes: unknown[], extra: Record<string, unknown> = {}, vhExtra: Record<string, unknown> = {}): Record<string, unknown> {
  return { name: "rc", virtual_hosts: [{ name: "vh", domains: ["*"], routes, ...vhExtra }], ...extra };
}

interface Req {
  path: string;
  host?: string;
  method?: string;
  headers?: [string, string][];
}

function request(r: Req): RequestHeaders {
  return {
    method: r.method ?? "GET",
    path: r.path,
    authority: r.host ?? "example.com",
    scheme: "http",
    headers: HeaderMap.fromPairs(r.headers ?? [["x-forwarded-proto", "http"]]),
  };
}

interface Outcome {
  route: string | null;
  cluster?: string;
  path?: string;
  authority?: string;
  /** Selected request headers after finalization (name → all values joined by " | "). */
  headers?: Record<string, string>;
  redirect?: { status: number; location: string };
  direct?: number;
}

/** What the router would do, as data. `random` drives weighted cluster choice. */
function run(t: RouteTable, r: Req, want: string[] = [], random = 0): Outcome {
  const req = request(r);
  const route = resolveRoute({ route: () => t.route(req.authority, req.path), request: req });
  if (route === null) return { route: null };
  if (route.kind === "direct_response") return { route: route.name, direct: route.directStatus };
  if (route.kind === "redirect") return { route: route.name, redirect: { status: route.redirectCode, location: route.redirectLocation(req) } };
  const info = new StreamInfo("10.1.2.3:5555", "10.0.0.1:80");
  info.protocol = "HTTP/1.1";
  const fmt: HeaderFormatInput = { info, req, resp: null, upstreamHost: "" };
  const w = route.chooseWeighted(random);
  const cluster = w >= 0 ? route.weighted!.names[w]! : route.chooseCluster(req, random);
  finalizeRequestHeaders(route, req, fmt, w);
  const out: Outcome = { route: route.name, cluster, path: req.path, authority: req.authority };
  if (want.length) {
    out.headers = {};
    for (const h of want) out.headers[h] = req.headers.getAll(h).join(" | ");
  }
  return out;
}

const r = (name: string, match: Record<string, unknown>, action: Record<string, unknown> = { route: { cluster: name } }) => ({ name, match, ...action });

// --- path matching ----------------------------------------------------------------------------

const PATHS = table(rc([
  r("exact", { path: "/exact" }),
  r("ci", { prefix: "/CI/", case_sensitive: false }),
  r("regex", { safe_regex: { google_re2: {}, regex: "/v[0-9]+" } }),
  r("sep", { path_separated_prefix: "/api" }),
  r("sep-ci", { path_separated_prefix: "/Docs", case_sensitive: { value: false } }),
  r("catch", { prefix: "/" }),
]));

const PATH_CASES: [string, string][] = [
  ["/exact", "exact"],
  ["/exact?x=1", "exact"], // path matching ignores the query string
  ["/exact/", "catch"],
  ["/EXACT", "catch"], // case sensitive by default
  ["/ci/x", "ci"],
  ["/Ci/x", "ci"],
  ["/v12", "regex"],
  ["/v12?page=2", "regex"], // the regex sees the path without the query
  ["/v12/x", "catch"], // regexes match the whole path (RE2 FullMatch)
  ["/xv12", "catch"],
  ["/api", "sep"],
  ["/api/", "sep"],
  ["/api/users", "sep"],
  ["/api?x=1", "sep"],
  ["/apix", "catch"], // path_separated_prefix needs a "/" (or the end) after the prefix
  ["/docs/a", "sep-ci"],
  ["/DOCS", "sep-ci"],
];

for (const [path, want] of PATH_CASES) {
  test(`conformance: path ${path} → ${want}`, () => assert.equal(run(PATHS, { path }).route, want));
}

// --- header and query parameter matching ------------------------------------------------------

const HEADERS = table(rc([
  r("exact", { prefix: "/", headers: [{ name: "X-Env", string_match: { exact: "prod" } }] }),
  r("legacy-exact", { prefix: "/", headers: [{ name: "x-legacy", exact_match: "yes" }] }),
  r("prefix-ci", { prefix: "/", headers: [{ name: "x-user", string_match: { prefix: "ADMIN-", ignore_case: true } }] }),
  r("suffix", { prefix: "/", headers: [{ name: "x-file", string_match: { suffix: ".png" } }] }),
  r("contains", { prefix: "/", headers: [{ name: "user-agent", string_match: { contains: "curl" } }] }),
  r("regex", { prefix: "/", headers: [{ name: "x-ver", safe_regex_match: { regex: "v\\d+" } }] }),
  r("range", { prefix: "/", headers: [{ name: "x-shard", range_match: { start: "-10", end: 10 } }] }),
  r("absent", { prefix: "/", headers: [{ name: "x-absent-test", present_match: false }, { name: "x-probe", present_match: true }] }),
  r("inverted", { prefix: "/", headers: [{ name: "x-tier", string_match: { exact: "gold" }, invert_match: true }] }),
  r("inverted-missing", {
    prefix: "/",
    headers: [{ name: "x-region", range_match: { start: 0, end: 5 }, invert_match: true, treat_missing_header_as_empty: true }, { name: "x-probe2" }],
  }),
  r("method", { prefix: "/", headers: [{ name: ":method", string_match: { exact: "DELETE" } }] }),
  r("joined", { prefix: "/", headers: [{ name: "x-multi", string_match: { exact: "a,b" } }] }),
  r("query", { prefix: "/", query_parameters: [{ name: "debug", string_match: { exact: "on" } }] }),
  r("query-present", { prefix: "/", query_parameters: [{ name: "trace", present_match: true }] }),
  r("query-decoded", { prefix: "/", query_parameters: [{ name: "q", string_match: { exact: "a b" } }] }),
  r("catch", { prefix: "/" }),
]));

const HEADER_CASES: [string, Req, string][] = [
  ["exact", { path: "/", headers: [["x-env", "prod"]] }, "exact"],
  ["exact is case sensitive", { path: "/", headers: [["x-env", "Prod"]] }, "catch"],
  ["legacy exact_match", { path: "/", headers: [["x-legacy", "yes"]] }, "legacy-exact"],
  ["prefix with ignore_case", { path: "/", headers: [["x-user", "admin-bob"]] }, "prefix-ci"],
  ["suffix", { path: "/", headers: [["x-file", "a.png"]] }, "suffix"],
  ["contains", { path: "/", headers: [["user-agent", "curl/8.0"]] }, "contains"],
  ["regex full match", { path: "/", headers: [["x-ver", "v12"]] }, "regex"],
  ["regex is anchored", { path: "/", headers: [["x-ver", "v12-beta"]] }, "catch"],
  ["range start is inclusive", { path: "/", headers: [["x-shard", "-10"]] }, "range"],
  ["range end is exclusive", { path: "/", headers: [["x-shard", "10"]] }, "catch"],
  ["range needs an integer", { path: "/", headers: [["x-shard", "3.5"]] }, "catch"],
  ["present_match false needs the header absent", { path: "/", headers: [["x-probe", "1"]] }, "absent"],
  ["present_match false fails when present", { path: "/", headers: [["x-probe", "1"], ["x-absent-test", ""]] }, "catch"],
  ["invert_match on a different value", { path: "/", headers: [["x-tier", "silver"]] }, "inverted"],
  ["invert_match on the value", { path: "/", headers: [["x-tier", "gold"]] }, "catch"],
  ["invert_match never matches a missing header", { path: "/", headers: [] }, "catch"],
  ["treat_missing_header_as_empty lets an inverted range match", { path: "/", headers: [["x-probe2", "1"]] }, "inverted-missing"],
  ["pseudo-header :method", { path: "/", method: "DELETE" }, "method"],
  ["repeated headers are joined with a comma", { path: "/", headers: [["x-multi", "a"], ["x-multi", "b"]] }, "joined"],
  ["query parameter", { path: "/p?x=1&debug=on" }, "query"],
  ["query parameter value differs", { path: "/p?debug=off" }, "catch"],
  ["query parameter: the first value counts", { path: "/p?debug=off&debug=on" }, "catch"],
  ["query parameter present without a value", { path: "/p?trace" }, "query-present"],
  ["query parameter is percent-decoded", { path: "/p?q=a%20b" }, "query-decoded"],
];

for (const [name, req, want] of HEADER_CASES) {
  test(`conformance: headers: ${name} → ${want}`, () => assert.equal(run(HEADERS, req).route, want));
}

test("conformance: a route filtered out by headers falls through to the next one in order", () => {
  const t = table(rc([
    r("a", { prefix: "/x", headers: [{ name: "x-a" }] }),
    r("b", { prefix: "/x", headers: [{ name: "x-b" }] }),
    r("c", { prefix: "/" }),
  ]));
  assert.equal(run(t, { path: "/x", headers: [["x-b", "1"]] }).route, "b");
  assert.equal(run(t, { path: "/x", headers: [["x-a", "1"], ["x-b", "1"]] }).route, "a");
  assert.equal(run(t, { path: "/x", headers: [] }).route, "c");
  // Legacy lookups without headers (the HCM's cb.route()) give a superset answer, never a later one.
  assert.equal(t.route("example.com", "/x")!.name, "a");
});

// --- cluster selection ------------------------------------------------------------------------

test("conformance: weighted_clusters split random % total over cumulative weights", () => {
  const t = table(rc([{ match: { prefix: "/" }, route: { weighted_clusters: { clusters: [{ name: "a", weight: 1 }, { name: "b", weight: 3 }, { name: "z", weight: 0 }] } } }]));
  const got = [0, 1, 2, 3, 4, 5, 7, 8].map((n) => run(t, { path: "/" }, [], n).cluster);
  assert.deepEqual(got, ["a", "b", "b", "b", "a", "b", "b", "a"]);
});

test("conformance: cluster_header takes the cluster from a request header", () => {
  const t = table(rc([{ match: { prefix: "/" }, route: { cluster_header: "X-Cluster" } }]));
  assert.equal(run(t, { path: "/", headers: [["x-cluster", "blue"]] }).cluster, "blue");
  assert.equal(run(t, { path: "/", headers: [] }).cluster, "", "missing header: no cluster (503 NC in the router)");
});

// --- rewrites ---------------------------------------------------------------------------------

const REWRITES = table(rc([
  r("prefix", { prefix: "/api/" }, { route: { cluster: "c", prefix_rewrite: "/" } }),
  r("prefix-ci", { prefix: "/Up/", case_sensitive: false }, { route: { cluster: "c", prefix_rewrite: "/down/" } }),
  r("path", { path: "/old" }, { route: { cluster: "c", prefix_rewrite: "/new" } }),
  r("sep", { path_separated_prefix: "/s" }, { route: { cluster: "c", prefix_rewrite: "/t" } }),
  r("regex", { prefix: "/r/" }, { route: { cluster: "c", regex_rewrite: { pattern: { regex: "^/r/([^/]+)/(\\w+)$" }, substitution: "/\\2/\\1" } } }),
  r("regex-all", { prefix: "/g/" }, { route: { cluster: "c", regex_rewrite: { pattern: { regex: "o" }, substitution: "0" } } }),
  r("host", { prefix: "/h" }, { route: { cluster: "c", host_rewrite_literal: "internal.svc" } }),
  r("plain", { prefix: "/" }, { route: { cluster: "c" } }),
]));

const REWRITE_CASES: [string, string, string, string | undefined][] = [
  // [path, route, upstream path, x-envoy-original-path]
  ["/api/users?id=1", "prefix", "/users?id=1", "/api/users?id=1"],
  ["/UP/x", "prefix-ci", "/down/x", "/UP/x"],
  ["/old?q=1", "path", "/new?q=1", "/old?q=1"],
  ["/s/x", "sep", "/t/x", "/s/x"],
  ["/r/alice/profile?x=1", "regex", "/profile/alice?x=1", "/r/alice/profile?x=1"],
  ["/g/foo/boo", "regex-all", "/g/f00/b00", "/g/foo/boo"],
  ["/plain", "plain", "/plain", undefined],
];

for (const [path, route, upstream, original] of REWRITE_CASES) {
  test(`conformance: rewrite ${path} → ${upstream}`, () => {
    const o = run(REWRITES, { path }, ["x-envoy-original-path"]);
    assert.equal(o.route, route);
    assert.equal(o.path, upstream);
    assert.equal(o.headers!["x-envoy-original-path"] || undefined, original);
  });
}

test("conformance: host_rewrite_literal replaces :authority", () => {
  assert.equal(run(REWRITES, { path: "/h", host: "public.example" }).authority, "internal.svc");
  assert.equal(run(REWRITES, { path: "/x", host: "public.example" }).authority, "public.example");
});

// --- redirects --------------------------------------------------------------------------------

const REDIRECT_CASES: [string, Record<string, unknown>, Req, number, string][] = [
  ["https_redirect drops the default http port", { https_redirect: true }, { path: "/a?b=1", host: "example.com:80" }, 301, "https://example.com/a?b=1"],
  ["https_redirect keeps a non-default port", { https_redirect: true }, { path: "/a", host: "example.com:8080" }, 301, "https://example.com:8080/a"],
  ["scheme_redirect", { scheme_redirect: "https" }, { path: "/", host: "example.com" }, 301, "https://example.com/"],
  ["host_redirect", { host_redirect: "new.example" }, { path: "/p?q", host: "old.example:8080" }, 301, "http://new.example/p?q"],
  ["port_redirect replaces the port", { port_redirect: 8443 }, { path: "/p", host: "example.com:8080" }, 301, "http://example.com:8443/p"],
  ["path_redirect keeps the query", { path_redirect: "/new" }, { path: "/old?x=1", host: "example.com" }, 301, "http://example.com/new?x=1"],
  ["path_redirect with its own query replaces it", { path_redirect: "/new?y=2" }, { path: "/old?x=1", host: "example.com" }, 301, "http://example.com/new?y=2"],
  ["strip_query", { strip_query: true }, { path: "/old?x=1", host: "example.com" }, 301, "http://example.com/old"],
  ["prefix_rewrite", { prefix_rewrite: "/v2/" }, { path: "/v1/users?x", host: "example.com" }, 301, "http://example.com/v2/users?x"],
  ["regex_rewrite", { regex_rewrite: { pattern: { regex: "^/v1/(.*)$" }, substitution: "/v3/\\1" } }, { path: "/v1/a/b?x", host: "example.com" }, 301, "http://example.com/v3/a/b?x"],
  ["response_code FOUND", { response_code: "FOUND", host_redirect: "x.example" }, { path: "/", host: "example.com" }, 302, "http://x.example/"],
  ["response_code SEE_OTHER", { response_code: "SEE_OTHER", path_redirect: "/o" }, { path: "/", host: "example.com" }, 303, "http://example.com/o"],
  ["response_code TEMPORARY_REDIRECT", { response_code: "TEMPORARY_REDIRECT", https_redirect: true }, { path: "/", host: "example.com" }, 307, "https://example.com/"],
  ["response_code PERMANENT_REDIRECT", { response_code: "PERMANENT_REDIRECT", https_redirect: true }, { path: "/", host: "example.com" }, 308, "https://example.com/"],
];

for (const [name, redirect, req, status, location] of REDIRECT_CASES) {
  test(`conformance: redirect: ${name}`, () => {
    const t = table(rc([{ name: "r", match: { prefix: req.path.startsWith("/v1/") ? "/v1/" : "/" }, redirect }]));
    assert.deepEqual(run(t, req).redirect, { status, location });
  });
}

test("conformance: direct_response and no route", () => {
  const t = table({ name: "rc", virtual_hosts: [{ name: "a", domains: ["a.com"], routes: [{ match: { prefix: "/" }, direct_response: { status: 418 } }] }] });
  assert.equal(run(t, { path: "/", host: "a.com" }).direct, 418);
  assert.equal(run(t, { path: "/", host: "b.com" }).route, null);
});

// --- header manipulation ----------------------------------------------------------------------

function hdr(key: string, value: string, more: Record<string, unknown> = {}) {
  return { header: { key, value }, ...more };
}

test("conformance: headers are applied route, then virtual host, then route config (the most general wins)", () => {
  const routes = [{
    match: { prefix: "/" },
    route: { cluster: "c" },
    request_headers_to_add: [hdr("x-level", "route", { append_action: "OVERWRITE_IF_EXISTS_OR_ADD" }), hdr("x-all", "route")],
  }];
  const vh = { request_headers_to_add: [hdr("x-level", "vhost", { append: false }), hdr("x-all", "vhost")] };
  const global = { request_headers_to_add: [hdr("x-level", "global", { append_action: "OVERWRITE_IF_EXISTS_OR_ADD" }), hdr("x-all", "global")] };
  const o = run(table(rc(routes, global, vh)), { path: "/" }, ["x-level", "x-all"]);
  assert.deepEqual(o.headers, { "x-level": "global", "x-all": "route | vhost | global" });
  const o2 = run(table(rc(routes, { ...global, most_specific_header_mutations_wins: true }, vh)), { path: "/" }, ["x-level"]);
  assert.deepEqual(o2.headers, { "x-level": "route" });
});

test("conformance: append_action, keep_empty_value, and removal before addition", () => {
  const t = table(rc([{
    match: { prefix: "/" },
    route: { cluster: "c" },
    request_headers_to_remove: ["x-drop", "x-replace"],
    request_headers_to_add: [
      hdr("x-append", "new"),
      hdr("x-absent", "new", { append_action: "ADD_IF_ABSENT" }),
      hdr("x-present", "new", { append_action: "ADD_IF_ABSENT" }),
      hdr("x-only-if", "new", { append_action: "OVERWRITE_IF_EXISTS" }),
      hdr("x-present2", "new", { append_action: "OVERWRITE_IF_EXISTS" }),
      hdr("x-replace", "added"),
      hdr("x-empty", ""),
      hdr("x-kept-empty", "", { keep_empty_value: true }),
    ],
  }]));
  const o = run(t, {
    path: "/",
    headers: [["x-append", "old"], ["x-present", "old"], ["x-present2", "old"], ["x-drop", "1"], ["x-replace", "old"]],
  }, ["x-append", "x-absent", "x-present", "x-only-if", "x-present2", "x-drop", "x-replace", "x-empty", "x-kept-empty"]);
  assert.deepEqual(o.headers, {
    "x-append": "old | new",
    "x-absent": "new",
    "x-present": "old",
    "x-only-if": "",
    "x-present2": "new",
    "x-drop": "",
    "x-replace": "added",
    "x-empty": "",
    "x-kept-empty": "",
  });
});

test("conformance: header values substitute Envoy's variables", () => {
  const t = table(rc([{
    match: { prefix: "/" },
    route: { cluster: "c" },
    request_headers_to_add: [
      hdr("x-client", "%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%"),
      hdr("x-client-full", "%DOWNSTREAM_REMOTE_ADDRESS%"),
      hdr("x-local", "%DOWNSTREAM_LOCAL_ADDRESS%"),
      hdr("x-proto", "%PROTOCOL%"),
      hdr("x-copy", "id=%REQ(X-Id)% 100%%"),
      hdr("x-upstream", "%UPSTREAM_REMOTE_ADDRESS%"),
      hdr("x-start", "%START_TIME%"),
    ],
  }]));
  const o = run(t, { path: "/", headers: [["x-id", "42"]] }, ["x-client", "x-client-full", "x-local", "x-proto", "x-copy", "x-upstream"]);
  assert.deepEqual(o.headers, {
    "x-client": "10.1.2.3",
    "x-client-full": "10.1.2.3:5555",
    "x-local": "10.0.0.1:80",
    "x-proto": "HTTP/1.1",
    "x-copy": "id=42 100%",
    // Envoy: the upstream host is not chosen yet when request headers are finalized.
    "x-upstream": "",
  });
  const start = run(t, { path: "/" }, ["x-start"]).headers!["x-start"]!;
  assert.match(start, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
});

test("conformance: internal_only_headers are removed unless the request is internal", () => {
  const t = table(rc([{ match: { prefix: "/" }, route: { cluster: "c" } }], { internal_only_headers: ["X-Secret"] }));
  assert.deepEqual(run(t, { path: "/", headers: [["x-secret", "1"]] }, ["x-secret"]).headers, { "x-secret": "" });
  assert.deepEqual(run(t, { path: "/", headers: [["x-secret", "1"], ["x-envoy-internal", "true"]] }, ["x-secret"]).headers, { "x-secret": "1" });
});

test("conformance: response headers: remove then add at each level, %RESP()% and %REQ()%", () => {
  const t = table(rc(
    [{
      match: { prefix: "/" },
      route: { cluster: "c" },
      response_headers_to_remove: ["x-internal"],
      response_headers_to_add: [hdr("x-echo-type", "%RESP(content-type)%"), hdr("x-req", "%REQ(:path)%")],
    }],
    { response_headers_to_add: [hdr("x-global", "1")] },
    { response_headers_to_add: [hdr("x-vh", "1")] },
  ));
  const req = request({ path: "/p" });
  const route = resolveRoute({ route: () => t.route(req.authority, req.path), request: req })!;
  const resp = { status: 200, headers: HeaderMap.fromPairs([["content-type", "text/html"], ["x-internal", "secret"]]) };
  finalizeResponseHeaders(route, resp, { info: new StreamInfo("1.1.1.1:1", "2.2.2.2:2"), req, resp: null, upstreamHost: "" });
  assert.equal(resp.headers.get("x-internal"), undefined);
  assert.equal(resp.headers.get("x-echo-type"), "text/html");
  assert.equal(resp.headers.get("x-req"), "/p");
  assert.equal(resp.headers.get("x-vh"), "1");
  assert.equal(resp.headers.get("x-global"), "1");
});

// --- refused configs --------------------------------------------------------------------------

const REFUSED: [string, Record<string, unknown>, string][] = [
  ["a backreference", rc([{ match: { safe_regex: { regex: "(a)\\1" } }, route: { cluster: "c" } }]), "rc.virtual_hosts[0].routes[0].match.safe_regex.regex: backreference \\1 is not supported by RE2"],
  ["lookahead", rc([{ match: { prefix: "/", headers: [{ name: "x", safe_regex_match: { regex: "(?=a)a" } }] }, route: { cluster: "c" } }]), "rc.virtual_hosts[0].routes[0].match.headers[0].safe_regex_match.regex: lookahead (?= / (?! is not supported by RE2"],
  ["lookbehind", rc([{ match: { safe_regex: { regex: "(?<!a)b" } }, route: { cluster: "c" } }]), "rc.virtual_hosts[0].routes[0].match.safe_regex.regex: lookbehind (?<= / (?<! is not supported by RE2"],
  ["an atomic group", rc([{ match: { safe_regex: { regex: "(?>a)" } }, route: { cluster: "c" } }]), "rc.virtual_hosts[0].routes[0].match.safe_regex.regex: atomic groups (?> are not supported by RE2"],
  ["a possessive quantifier", rc([{ match: { safe_regex: { regex: "a++" } }, route: { cluster: "c" } }]), "rc.virtual_hosts[0].routes[0].match.safe_regex.regex: possessive quantifiers (*+, ++, ?+) are not supported by RE2"],
  ["nested quantifiers", rc([{ match: { safe_regex: { regex: "(a+)+b" } }, route: { cluster: "c" } }]), "rc.virtual_hosts[0].routes[0].match.safe_regex.regex: a repeated group that contains a repetition (such as (a+)*) could backtrack exponentially here; it is not supported"],
  ["a POSIX class", rc([{ match: { safe_regex: { regex: "[[:alpha:]]+" } }, route: { cluster: "c" } }]), "rc.virtual_hosts[0].routes[0].match.safe_regex.regex: POSIX character classes like [[:alpha:]] are not supported yet"],
  ["a repeat above 1000", rc([{ match: { safe_regex: { regex: "a{1001}" } }, route: { cluster: "c" } }]), "rc.virtual_hosts[0].routes[0].match.safe_regex.regex: repetition count above 1000 is refused by RE2"],
  ["max_program_size", rc([{ match: { safe_regex: { google_re2: { max_program_size: 10 }, regex: "a" } }, route: { cluster: "c" } }]), "rc.virtual_hosts[0].routes[0].match.safe_regex.google_re2.max_program_size: is not supported yet"],
  ["a trailing slash in path_separated_prefix", rc([{ match: { path_separated_prefix: "/api/" }, route: { cluster: "c" } }]), 'rc.virtual_hosts[0].routes[0].match.path_separated_prefix: "/api/" must not contain "?" or "#" and must not end with "/"'],
  ["ignore_case with safe_regex", rc([{ match: { prefix: "/", headers: [{ name: "x", string_match: { safe_regex: { regex: "a" }, ignore_case: true } }] }, route: { cluster: "c" } }]), "rc.virtual_hosts[0].routes[0].match.headers[0].string_match.ignore_case: ignore_case cannot be used with safe_regex"],
  ["an empty range", rc([{ match: { prefix: "/", headers: [{ name: "x", range_match: { start: 5, end: 5 } }] }, route: { cluster: "c" } }]), "rc.virtual_hosts[0].routes[0].match.headers[0].range_match: end (5) must be greater than start (5)"],
  ["an unknown header variable", rc([{ match: { prefix: "/" }, route: { cluster: "c" }, request_headers_to_add: [hdr("x", "%HOSTNAME%")] }]), "rc.virtual_hosts[0].routes[0].request_headers_to_add[0].header.value: header variable %HOSTNAME% is not supported yet"],
  ["a stray percent", rc([{ match: { prefix: "/" }, route: { cluster: "c" }, response_headers_to_add: [hdr("x", "100%")] }]), 'rc.virtual_hosts[0].routes[0].response_headers_to_add[0].header.value: invalid header value "100%": a "%" must start a %VARIABLE% or be written "%%"'],
  ["append with append_action", rc([], { request_headers_to_add: [hdr("x", "1", { append: true, append_action: "ADD_IF_ABSENT" })] }), "rc.request_headers_to_add[0]: only one of append, append_action may be set"],
  ["removing host", rc([], {}, { request_headers_to_remove: ["Host"] }), 'rc.virtual_hosts[0].request_headers_to_remove[0]: "host": pseudo-headers and host cannot be removed'],
  ["total_weight mismatch", rc([{ match: { prefix: "/" }, route: { weighted_clusters: { clusters: [{ name: "a", weight: 1 }], total_weight: 100 } } }]), "rc.virtual_hosts[0].routes[0].route.weighted_clusters.total_weight: sum of weights in the weighted_cluster (1) should match total_weight (100)"],
  ["zero total weight", rc([{ match: { prefix: "/" }, route: { weighted_clusters: { clusters: [{ name: "a", weight: 0 }] } } }]), "rc.virtual_hosts[0].routes[0].route.weighted_clusters: the sum of the weights must be between 1 and 4294967295, got 0"],
  ["two path rewrites in a redirect", rc([{ match: { prefix: "/" }, redirect: { path_redirect: "/a", prefix_rewrite: "/b" } }]), "rc.virtual_hosts[0].routes[0].redirect: only one of path_redirect, prefix_rewrite may be set"],
  ["an unknown redirect code", rc([{ match: { prefix: "/" }, redirect: { response_code: "GONE" } }]), 'rc.virtual_hosts[0].routes[0].redirect.response_code: unknown value the string "GONE" (accepted: MOVED_PERMANENTLY, FOUND, SEE_OTHER, TEMPORARY_REDIRECT, PERMANENT_REDIRECT)'],
  ["host_rewrite_path_regex", rc([{ match: { prefix: "/" }, route: { cluster: "c", host_rewrite_path_regex: {} } }]), "rc.virtual_hosts[0].routes[0].route.host_rewrite_path_regex: is not supported yet"],
  ["two host rewrites", rc([{ match: { prefix: "/" }, route: { cluster: "c", host_rewrite_literal: "a", host_rewrite_header: "b" } }]), "rc.virtual_hosts[0].routes[0].route: only one of host_rewrite_literal, host_rewrite_header may be set"],
];

for (const [name, config, line] of REFUSED) {
  test(`conformance: config refuses ${name}`, () => assert.deepEqual(configIssues(config), [line]));
}

// --- hash_policy ------------------------------------------------------------------------------

test("conformance: hash_policy hashes header, cookie, query parameter and source IP; terminal stops", () => {
  const t = table(rc([{
    match: { prefix: "/" },
    route: {
      cluster: "c",
      hash_policy: [
        { header: { header_name: "X-User" }, terminal: true },
        { cookie: { name: "session" } },
        { query_parameter: { name: "shard" } },
        { connection_properties: { source_ip: true } },
      ],
    },
  }]));
  const hash = (r: Req, peer = "10.0.0.9:1000") => {
    const req = request(r);
    return t.route(req.authority, req.path)!.requestHash(req, peer).hashKey;
  };
  const alice = hash({ path: "/", headers: [["x-user", "alice"]] });
  assert.equal(typeof alice, "number");
  assert.equal(hash({ path: "/?shard=9", headers: [["x-user", "alice"], ["cookie", "session=s1"]] }), alice, "terminal: later policies ignored");
  assert.notEqual(hash({ path: "/", headers: [["x-user", "bob"]] }), alice);
  const s1 = hash({ path: "/", headers: [["cookie", "a=b; session=s1"]] }, "10.0.0.9:1");
  assert.equal(hash({ path: "/", headers: [["cookie", "session=s1"]] }, "10.0.0.9:2"), s1, "the source port does not count");
  assert.notEqual(hash({ path: "/", headers: [["cookie", "session=s1"]] }, "10.0.0.8:2"), s1, "the source IP does");
  const noHash = table(rc([{ match: { prefix: "/" }, route: { cluster: "c", hash_policy: [{ header: { header_name: "x-none" } }] } }]));
  const req = request({ path: "/" });
  assert.equal(noHash.route(req.authority, req.path)!.requestHash(req, "1.1.1.1:1").hashKey, undefined);
});

test("conformance: a hash_policy cookie with a ttl is generated when absent (Set-Cookie)", () => {
  const t = table(rc([{ match: { prefix: "/" }, route: { cluster: "c", hash_policy: [{ cookie: { name: "sticky", ttl: "3600s", path: "/" } }] } }]));
  const req = request({ path: "/" });
  const r = t.route(req.authority, req.path)!.requestHash(req, "10.0.0.9:1000");
  assert.equal(typeof r.hashKey, "number");
  assert.match(r.setCookie ?? "", /^sticky="[0-9a-f]{16}"; Max-Age=3600; Path=\/; HttpOnly$/);
  const again = request({ path: "/", headers: [["cookie", r.setCookie!.split(";")[0]!]] });
  const r2 = t.route(again.authority, again.path)!.requestHash(again, "10.0.0.8:2");
  assert.equal(r2.hashKey, r.hashKey, "the cookie, not the address, decides once it is sent");
  assert.equal(r2.setCookie, undefined);
});

test("conformance: host_rewrite_header, append_x_forwarded_host, cluster_not_found_response_code", () => {
  const t = table(rc([
    { name: "hdr", match: { prefix: "/hdr" }, route: { cluster: "c", host_rewrite_header: "X-Host", append_x_forwarded_host: true } },
    { name: "lit", match: { prefix: "/lit" }, route: { cluster: "c", host_rewrite_literal: "new.example", append_x_forwarded_host: true } },
    { name: "nf", match: { prefix: "/nf" }, route: { cluster_header: "x-c", cluster_not_found_response_code: "NOT_FOUND" } },
  ]));
  const o = run(t, { path: "/hdr", host: "orig.example", headers: [["x-host", "from-header.example"]] }, ["x-forwarded-host"]);
  assert.equal(o.authority, "from-header.example");
  assert.deepEqual(o.headers, { "x-forwarded-host": "orig.example" });
  const missing = run(t, { path: "/hdr", host: "orig.example", headers: [] }, ["x-forwarded-host"]);
  assert.equal(missing.authority, "orig.example", "no header: no rewrite");
  assert.deepEqual(missing.headers, { "x-forwarded-host": "" });
  const lit = run(t, { path: "/lit", host: "a.example", headers: [["x-forwarded-host", "edge.example"]] }, ["x-forwarded-host"]);
  assert.deepEqual(lit.headers, { "x-forwarded-host": "edge.example,a.example" });
  const req = request({ path: "/nf" });
  assert.equal(t.route(req.authority, req.path)!.clusterNotFoundStatus, 404);
});

test("conformance: ignore_port_in_host_matching", () => {
  const vhs = [{ name: "a", domains: ["a.example"], routes: [{ match: { prefix: "/" }, direct_response: { status: 200 } }] }];
  assert.equal(table({ name: "x", virtual_hosts: vhs }).route("a.example:8080", "/"), null);
  assert.equal(table({ name: "x", virtual_hosts: vhs, ignore_port_in_host_matching: true }).route("a.example:8080", "/")?.directStatus, 200);
});

test("conformance: weighted cluster headers apply before the route's; its host_rewrite_literal applies", () => {
  const t = table(rc([{
    match: { prefix: "/" },
    route: {
      weighted_clusters: {
        clusters: [
          { name: "stable", weight: 1, request_headers_to_add: [hdr("x-variant", "stable", { append_action: "OVERWRITE_IF_EXISTS_OR_ADD" }), hdr("x-who", "cluster")] },
          { name: "canary", weight: 1, request_headers_to_add: [hdr("x-variant", "canary", { append_action: "OVERWRITE_IF_EXISTS_OR_ADD" })], host_rewrite_literal: "canary.internal" },
        ],
      },
    },
    request_headers_to_add: [hdr("x-order", "route"), hdr("x-who", "route")],
  }], {}, { request_headers_to_add: [hdr("x-order", "vhost")] }));
  const s = run(t, { path: "/" }, ["x-variant", "x-order", "x-who"], 0);
  assert.deepEqual([s.cluster, s.authority, s.headers], ["stable", "example.com", { "x-variant": "stable", "x-order": "route | vhost", "x-who": "cluster | route" }]);
  const c = run(t, { path: "/" }, ["x-variant"], 1);
  assert.deepEqual([c.cluster, c.authority, c.headers], ["canary", "canary.internal", { "x-variant": "canary" }]);
});

test("conformance: the shadow host gets -shadow before the port", async () => {
  const { shadowHost } = await import("./shadow.ts");
  assert.equal(shadowHost("example.com"), "example.com-shadow");
  assert.equal(shadowHost("example.com:8080"), "example.com-shadow:8080");
  assert.equal(shadowHost("[::1]:80"), "[::1]-shadow:80");
});
