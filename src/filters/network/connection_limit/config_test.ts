/**
 * network connection_limit config: the model (shared counter, delay), errors with paths, and the
 * shared counter's admit/release across two config views (two workers).
 */
import assert from "node:assert/strict";
import { test } from "../../../../tests/harness.ts";
import { loadNetworkFilter } from "../../../../tests/helpers/network_filter_config.ts";
import { StatsStore } from "../../../core/stats.ts";
import { TimerWheel } from "../../../core/timer_wheel.ts";
import type { ConnectionLimitModel } from "./config.ts";
import { ConnectionLimitConfig } from "./filter.ts";

type Json = Record<string, any>; // deno-lint-ignore no-explicit-any
const CL = "type.googleapis.com/envoy.extensions.filters.network.connection_limit.v3.ConnectionLimit";
const TC = "static_resources.listeners[0].filter_chains[0].filters[0].typed_config";

function load(cl: Json): ConnectionLimitModel | string[] {
  return loadNetworkFilter<ConnectionLimitModel>("envoy.filters.network.connection_limit", { "@type": CL, stat_prefix: "cl", ...cl });
}

test("connection_limit config: model and errors", () => {
  const m = load({ max_connections: 3, delay: "0.2s" }) as ConnectionLimitModel;
  assert.equal(m.statPrefix, "cl");
  assert.equal(m.maxConnections, 3);
  assert.equal(m.delayMs, 200);
  assert.equal(m.enabled, true);
  assert.equal((load({ max_connections: { value: "7" } }) as ConnectionLimitModel).maxConnections, 7);
  assert.equal((load({ max_connections: 1, runtime_enabled: { default_value: { value: false }, runtime_key: "x" } }) as ConnectionLimitModel).enabled, false);
  assert.deepEqual(load({}), [`${TC}.max_connections: is required`]);
  assert.deepEqual(load({ max_connections: 0 }), [`${TC}.max_connections: must be at least 1, got 0`]);
  assert.deepEqual(load({ max_connections: 1, delay: "-1s" }), [`${TC}.delay: must not be negative, got "-1s"`]);
  assert.deepEqual(load({ max_connections: 1, stat_prefix: "" }), [`${TC}.stat_prefix: must not be empty`]);
});

test("connection_limit: two workers' views share one count and never overshoot", () => {
  const m = load({ max_connections: 2 }) as ConnectionLimitModel;
  const wheel = new TimerWheel();
  const w0 = new ConnectionLimitConfig(m, wheel, new StatsStore());
  const w1 = new ConnectionLimitConfig(m, wheel, new StatsStore());
  assert.equal(w0.tryAdmit(), true);
  assert.equal(w1.tryAdmit(), true);
  assert.equal(w0.tryAdmit(), false);
  assert.equal(w1.tryAdmit(), false);
  assert.equal(w0.count, 2);
  w1.release();
  assert.equal(w0.tryAdmit(), true);
  assert.equal(w1.count, 2);
});
