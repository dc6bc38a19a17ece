import assert from "node:assert/strict";
import { test } from "../../../../tests/harness.ts";
import { loadTypedConfig } from "../../../config/load.ts";
import { ConfigError } from "../../../core/errors.ts";
import { ROUTER_TYPE_URL } from "./config.ts";

test("an empty Router config is accepted and frozen", () => {
  const r = loadTypedConfig({ "@type": ROUTER_TYPE_URL }, "http_filter");
  assert.equal(r.extension.name, "envoy.filters.http.router");
  assert.equal(r.extension.terminal, true);
  assert.deepStrictEqual(r.config, {});
  assert.ok(Object.isFrozen(r.config));
});

test("dynamic_stats and start_child_span are accepted", () => {
  assert.deepStrictEqual(loadTypedConfig({ "@type": ROUTER_TYPE_URL, dynamicStats: { value: false }, start_child_span: true }, "http_filter").config, {});
});

const BROKEN: [string, Record<string, unknown>, string][] = [
  ["suppress_envoy_headers", { suppress_envoy_headers: true }, "typed_config.suppress_envoy_headers: is not supported yet"],
  ["upstream_http_filters", { upstreamHttpFilters: [] }, "typed_config.upstream_http_filters: is not supported yet"],
  ["an unknown field", { foo: 1 }, 'typed_config: unknown field "foo"'],
  ["a wrong type", { start_child_span: "yes" }, 'typed_config.start_child_span: expected a boolean, got the string "yes"'],
];

for (const [name, fields, line] of BROKEN) {
  test(`Router refuses ${name}`, () => {
    assert.throws(() => loadTypedConfig({ "@type": ROUTER_TYPE_URL, ...fields }, "http_filter"), (e: unknown) => e instanceof ConfigError && e.message === line);
  });
}
