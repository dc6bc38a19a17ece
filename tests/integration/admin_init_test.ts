/**
 * The admin endpoint answers while the server initialises (as Envoy's does): /ready is 503 with
 * the state until LIVE, /server_info and server.state say INITIALIZING, and POST /quitquitquit
 * ends an initialisation that is waiting on an unreachable xDS server. Real sockets on
 * 127.0.0.1; the xDS server "exists" on a port nothing listens on.
 */
import assert from "node:assert/strict";
import { connect } from "node:net";
import { test, waitFor } from "../harness.ts";
import { loadBootstrap } from "../../src/config/load.ts";
import { loadRuntime } from "../../src/runtime/mod.ts";
import { Server, ServerClosedError } from "../../src/server/server.ts";
import { freePort } from "../helpers/ports.ts";
import { WORKER_URL } from "../helpers/proxy.ts";
import { adsBootstrap } from "../helpers/xds.ts";

const TCP_PROXY = "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy";

async function startInitialising(initialFetch: string): Promise<{ server: Server; started: Promise<unknown>; admin: string }> {
  const text = JSON.stringify(adsBootstrap(freePort(), {
    initialFetchTimeout: initialFetch,
    staticListeners: [{
      name: "static",
      address: { socket_address: { address: "127.0.0.1", port_value: 0 } },
      filter_chains: [{ filters: [{ name: "envoy.filters.network.tcp_proxy", typed_config: { "@type": TCP_PROXY, stat_prefix: "t", cluster: "xds" } }] }],
    }],
  }));
  const b = loadBootstrap({ text, sourceName: "test-config" });
  const server = new Server(await loadRuntime(), b, { rawConfig: JSON.parse(text), concurrency: 0, workerUrl: WORKER_URL });
  // Settled either way; the test looks at how.
  const started = server.start().then(() => "live", (e: unknown) => e);
  await waitFor(() => server.admin !== null, "the admin endpoint listening", 5000);
  return { server, started, admin: `http://127.0.0.1:${server.adminPort}` };
}

test("admin answers while xDS initialises: /ready 503 INITIALIZING, then 200 LIVE after initial_fetch_timeout", async () => {
  const { server, started, admin } = await startInitialising("2.5s");
  try {
    const ready = await fetch(`${admin}/ready`);
    assert.equal(ready.status, 503);
    assert.equal((await ready.text()).trim(), "INITIALIZING");
    const info = await (await fetch(`${admin}/server_info`)).json() as { state: string };
    assert.equal(info.state, "INITIALIZING");
    assert.match(await (await fetch(`${admin}/stats?filter=^server\\.state$`)).text(), /server\.state: 3/);
    // The listener is not bound yet; /listeners shows its configured address, and works.
    const listeners = await fetch(`${admin}/listeners`);
    assert.equal(listeners.status, 200);
    assert.match(await listeners.text(), /^static::127\.0\.0\.1:0$/m);
    // A reload now would race the initialisation: refused, and said why.
    const reload = await fetch(`${admin}/reload`, { method: "POST" });
    assert.notEqual(reload.status, 200);
    assert.match(await reload.text(), /INITIALIZING/);
    // /healthcheck/fail during init is kept: the first snapshot carries it.
    assert.equal((await fetch(`${admin}/healthcheck/fail`, { method: "POST" })).status, 200);

    assert.equal(await started, "live", "LIVE once the initial fetch timed out");
    const live = await fetch(`${admin}/ready`);
    assert.equal(live.status, 200);
    assert.equal((await live.text()).trim(), "LIVE");
    assert.equal(server.stats.value("server.state"), 0);
    assert.equal(server.stats.value("cluster_manager.cds.init_fetch_timeout") >= 1, true);
    assert.equal(server.healthCheckFailed, true);
    assert.match(await (await fetch(`${admin}/listeners`)).text(), new RegExp(`^static::127\\.0\\.0\\.1:${server.listenerPort("static")}$`, "m"));
  } finally {
    await server.close();
  }
}, { timeoutMs: 20_000 });

test("POST /quitquitquit while initialising ends start() cleanly and closes the admin port", async () => {
  const { server, started, admin } = await startInitialising("30s");
  try {
    assert.equal((await fetch(`${admin}/ready`)).status, 503);
    assert.equal((await fetch(`${admin}/quitquitquit`, { method: "POST" })).status, 200);
    const outcome = await started;
    assert.ok(outcome instanceof ServerClosedError, `start() ended with ${String(outcome)}`);
    // A new connection is refused (the pooled one, if any, gets a last answer with close).
    const port = Number(new URL(admin).port);
    const refused = await new Promise<string>((resolve) => {
      const s = connect(port, "127.0.0.1");
      s.on("connect", () => {
        s.destroy();
        resolve("connected");
      });
      s.on("error", (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
    });
    assert.equal(refused, "ECONNREFUSED", "the admin port is closed");
    assert.equal(server.workers, null, "no data plane was started after the quit");
  } finally {
    await server.close();
  }
}, { timeoutMs: 20_000 });
