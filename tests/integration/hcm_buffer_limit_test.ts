/**
 * Buffer limits in the HCM filter chain: a filter that holds the request makes the HCM buffer
 * the body up to the listener's per_connection_buffer_limit_bytes, then 413 (Envoy's
 * request_payload_too_large); a held response over the limit becomes a 500
 * (response_payload_too_large). Test-only filters stand in for buffering filters.
 */
import assert from "node:assert/strict";
import { test } from "../harness.ts";
import { HCM_TYPE, ROUTER_TYPE, simpleConfig, startProxy } from "../helpers/proxy.ts";
import { parseResponses, rawConnect } from "../helpers/raw_client.ts";
import { startUpstream } from "../helpers/upstream.ts";
import { registerConfigExtension } from "../../src/registry/registry.ts";
import { registerHttpFilterRuntime, type StreamCallbacks, type StreamFilter } from "../../src/http/filter.ts";

const HOLD_TYPE = "type.googleapis.com/legate.test.HoldRequest";
const HOLD_RESPONSE_TYPE = "type.googleapis.com/legate.test.HoldResponse";

/** Holds the request head for 50 ms (the HCM buffers the body meanwhile), then continues. */
class HoldRequest implements StreamFilter {
  #timer: ReturnType<typeof setTimeout> | undefined;
  constructor(readonly cb: StreamCallbacks) {}
  decodeHeaders(): "stop" {
    this.#timer = setTimeout(() => this.cb.continueDecoding(), 50);
    return "stop";
  }
  onDestroy(): void {
    clearTimeout(this.#timer);
  }
}

/** Holds the response head once (the HCM buffers the response body meanwhile). */
class HoldResponse implements StreamFilter {
  #held = false;
  constructor(readonly cb: StreamCallbacks) {}
  encodeHeaders(): "stop" | "continue" {
    if (this.#held) return "continue";
    this.#held = true;
    return "stop";
  }
  onDestroy(): void {}
}

registerConfigExtension({ name: "legate.test.hold_request", typeUrls: [HOLD_TYPE], category: "http_filter", parseConfig: () => ({}) });
registerHttpFilterRuntime({ name: "legate.test.hold_request", typeUrls: [HOLD_TYPE], createFilterFactory: () => (cb) => new HoldRequest(cb) });
registerConfigExtension({ name: "legate.test.hold_response", typeUrls: [HOLD_RESPONSE_TYPE], category: "http_filter", parseConfig: () => ({}) });
registerHttpFilterRuntime({ name: "legate.test.hold_response", typeUrls: [HOLD_RESPONSE_TYPE], createFilterFactory: () => (cb) => new HoldResponse(cb) });

function config(upstreamPort: number, filterType: string): Record<string, unknown> {
  const cfg = simpleConfig({
    upstreamPorts: [upstreamPort],
    hcm: { http_filters: [{ name: "hold", typed_config: { "@type": filterType } }, { name: "envoy.filters.http.router", typed_config: { "@type": ROUTER_TYPE } }] },
  }) as { static_resources: { listeners: Record<string, unknown>[] } };
  cfg.static_resources.listeners[0]!.per_connection_buffer_limit_bytes = 1024;
  assert.equal((cfg.static_resources.listeners[0] as { filter_chains: { filters: { typed_config: { "@type": string } }[] }[] }).filter_chains[0]!.filters[0]!.typed_config["@type"], HCM_TYPE);
  return cfg;
}

test("a held request body within the buffer limit is delivered whole after the filter continues", async () => {
  await using up = await startUpstream((req) => ({ body: `got ${req.body.length}` }));
  await using proxy = await startProxy(config(up.port, HOLD_TYPE));
  const r = await fetch(proxy.url("/small"), { method: "POST", body: "y".repeat(900) });
  assert.equal(r.status, 200);
  assert.equal(await r.text(), "got 900");
});

test("a held request body over per_connection_buffer_limit_bytes gets 413 and never reaches the upstream", async () => {
  await using up = await startUpstream();
  await using proxy = await startProxy(config(up.port, HOLD_TYPE));
  await using c = await rawConnect(proxy.port());
  c.write(`POST /big HTTP/1.1\r\nHost: x\r\nContent-Length: 4000\r\n\r\n${"z".repeat(4000)}`);
  await c.waitClosed();
  const [res] = parseResponses(c.received());
  assert.equal(res?.status, 413);
  assert.equal(res?.body, "Payload Too Large");
  assert.equal(up.requests.length, 0);
  assert.equal(proxy.stat("http.ingress.downstream_rq_too_large"), 1);
});

test("a held response body over the buffer limit becomes a 500", async () => {
  await using up = await startUpstream(() => ({ headers: { "content-length": "5000" }, body: "r".repeat(5000) }));
  await using proxy = await startProxy(config(up.port, HOLD_RESPONSE_TYPE));
  const r = await fetch(proxy.url("/bigresp"));
  assert.equal(r.status, 500);
  assert.equal(await r.text(), "Internal Server Error");
  assert.equal(proxy.stat("http.ingress.rs_too_large"), 1);
});
