/**
 * Router features over real sockets: header/query matching across clusters, redirects,
 * rewrites with x-envoy-original-path, host rewrites, custom request/response headers,
 * weighted_clusters and cluster_header.
 */
import assert from "node:assert/strict";
import { test, waitFor } from "../harness.ts";
import { simpleConfig, startProxy } from "../helpers/proxy.ts";
import { startUpstream } from "../helpers/upstream.ts";

/** simpleConfig plus extra STATIC clusters name → port. */
function withClusters(config: Record<string, unknown>, extra: Record<string, number>): Record<string, unknown> {
  const sr = config.static_resources as { clusters: unknown[] };
  for (const [name, port] of Object.entries(extra)) {
    sr.clusters.push({
      name,
      type: "STATIC",
      connect_timeout: "1s",
      load_assignment: {
        cluster_name: name,
        endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: port } } } }] }],
      },
    });
  }
  return config;
}

test("header and query parameter matchers send requests to different clusters", async () => {
  await using blue = await startUpstream(() => ({ body: "blue" }));
  await using green = await startUpstream(() => ({ body: "green" }));
  const config = withClusters(simpleConfig({
    upstreamPorts: [blue.port],
    routes: [
      { match: { prefix: "/", headers: [{ name: "x-canary", string_match: { exact: "1" } }] }, route: { cluster: "green" } },
      { match: { prefix: "/", query_parameters: [{ name: "canary", present_match: true }] }, route: { cluster: "green" } },
      { match: { safe_regex: { regex: "/items/[0-9]+" } }, route: { cluster: "green" } },
      { match: { prefix: "/" }, route: { cluster: "backend" } },
    ],
  }), { green: green.port });
  await using proxy = await startProxy(config);
  const get = async (path: string, headers: Record<string, string> = {}) => (await fetch(proxy.url(path), { headers })).text();
  assert.equal(await get("/a"), "blue");
  assert.equal(await get("/a", { "x-canary": "1" }), "green");
  assert.equal(await get("/a", { "x-canary": "2" }), "blue");
  assert.equal(await get("/a?canary"), "green");
  assert.equal(await get("/items/42"), "green");
  assert.equal(await get("/items/42/x"), "blue");
});

test("a redirect route answers with Location and the configured code, without an upstream", async () => {
  await using proxy = await startProxy(simpleConfig({
    routes: [
      { match: { prefix: "/old/" }, redirect: { prefix_rewrite: "/new/", response_code: "PERMANENT_REDIRECT" } },
      { match: { prefix: "/" }, redirect: { https_redirect: true } },
    ],
  }));
  const res = await fetch(proxy.url("/old/page?x=1"), { redirect: "manual" });
  assert.equal(res.status, 308);
  assert.equal(res.headers.get("location"), `http://127.0.0.1:${proxy.port()}/new/page?x=1`);
  await res.text();
  const res2 = await fetch(proxy.url("/a"), { redirect: "manual" });
  assert.equal(res2.status, 301);
  assert.equal(res2.headers.get("location"), `https://127.0.0.1:${proxy.port()}/a`);
  assert.equal(res2.headers.get("content-length"), "0");
  await res2.text();
  assert.equal(proxy.stat("http.ingress.rq_redirect"), 2);
});

test("regex_rewrite and host_rewrite_literal reach the upstream with x-envoy-original-path", async () => {
  await using up = await startUpstream();
  await using proxy = await startProxy(simpleConfig({
    upstreamPorts: [up.port],
    routes: [{
      match: { prefix: "/users/" },
      route: { cluster: "backend", regex_rewrite: { pattern: { google_re2: {}, regex: "^/users/(\\d+)$" }, substitution: "/v2/user?id=\\1" }, host_rewrite_literal: "users.internal" },
    }, { match: { prefix: "/" }, route: { cluster: "backend", auto_host_rewrite: true } }],
  }));
  assert.equal(await (await fetch(proxy.url("/users/7"))).text(), "upstream saw GET /v2/user?id=7");
  assert.equal(up.requests[0]!.headers["x-envoy-original-path"], "/users/7");
  assert.equal(up.requests[0]!.headers["host"], "users.internal");
  await (await fetch(proxy.url("/plain"))).text();
  assert.equal(up.requests[1]!.headers["x-envoy-original-path"], undefined);
  assert.equal(up.requests[1]!.headers["host"], `127.0.0.1:${up.port}`, "auto_host_rewrite uses the upstream host");
});

test("custom headers: request headers reach the upstream, response headers reach the client (also on local replies)", async () => {
  await using up = await startUpstream(() => ({ headers: { "x-upstream-secret": "s", "content-type": "text/plain" }, body: "ok" }));
  const config = simpleConfig({
    upstreamPorts: [up.port],
    routes: [{
      match: { prefix: "/" },
      route: { cluster: "backend" },
      request_headers_to_add: [{ header: { key: "x-client-ip", value: "%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%" }, append_action: "OVERWRITE_IF_EXISTS_OR_ADD" }],
      request_headers_to_remove: ["x-remove-me"],
      response_headers_to_add: [{ header: { key: "x-served-by", value: "%UPSTREAM_REMOTE_ADDRESS%" } }],
      response_headers_to_remove: ["x-upstream-secret"],
    }],
  });
  const hcm = (config.static_resources as any).listeners[0].filter_chains[0].filters[0].typed_config;
  hcm.route_config.response_headers_to_add = [{ header: { key: "x-global", value: "yes" } }];
  await using proxy = await startProxy(config);
  const res = await fetch(proxy.url("/"), { headers: { "x-client-ip": "6.6.6.6", "x-remove-me": "1" } });
  assert.equal(await res.text(), "ok");
  assert.equal(up.requests[0]!.headers["x-client-ip"], "127.0.0.1");
  assert.equal(up.requests[0]!.headers["x-remove-me"], undefined);
  assert.equal(res.headers.get("x-served-by"), `127.0.0.1:${up.port}`);
  assert.equal(res.headers.get("x-upstream-secret"), null);
  assert.equal(res.headers.get("x-global"), "yes");
});

test("route response headers are added to the router's own local replies", async () => {
  const config = simpleConfig({
    upstreamPorts: [],
    routes: [{ match: { prefix: "/" }, route: { cluster: "backend" }, response_headers_to_add: [{ header: { key: "x-route", value: "r1" } }] }],
  });
  await using proxy = await startProxy(config);
  const res = await fetch(proxy.url("/"));
  assert.equal(res.status, 503);
  assert.equal(res.headers.get("x-route"), "r1");
  await res.text();
});

test("weighted_clusters spread requests by weight; cluster_header picks the cluster per request", async () => {
  await using a = await startUpstream(() => ({ body: "a" }));
  await using b = await startUpstream(() => ({ body: "b" }));
  const config = withClusters(simpleConfig({
    upstreamPorts: [a.port],
    routes: [
      { match: { prefix: "/w" }, route: { weighted_clusters: { clusters: [{ name: "backend", weight: 1 }, { name: "other", weight: 3 }] } } },
      { match: { prefix: "/h" }, route: { cluster_header: "x-target" } },
    ],
  }), { other: b.port });
  await using proxy = await startProxy(config);
  const counts: Record<string, number> = { a: 0, b: 0 };
  for (let i = 0; i < 200; i++) counts[await (await fetch(proxy.url("/w"))).text()]!++;
  assert.ok(counts.a! > 20 && counts.a! < 90, `~25% to backend, got ${JSON.stringify(counts)}`);
  assert.ok(counts.b! > 110, `~75% to other, got ${JSON.stringify(counts)}`);
  assert.equal(await (await fetch(proxy.url("/h"), { headers: { "x-target": "other" } })).text(), "b");
  const missing = await fetch(proxy.url("/h"));
  assert.equal(missing.status, 503);
  await missing.text();
  assert.equal(proxy.stat("http.ingress.no_cluster"), 1);
}, { timeoutMs: 20_000 });

test("hash_policy: a RING_HASH cluster sends the same key to the same host", async () => {
  const ups = [await startUpstream(() => ({ body: "0" })), await startUpstream(() => ({ body: "1" })), await startUpstream(() => ({ body: "2" }))];
  try {
    const config = simpleConfig({
      upstreamPorts: ups.map((u) => u.port),
      routes: [{ match: { prefix: "/" }, route: { cluster: "backend", hash_policy: [{ header: { header_name: "x-user" } }] } }],
    });
    (config.static_resources as any).clusters[0].lb_policy = "RING_HASH";
    await using proxy = await startProxy(config);
    const seen = new Map<string, Set<string>>();
    for (let round = 0; round < 4; round++) {
      for (const user of ["alice", "bob", "carol", "dave", "erin", "frank"]) {
        const body = await (await fetch(proxy.url("/"), { headers: { "x-user": user } })).text();
        if (!seen.has(user)) seen.set(user, new Set());
        seen.get(user)!.add(body);
      }
    }
    for (const [user, hosts] of seen) assert.equal(hosts.size, 1, `${user} always reaches one host, got ${[...hosts]}`);
    const used = new Set([...seen.values()].map((s) => [...s][0]));
    assert.ok(used.size >= 2, "different keys spread over hosts");
  } finally {
    for (const u of ups) await u[Symbol.asyncDispose]();
  }
});

test("route idle_timeout ends a stream with no activity: 504 when the request was complete, flag SI", async () => {
  await using up = await startUpstream(() => undefined); // never answers
  await using proxy = await startProxy(simpleConfig({
    upstreamPorts: [up.port],
    routes: [{ match: { prefix: "/" }, route: { cluster: "backend", timeout: "5s", idle_timeout: "0.2s" } }],
  }));
  const t0 = Date.now();
  const res = await fetch(proxy.url("/idle"));
  assert.equal(res.status, 504);
  assert.equal(await res.text(), "stream timeout");
  const took = Date.now() - t0;
  assert.ok(took >= 190 && took < 3000, `idle timeout after ~200 ms, took ${took}`);
});

test("request_mirror_policies: a copy (body included) goes to the mirror cluster with a -shadow host; its answer is dropped", async () => {
  await using main = await startUpstream((req) => ({ body: `main got ${req.body.length}` }));
  await using mirror = await startUpstream(() => ({ status: 500, body: "mirror says no" }));
  const config = withClusters(simpleConfig({
    upstreamPorts: [main.port],
    routes: [
      { match: { prefix: "/off" }, route: { cluster: "backend", request_mirror_policies: [{ cluster: "mirror", runtime_fraction: { default_value: { numerator: 0 } } }] } },
      { match: { prefix: "/" }, route: { cluster: "backend", request_mirror_policies: [{ cluster: "mirror" }] } },
    ],
  }), { mirror: mirror.port });
  await using proxy = await startProxy(config);
  const res = await fetch(proxy.url("/m?x=1"), { method: "POST", body: "hello mirror" });
  assert.equal(res.status, 200);
  assert.equal(await res.text(), "main got 12");
  await waitFor(() => mirror.requests.length === 1 && mirror.requests[0]!.body.length === 12, "the mirrored request");
  const m = mirror.requests[0]!;
  assert.equal(m.url, "/m?x=1");
  assert.equal(m.headers["host"], `127.0.0.1-shadow:${proxy.port()}`);
  assert.equal(new TextDecoder().decode(m.body), "hello mirror");
  await (await fetch(proxy.url("/off"))).text();
  assert.equal(mirror.requests.length, 1, "runtime_fraction 0%: no copy");
});

test("route max_stream_duration ends the stream after that long: 504 with flag DT, or a reset once the response started", async () => {
  await using up = await startUpstream((req, res) => {
    if (req.url === "/trickle") {
      res.writeHead(200, { "content-type": "text/plain" });
      res.write("first ");
      return; // never ends
    }
  });
  await using proxy = await startProxy(simpleConfig({
    upstreamPorts: [up.port],
    routes: [{ match: { prefix: "/" }, route: { cluster: "backend", timeout: "0s", max_stream_duration: { max_stream_duration: "0.3s" } } }],
  }));
  const t0 = Date.now();
  const res = await fetch(proxy.url("/hang"));
  assert.equal(res.status, 504);
  assert.equal(await res.text(), "downstream duration timeout");
  assert.ok(Date.now() - t0 >= 280, "not before max_stream_duration");
  const started = await fetch(proxy.url("/trickle"));
  assert.equal(started.status, 200);
  await assert.rejects(started.text(), "the stream is reset after the response started");
});
