/**
 * Route match runtime_fraction and route-level upgrade_configs (config parsing and the compiled
 * table), and the HCM's drain_timeout / delayed_close_timeout in the model.
 */
import assert from "node:assert/strict";
import { test } from "../../tests/harness.ts";
import { loadTypedConfig } from "../config/load.ts";
import type { HcmModel, RouteConfigModel } from "../config/model.ts";
import { ConfigError } from "../core/errors.ts";
import { HCM_TYPE_URL } from "../filters/network/http_connection_manager/config.ts";
import type { RequestHeaders } from "../http/filter.ts";
import { HeaderMap } from "../http/header_map.ts";
import { resolveRoute, RouteTable } from "./route_table.ts";

const ROUTER = { name: "envoy.filters.http.router", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" } };
const TC = "typed_config";

function hcm(routes: unknown[], fields: Record<string, unknown> = {}): HcmModel {
  const r = loadTypedConfig(
    { "@type": HCM_TYPE_URL, stat_prefix: "in", route_config: { name: "rc", virtual_hosts: [{ name: "all", domains: ["*"], routes }] }, http_filters: [ROUTER], ...fields },
    "network_filter",
    { clusterNames: ["a", "b"] },
  );
  return r.config as HcmModel;
}

function problems(routes: unknown[], fields: Record<string, unknown> = {}): string[] {
  try {
    hcm(routes, fields);
  } catch (e) {
    if (e instanceof ConfigError) return e.message.split("\n");
    throw e;
  }
  return [];
}

function table(routes: unknown[]): RouteTable {
  return new RouteTable(hcm(routes).routeConfig as RouteConfigModel);
}

function req(path: string, headers: Record<string, string> = {}): RequestHeaders {
  const h = new HeaderMap();
  for (const [k, v] of Object.entries(headers)) h.set(k, v);
  return { method: "GET", path, authority: "x", scheme: "http", headers: h };
}

const fraction = (numerator: number, denominator?: string) => ({
  prefix: "/",
  runtime_fraction: { default_value: { numerator, ...(denominator ? { denominator } : {}) }, runtime_key: "routing.traffic_shift.a" },
});
const A = (match: unknown) => ({ name: "a", match, route: { cluster: "a" } });
const B = { name: "b", match: { prefix: "/" }, route: { cluster: "b" } };

test("runtime_fraction: parsed into the model (denominator default HUNDRED, runtime_key accepted)", () => {
  const m = hcm([A(fraction(25)), A(fraction(7, "TEN_THOUSAND")), A(fraction(3, "MILLION")), B]);
  const rs = m.routeConfig!.virtualHosts[0]!.routes;
  assert.deepEqual(rs[0]!.match.runtimeFraction, { numerator: 25, denominator: 100 });
  assert.deepEqual(rs[1]!.match.runtimeFraction, { numerator: 7, denominator: 10_000 });
  assert.deepEqual(rs[2]!.match.runtimeFraction, { numerator: 3, denominator: 1_000_000 });
  assert.equal(rs[3]!.match.runtimeFraction, undefined);
});

test("runtime_fraction: random % denominator < numerator decides, per denominator", () => {
  const t = table([A(fraction(50)), B]);
  assert.equal(t.needsRandom, true);
  const cases: [number, string][] = [[0, "a"], [49, "a"], [50, "b"], [99, "b"], [100, "a"], [149, "a"], [150, "b"], [4294967295, "b"]];
  for (const [random, want] of cases) assert.equal(t.route("x", "/p", req("/p"), random)?.name, want, `random ${random}`);
  const tt = table([A(fraction(1, "TEN_THOUSAND")), B]);
  assert.equal(tt.route("x", "/", req("/"), 10_000)?.name, "a");
  assert.equal(tt.route("x", "/", req("/"), 10_001)?.name, "b");
  const tm = table([A(fraction(999_999, "MILLION")), B]);
  assert.equal(tm.route("x", "/", req("/"), 999_998)?.name, "a");
  assert.equal(tm.route("x", "/", req("/"), 999_999)?.name, "b");
});

test("runtime_fraction: 0 never matches, numerator >= denominator always does (no random needed)", () => {
  const never = table([A(fraction(0)), B]);
  for (const r of [0, 1, 99, 12345]) assert.equal(never.route("x", "/", req("/"), r)?.name, "b");
  const always = table([A(fraction(100)), B]);
  assert.equal(always.needsRandom, false, "a fraction that always holds costs nothing per request");
  for (const r of [0, 99, 12345]) assert.equal(always.route("x", "/", req("/"), r)?.name, "a");
  assert.equal(table([A(fraction(250)), B]).route("x", "/", req("/"), 77)?.name, "a");
  assert.equal(table([A({ prefix: "/" }), B]).needsRandom, false);
});

test("runtime_fraction: combines with the other match fields (all must hold)", () => {
  const t = table([A({ ...fraction(50), headers: [{ name: "x-canary", present_match: true }] }), B]);
  assert.equal(t.route("x", "/", req("/", { "x-canary": "1" }), 10)?.name, "a");
  assert.equal(t.route("x", "/", req("/", { "x-canary": "1" }), 60)?.name, "b");
  assert.equal(t.route("x", "/", req("/"), 10)?.name, "b");
});

test("runtime_fraction: resolveRoute keeps the route chosen with the stream's value (no second draw)", () => {
  // The router re-checks header matchers after the HCM's lookup; a 1-in-a-million route the
  // lookup chose must not be drawn again (it would almost surely fail the second time).
  const t = table([A({ ...fraction(1, "MILLION"), headers: [{ name: "x-h", present_match: true }] }), B]);
  const r = req("/", { "x-h": "1" });
  const chosen = t.route("x", "/", r, 0)!;
  assert.equal(chosen.name, "a");
  for (let i = 0; i < 50; i++) assert.equal(resolveRoute({ route: () => chosen, request: r })?.name, "a");
});

test("runtime_fraction: config errors name the field", () => {
  const p = problems([A({ prefix: "/", runtime_fraction: { default_value: { numerator: 5, denominator: "THOUSAND" } } }), A({ prefix: "/", runtime_fraction: {} })]);
  assert.equal(p.length, 2, p.join("\n"));
  assert.match(p[0]!, /route_config\.virtual_hosts\[0\]\.routes\[0\]\.match\.runtime_fraction\.default_value\.denominator: /);
  assert.match(p[1]!, /route_config\.virtual_hosts\[0\]\.routes\[1\]\.match\.runtime_fraction\.default_value: /);
});

test("route upgrade_configs: parsed (types lower-cased), overrides the HCM both ways", () => {
  const routes = [
    { name: "on", match: { prefix: "/on" }, route: { cluster: "a", upgrade_configs: [{ upgrade_type: "WebSocket" }] } },
    { name: "off", match: { prefix: "/off" }, route: { cluster: "a", upgrade_configs: [{ upgrade_type: "websocket", enabled: false }, { upgrade_type: "h2c", enabled: { value: true } }] } },
    B,
  ];
  const m = hcm(routes);
  const action = m.routeConfig!.virtualHosts[0]!.routes[1]!.action;
  assert.equal(action.kind, "route");
  assert.deepEqual(action.kind === "route" ? action.upgradeConfigs : null, [{ upgradeType: "websocket", enabled: false }, { upgradeType: "h2c", enabled: true }]);
  const t = new RouteTable(m.routeConfig!);
  const on = t.route("x", "/on")!, off = t.route("x", "/off")!, plain = t.route("x", "/")!;
  assert.equal(on.upgradeAllowed("websocket", false), true, "a route enables what the HCM did not");
  assert.equal(off.upgradeAllowed("websocket", true), false, "a route disables what the HCM enabled");
  assert.equal(off.upgradeAllowed("spdy/3", true), true, "types the route does not list follow the HCM");
  assert.equal(plain.upgradeAllowed("websocket", true), true);
  assert.equal(plain.upgradeAllowed("websocket", false), false);
});

test("route upgrade_configs: CONNECT, connect_config and duplicates are config errors", () => {
  const p = problems([
    { match: { prefix: "/1" }, route: { cluster: "a", upgrade_configs: [{ upgrade_type: "CONNECT" }] } },
    { match: { prefix: "/2" }, route: { cluster: "a", upgrade_configs: [{ upgrade_type: "websocket", connect_config: {} }] } },
    { match: { prefix: "/3" }, route: { cluster: "a", upgrade_configs: [{ upgrade_type: "websocket" }, { upgrade_type: "WEBSOCKET", enabled: false }] } },
    { match: { prefix: "/4" }, route: { cluster: "a", upgrade_configs: [{ enabled: true }] } },
  ]);
  const rp = `${TC}.route_config.virtual_hosts[0].routes`;
  assert.ok(p.includes(`${rp}[0].route.upgrade_configs[0]: upgrade_type CONNECT is not supported yet`), p.join("\n"));
  assert.ok(p.includes(`${rp}[1].route.upgrade_configs[0].connect_config: is not supported yet`), p.join("\n"));
  assert.ok(p.includes(`${rp}[2].route.upgrade_configs[1].upgrade_type: duplicate upgrade "WEBSOCKET"`), p.join("\n"));
  assert.ok(p.some((l) => l.startsWith(`${rp}[3].route.upgrade_configs[0].upgrade_type: `)), p.join("\n"));
});

test("HCM drain_timeout / delayed_close_timeout: defaults stay out of the model, values in ms", () => {
  const d = hcm([B]);
  assert.equal(d.drainTimeoutMs, undefined);
  assert.equal(d.delayedCloseTimeoutMs, undefined);
  const m = hcm([B], { drain_timeout: "0.25s", delayed_close_timeout: { seconds: 2, nanos: 500_000_000 } });
  assert.equal(m.drainTimeoutMs, 250);
  assert.equal(m.delayedCloseTimeoutMs, 2500);
  assert.equal(hcm([B], { delayed_close_timeout: "0s" }).delayedCloseTimeoutMs, 0);
  const p = problems([B], { drain_timeout: "soon", delayed_close_timeout: -1 });
  assert.equal(p.length, 2, p.join("\n"));
  assert.match(p[0]!, /^typed_config\.drain_timeout: /);
  assert.match(p[1]!, /^typed_config\.delayed_close_timeout: /);
});
