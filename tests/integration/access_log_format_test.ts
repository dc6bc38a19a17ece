/**
 * Access logs end to end: json_format lines, text_format_source with the newer operators,
 * access log filters, and unknown operators refused at config time with their path.
 * https://www.envoyproxy.io/docs/envoy/latest/configuration/observability/access_log/usage
 */
import assert from "node:assert/strict";
import { readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test, waitFor } from "../harness.ts";
import { simpleConfig, startProxy } from "../helpers/proxy.ts";
import { rawConnect } from "../helpers/raw_client.ts";
import { startUpstream } from "../helpers/upstream.ts";

const FILE = "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog";

function tmpLog(name: string): string {
  return join(tmpdir(), `legate-al-${name}-${Date.now()}-${Math.random().toString(36).slice(2)}.log`);
}

async function lines(path: string, n: number): Promise<string[]> {
  const text = await waitFor(() => {
    try {
      const t = readFileSync(path, "utf8");
      return t.split("\n").filter(Boolean).length >= n ? t : "";
    } catch {
      return "";
    }
  }, `${n} line(s) in ${path}`);
  return text.split("\n").filter(Boolean);
}

test("json_format: one JSON object per line, typed numbers, null for absent values, nested objects", async () => {
  const log = tmpLog("json");
  try {
    await using up = await startUpstream();
    await using proxy = await startProxy(simpleConfig({
      upstreamPorts: [up.port],
      hcm: {
        access_log: [{
          typed_config: {
            "@type": FILE,
            path: log,
            log_format: {
              json_format: {
                status: "%RESPONSE_CODE%",
                method: "%REQ(:METHOD)%",
                path: "%REQ_WITHOUT_QUERY(:PATH)%",
                ua: "%REQ(USER-AGENT)%",
                missing: "%REQ(X-NOT-THERE)%",
                peer_san: "%DOWNSTREAM_PEER_URI_SAN%",
                upstream: { host: "%UPSTREAM_HOST%", cluster: "%UPSTREAM_CLUSTER%" },
                text: "code=%RESPONSE_CODE% flags=%RESPONSE_FLAGS%",
                fixed: 7,
              },
            },
          },
        }],
      },
    }));
    const r = await fetch(proxy.url("/j/k?secret=1"), { headers: { "user-agent": "t/1" } });
    await r.text();
    const [line] = await lines(log, 1);
    const o = JSON.parse(line!);
    assert.deepEqual(o, {
      status: 200,
      method: "GET",
      path: "/j/k",
      ua: "t/1",
      missing: null,
      peer_san: null,
      upstream: { host: `127.0.0.1:${up.port}`, cluster: "backend" },
      text: "code=200 flags=-",
      fixed: 7,
    });
  } finally {
    rmSync(log, { force: true });
  }
});

test("text_format_source with START_TIME(fmt), CONNECTION_ID, DOWNSTREAM_*_PORT, REQ_WITHOUT_QUERY", async () => {
  const log = tmpLog("text");
  try {
    await using up = await startUpstream();
    await using proxy = await startProxy(simpleConfig({
      upstreamPorts: [up.port],
      hcm: {
        access_log: [{
          typed_config: {
            "@type": FILE,
            path: log,
            log_format: {
              text_format_source: {
                inline_string: "%START_TIME(%Y-%m-%dT%H:%M:%S)%|%START_TIME(%s.%3f)%|%CONNECTION_ID%|%DOWNSTREAM_LOCAL_PORT%|%REQ_WITHOUT_QUERY(:PATH):3%|%UPSTREAM_LOCAL_ADDRESS%|%UPSTREAM_TRANSPORT_FAILURE_REASON%\n",
              },
            },
          },
        }],
      },
    }));
    const before = Date.now();
    await using c = await rawConnect(proxy.port());
    c.write("GET /abcdef?x=1 HTTP/1.1\r\nHost: x\r\n\r\n");
    await c.waitFor((t) => t.endsWith("upstream saw GET /abcdef?x=1"), "response 1");
    c.write("GET /zz HTTP/1.1\r\nHost: x\r\n\r\n");
    await c.waitFor((t) => t.endsWith("upstream saw GET /zz"), "response 2");
    await using c2 = await rawConnect(proxy.port());
    c2.write("GET /q HTTP/1.1\r\nHost: x\r\n\r\n");
    await c2.waitFor((t) => t.endsWith("upstream saw GET /q"), "response 3");
    const ls = await lines(log, 3);
    const f = ls.map((l) => l.split("|"));
    assert.match(f[0]![0]!, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d$/);
    assert.equal(f[0]![0], new Date(Number(f[0]![1]) * 1000).toISOString().slice(0, 19));
    assert.match(f[0]![1]!, /^\d+\.\d{3}$/);
    assert.ok(Math.abs(Number(f[0]![1]) * 1000 - before) < 5000);
    assert.equal(f[0]![2], f[1]![2], "same connection, same id");
    assert.notEqual(f[0]![2], f[2]![2], "another connection, another id");
    assert.equal(f[0]![3], String(proxy.port()));
    assert.deepEqual(ls.map((l) => l.split("|")[4]), ["/ab", "/zz", "/q"]);
    assert.equal(f[0]![5], "-");
    assert.equal(f[0]![6], "-");
  } finally {
    rmSync(log, { force: true });
  }
});

test("access log filters: status_code_filter, response_flag_filter, or_filter, duration_filter", async () => {
  const errors = tmpLog("errors");
  const nr = tmpLog("nr");
  const slowOrServer = tmpLog("or");
  try {
    await using up = await startUpstream((req, res) => {
      const delay = req.url === "/slow" ? 150 : 0;
      setTimeout(() => res.end(req.url === "/boom" ? "" : "ok"), delay);
      if (req.url === "/boom") res.statusCode = 500;
    });
    const cmp = (op: string, v: number) => ({ comparison: { op, value: { default_value: v, runtime_key: "k" } } });
    const logTo = (path: string, filter: unknown) => ({
      filter,
      typed_config: { "@type": FILE, path, log_format: { text_format_source: { inline_string: "%REQ(:PATH)% %RESPONSE_CODE%\n" } } },
    });
    await using proxy = await startProxy(simpleConfig({
      upstreamPorts: [up.port],
      hcm: {
        route_config: {
          name: "r",
          virtual_hosts: [{ name: "all", domains: ["*"], routes: [{ match: { prefix: "/x" }, direct_response: { status: 200 } }, { match: { prefix: "/" }, route: { cluster: "backend" } }] }],
        },
        access_log: [
          logTo(errors, { status_code_filter: cmp("GE", 500) }),
          logTo(nr, { response_flag_filter: { flags: ["NR"] } }),
          logTo(slowOrServer, { or_filter: { filters: [{ duration_filter: cmp("GE", 100) }, { status_code_filter: cmp("EQ", 404) }] } }),
        ],
      },
    }));
    for (const p of ["/ok", "/boom", "/slow", "/x"]) await (await fetch(proxy.url(p))).text();
    // No route: every route above needs a path starting with "/"; "*" has none.
    await using c = await rawConnect(proxy.port());
    c.write("OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n");
    await c.waitFor((t) => / 404 /.test(t.split("\r\n")[0]!), "a 404 for *");
    assert.deepEqual(await lines(errors, 1), ["/boom 500"]);
    assert.deepEqual(await lines(nr, 1), ["* 404"]);
    assert.deepEqual(await lines(slowOrServer, 2), ["/slow 200", "* 404"]);
  } finally {
    for (const p of [errors, nr, slowOrServer]) rmSync(p, { force: true });
  }
});

test("an unknown access log operator refuses the config with the field path", async () => {
  const cfg = simpleConfig({
    upstreamPorts: [1],
    hcm: { access_log: [{ typed_config: { "@type": FILE, path: "/tmp/never", log_format: { text_format: "%RESPONSE_CODE% %NOT_AN_OPERATOR%\n" } } }] },
  });
  await assert.rejects(startProxy(cfg), (e: Error) => {
    assert.match(e.message, /static_resources\.listeners\[0\]\.filter_chains\[0\]\.filters\[0\]\.typed_config\.access_log\[0\]\.typed_config\.log_format: unsupported command operator %NOT_AN_OPERATOR%/);
    return true;
  });
});
