/**
 * The HCM side of upgrades (upgrade_configs): with a test-only terminal filter standing in for
 * the router, a WebSocket-style upgrade gets its 101 and then raw bytes both ways; upgrades not
 * configured are refused with 403. (Proxying the tunnel upstream is the router's part.)
 */
import assert from "node:assert/strict";
import { test } from "../harness.ts";
import { simpleConfig, startProxy } from "../helpers/proxy.ts";
import { rawConnect } from "../helpers/raw_client.ts";
import { registerConfigExtension } from "../../src/registry/registry.ts";
import { registerHttpFilterRuntime, type RequestHeaders, type StreamCallbacks, type StreamFilter } from "../../src/http/filter.ts";
import { HeaderMap } from "../../src/http/header_map.ts";

const ECHO_TYPE = "type.googleapis.com/legate.test.UpgradeEcho";

/** Answers an upgrade with 101 and echoes tunnel bytes upper-cased; ends when the client does. */
class UpgradeEcho implements StreamFilter {
  constructor(readonly cb: StreamCallbacks) {}
  decodeHeaders(req: RequestHeaders): "stop" {
    const h = new HeaderMap();
    if (req.headers.get("upgrade") === undefined) {
      h.set("content-length", "9");
      this.cb.encodeHeaders({ status: 200, headers: h }, false);
      this.cb.encodeData(new TextEncoder().encode("no-upgrade"), true);
      return "stop";
    }
    h.set("x-saw-connection", req.headers.get("connection") ?? "");
    // x-delay: answer later, as a router waiting for its upstream would.
    if (req.headers.has("x-delay")) setTimeout(() => this.cb.encodeHeaders({ status: 101, headers: h }, false), 50);
    else this.cb.encodeHeaders({ status: 101, headers: h }, false);
    return "stop";
  }
  decodeData(data: Uint8Array, endStream: boolean): "stop" {
    const text = new TextDecoder().decode(data).toUpperCase();
    if (text === "BYE") {
      this.cb.encodeData(new TextEncoder().encode("bye!"), true);
      return "stop";
    }
    this.cb.encodeData(new TextEncoder().encode(text), endStream);
    return "stop";
  }
  onDestroy(): void {}
}

registerConfigExtension({ name: "legate.test.upgrade_echo", typeUrls: [ECHO_TYPE], category: "http_filter", terminal: true, parseConfig: () => ({}) });
registerHttpFilterRuntime({ name: "legate.test.upgrade_echo", typeUrls: [ECHO_TYPE], createFilterFactory: () => (cb) => new UpgradeEcho(cb) });

const ECHO_FILTERS = [{ name: "echo", typed_config: { "@type": ECHO_TYPE } }];
const UPGRADE_REQ = "GET /ws HTTP/1.1\r\nHost: x\r\nConnection: keep-alive, Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";

test("upgrade_configs websocket: 101, then bytes tunnel both ways, early bytes included", async () => {
  await using proxy = await startProxy(simpleConfig({ upstreamPorts: [1], hcm: { http_filters: ECHO_FILTERS, upgrade_configs: [{ upgrade_type: "websocket" }] } }));
  await using c = await rawConnect(proxy.port());
  // The first tunnel bytes ride with the request head.
  c.write(UPGRADE_REQ + "early");
  await c.waitFor((t) => t.endsWith("EARLY"), "the 101 and the echoed early bytes");
  const head = c.received().slice(0, c.received().indexOf("\r\n\r\n"));
  assert.match(head, /^HTTP\/1\.1 101 Switching Protocols\r\n/);
  assert.match(head, /\r\nconnection: upgrade/i);
  assert.match(head, /\r\nupgrade: websocket/i);
  assert.match(head, /\r\nx-saw-connection: upgrade/i, "the filter saw connection: upgrade");
  assert.doesNotMatch(head, /content-length|transfer-encoding/i);
  c.write("GET / HTTP/1.1\r\n\r\n");
  await c.waitFor((t) => t.endsWith("GET / HTTP/1.1\r\n\r\n"), "HTTP-looking bytes tunnelled, not parsed");
  assert.equal(proxy.stat("http.ingress.downstream_cx_upgrades_total"), 1);
  assert.equal(proxy.stat("http.ingress.downstream_cx_upgrades_active"), 1);
  c.write("bye");
  await c.waitClosed();
  assert.ok(c.received().endsWith("bye!"));
  assert.equal(proxy.stat("http.ingress.downstream_cx_upgrades_active"), 0);
});

test("upgrade_configs: bytes sent before a late 101 are delivered after it, in order", async () => {
  await using proxy = await startProxy(simpleConfig({ upstreamPorts: [1], hcm: { http_filters: ECHO_FILTERS, upgrade_configs: [{ upgrade_type: "WebSocket" }] } }));
  await using c = await rawConnect(proxy.port());
  c.write(UPGRADE_REQ.replace("\r\n\r\n", "\r\nX-Delay: 1\r\n\r\n") + "one");
  await new Promise((r) => setTimeout(r, 10));
  c.write("two");
  await c.waitFor((t) => t.endsWith("ONETWO") || t.endsWith("TWO"), "the echoed bytes");
  const body = c.received().slice(c.received().indexOf("\r\n\r\n") + 4);
  assert.match(c.received(), /^HTTP\/1\.1 101 /);
  assert.equal(body, "ONETWO");
});

test("upgrade_configs: a type not listed (or disabled) is refused with 403", async () => {
  await using proxy = await startProxy(simpleConfig({
    upstreamPorts: [1],
    hcm: { http_filters: ECHO_FILTERS, upgrade_configs: [{ upgrade_type: "websocket", enabled: false }, { upgrade_type: "spdy/3" }] },
  }));
  await using c = await rawConnect(proxy.port());
  c.write(UPGRADE_REQ);
  await c.waitClosed();
  assert.match(c.received(), /^HTTP\/1\.1 403 Forbidden\r\n/);
  await using plain = await rawConnect(proxy.port());
  plain.write("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
  await plain.waitFor((t) => t.endsWith("no-upgrade"), "a plain request still works");
});

test("upgrade_configs: CONNECT is not supported yet (config error)", async () => {
  await assert.rejects(
    startProxy(simpleConfig({ upstreamPorts: [1], hcm: { upgrade_configs: [{ upgrade_type: "CONNECT" }] } })),
    /upgrade_configs\[0\]: upgrade_type CONNECT is not supported yet/,
  );
});
