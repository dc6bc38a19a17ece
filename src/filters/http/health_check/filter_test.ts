import assert from "node:assert/strict";
import { test } from "../../../../tests/harness.ts";
import { loadTypedConfig } from "../../../config/load.ts";
import { StatsStore } from "../../../core/stats.ts";
import { TimerWheel } from "../../../core/timer_wheel.ts";
import { findHttpFilterRuntime, type HttpFilterFactoryContext, type RequestHeaders, type StreamCallbacks } from "../../../http/filter.ts";
import { HeaderMap } from "../../../http/header_map.ts";
import { ResponseFlag } from "../../../http/response_flags.ts";
import "./filter.ts";
import { HEALTH_CHECK_TYPE_URL } from "./config.ts";

function harness(passThrough: boolean, failed: boolean) {
  const model = loadTypedConfig({ "@type": HEALTH_CHECK_TYPE_URL, pass_through_mode: passThrough, headers: [{ name: ":path", string_match: { exact: "/hc" } }] }, "http_filter").config;
  const ctx: HttpFilterFactoryContext = {
    clusterManager: undefined as never,
    wheel: new TimerWheel(),
    stats: new StatsStore(),
    statPrefix: "http.t.",
    healthCheckFailed: () => failed,
  };
  const replies: [number, number, string][] = [];
  const req: RequestHeaders = { method: "GET", path: "/hc", authority: "x", scheme: "http", headers: new HeaderMap() };
  const cb = { request: req, sendLocalReply: (status: number, _b: string, flags: number, details: string) => void replies.push([status, flags, details]) };
  const filter = findHttpFilterRuntime(HEALTH_CHECK_TYPE_URL)!.createFilterFactory(model, ctx)(cb as unknown as StreamCallbacks);
  return { filter, req, replies };
}

test("health_check: a failing server answers 503 LH in both modes and marks the response", () => {
  for (const pass of [false, true]) {
    const { filter, req, replies } = harness(pass, true);
    assert.equal(filter.decodeHeaders!(req, true), "stop");
    assert.deepEqual(replies, [[503, ResponseFlag.FailedLocalHealthCheck, "health_check_failed"]]);
    const resp = { status: 503, headers: new HeaderMap() };
    filter.encodeHeaders!(resp, true);
    assert.equal(resp.headers.get("x-envoy-immediate-health-check-fail"), "true");
  }
});

test("health_check: a healthy server answers 200 (no pass-through) or passes the request on", () => {
  const local = harness(false, false);
  assert.equal(local.filter.decodeHeaders!(local.req, true), "stop");
  assert.deepEqual(local.replies, [[200, 0, "health_check_ok"]]);
  const pass = harness(true, false);
  assert.equal(pass.filter.decodeHeaders!(pass.req, true), "continue");
  assert.deepEqual(pass.replies, []);
  const other = harness(false, false);
  other.req.path = "/app";
  assert.equal(other.filter.decodeHeaders!(other.req, true), "continue");
});
