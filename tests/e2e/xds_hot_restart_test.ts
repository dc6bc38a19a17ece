/**
 * Hot restart with a listener that came from LDS (not inherited from the supervisor): the new
 * generation binds it beside the old one (SO_REUSEPORT) and traffic moves over without a failed
 * request. Bun from source (the compiled binary takes the same path).
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test, waitFor } from "../harness.ts";
import { freePort } from "../helpers/ports.ts";
import { ROOT, startBinary } from "../helpers/binary.ts";
import { HCM_TYPE, ROUTER_TYPE } from "../helpers/proxy.ts";
import { startUpstream } from "../helpers/upstream.ts";

test("hot restart keeps serving a listener that came from LDS (no request fails)", async () => {
  await using up = await startUpstream();
  const dir = mkdtempSync(join(tmpdir(), "legate-xds-hr-"));
  try {
    const port = freePort();
    const lds = join(dir, "lds.json");
    writeFileSync(lds + ".tmp", JSON.stringify({
      version_info: "1",
      resources: [{
        "@type": "type.googleapis.com/envoy.config.listener.v3.Listener",
        name: "dyn",
        address: { socket_address: { address: "127.0.0.1", port_value: port } },
        filter_chains: [{
          filters: [{
            name: "envoy.filters.network.http_connection_manager",
            typed_config: {
              "@type": HCM_TYPE,
              stat_prefix: "dyn",
              route_config: { virtual_hosts: [{ name: "all", domains: ["*"], routes: [{ match: { prefix: "/" }, route: { cluster: "backend" } }] }] },
              http_filters: [{ name: "envoy.filters.http.router", typed_config: { "@type": ROUTER_TYPE } }],
            },
          }],
        }],
      }],
    }));
    renameSync(lds + ".tmp", lds);
    const cfg = join(dir, "legate.json");
    writeFileSync(cfg, JSON.stringify({
      admin: { address: { socket_address: { address: "127.0.0.1", port_value: 0 } } },
      dynamic_resources: { lds_config: { path_config_source: { path: lds } } },
      static_resources: {
        clusters: [{ name: "backend", connect_timeout: "1s", load_assignment: { cluster_name: "backend", endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: up.port } } } }] }] } }],
      },
    }));
    await using sup = startBinary([join(ROOT, "src/main.ts"), "-c", cfg, "--concurrency", "1", "--drain-time-s", "1"], join(ROOT, "node_modules/.bin/bun"));
    const admin = `http://127.0.0.1:${await sup.adminPort()}`;
    const url = `http://127.0.0.1:${port}/lds`;
    await waitFor(async () => (await fetch(url, { headers: { connection: "close" } }).catch(() => null))?.status === 200, "LDS listener serving", 15_000);
    let stop = false, ok = 0, failed = 0;
    const load = (async () => {
      while (!stop) {
        const r = await fetch(url, { headers: { connection: "close" } }).then((x) => x.text()).catch(() => "");
        if (r === "upstream saw GET /lds") ok++;
        else failed++;
      }
    })();
    await waitFor(() => ok > 10, "load running");
    sup.signal("SIGHUP");
    await waitFor(async () => {
      const info = await (await fetch(`${admin}/server_info`, { headers: { connection: "close" } })).json() as { command_line_options: { restart_epoch: number } };
      return info.command_line_options.restart_epoch === 1;
    }, "generation 1 serving", 30_000, 100);
    const at = ok;
    await waitFor(() => ok > at + 20, "requests after the restart");
    // The old generation drained (1 s) and is gone; traffic keeps flowing.
    await waitFor(() => /generation 0 exited/.test(sup.stderr()), "old generation gone", 15_000);
    const after = ok;
    await waitFor(() => ok > after + 10, "requests served by generation 1 alone");
    stop = true;
    await load;
    // Both generations accept on their own SO_REUSEPORT socket; when the old one closes its
    // socket, a connection still queued there is reset unless the kernel migrates it
    // (net.ipv4.tcp_migrate_req=1, Linux 5.14+). docs/xds.md describes the window. With
    // migration on nothing may fail; without it, a rare reset is the known gap (1 in ~900
    // seen under load), bounded here so a real regression (a refused restart, a listener
    // gone) still fails.
    const migrate = readFileSync("/proc/sys/net/ipv4/tcp_migrate_req", "utf8").trim() === "1";
    if (migrate) assert.equal(failed, 0, `${failed} of ${ok + failed} requests failed across the hot restart`);
    else assert.ok(failed <= Math.max(2, (ok + failed) / 200), `${failed} of ${ok + failed} requests failed across the hot restart`);
    sup.signal("SIGTERM");
    assert.equal(await sup.exited(10_000), 0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}, { timeoutMs: 90_000 });
