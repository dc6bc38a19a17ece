import assert from "node:assert/strict";
import { test } from "../../tests/harness.ts";
import type { RouteConfigModel, RouteModel } from "../config/model.ts";
import { RouteTable } from "./route_table.ts";

function r(name: string, kind: "prefix" | "path", value: string, extra: Partial<{ rewrite: string; ci: boolean }> = {}): RouteModel {
  return {
    name,
    match: { kind, value, caseSensitive: !extra.ci },
    action: { kind: "route", cluster: name, timeoutMs: 15000, prefixRewrite: extra.rewrite },
  };
}

const config: RouteConfigModel = {
  name: "rc",
  virtualHosts: [
    { name: "exact", domains: ["api.example.com", "api.example.com:8080"], routes: [r("api", "prefix", "/")] },
    { name: "suffix-short", domains: ["*.com"], routes: [r("dotcom", "prefix", "/")] },
    { name: "suffix-long", domains: ["*.example.com"], routes: [r("example", "prefix", "/")] },
    { name: "prefix", domains: ["foo.*"], routes: [r("foo", "prefix", "/")] },
    {
      name: "any",
      domains: ["*"],
      routes: [
        r("exact-path", "path", "/health"),
        r("rewrite", "prefix", "/v1/", { rewrite: "/" }),
        r("ci", "prefix", "/CaSe", { ci: true }),
        r("catch", "prefix", "/"),
      ],
    },
  ],
};

test("route table: virtual host precedence follows Envoy (exact, longest suffix, prefix, *)", () => {
  const t = new RouteTable(config);
  const cases: [string, string][] = [
    ["api.example.com", "exact"],
    ["api.example.com:8080", "exact"],
    ["www.example.com", "suffix-long"],
    ["other.com", "suffix-short"],
    ["foo.org", "prefix"],
    ["foo.com", "suffix-short"], // suffix wildcards win over prefix wildcards
    [".example.com", "suffix-short"], // "*.example.com" needs a non-empty label
    ["bar.org", "any"],
    ["api.example.com:9090", "any"], // the port takes part in matching: no ".com" suffix
  ];
  for (const [host, want] of cases) assert.equal(t.virtualHost(host)?.name, want, host);
});

test("route table: prefix, exact path (query ignored), case-insensitive, rewrite", () => {
  const t = new RouteTable(config);
  const cases: [string, string][] = [
    ["/health", "exact-path"],
    ["/health?x=1", "exact-path"],
    ["/healthz", "catch"],
    ["/v1/users?id=2", "rewrite"],
    ["/case/x", "ci"],
    ["/CASE", "ci"],
    ["/other", "catch"],
  ];
  for (const [path, want] of cases) assert.equal(t.route("x.org", path)?.name, want, path);
  assert.equal(t.route("x.org", "/v1/users?id=2")!.rewritePath("/v1/users?id=2"), "/users?id=2");
});

test("route table: no match gives null", () => {
  const t = new RouteTable({ name: "x", virtualHosts: [{ name: "a", domains: ["a.com"], routes: [r("p", "path", "/only")] }] });
  assert.equal(t.route("b.com", "/only"), null);
  assert.equal(t.route("a.com", "/other"), null);
});
