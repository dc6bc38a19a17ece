/**
 * Route retry_policy over real sockets: retry_on conditions, num_retries, request bodies,
 * per_try_timeout, previous_hosts, x-envoy-attempt-count, stats and the URX flag.
 */
import assert from "node:assert/strict";
import { readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test, waitFor } from "../harness.ts";
import { simpleConfig, startProxy } from "../helpers/proxy.ts";
import { closedPort, startUpstream } from "../helpers/upstream.ts";

/** simpleConfig with one route carrying `retry_policy`, and virtual host fields `vh`. */
function retryConfig(ports: number[], retry: Record<string, unknown>, vh: Record<string, unknown> = {}, accessLogPath?: string) {
  const c = simpleConfig({ upstreamPorts: ports, accessLogPath, routes: [{ match: { prefix: "/" }, route: { cluster: "backend", timeout: "5s", retry_policy: retry } }] });
  const hcm = (c.static_resources as any).listeners[0].filter_chains[0].filters[0].typed_config;
  Object.assign(hcm.route_config.virtual_hosts[0], vh);
  return c;
}

test("retry_on 5xx: failed attempts are retried up to num_retries, with x-envoy-attempt-count", async () => {
  let n = 0;
  await using up = await startUpstream(() => (++n <= 2 ? { status: 503, body: "busy" } : { body: `ok after ${n}` }));
  await using proxy = await startProxy(retryConfig([up.port], { retry_on: "5xx", num_retries: 2, retry_back_off: { base_interval: "0.005s" } }, {
    include_request_attempt_count: true,
    include_attempt_count_in_response: true,
  }));
  const res = await fetch(proxy.url("/r"));
  assert.equal(res.status, 200);
  assert.equal(await res.text(), "ok after 3");
  assert.equal(res.headers.get("x-envoy-attempt-count"), "3");
  assert.deepEqual(up.requests.map((r) => r.headers["x-envoy-attempt-count"]), ["1", "2", "3"]);
  assert.equal(proxy.stat("cluster.backend.upstream_rq_retry"), 2);
  assert.equal(proxy.stat("cluster.backend.upstream_rq_retry_success"), 1);
});

test("retries exhausted: the last upstream response is forwarded and flagged URX", async () => {
  const log = join(tmpdir(), `legate-retry-${process.pid}-${Date.now()}.log`);
  try {
    await using up = await startUpstream(() => ({ status: 503, body: "still busy" }));
    await using proxy = await startProxy(retryConfig([up.port], { retry_on: "gateway-error", num_retries: 1 }, {}, log));
    const res = await fetch(proxy.url("/x"));
    assert.equal(res.status, 503);
    assert.equal(await res.text(), "still busy");
    assert.equal(up.requests.length, 2);
    assert.equal(proxy.stat("cluster.backend.upstream_rq_retry_limit_exceeded"), 1);
    const line = await waitFor(() => {
      try {
        return readFileSync(log, "utf8");
      } catch {
        return "";
      }
    }, "the access log line");
    assert.match(line, /^503 URX \/x /);
  } finally {
    rmSync(log, { force: true });
  }
});

test("a response with x-envoy-ratelimited is not retried by 5xx (only by envoy-ratelimited)", async () => {
  await using up = await startUpstream(() => ({ status: 503, headers: { "x-envoy-ratelimited": "true" }, body: "limited" }));
  await using proxy = await startProxy(retryConfig([up.port], { retry_on: "5xx", num_retries: 2 }));
  const res = await fetch(proxy.url("/"));
  assert.equal(res.status, 503);
  await res.text();
  assert.equal(up.requests.length, 1);
});

test("conditions that do not match are not retried (gateway-error vs 500; default num_retries is 1)", async () => {
  await using up = await startUpstream(() => ({ status: 500, body: "boom" }));
  await using proxy = await startProxy(retryConfig([up.port], { retry_on: "gateway-error,retriable-4xx" }));
  const res = await fetch(proxy.url("/"));
  assert.equal(res.status, 500);
  await res.text();
  assert.equal(up.requests.length, 1);
  assert.equal(proxy.stat("cluster.backend.upstream_rq_retry"), 0);
});

test("retriable-status-codes retries the listed codes", async () => {
  let n = 0;
  await using up = await startUpstream(() => (++n === 1 ? { status: 418, body: "teapot" } : { body: "coffee" }));
  await using proxy = await startProxy(retryConfig([up.port], { retry_on: "retriable-status-codes", retriable_status_codes: [418] }));
  assert.equal(await (await fetch(proxy.url("/"))).text(), "coffee");
  assert.equal(up.requests.length, 2);
});

test("a request body is replayed on the retry", async () => {
  let n = 0;
  await using up = await startUpstream((req) => (++n === 1 ? { status: 502, body: "bad gateway" } : { body: req.body }));
  await using proxy = await startProxy(retryConfig([up.port], { retry_on: "5xx" }));
  const body = "x".repeat(100_000) + "end";
  const res = await fetch(proxy.url("/upload"), { method: "POST", body });
  assert.equal(res.status, 200);
  assert.equal(await res.text(), body);
  assert.equal(up.requests.length, 2);
  assert.equal(new TextDecoder().decode(up.requests[0]!.body), body, "first attempt got the whole body too");
});

test("connect-failure with previous_hosts moves to another host", async () => {
  await using up = await startUpstream(() => ({ body: "alive" }));
  const dead = await closedPort();
  await using proxy = await startProxy(retryConfig([dead, up.port], {
    retry_on: "connect-failure",
    num_retries: 1,
    retry_host_predicate: [{ name: "envoy.retry_host_predicates.previous_hosts", typed_config: { "@type": "type.googleapis.com/envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate" } }],
    host_selection_retry_max_attempts: 3,
  }));
  for (let i = 0; i < 6; i++) {
    const res = await fetch(proxy.url(`/${i}`));
    assert.equal(res.status, 200, `request ${i}`);
    await res.text();
  }
  assert.ok(proxy.stat("cluster.backend.upstream_rq_retry") >= 1, "some requests hit the dead host first and were retried");
});

test("per_try_timeout ends a slow attempt and retries it", async () => {
  let n = 0;
  await using up = await startUpstream((_req, res) => {
    if (++n === 1) return; // never answer the first attempt
    res.writeHead(200, { "content-length": "4" });
    res.end("fast");
  });
  await using proxy = await startProxy(retryConfig([up.port], { retry_on: "5xx", per_try_timeout: "0.2s" }));
  const started = Date.now();
  const res = await fetch(proxy.url("/slow"));
  assert.equal(res.status, 200);
  assert.equal(await res.text(), "fast");
  assert.ok(Date.now() - started >= 190, "waited for the per-try timeout");
  assert.equal(proxy.stat("cluster.backend.upstream_rq_per_try_timeout"), 1);
});

test("retry_policy config errors name the field", async () => {
  await assert.rejects(startProxy(retryConfig([1], { retry_on: "5xx,reset-before-request" })), /route\.retry_policy\.retry_on: reset-before-request is not supported yet/);
  await assert.rejects(startProxy(retryConfig([1], { retry_on: "sometimes" })), /retry_on: unknown retry_on condition "sometimes"/);
  await assert.rejects(startProxy(retryConfig([1], { retry_on: "5xx", retry_back_off: { base_interval: "1s", max_interval: "0.5s" } })), /retry_back_off\.max_interval: max_interval must be greater than or equal to the base_interval/);
});

test("the cluster's max_retries circuit breaker stops a retry: upstream_rq_retry_overflow and flag UO", async () => {
  const log = join(tmpdir(), `legate-retry-cb-${process.pid}-${Date.now()}.log`);
  try {
    await using up = await startUpstream(() => ({ status: 503, body: "busy" }));
    const config = retryConfig([up.port], { retry_on: "5xx", num_retries: 3 }, {}, log);
    (config.static_resources as any).clusters[0].circuit_breakers = { thresholds: [{ max_retries: 0 }] };
    await using proxy = await startProxy(config);
    const res = await fetch(proxy.url("/cb"));
    assert.equal(res.status, 503);
    assert.equal(await res.text(), "busy");
    assert.equal(up.requests.length, 1, "no retry was sent");
    assert.equal(proxy.stat("cluster.backend.upstream_rq_retry_overflow"), 1);
    const line = await waitFor(() => {
      try {
        return readFileSync(log, "utf8");
      } catch {
        return "";
      }
    }, "the access log line");
    assert.match(line, /^503 UO \/cb /);
  } finally {
    rmSync(log, { force: true });
  }
});

test("x-envoy-retry-on / x-envoy-max-retries / x-envoy-upstream-rq-timeout-ms from an internal client apply and are removed", async () => {
  let n = 0;
  await using up = await startUpstream((_req, res) => {
    n++;
    if (n <= 2) {
      res.writeHead(503, { "content-length": "0" });
      res.end();
    } else if (n === 3) {
      res.writeHead(200, { "content-length": "2" });
      res.end("ok");
    } // later requests hang
  });
  await using proxy = await startProxy(simpleConfig({ upstreamPorts: [up.port], timeout: "5s" }));
  const res = await fetch(proxy.url("/h"), { headers: { "x-envoy-retry-on": "5xx", "x-envoy-max-retries": "2" } });
  assert.equal(res.status, 200);
  await res.text();
  assert.equal(up.requests.length, 3);
  assert.equal(up.requests[0]!.headers["x-envoy-retry-on"], undefined, "consumed, not forwarded");
  assert.equal(up.requests[0]!.headers["x-envoy-max-retries"], undefined);

  const t0 = Date.now();
  const slow = await fetch(proxy.url("/slow"), { headers: { "x-envoy-upstream-rq-timeout-ms": "200" } });
  assert.equal(slow.status, 504);
  await slow.text();
  assert.ok(Date.now() - t0 < 3000, "the header's timeout, not the route's 5 s");
  assert.equal(up.requests[3]!.headers["x-envoy-expected-rq-timeout-ms"], "200");
  assert.equal(up.requests[3]!.headers["x-envoy-upstream-rq-timeout-ms"], undefined);
});

test("retry_on envoy-ratelimited and retriable-headers retry on response headers", async () => {
  let n = 0;
  await using up = await startUpstream((): { status?: number; headers?: Record<string, string>; body: string } => {
    n++;
    if (n === 1) return { status: 429, headers: { "x-envoy-ratelimited": "true" }, body: "slow down" };
    if (n === 2) return { status: 200, headers: { "x-upstream-state": "warming-up" }, body: "not yet" };
    return { body: "ready" };
  });
  await using proxy = await startProxy(retryConfig([up.port], {
    retry_on: "envoy-ratelimited,retriable-headers",
    num_retries: 3,
    retry_back_off: { base_interval: "0.005s" },
    retriable_headers: [{ name: "x-upstream-state", string_match: { prefix: "warming" } }],
  }));
  const res = await fetch(proxy.url("/"));
  assert.equal(await res.text(), "ready");
  assert.equal(up.requests.length, 3);
});

test("a request body above per_request_buffer_limit_bytes is not retried", async () => {
  let n = 0;
  await using up = await startUpstream(() => (++n === 1 ? { status: 503, body: "busy" } : { body: "ok" }));
  const config = retryConfig([up.port], { retry_on: "5xx" });
  (config.static_resources as any).listeners[0].filter_chains[0].filters[0].typed_config.route_config.virtual_hosts[0].routes[0].per_request_buffer_limit_bytes = 1000;
  await using proxy = await startProxy(config);
  const small = await fetch(proxy.url("/s"), { method: "POST", body: "x".repeat(500) });
  assert.equal(await small.text(), "ok", "a small body is retried");
  n = 0;
  const big = await fetch(proxy.url("/b"), { method: "POST", body: "x".repeat(5000) });
  assert.equal(big.status, 503);
  assert.equal(await big.text(), "busy");
  assert.equal(up.requests.length, 3);
});
