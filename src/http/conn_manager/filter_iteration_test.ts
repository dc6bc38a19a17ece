/**
 * HTTP filter iteration in the HCM (Envoy's FilterManager semantics), driven over real sockets
 * with a test-only "probe" filter whose statuses come from its config and which logs every
 * callback: a filter that stopped the headers still gets the body; the filters after it get
 * headers and body only when it continues; "stop" from decodeData takes the chunk;
 * "stopAndBuffer" buffers it (413 over the limit); "stopAndBuffer" from decodeHeaders
 * (stop-all) re-delivers the buffered body to the filter itself on continue; and the mirror
 * image on the encode path.
 */
import assert from "node:assert/strict";
import { test, waitFor } from "../../../tests/harness.ts";
import { ROUTER_TYPE, simpleConfig, startProxy } from "../../../tests/helpers/proxy.ts";
import { parseResponses, rawConnect } from "../../../tests/helpers/raw_client.ts";
import { startUpstream } from "../../../tests/helpers/upstream.ts";
import { registerConfigExtension } from "../../registry/registry.ts";
import { type FilterStatus, registerHttpFilterRuntime, type StreamCallbacks, type StreamFilter } from "../filter.ts";

const PROBE_TYPE = "type.googleapis.com/legate.test.IterationProbe";

/** How a probe answers each callback (default "continue"); `*_end` apply to end_stream frames.
 *  (snake_case: the config loader hands typed_config over with snake_case keys.) */
interface ProbeConfig {
  tag: string;
  headers?: FilterStatus;
  data?: FilterStatus;
  data_end?: FilterStatus;
  continue_after_ms?: number;
  enc_headers?: FilterStatus;
  enc_data?: FilterStatus;
  enc_data_end?: FilterStatus;
  enc_continue_after_ms?: number;
}

/** Every probe callback of the current test, in order ("a:dh:false", "a:dd:5:false", …). */
const log: string[] = [];

class Probe implements StreamFilter {
  #timers: ReturnType<typeof setTimeout>[] = [];
  constructor(readonly cb: StreamCallbacks, readonly c: ProbeConfig) {}
  decodeHeaders(_req: unknown, end: boolean): FilterStatus {
    log.push(`${this.c.tag}:dh:${end}`);
    if (this.c.continue_after_ms !== undefined) this.#timers.push(setTimeout(() => this.cb.continueDecoding(), this.c.continue_after_ms));
    return this.c.headers ?? "continue";
  }
  decodeData(data: Uint8Array, end: boolean): FilterStatus {
    log.push(`${this.c.tag}:dd:${data.length}:${end}`);
    return (end ? this.c.data_end : this.c.data) ?? "continue";
  }
  decodeTrailers(): FilterStatus {
    log.push(`${this.c.tag}:dt`);
    return "continue";
  }
  encodeHeaders(_resp: unknown, end: boolean): FilterStatus {
    log.push(`${this.c.tag}:eh:${end}`);
    if (this.c.enc_continue_after_ms !== undefined) this.#timers.push(setTimeout(() => this.cb.continueEncoding(), this.c.enc_continue_after_ms));
    return this.c.enc_headers ?? "continue";
  }
  encodeData(data: Uint8Array, end: boolean): FilterStatus {
    log.push(`${this.c.tag}:ed:${data.length}:${end}`);
    return (end ? this.c.enc_data_end : this.c.enc_data) ?? "continue";
  }
  onDestroy(): void {
    for (const t of this.#timers) clearTimeout(t);
  }
}

registerConfigExtension({ name: "legate.test.iteration_probe", typeUrls: [PROBE_TYPE], category: "http_filter", parseConfig: (j) => j });
registerHttpFilterRuntime({
  name: "legate.test.iteration_probe",
  typeUrls: [PROBE_TYPE],
  createFilterFactory: (config) => (cb) => new Probe(cb, config as ProbeConfig),
});

function config(upstreamPort: number, probes: ProbeConfig[], bufferLimit?: number): Record<string, unknown> {
  const filters = probes.map((p) => ({ name: `probe_${p.tag}`, typed_config: { "@type": PROBE_TYPE, ...p } }));
  const cfg = simpleConfig({
    upstreamPorts: [upstreamPort],
    hcm: { http_filters: [...filters, { name: "envoy.filters.http.router", typed_config: { "@type": ROUTER_TYPE } }] },
  }) as { static_resources: { listeners: Record<string, unknown>[] } };
  if (bufferLimit !== undefined) cfg.static_resources.listeners[0]!.per_connection_buffer_limit_bytes = bufferLimit;
  return cfg;
}

/** The log entries of one probe, decode ("d") or encode ("e") side. */
function of(tag: string, side: "d" | "e" = "d"): string[] {
  return log.filter((e) => e.startsWith(`${tag}:${side}`));
}

const CHUNKED_HEAD = "POST /t HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";

test("decode: a filter that stopped the headers gets the body; the next filter gets headers and the whole body once it continues from decodeData", async () => {
  log.length = 0;
  await using up = await startUpstream((req) => ({ body: `got ${Buffer.from(req.body).toString()}` }));
  await using proxy = await startProxy(config(up.port, [{ tag: "a", headers: "stop", data: "stopAndBuffer", data_end: "continue" }, { tag: "b" }]));
  await using c = await rawConnect(proxy.port());
  c.write(CHUNKED_HEAD + "5\r\nhello\r\n");
  await waitFor(() => log.includes("a:dd:5:false"), "the stopped filter to see the first chunk");
  assert.deepEqual(of("b"), [], "nothing passed the stopped filter yet");
  c.write("6\r\n world\r\n0\r\n\r\n");
  await c.waitFor((t) => t.includes("got hello world"), "the response");
  // b sees the headers only after a's last data callback, then the buffered body in one piece.
  const lastA = log.lastIndexOf(of("a").at(-1)!);
  assert.ok(log.indexOf("b:dh:false") > lastA, log.join(" "));
  assert.deepEqual(of("b"), ["b:dh:false", "b:dd:11:true"]);
  assert.equal(Buffer.from(up.requests[0]!.body).toString(), "hello world");
});

test("decode: \"stop\" from decodeData means the filter took the chunk; \"continue\" on the last one resumes the chain", async () => {
  log.length = 0;
  await using up = await startUpstream((req) => ({ body: `got ${req.body.length}` }));
  await using proxy = await startProxy(config(up.port, [{ tag: "a", headers: "stop", data: "stop", data_end: "continue" }, { tag: "b" }]));
  await using c = await rawConnect(proxy.port());
  c.write(CHUNKED_HEAD + "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n");
  await c.waitFor((t) => t.includes("got 0"), "the response");
  assert.ok(of("a").some((e) => e.startsWith("a:dd:") && !e.endsWith(":0:true")), "a saw the body chunks");
  assert.deepEqual(of("b"), ["b:dh:false", "b:dd:0:true"]);
  assert.equal(up.requests[0]!.body.length, 0);
});

test("decode: continueDecoding() after a header stop sends headers, then the body the filter buffered meanwhile", async () => {
  log.length = 0;
  await using up = await startUpstream((req) => ({ body: `got ${req.body.length}` }));
  await using proxy = await startProxy(config(up.port, [{ tag: "a", headers: "stop", data: "stopAndBuffer", data_end: "stopAndBuffer", continue_after_ms: 100 }, { tag: "b" }]));
  const r = await fetch(proxy.url("/t"), { method: "POST", body: "x".repeat(300) });
  assert.equal(await r.text(), "got 300");
  assert.ok(of("a").some((e) => e.startsWith("a:dd:")), `a saw the body before continuing: ${log.join(" ")}`);
  assert.deepEqual(of("b"), ["b:dh:false", "b:dd:300:true"]);
});

test("decode: \"stopAndBuffer\" from decodeHeaders (stop-all) buffers the body past the filter and hands it to the filter itself on continue", async () => {
  log.length = 0;
  await using up = await startUpstream((req) => ({ body: `got ${req.body.length}` }));
  await using proxy = await startProxy(config(up.port, [{ tag: "a", headers: "stopAndBuffer", continue_after_ms: 100 }, { tag: "b" }]));
  const r = await fetch(proxy.url("/t"), { method: "POST", body: "y".repeat(11), headers: { "content-length": "11" } });
  assert.equal(await r.text(), "got 11");
  assert.deepEqual(log.filter((e) => e.includes(":d")), ["a:dh:false", "b:dh:false", "a:dd:11:true", "b:dd:11:true"]);
});

test("decode: a filter's \"stopAndBuffer\" from decodeData is bounded by the buffer limit (413), and the filter saw the body", async () => {
  log.length = 0;
  await using up = await startUpstream();
  await using proxy = await startProxy(config(up.port, [{ tag: "a", headers: "stop", data: "stopAndBuffer", data_end: "continue" }], 1024));
  await using c = await rawConnect(proxy.port());
  c.write(`POST /big HTTP/1.1\r\nHost: x\r\nContent-Length: 4000\r\n\r\n${"z".repeat(4000)}`);
  await c.waitClosed();
  assert.equal(parseResponses(c.received())[0]?.status, 413);
  assert.ok(of("a").some((e) => e.startsWith("a:dd:")));
  assert.equal(up.requests.length, 0);
  assert.equal(proxy.stat("http.ingress.downstream_rq_too_large"), 1);
});

test("encode: a filter that stopped the response headers gets the body; the filters nearer the client get headers and body once it continues", async () => {
  log.length = 0;
  await using up = await startUpstream((_req, res) => {
    res.writeHead(200, { "content-type": "text/plain" });
    res.write("hello");
    setTimeout(() => res.end(" world"), 30);
  });
  // Encoding runs from the router towards filter 0: e (index 1) comes before r (index 0).
  await using proxy = await startProxy(config(up.port, [{ tag: "r" }, { tag: "e", enc_headers: "stop", enc_data: "stopAndBuffer", enc_data_end: "continue" }]));
  const res = await fetch(proxy.url("/t"));
  assert.equal(await res.text(), "hello world");
  assert.ok(of("e", "e").some((e) => e.startsWith("e:ed:") && e.endsWith(":false")), `e saw the body: ${log.join(" ")}`);
  const lastE = log.lastIndexOf(of("e", "e").at(-1)!);
  assert.ok(log.indexOf("r:eh:false") > lastE, log.join(" "));
  assert.deepEqual(of("r", "e"), ["r:eh:false", "r:ed:11:true"]);
});

test("encode: continueEncoding() after a header stop releases headers and the body buffered meanwhile", async () => {
  log.length = 0;
  await using up = await startUpstream(() => ({ headers: { "content-length": "7" }, body: "encoded" }));
  await using proxy = await startProxy(config(up.port, [{ tag: "r" }, { tag: "e", enc_headers: "stop", enc_data: "stopAndBuffer", enc_data_end: "stopAndBuffer", enc_continue_after_ms: 80 }]));
  const res = await fetch(proxy.url("/t"));
  assert.equal(await res.text(), "encoded");
  assert.ok(of("e", "e").some((e) => e.startsWith("e:ed:")), `e saw the body while holding the headers: ${log.join(" ")}`);
  assert.deepEqual(of("r", "e"), ["r:eh:false", "r:ed:7:true"]);
});

test("decode: trailers reach the stopped filter; its \"continue\" sends headers, buffered body and trailers on", async () => {
  log.length = 0;
  await using up = await startUpstream((req) => ({ body: `got ${req.body.length}` }));
  const cfg = config(up.port, [{ tag: "a", headers: "stop", data: "stopAndBuffer" }, { tag: "b" }]) as {
    static_resources: { listeners: { filter_chains: { filters: { typed_config: Record<string, unknown> }[] }[] }[] };
  };
  cfg.static_resources.listeners[0]!.filter_chains[0]!.filters[0]!.typed_config.http_protocol_options = { enable_trailers: true };
  await using proxy = await startProxy(cfg);
  await using c = await rawConnect(proxy.port());
  c.write(CHUNKED_HEAD + "5\r\nhello\r\n0\r\nx-t: 1\r\n\r\n");
  await c.waitFor((t) => t.includes("got 5"), "the response");
  assert.deepEqual(of("a"), ["a:dh:false", "a:dd:5:false", "a:dt"]);
  assert.deepEqual(of("b"), ["b:dh:false", "b:dd:5:false", "b:dt"]);
});
