/**
 * HTTP filters over real sockets: fault (abort, delay, header control, per-route config and
 * FilterConfig disabled), local_ratelimit, health_check.
 */
import assert from "node:assert/strict";
import { test } from "../harness.ts";
import { ROUTER_TYPE, simpleConfig, startProxy } from "../helpers/proxy.ts";
import { startUpstream } from "../helpers/upstream.ts";

const FAULT = "type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault";
const LRL = "type.googleapis.com/envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit";
const HC = "type.googleapis.com/envoy.extensions.filters.http.health_check.v3.HealthCheck";

function withFilters(ports: number[], filters: unknown[], routes?: unknown[]) {
  return simpleConfig({
    upstreamPorts: ports,
    routes,
    hcm: { http_filters: [...filters, { name: "envoy.filters.http.router", typed_config: { "@type": ROUTER_TYPE } }] },
  });
}

test("fault: abort by percentage and by header; header matchers select requests", async () => {
  await using up = await startUpstream();
  await using proxy = await startProxy(withFilters([up.port], [
    { name: "envoy.filters.http.fault", typed_config: { "@type": FAULT, abort: { http_status: 503, percentage: { numerator: 100 } }, headers: [{ name: "x-chaos", present_match: true }] } },
  ]));
  const hit = await fetch(proxy.url("/"), { headers: { "x-chaos": "1" } });
  assert.equal(hit.status, 503);
  assert.equal(await hit.text(), "fault filter abort");
  const miss = await fetch(proxy.url("/"));
  assert.equal(miss.status, 200);
  await miss.text();
  assert.equal(up.requests.length, 1, "the aborted request never reached the upstream");
  assert.equal(proxy.stat("http.ingress.fault.aborts_injected"), 1);
});

test("fault: header_abort and header_delay follow x-envoy-fault-* request headers; delays use the wheel", async () => {
  await using up = await startUpstream();
  await using proxy = await startProxy(withFilters([up.port], [
    {
      name: "envoy.filters.http.fault",
      typed_config: { "@type": FAULT, abort: { header_abort: {}, percentage: { numerator: 100 } }, delay: { header_delay: {}, percentage: { numerator: 100 } } },
    },
  ]));
  const aborted = await fetch(proxy.url("/"), { headers: { "x-envoy-fault-abort-request": "429" } });
  assert.equal(aborted.status, 429);
  await aborted.text();
  const t0 = Date.now();
  const delayed = await fetch(proxy.url("/"), { headers: { "x-envoy-fault-delay-request": "200" } });
  assert.equal(delayed.status, 200);
  await delayed.text();
  assert.ok(Date.now() - t0 >= 190, "delayed by ~200 ms");
  const plain = await fetch(proxy.url("/"));
  assert.equal(plain.status, 200);
  await plain.text();
  assert.equal(proxy.stat("http.ingress.fault.delays_injected"), 1);
  assert.equal(proxy.stat("http.ingress.fault.active_faults"), 0);
});

test("typed_per_filter_config: FilterConfig disabled turns a filter off per route; an HTTPFault overrides it", async () => {
  await using up = await startUpstream();
  await using proxy = await startProxy(withFilters([up.port], [
    { name: "envoy.filters.http.fault", typed_config: { "@type": FAULT, abort: { http_status: 500, percentage: { numerator: 100 } } } },
  ], [
    {
      match: { prefix: "/off" },
      route: { cluster: "backend" },
      typed_per_filter_config: { "envoy.filters.http.fault": { "@type": "type.googleapis.com/envoy.config.route.v3.FilterConfig", disabled: true } },
    },
    {
      match: { prefix: "/teapot" },
      route: { cluster: "backend" },
      typed_per_filter_config: { "envoy.filters.http.fault": { "@type": FAULT, abort: { http_status: 418, percentage: { numerator: 100 } } } },
    },
    { match: { prefix: "/" }, route: { cluster: "backend" } },
  ]));
  assert.equal((await fetch(proxy.url("/off"))).status, 200);
  assert.equal((await fetch(proxy.url("/teapot"))).status, 418);
  assert.equal((await fetch(proxy.url("/other"))).status, 500);
});

test("local_ratelimit: the bucket empties, then 429 with flag RL, body and response headers", async () => {
  await using up = await startUpstream();
  await using proxy = await startProxy(withFilters([up.port], [{
    name: "envoy.filters.http.local_ratelimit",
    typed_config: {
      "@type": LRL,
      stat_prefix: "rl",
      token_bucket: { max_tokens: 2, tokens_per_fill: 1, fill_interval: "60s" },
      filter_enabled: { default_value: { numerator: 100 } },
      filter_enforced: { default_value: { numerator: 100 } },
      response_headers_to_add: [{ header: { key: "x-local-rate-limit", value: "true" } }],
    },
  }]));
  const statuses: number[] = [];
  let last: Response | undefined;
  for (let i = 0; i < 3; i++) {
    last = await fetch(proxy.url("/"));
    statuses.push(last.status);
    if (i < 2) await last.text();
  }
  assert.deepEqual(statuses, [200, 200, 429]);
  assert.equal(await last!.text(), "local_rate_limited");
  assert.equal(last!.headers.get("x-local-rate-limit"), "true");
  assert.equal(last!.headers.get("x-envoy-ratelimited"), "true");
  assert.equal(proxy.stat("rl.http_local_rate_limit.ok"), 2);
  assert.equal(proxy.stat("rl.http_local_rate_limit.rate_limited"), 1);
  assert.equal(proxy.stat("rl.http_local_rate_limit.enforced"), 1);
});

test("local_ratelimit: not enforced (Envoy's default) counts but lets requests through", async () => {
  await using up = await startUpstream();
  await using proxy = await startProxy(withFilters([up.port], [{
    name: "envoy.filters.http.local_ratelimit",
    typed_config: {
      "@type": LRL,
      stat_prefix: "shadow",
      token_bucket: { max_tokens: 1, fill_interval: "60s" },
      filter_enabled: { default_value: { numerator: 100 } },
      request_headers_to_add_when_not_enforced: [{ header: { key: "x-would-limit", value: "1" } }],
    },
  }]));
  for (let i = 0; i < 2; i++) assert.equal((await fetch(proxy.url("/"))).status, 200);
  assert.equal(proxy.stat("shadow.http_local_rate_limit.rate_limited"), 1);
  assert.equal(proxy.stat("shadow.http_local_rate_limit.enforced"), 0);
  assert.equal(up.requests[1]!.headers["x-would-limit"], "1");
  assert.equal(up.requests[0]!.headers["x-would-limit"], undefined);
});

test("health_check: answered locally without pass-through, forwarded with it", async () => {
  await using up = await startUpstream(() => ({ body: "upstream health" }));
  const hc = (pass: boolean) => ({
    name: "envoy.filters.http.health_check",
    typed_config: { "@type": HC, pass_through_mode: pass, headers: [{ name: ":path", string_match: { exact: "/healthz" } }] },
  });
  {
    await using proxy = await startProxy(withFilters([up.port], [hc(false)]));
    const res = await fetch(proxy.url("/healthz"));
    assert.equal(res.status, 200);
    assert.equal(await res.text(), "");
    assert.equal(up.requests.length, 0);
    assert.equal(await (await fetch(proxy.url("/other"))).text(), "upstream health");
  }
  {
    await using proxy = await startProxy(withFilters([up.port], [hc(true)]));
    assert.equal(await (await fetch(proxy.url("/healthz"))).text(), "upstream health");
  }
});

test("HTTP filter config errors name the field", async () => {
  await assert.rejects(
    startProxy(withFilters([1], [{ name: "f", typed_config: { "@type": FAULT, abort: { grpc_status: 14 } } }])),
    /http_filters\[0\]\.typed_config\.abort\.grpc_status: is not supported yet/,
  );
  await assert.rejects(
    startProxy(withFilters([1], [{ name: "r", typed_config: { "@type": LRL, stat_prefix: "x", descriptors: [] } }])),
    /typed_config\.descriptors: is not supported yet/,
  );
  await assert.rejects(
    startProxy(withFilters([1], [], [{
      match: { prefix: "/" },
      route: { cluster: "backend" },
      typed_per_filter_config: { x: { "@type": HC, pass_through_mode: false } },
    }])),
    /typed_per_filter_config\.x\.@type: per-route config of envoy\.filters\.http\.health_check is not supported yet/,
  );
});

test("header_mutation: request and response mutations in order, with formatting and remove_on_match", async () => {
  await using up = await startUpstream(() => ({ headers: { "x-debug-a": "1", "x-debug-b": "2", "x-keep": "k" }, body: "ok" }));
  await using proxy = await startProxy(withFilters([up.port], [{
    name: "envoy.filters.http.header_mutation",
    typed_config: {
      "@type": "type.googleapis.com/envoy.extensions.filters.http.header_mutation.v3.HeaderMutation",
      mutations: {
        request_mutations: [
          { remove: "x-client-secret" },
          { append: { header: { key: "x-path-copy", value: "%REQ(:path)%" }, append_action: "OVERWRITE_IF_EXISTS_OR_ADD" } },
        ],
        response_mutations: [
          { remove_on_match: { key_matcher: { prefix: "x-debug-" } } },
          { append: { header: { key: "x-status", value: "%RESP(:status)%" } } },
        ],
      },
    },
  }]));
  const res = await fetch(proxy.url("/p?q=1"), { headers: { "x-client-secret": "s", "x-path-copy": "forged" } });
  assert.equal(await res.text(), "ok");
  assert.equal(up.requests[0]!.headers["x-client-secret"], undefined);
  assert.equal(up.requests[0]!.headers["x-path-copy"], "/p?q=1");
  assert.equal(res.headers.get("x-debug-a"), null);
  assert.equal(res.headers.get("x-debug-b"), null);
  assert.equal(res.headers.get("x-keep"), "k");
  assert.equal(res.headers.get("x-status"), "200");
});

test("cors: CorsPolicy from typed_per_filter_config answers preflights and marks allowed responses", async () => {
  await using up = await startUpstream();
  const policy = {
    "@type": "type.googleapis.com/envoy.extensions.filters.http.cors.v3.CorsPolicy",
    allow_origin_string_match: [{ exact: "https://app.example" }, { suffix: ".trusted.example" }],
    allow_methods: "GET, PUT",
    allow_headers: "content-type, x-token",
    expose_headers: "x-trace",
    max_age: "600",
    allow_credentials: true,
  };
  const config = withFilters([up.port], [{ name: "envoy.filters.http.cors", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.cors.v3.Cors" } }], [
    {
      match: { prefix: "/nocors" },
      route: { cluster: "backend" },
      typed_per_filter_config: { "envoy.filters.http.cors": { "@type": "type.googleapis.com/envoy.config.route.v3.FilterConfig", disabled: true } },
    },
    { match: { prefix: "/" }, route: { cluster: "backend" } },
  ]);
  (config.static_resources as any).listeners[0].filter_chains[0].filters[0].typed_config.route_config.virtual_hosts[0].typed_per_filter_config = {
    "envoy.filters.http.cors": policy,
  };
  await using proxy = await startProxy(config);
  const pre = await fetch(proxy.url("/api"), { method: "OPTIONS", headers: { origin: "https://app.example", "access-control-request-method": "PUT" } });
  assert.equal(pre.status, 200);
  await pre.text();
  assert.equal(pre.headers.get("access-control-allow-origin"), "https://app.example");
  assert.equal(pre.headers.get("access-control-allow-methods"), "GET, PUT");
  assert.equal(pre.headers.get("access-control-allow-headers"), "content-type, x-token");
  assert.equal(pre.headers.get("access-control-max-age"), "600");
  assert.equal(pre.headers.get("access-control-allow-credentials"), "true");
  assert.equal(up.requests.length, 0, "the preflight is answered by the proxy");

  const simple = await fetch(proxy.url("/api"), { headers: { origin: "https://x.trusted.example" } });
  await simple.text();
  assert.equal(simple.headers.get("access-control-allow-origin"), "https://x.trusted.example");
  assert.equal(simple.headers.get("access-control-expose-headers"), "x-trace");

  const denied = await fetch(proxy.url("/api"), { headers: { origin: "https://evil.example" } });
  await denied.text();
  assert.equal(denied.headers.get("access-control-allow-origin"), null);

  const off = await fetch(proxy.url("/nocors"), { headers: { origin: "https://app.example" } });
  await off.text();
  assert.equal(off.headers.get("access-control-allow-origin"), null);
  assert.equal(proxy.stat("http.ingress.cors.origin_valid"), 2);
  assert.equal(proxy.stat("http.ingress.cors.origin_invalid"), 1);
});

test("local_ratelimit: a per-route LocalRateLimit has its own bucket; FilterConfig disabled skips the filter", async () => {
  await using up = await startUpstream();
  const lrl = (prefix: string, tokens: number) => ({
    "@type": LRL,
    stat_prefix: prefix,
    token_bucket: { max_tokens: tokens, fill_interval: "60s" },
    filter_enabled: { default_value: { numerator: 100 } },
    filter_enforced: { default_value: { numerator: 100 } },
  });
  await using proxy = await startProxy(withFilters([up.port], [{ name: "envoy.filters.http.local_ratelimit", typed_config: lrl("global", 1) }], [
    { match: { prefix: "/route" }, route: { cluster: "backend" }, typed_per_filter_config: { "envoy.filters.http.local_ratelimit": lrl("route", 3) } },
    {
      match: { prefix: "/free" },
      route: { cluster: "backend" },
      typed_per_filter_config: { "envoy.filters.http.local_ratelimit": { "@type": "type.googleapis.com/envoy.config.route.v3.FilterConfig", disabled: true } },
    },
    { match: { prefix: "/" }, route: { cluster: "backend" } },
  ]));
  const codes = async (path: string, n: number) => {
    const out: number[] = [];
    for (let i = 0; i < n; i++) {
      const r = await fetch(proxy.url(path));
      await r.text();
      out.push(r.status);
    }
    return out;
  };
  assert.deepEqual(await codes("/route", 4), [200, 200, 200, 429]);
  assert.deepEqual(await codes("/other", 2), [200, 429]);
  assert.deepEqual(await codes("/free", 3), [200, 200, 200]);
  assert.equal(proxy.stat("route.http_local_rate_limit.rate_limited"), 1);
  assert.equal(proxy.stat("global.http_local_rate_limit.rate_limited"), 1);
});
