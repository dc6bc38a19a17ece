/**
 * In-place filter-chain update on real sockets: a listener update (static reload or LDS) that
 * changes one filter chain leaves the keep-alive connections on the other chains untouched (no
 * `connection: close`), while connections on the changed chain drain. A listener-level change
 * drains every chain.
 */
import assert from "node:assert/strict";
import * as net from "node:net";
import { mkdtempSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test, waitFor } from "../harness.ts";
import { HCM_TYPE, ROUTER_TYPE, startProxy } from "../helpers/proxy.ts";
import { parseResponses } from "../helpers/raw_client.ts";
import { loadBootstrap } from "../../src/config/load.ts";

type Json = Record<string, any>; // deno-lint-ignore no-explicit-any

const LISTENER = "type.googleapis.com/envoy.config.listener.v3.Listener";

/** A chain for clients from `source` answering every request with `body` (direct_response). */
function chain(name: string, source: string, body: string): Json {
  return {
    name,
    filter_chain_match: { source_prefix_ranges: [{ address_prefix: source, prefix_len: 32 }] },
    filters: [{
      name: "envoy.filters.network.http_connection_manager",
      typed_config: {
        "@type": HCM_TYPE,
        stat_prefix: name,
        route_config: {
          name: "local",
          virtual_hosts: [{ name: "all", domains: ["*"], routes: [{ match: { prefix: "/" }, direct_response: { status: 200, body: { inline_string: body } } }] }],
        },
        http_filters: [{ name: "envoy.filters.http.router", typed_config: { "@type": ROUTER_TYPE } }],
      },
    }],
  };
}

/** Chain "a" for 127.0.0.1, chain "b" for 127.0.0.2. */
function listener(aBody: string, bBody: string, extra: Json = {}): Json {
  return {
    name: "l",
    address: { socket_address: { address: "127.0.0.1", port_value: 0 } },
    filter_chains: [chain("a", "127.0.0.1", aBody), chain("b", "127.0.0.2", bBody)],
    ...extra,
  };
}

function staticConfig(l: Json): Json {
  return { static_resources: { listeners: [l], clusters: [] } };
}

/** A keep-alive HTTP/1.1 client from `localAddress`: one request at a time. */
async function keepAlive(port: number, localAddress: string) {
  const s = net.connect({ host: "127.0.0.1", port, localAddress });
  let got = "";
  let closed = false;
  s.on("data", (d: Buffer) => (got += d.toString("latin1")));
  s.on("close", () => (closed = true));
  s.on("error", () => {});
  await new Promise<void>((resolve, reject) => {
    s.once("connect", () => resolve());
    s.once("error", reject);
  });
  let seenResponses = 0;
  return {
    /** Sends one request and returns its response (body and `connection` header). */
    async get(): Promise<{ body: string; connection: string | undefined }> {
      s.write("GET / HTTP/1.1\r\nhost: x\r\n\r\n");
      const want = seenResponses + 1;
      await waitFor(() => parseResponses(got).length >= want, "a response", 5000);
      const r = parseResponses(got)[seenResponses++]!;
      return { body: r.body, connection: r.headers["connection"] };
    },
    closed: () => closed,
    waitClosed: () => waitFor(() => closed, "the proxy to close the connection", 5000),
    [Symbol.asyncDispose]: async () => void s.destroy(),
  };
}

/** The update scenario, whatever applies the update (`apply(aBody, bBody, extra)`). */
async function scenario(port: () => number, apply: (a: string, b: string, extra?: Json) => Promise<void>): Promise<void> {
  await using onA = await keepAlive(port(), "127.0.0.1");
  await using onB = await keepAlive(port(), "127.0.0.2");
  assert.deepEqual(await onA.get(), { body: "a1", connection: undefined });
  assert.deepEqual(await onB.get(), { body: "b1", connection: undefined });

  // Only chain b changes.
  await apply("a1", "b2");
  // The connection on the unchanged chain keeps running as if nothing happened.
  assert.deepEqual(await onA.get(), { body: "a1", connection: undefined });
  assert.deepEqual(await onA.get(), { body: "a1", connection: undefined });
  assert.equal(onA.closed(), false);
  // The one on the changed chain finishes its request on the old chain and is told to go.
  assert.deepEqual(await onB.get(), { body: "b1", connection: "close" });
  await onB.waitClosed();
  // A new connection from b's source gets the new chain.
  await using onB2 = await keepAlive(port(), "127.0.0.2");
  assert.deepEqual(await onB2.get(), { body: "b2", connection: undefined });

  // A listener-level change (the buffer limit) drains every chain, the unchanged ones too.
  await apply("a1", "b2", { per_connection_buffer_limit_bytes: 65536 });
  assert.deepEqual(await onA.get(), { body: "a1", connection: "close" });
  assert.deepEqual(await onB2.get(), { body: "b2", connection: "close" });
  await using onA2 = await keepAlive(port(), "127.0.0.1");
  assert.deepEqual(await onA2.get(), { body: "a1", connection: undefined });
}

test("in-place filter-chain update, static reload: only connections on the changed chain drain", async () => {
  await using proxy = await startProxy(staticConfig(listener("a1", "b1")));
  await scenario(() => proxy.port(), async (a, b, extra) => {
    const cfg = staticConfig(listener(a, b, extra));
    await proxy.server.reload(loadBootstrap({ text: JSON.stringify(cfg), sourceName: "t" }), cfg);
  });
}, { timeoutMs: 20_000 });

test("in-place filter-chain update, static reload with 2 worker threads", async () => {
  await using proxy = await startProxy(staticConfig(listener("a1", "b1")), { concurrency: 2 });
  await scenario(() => proxy.port(), async (a, b, extra) => {
    const cfg = staticConfig(listener(a, b, extra));
    await proxy.server.reload(loadBootstrap({ text: JSON.stringify(cfg), sourceName: "t" }), cfg);
  });
}, { timeoutMs: 30_000 });

test("in-place filter-chain update, LDS from a file: only connections on the changed chain drain", async () => {
  const dir = mkdtempSync(join(tmpdir(), "legate-inplace-"));
  const lds = join(dir, "lds.json");
  let version = 0;
  const put = (l: Json) => {
    writeFileSync(lds + ".tmp", JSON.stringify({ version_info: String(++version), resources: [{ "@type": LISTENER, ...l }] }));
    renameSync(lds + ".tmp", lds);
  };
  try {
    put(listener("a1", "b1"));
    await using proxy = await startProxy({
      node: { id: "test-node", cluster: "test" },
      dynamic_resources: { lds_config: { path_config_source: { path: lds }, resource_api_version: "V3" } },
    });
    await scenario(() => proxy.port("l"), async (a, b, extra) => {
      const before = proxy.server.configVersion;
      put(listener(a, b, extra));
      await waitFor(() => proxy.server.configVersion > before, "the LDS update applied", 5000);
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}, { timeoutMs: 20_000 });
