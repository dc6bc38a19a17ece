/**
 * xDS from files (path_config_source): LDS, CDS, RDS and EDS each from a watched file holding a
 * DiscoveryResponse. Real sockets; files are replaced by atomic rename, as Envoy asks.
 */
import assert from "node:assert/strict";
import { mkdtempSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test, waitFor } from "../harness.ts";
import { HCM_TYPE, ROUTER_TYPE, startProxy } from "../helpers/proxy.ts";
import { startUpstream } from "../helpers/upstream.ts";
import { rawConnect } from "../helpers/raw_client.ts";

const LISTENER = "type.googleapis.com/envoy.config.listener.v3.Listener";
const CLUSTER = "type.googleapis.com/envoy.config.cluster.v3.Cluster";
const ROUTE = "type.googleapis.com/envoy.config.route.v3.RouteConfiguration";
const CLA = "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment";

/** Writes `doc` to `path` by atomic rename. */
function put(path: string, doc: unknown): void {
  writeFileSync(path + ".tmp", JSON.stringify(doc));
  renameSync(path + ".tmp", path);
}

function files() {
  const dir = mkdtempSync(join(tmpdir(), "legate-xds-file-"));
  return { dir, lds: join(dir, "lds.json"), cds: join(dir, "cds.json"), rds: join(dir, "rds.json"), eds: join(dir, "eds.json") };
}

function listener(name: string, rdsPath: string) {
  return {
    "@type": LISTENER,
    name,
    address: { socket_address: { address: "127.0.0.1", port_value: 0 } },
    filter_chains: [{
      filters: [{
        name: "envoy.filters.network.http_connection_manager",
        typed_config: {
          "@type": HCM_TYPE,
          stat_prefix: "dyn",
          rds: { route_config_name: "routes", config_source: { path_config_source: { path: rdsPath }, resource_api_version: "V3" } },
          http_filters: [{ name: "envoy.filters.http.router", typed_config: { "@type": ROUTER_TYPE } }],
        },
      }],
    }],
  };
}

function routes(body: string | null) {
  return {
    "@type": ROUTE,
    name: "routes",
    virtual_hosts: [{
      name: "all",
      domains: ["*"],
      routes: [body === null ? { match: { prefix: "/" }, route: { cluster: "backend" } } : { match: { prefix: "/" }, direct_response: { status: 200, body: { inline_string: body } } }],
    }],
  };
}

function bootstrap(f: ReturnType<typeof files>) {
  return {
    node: { id: "test-node", cluster: "test" },
    dynamic_resources: {
      lds_config: { path_config_source: { path: f.lds }, resource_api_version: "V3" },
      cds_config: { path_config_source: { path: f.cds }, resource_api_version: "V3" },
    },
  };
}

test("LDS, RDS, CDS and EDS from files: traffic flows, a route change applies, a broken file changes nothing", async () => {
  await using up = await startUpstream();
  const f = files();
  try {
    put(f.lds, { version_info: "1", resources: [listener("dyn", f.rds)] });
    put(f.rds, { version_info: "1", resources: [routes(null)] });
    put(f.cds, {
      version_info: "1",
      resources: [{ "@type": CLUSTER, name: "backend", type: "EDS", connect_timeout: "1s", eds_cluster_config: { eds_config: { path_config_source: { path: f.eds } } } }],
    });
    put(f.eds, {
      version_info: "1",
      resources: [{ "@type": CLA, cluster_name: "backend", endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: up.port } } } }] }] }],
    });
    await using p = await startProxy(bootstrap(f));
    const port = p.port("dyn");
    const r1 = await fetch(`http://127.0.0.1:${port}/x`);
    assert.equal(r1.status, 200);
    await r1.text();
    assert.ok(up.requests.length >= 1, "the request reached the EDS endpoint");
    assert.equal(p.stat("listener_manager.lds.update_success"), 1);
    assert.equal(p.stat("cluster_manager.cds.update_success"), 1);

    // A new route configuration applies to the next request, on the same listener.
    put(f.rds, { version_info: "2", resources: [routes("from rds v2")] });
    await waitFor(async () => (await (await fetch(`http://127.0.0.1:${port}/x`)).text()) === "from rds v2", "route v2 applied");

    // A half-written listener file is rejected; the listener in force keeps serving.
    writeFileSync(f.lds, '{"version_info": "3", "resources": [{"@type": "' + LISTENER + '", "name": "dyn", "addr');
    await waitFor(() => p.stat("listener_manager.lds.update_rejected") >= 1, "broken LDS file rejected");
    assert.equal(await (await fetch(`http://127.0.0.1:${port}/x`)).text(), "from rds v2");

    // An invalid cluster is rejected with its field path; the valid one stays.
    put(f.cds, {
      version_info: "4",
      resources: [
        { "@type": CLUSTER, name: "backend", type: "EDS", connect_timeout: "1s", eds_cluster_config: { eds_config: { path_config_source: { path: f.eds } } } },
        { "@type": CLUSTER, name: "broken", connect_timeout: "-1s" },
      ],
    });
    await waitFor(() => p.stat("cluster_manager.cds.update_rejected") >= 1, "invalid cluster rejected");
    const errs = p.server.xds!.errors.cluster;
    assert.ok(errs.has("broken"), "the rejected cluster has an error state");
    assert.match(errs.get("broken")!.detail, /connect_timeout/);
    assert.ok(p.server.xds!.clusters.has("backend"));
  } finally {
    rmSync(f.dir, { recursive: true, force: true });
  }
}, { timeoutMs: 20_000 });

test("a listener waits for its routes (warming) and a removed listener stops accepting", async () => {
  const f = files();
  try {
    put(f.cds, { version_info: "1", resources: [] });
    put(f.lds, { version_info: "1", resources: [] });
    await using p = await startProxy({
      ...bootstrap(f),
      dynamic_resources: {
        lds_config: { path_config_source: { path: f.lds }, initial_fetch_timeout: "30s" },
        cds_config: { path_config_source: { path: f.cds } },
      },
    });
    assert.equal(p.server.xds!.listeners.size, 0);
    // The listener arrives; its route config does not exist yet: it warms and is not bound.
    put(f.lds, { version_info: "2", resources: [listener("late", f.rds)] });
    await waitFor(() => p.server.xds!.listeners.has("late"), "listener received");
    assert.equal(p.server.xds!.warmingListeners().length, 1);
    assert.throws(() => p.port("late"));
    put(f.rds, { version_info: "1", resources: [routes("warm now")] });
    await waitFor(() => { try { return p.port("late") > 0; } catch { return false; } }, "listener bound after its routes arrived");
    assert.equal(await (await fetch(`http://127.0.0.1:${p.port("late")}/`)).text(), "warm now");
    const port = p.port("late");
    put(f.lds, { version_info: "3", resources: [] });
    await waitFor(() => { try { p.port("late"); return false; } catch { return true; } }, "listener removed");
    // A new connection is refused (the socket is closed; connections in flight drain).
    await assert.rejects(rawConnect(port));
  } finally {
    rmSync(f.dir, { recursive: true, force: true });
  }
}, { timeoutMs: 20_000 });
