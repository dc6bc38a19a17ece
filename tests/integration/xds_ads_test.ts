/**
 * Legate driven by an xDS management server over gRPC (the repo's own, src/xds/server), ADS in
 * State-of-the-World and delta, and per-type gRPC and REST: dynamic listener ▶ RDS ▶ CDS ▶ EDS,
 * route changes under load, NACKs with error_detail, cluster removal, control-plane loss and
 * return. Real sockets on 127.0.0.1.
 */
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { test, waitFor } from "../harness.ts";
import { startProxy } from "../helpers/proxy.ts";
import { startUpstream } from "../helpers/upstream.ts";
import { adsBootstrap } from "../helpers/xds.ts";
import { type SnapshotInput } from "../../src/xds/server/snapshot.ts";
import { startXdsServer } from "../../src/xds/server/server.ts";
import { edsCluster, loadAssignment, rdsListener, routeConfig } from "../../src/xds/server/testdata.ts";

function bootstrap(xdsPort: number, apiType: "GRPC" | "DELTA_GRPC"): Record<string, unknown> {
  return adsBootstrap(xdsPort, { apiType });
}

function snapshot(version: string, upstreamPort: number, extra: Partial<SnapshotInput> = {}): SnapshotInput {
  return {
    version,
    listeners: [rdsListener("l0", 0, "r0")],
    routes: [routeConfig("r0", "c0")],
    clusters: [edsCluster("c0")],
    endpoints: [loadAssignment("c0", upstreamPort)],
    ...extra,
  };
}

async function get(port: number, path = "/"): Promise<{ status: number; body: string }> {
  const r = await fetch(`http://127.0.0.1:${port}${path}`);
  return { status: r.status, body: await r.text() };
}

for (const apiType of ["GRPC", "DELTA_GRPC"] as const) {
  const mode = apiType === "GRPC" ? "SotW" : "delta";

  test(`ADS ${mode}: listener, routes, cluster and endpoints arrive; a route change under load fails no request; a bad cluster is NACKed`, async () => {
    await using up = await startUpstream();
    await using cp = await startXdsServer({ snapshot: snapshot("1", up.port) });
    await using p = await startProxy(bootstrap(cp.port, apiType));
    const port = p.port("l0");
    const first = await get(port);
    assert.equal(first.status, 200);
    assert.ok(up.requests.length >= 1);
    for (const t of ["CDS", "EDS", "LDS", "RDS"]) await cp.waitForAck({ type: t, version: mode === "SotW" ? "1" : undefined });
    assert.equal(p.stat("control_plane.connected_state"), 1);
    assert.equal(p.stat("cluster_manager.cds.update_success") >= 1, true);

    // Under load: the route changes to a direct response; no request fails.
    let stop = false;
    let failures = 0, ok = 0, changed = 0;
    const load = (async () => {
      while (!stop) {
        const rs = await Promise.all(Array.from({ length: 8 }, () => get(port).catch(() => ({ status: 0, body: "" }))));
        for (const r of rs) {
          if (r.status !== 200) failures++;
          else if (r.body === "v2") changed++;
          else ok++;
        }
      }
    })();
    await waitFor(() => ok > 20, "load running");
    const v2Routes = [{ name: "r0", virtual_hosts: [{ name: "all", domains: ["*"], routes: [{ match: { prefix: "/" }, direct_response: { status: 200, body: { inline_string: "v2" } } }] }] }];
    cp.setSnapshot(snapshot("2", up.port, { routes: v2Routes }));
    await waitFor(() => changed > 20, "route v2 serving");
    stop = true;
    await load;
    assert.equal(failures, 0, `${failures} requests failed during the route change`);
    assert.ok(p.stat("rds.r0.update_success") >= 2, "per-route-config RDS stats count SotW and delta updates");

    // An invalid cluster: NACKed with the resource and field named; the old config keeps serving.
    const mark = cp.mark();
    cp.setSnapshot(snapshot("3", up.port, { routes: v2Routes, clusters: [edsCluster("c0"), { name: "bad", connect_timeout: "1s", lb_policy: "CLUSTER_PROVIDED" }] }));
    const nack = await cp.waitForNack({ type: "CDS", since: mark, errorDetail: /bad.*lb_policy/s });
    assert.match(nack.errorDetail?.message ?? "", /CLUSTER_PROVIDED is not supported yet/);
    assert.ok(p.stat("cluster_manager.cds.update_rejected") >= 1);
    assert.equal((await get(port)).body, "v2");
    // /config_dump shows the rejected cluster with its error state, as Envoy's admin does.
    const dump = await (await fetch(`http://127.0.0.1:${p.adminPort}/config_dump?resource=dynamic_active_clusters`)).json() as {
      configs: { cluster: { name: string }; error_state?: { details: string }; client_status: string }[];
    };
    const bad = dump.configs.find((c) => c.cluster.name === "bad");
    assert.ok(bad?.error_state, "config_dump has the error state of the rejected cluster");
    assert.match(bad.error_state.details, /lb_policy: CLUSTER_PROVIDED is not supported yet/);
    assert.equal(bad.client_status, "NACKED");
    assert.equal(dump.configs.find((c) => c.cluster.name === "c0")?.client_status, "ACKED");
  }, { timeoutMs: 30_000 });

  test(`ADS ${mode}: removing the cluster gives 503 NC; the control plane going away keeps the config; it comes back and resyncs`, async () => {
    await using up = await startUpstream();
    let cp = await startXdsServer({ snapshot: snapshot("1", up.port) });
    const cpPort = cp.port;
    try {
      await using p = await startProxy(bootstrap(cpPort, apiType));
      const port = p.port("l0");
      assert.equal((await get(port)).status, 200);

      cp.setSnapshot(snapshot("2", up.port, { clusters: [], endpoints: [] }));
      await waitFor(async () => (await get(port)).status === 503, "503 after the cluster went");
      // Envoy's NC (no cluster found) for a route whose cluster is gone.
      assert.ok(p.stat("http.l0.no_cluster") >= 1);

      await cp.close();
      await waitFor(() => p.stat("control_plane.connected_state") === 0, "disconnected");
      assert.equal((await get(port)).status, 503, "the last config keeps serving");

      cp = await startXdsServer({ port: cpPort, snapshot: snapshot("3", up.port) });
      await waitFor(() => p.stat("control_plane.connected_state") === 1, "reconnected", 15_000);
      await waitFor(async () => (await get(port)).status === 200, "resynced: the cluster is back", 15_000);
    } finally {
      await cp.close();
    }
  }, { timeoutMs: 40_000 });
}

/** A config source for per-type gRPC or REST against the static cluster `cluster`. */
function apiSource(apiType: "GRPC" | "DELTA_GRPC" | "REST", cluster: string): Record<string, unknown> {
  return {
    resource_api_version: "V3",
    api_config_source: apiType === "REST"
      ? { api_type: "REST", transport_api_version: "V3", cluster_names: [cluster], refresh_delay: "0.1s", request_timeout: "1s" }
      : { api_type: apiType, transport_api_version: "V3", grpc_services: [{ envoy_grpc: { cluster_name: cluster } }] },
  };
}

function withSource(o: Record<string, unknown>, src: Record<string, unknown>): Record<string, unknown> {
  // Rewrites every `ads: {}` config source in a resource to `src`.
  return JSON.parse(JSON.stringify(o), (_k, v) => (v && typeof v === "object" && !Array.isArray(v) && "ads" in v ? src : v));
}

for (const apiType of ["GRPC", "DELTA_GRPC", "REST"] as const) {
  test(`per-type ${apiType} config sources (LDS, RDS, CDS, EDS each on its own subscription)`, async () => {
    await using up = await startUpstream();
    await using cp = await startXdsServer({ snapshot: snapshot("1", up.port), restPort: 0 });
    const src = apiSource(apiType, "xds");
    const xdsPort = apiType === "REST" ? cp.restPort! : cp.port;
    const b = bootstrap(xdsPort, "GRPC") as { dynamic_resources: Record<string, unknown> };
    b.dynamic_resources = { lds_config: src, cds_config: src };
    const s1 = snapshot("1", up.port);
    const per = (v: string, extra: Partial<SnapshotInput> = {}): SnapshotInput => ({
      version: v,
      listeners: (extra.listeners ?? s1.listeners!).map((l) => withSource(l as Record<string, unknown>, src)),
      routes: extra.routes ?? s1.routes,
      clusters: (extra.clusters ?? s1.clusters!).map((c) => withSource(c as Record<string, unknown>, src)),
      endpoints: extra.endpoints ?? s1.endpoints,
    });
    cp.setSnapshot(per("1"));
    await using p = await startProxy(b);
    const port = p.port("l0");
    assert.equal((await get(port)).status, 200);
    cp.setSnapshot(per("2", { routes: [{ name: "r0", virtual_hosts: [{ name: "all", domains: ["*"], routes: [{ match: { prefix: "/" }, direct_response: { status: 201, body: { inline_string: "two" } } }] }] }] }));
    await waitFor(async () => (await get(port)).status === 201, "route v2 applied", 10_000);
    assert.ok(p.stat("listener_manager.lds.update_success") >= 1);
  }, { timeoutMs: 30_000 });
}

test("ADS with two data-plane workers: routes and endpoints reach every worker", async () => {
  await using up = await startUpstream();
  await using cp = await startXdsServer({ snapshot: snapshot("1", up.port) });
  await using p = await startProxy(bootstrap(cp.port, "GRPC"), { concurrency: 2 });
  const port = p.port("l0");
  const rs = await Promise.all(Array.from({ length: 20 }, () => get(port)));
  assert.deepEqual([...new Set(rs.map((r) => r.status))], [200]);
}, { timeoutMs: 30_000 });

test("ADS: the route flips eleven times under wrk load without a failed request or a dropped connection", async () => {
  const wrk = spawnSync("wrk", ["--version"], { encoding: "utf8" });
  assert.ok(!wrk.error, "wrk is needed (make test installs it with apt-get)");
  await using up = await startUpstream();
  await using cp = await startXdsServer({ snapshot: snapshot("1", up.port) });
  await using p = await startProxy(bootstrap(cp.port, "GRPC"));
  const port = p.port("l0");
  const direct = (body: string) => [{ name: "r0", virtual_hosts: [{ name: "all", domains: ["*"], routes: [{ match: { prefix: "/" }, direct_response: { status: 200, body: { inline_string: body } } }] }] }];
  const run = new Promise<string>((resolve) => {
    const child = spawn("wrk", ["-t1", "-c8", "-d3s", `http://127.0.0.1:${port}/`], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (out += d));
    child.on("close", () => resolve(out));
  });
  // Flip the route between the upstream cluster and a direct response while wrk runs.
  for (let v = 2; v <= 12; v++) {
    await new Promise((r) => setTimeout(r, 200));
    cp.setSnapshot(snapshot(String(v), up.port, v % 2 ? {} : { routes: direct(`v${v}`) }));
  }
  const out = await run;
  const total = Number(/(\d+) requests in/.exec(out)?.[1] ?? 0);
  assert.ok(total > 100, `wrk ran (${total} requests):\n${out}`);
  assert.doesNotMatch(out, /Non-2xx or 3xx responses/, out);
  assert.doesNotMatch(out, /Socket errors/, out);
  assert.ok(p.stat("rds.r0.update_success") >= 10, "the route configuration changed under load");
}, { timeoutMs: 30_000 });

const FIX = new URL("../fixtures/tls/", import.meta.url).pathname;

function tlsBootstrap(xdsPort: number, trustedCa: string, initialFetch?: string): Record<string, unknown> {
  const b = bootstrap(xdsPort, "GRPC") as { dynamic_resources: Record<string, Record<string, unknown>>; static_resources: { clusters: Record<string, unknown>[] } };
  b.static_resources.clusters[0]!.transport_socket = {
    name: "envoy.transport_sockets.tls",
    typed_config: {
      "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext",
      sni: "a.test",
      common_tls_context: {
        tls_certificates: [{ certificate_chain: { filename: FIX + "client.pem" }, private_key: { filename: FIX + "client.key" } }],
        validation_context: { trusted_ca: { filename: FIX + trustedCa } },
      },
    },
  };
  if (initialFetch) {
    for (const k of ["cds_config", "lds_config"]) b.dynamic_resources[k] = { ...b.dynamic_resources[k], initial_fetch_timeout: initialFetch };
  }
  return b;
}

test("ADS over mutual TLS: the server certificate is verified against trusted_ca; a wrong CA never connects", async () => {
  const { readFileSync } = await import("node:fs");
  await using up = await startUpstream();
  await using cp = await startXdsServer({
    snapshot: snapshot("1", up.port),
    tls: { cert: readFileSync(FIX + "server.pem", "utf8"), key: readFileSync(FIX + "server.key", "utf8"), ca: readFileSync(FIX + "ca.pem", "utf8"), requestCert: true },
  });
  {
    await using p = await startProxy(tlsBootstrap(cp.port, "ca.pem"));
    assert.equal((await get(p.port("l0"))).status, 200);
    assert.equal(p.stat("control_plane.connected_state"), 1);
  }
  // other.pem did not sign the server's certificate: the handshake fails, nothing is applied.
  await using bad = await startProxy(tlsBootstrap(cp.port, "other.pem", "0.5s"));
  assert.equal(bad.stat("control_plane.connected_state"), 0);
  assert.ok(bad.stat("cluster_manager.cds.init_fetch_timeout") >= 1);
  assert.equal(bad.server.xds!.listeners.size, 0);
}, { timeoutMs: 30_000 });

test("ADS: a new cluster is not used before its endpoints arrive (warming), then it is", async () => {
  await using up = await startUpstream();
  await using cp = await startXdsServer({ snapshot: snapshot("1", up.port) });
  await using p = await startProxy(bootstrap(cp.port, "GRPC"));
  const port = p.port("l0");
  const routes = [{
    name: "r0",
    virtual_hosts: [{ name: "all", domains: ["*"], routes: [{ match: { prefix: "/c1" }, route: { cluster: "c1" } }, { match: { prefix: "/" }, route: { cluster: "c0" } }] }],
  }];
  // c1 arrives without its ClusterLoadAssignment: it warms, and the data plane does not have it.
  const mark = cp.mark();
  cp.setSnapshot(snapshot("2", up.port, { routes, clusters: [edsCluster("c0"), edsCluster("c1")] }));
  await cp.waitForAck({ type: "RDS", since: mark });
  await waitFor(() => p.server.xds!.clusters.has("c1"), "c1 received");
  const noCluster = p.stat("http.l0.no_cluster");
  assert.equal((await get(port, "/c1")).status, 503);
  assert.equal(p.stat("http.l0.no_cluster"), noCluster + 1, "a warming cluster is not in the data plane (NC, not UH)");
  assert.equal((await get(port, "/")).status, 200, "the rest keeps serving");
  // Its endpoints arrive: warm, used.
  cp.setSnapshot(snapshot("3", up.port, { routes, clusters: [edsCluster("c0"), edsCluster("c1")], endpoints: [loadAssignment("c0", up.port), loadAssignment("c1", up.port)] }));
  await waitFor(async () => (await get(port, "/c1")).status === 200, "c1 warm and serving");
}, { timeoutMs: 30_000 });

for (const apiType of ["GRPC", "DELTA_GRPC"] as const) {
  test(`ADS ${apiType === "GRPC" ? "SotW" : "delta"}: RDS/EDS names follow references (subscribe, unsubscribe); node on the first request; versions resent on reconnect`, async () => {
    await using up = await startUpstream();
    let cp = await startXdsServer({ snapshot: snapshot("1", up.port) });
    const cpPort = cp.port;
    try {
      await using p = await startProxy(bootstrap(cpPort, apiType));
      assert.equal((await get(p.port("l0"))).status, 200);
      // node.id on the first request of the stream.
      const first = cp.requests[0]!;
      assert.equal(first.nodeId, "legate-test");
      const rds = cp.requests.filter((r) => r.type === "routes");
      assert.ok(rds.some((r) => (apiType === "GRPC" ? r.resourceNames : r.subscribe).includes("r0")), "subscribed to r0");

      // The listener now names r1 instead of r0: subscribe r1, drop r0.
      const mark = cp.mark();
      cp.setSnapshot(snapshot("2", up.port, { listeners: [rdsListener("l0", 0, "r1")], routes: [routeConfig("r0", "c0"), routeConfig("r1", "c0")] }));
      await waitFor(() => p.server.xds!.routes.has("r1") && !p.server.xds!.routes.has("r0"), "r1 in, r0 out");
      const later = () => cp.requests.filter((r) => r.seq > mark && r.type === "routes");
      if (apiType === "GRPC") await waitFor(() => later().some((r) => r.resourceNames.join() === "r1"), "a SotW request naming only r1");
      else {
        await waitFor(() => later().some((r) => r.unsubscribe.includes("r0")), "delta unsubscribes r0");
        assert.ok(later().some((r) => r.subscribe.includes("r1")), "delta subscribes r1");
      }

      // Reconnect: SotW resends the accepted versions, delta lists what it holds.
      await cp.close();
      cp = await startXdsServer({ port: cpPort, snapshot: snapshot("2", up.port, { listeners: [rdsListener("l0", 0, "r1")], routes: [routeConfig("r1", "c0")] }) });
      await waitFor(() => cp.requests.some((r) => r.type === "clusters"), "reconnected", 15_000);
      const again = cp.requests.find((r) => r.type === "clusters")!;
      if (apiType === "GRPC") assert.equal(again.versionInfo, "1", "the last accepted CDS version is sent on the new stream");
      else assert.ok("c0" in again.initialResourceVersions, "initial_resource_versions lists c0");
    } finally {
      await cp.close();
    }
  }, { timeoutMs: 40_000 });
}
