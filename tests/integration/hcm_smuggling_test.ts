/**
 * Request smuggling corpus, end to end: raw bytes in through the proxy to a real upstream
 * (node:http, an independent HTTP/1.1 parser), exact status out, connection closed or not, and
 * proof that the upstream never saw the request hidden behind the ambiguous framing
 * (RFC 9112 §11.2, §6.3). A control case shows the same probe is seen when it is legitimate.
 */
import assert from "node:assert/strict";
import { test } from "../harness.ts";
import { simpleConfig, startProxy } from "../helpers/proxy.ts";
import { parseResponses, rawConnect } from "../helpers/raw_client.ts";
import { startUpstream } from "../helpers/upstream.ts";

const SMUGGLED = "GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n";

/** [name, bytes, expected status, connection closed] */
const CORPUS: [string, string, number, boolean][] = [
  ["CL.TE: Content-Length and Transfer-Encoding", `POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n${SMUGGLED}`, 400, true],
  ["TE.CL: Transfer-Encoding first", `POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n8\r\n${SMUGGLED}0\r\n\r\n`, 400, true],
  ["TE.TE: chunked twice", `POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n${SMUGGLED}`, 400, true],
  ["TE list: gzip, chunked", `POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n${SMUGGLED}`, 501, true],
  ["TE: xchunked", `POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: xchunked\r\nContent-Length: 4\r\n\r\n0\r\n\r\n${SMUGGLED}`, 400, true],
  ["TE with a space before the colon", `POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n${SMUGGLED}`, 400, true],
  ["TE by obs-fold", `POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n${SMUGGLED}`, 400, true],
  ["TE in HTTP/1.0", `POST / HTTP/1.0\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n${SMUGGLED}`, 400, true],
  ["differing duplicate Content-Length", `POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nContent-Length: 38\r\n\r\n${SMUGGLED}`, 400, true],
  ["Content-Length list with differing values", `POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0, 38\r\n\r\n${SMUGGLED}`, 400, true],
  ["signed Content-Length", `POST / HTTP/1.1\r\nHost: x\r\nContent-Length: +0\r\n\r\n${SMUGGLED}`, 400, true],
  ["Content-Length with a hex value", `POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0x0\r\n\r\n${SMUGGLED}`, 400, true],
  ["bare LF line ends", `POST / HTTP/1.1\nHost: x\nContent-Length: 0\n\n${SMUGGLED}`, 400, true],
  ["NUL in a header value", `GET / HTTP/1.1\r\nHost: x\r\nX-A: a\u0000b\r\n\r\n${SMUGGLED}`, 400, true],
  ["two Host headers", `GET / HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n${SMUGGLED}`, 400, true],
  ["double space in the request line", `GET  / HTTP/1.1\r\nHost: x\r\n\r\n${SMUGGLED}`, 400, true],
  ["HTTP/1.1 without Host", `GET / HTTP/1.1\r\n\r\n${SMUGGLED}`, 400, true],
  ["chunk size with a bare LF", `POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\nabc\r\n0\r\n\r\n${SMUGGLED}`, 400, true],
  ["chunk size overflow", `POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffffffff1\r\n${SMUGGLED}0\r\n\r\n`, 400, true],
  ["chunk extension with a bare LF", `POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3;x\nabc\r\n0\r\n\r\n${SMUGGLED}`, 400, true],
  ["chunk data longer than its size", `POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcdef\r\n0\r\n\r\n${SMUGGLED}`, 400, true],
  ["negative chunk size", `POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n-3\r\nabc\r\n0\r\n\r\n${SMUGGLED}`, 400, true],
  ["header too large", `GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${"a".repeat(70 * 1024)}\r\n\r\n${SMUGGLED}`, 431, true],
  ["CONNECT with a body", `CONNECT a.test:443 HTTP/1.1\r\nHost: a.test:443\r\nContent-Length: 38\r\n\r\n${SMUGGLED}`, 400, true],
  ["Upgrade then bytes", `GET / HTTP/1.1\r\nHost: x\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n${SMUGGLED}`, 403, true],
];

test("smuggling corpus: every ambiguous request is refused, closed, and the hidden request never reaches the upstream", async () => {
  await using up = await startUpstream();
  await using proxy = await startProxy(simpleConfig({ upstreamPorts: [up.port] }));
  const failures: string[] = [];
  for (const [name, bytes, status, closes] of CORPUS) {
    await using c = await rawConnect(proxy.port());
    c.write(bytes);
    try {
      if (closes) await c.waitClosed(3000);
      else await c.waitFor((t) => parseResponses(t).length >= 1, "a response", 3000);
    } catch {
      failures.push(`${name}: connection ${closes ? "not closed" : "no response"}; got ${JSON.stringify(c.received().slice(0, 80))}`);
      continue;
    }
    const rs = parseResponses(c.received());
    if (rs.length !== 1 || rs[0]!.status !== status) {
      failures.push(`${name}: want one ${status}, got ${JSON.stringify(rs.map((r) => r.status))} ${JSON.stringify(c.received().slice(0, 60))}`);
    }
  }
  const smuggled = up.requests.filter((r) => r.url === "/smuggled");
  if (smuggled.length) failures.push(`the upstream saw ${smuggled.length} smuggled request(s)`);
  assert.deepEqual(failures, []);
}, { timeoutMs: 30_000 });

test("smuggling control: the same probe pipelined legitimately does reach the upstream", async () => {
  await using up = await startUpstream();
  await using proxy = await startProxy(simpleConfig({ upstreamPorts: [up.port] }));
  await using c = await rawConnect(proxy.port());
  c.write(`POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n${SMUGGLED}`);
  await c.waitFor((t) => t.endsWith("upstream saw GET /smuggled"), "both responses");
  assert.deepEqual(parseResponses(c.received()).map((r) => r.status), [200, 200]);
  assert.deepEqual(up.requests.map((r) => r.url), ["/", "/smuggled"]);
  assert.equal(c.closed(), false);
});
