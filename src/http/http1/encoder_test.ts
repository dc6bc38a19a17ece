import assert from "node:assert/strict";
import { test } from "../../../tests/harness.ts";
import { HeaderMap } from "../header_map.ts";
import {
  CRLF,
  encodeChunkHeader,
  encodeLatin1,
  encodeRequestHead,
  encodeResponseHead,
  encodeTrailers,
  LAST_CHUNK,
  reasonPhrase,
} from "./encoder.ts";
import { type CodecError, Http1Parser, type RequestHead, type ResponseHead } from "./parser.ts";

function str(b: Uint8Array): string {
  let s = "";
  for (let i = 0; i < b.length; i++) s += String.fromCharCode(b[i]);
  return s;
}
function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

const hm = (pairs: [string, string][]) => HeaderMap.fromPairs(pairs);

test("encoder: exact bytes", () => {
  const rows: [string, Uint8Array, string][] = [
    ["request head", encodeRequestHead("GET", "/a?b=1", hm([["host", "x"], ["accept", "*/*"]])), "GET /a?b=1 HTTP/1.1\r\nhost: x\r\naccept: */*\r\n\r\n"],
    ["request head, no headers", encodeRequestHead("OPTIONS", "*", new HeaderMap()), "OPTIONS * HTTP/1.1\r\n\r\n"],
    ["response head, default reason", encodeResponseHead(404, hm([["content-length", "0"]])), "HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n"],
    ["response head, HTTP/1.0", encodeResponseHead(200, new HeaderMap(), 0), "HTTP/1.0 200 OK\r\n\r\n"],
    ["response head, custom reason", encodeResponseHead(200, new HeaderMap(), 1, "Fine"), "HTTP/1.1 200 Fine\r\n\r\n"],
    ["response head, empty reason", encodeResponseHead(200, new HeaderMap(), 1, ""), "HTTP/1.1 200 \r\n\r\n"],
    ["response head, unknown status", encodeResponseHead(599, new HeaderMap()), "HTTP/1.1 599 Unknown\r\n\r\n"],
    ["chunk header 1", encodeChunkHeader(1), "1\r\n"],
    ["chunk header 255", encodeChunkHeader(255), "ff\r\n"],
    ["chunk header 65536", encodeChunkHeader(65536), "10000\r\n"],
    ["chunk header 2^53-1", encodeChunkHeader(Number.MAX_SAFE_INTEGER), "1fffffffffffff\r\n"],
    ["CRLF", CRLF, "\r\n"],
    ["last chunk", LAST_CHUNK, "0\r\n\r\n"],
    ["trailers", encodeTrailers(hm([["grpc-status", "0"], ["grpc-message", "ok"]])), "0\r\ngrpc-status: 0\r\ngrpc-message: ok\r\n\r\n"],
    ["empty trailers", encodeTrailers(new HeaderMap()), "0\r\n\r\n"],
    ["latin1 value", encodeLatin1("caf\xe9 \xff\x80"), "caf\xe9 \xff\x80"],
    ["char above 0xFF cannot become CR/LF", encodeLatin1("a\u010d\u010ab"), "a??b"],
  ];
  for (const [name, got, want] of rows) assert.equal(str(got), want, name);
});

test("encoder: reason phrases and chunk-size domain", () => {
  assert.equal(reasonPhrase(200), "OK");
  assert.equal(reasonPhrase(431), "Request Header Fields Too Large");
  assert.equal(reasonPhrase(299), "Unknown");
  for (const bad of [0, -1, 1.5, NaN, 2 ** 53]) assert.throws(() => encodeChunkHeader(bad), RangeError, String(bad));
});

test("encoder: results are fresh arrays (the scratch buffer is never handed out)", () => {
  const a = encodeRequestHead("GET", "/1", new HeaderMap());
  const b = encodeRequestHead("GET", "/2", new HeaderMap());
  assert.equal(str(a), "GET /1 HTTP/1.1\r\n\r\n");
  assert.equal(str(b), "GET /2 HTTP/1.1\r\n\r\n");
  assert.notEqual(a.buffer, b.buffer);
  assert.equal(a.byteLength, a.buffer.byteLength);
  // Larger than the initial scratch: grows and stays correct.
  const big = "x".repeat(10000);
  assert.equal(str(encodeRequestHead("GET", "/", hm([["x-big", big]]))), `GET / HTTP/1.1\r\nx-big: ${big}\r\n\r\n`);
});

interface Parsed {
  req?: RequestHead;
  res?: ResponseHead;
  body: string;
  trailers?: HeaderMap;
  done: number;
  error?: CodecError;
}
function parse(kind: "request" | "response", bytes: Uint8Array): Parsed {
  const out: Parsed = { body: "", done: 0 };
  const p = new Http1Parser({ kind }, {
    onRequestHead: (h) => void (out.req = h),
    onResponseHead: (h) => void (out.res = h),
    onBody: (c) => void (out.body += str(c)),
    onTrailers: (t) => void (out.trailers = t),
    onMessageComplete: () => void out.done++,
    onError: (e) => void (out.error = e),
  });
  assert.equal(p.execute(bytes), bytes.length);
  return out;
}
function pairs(h: HeaderMap): [string, string][] {
  const r: [string, string][] = [];
  h.forEach((n, v) => r.push([n, v]));
  return r;
}

// Every byte 0x80–0xFF in a value (obs-text, RFC 9110 §5.5) plus visible ASCII and inner tabs.
const allHigh = Array.from({ length: 128 }, (_, i) => String.fromCharCode(0x80 + i)).join("");
const values = ["plain", "with\ttab inside", "caf\xe9", allHigh, `${"a".repeat(40)}\xe9`, "", "\x80"];

test("round trip: encoded request head + chunked body + trailers parse back identically", () => {
  const headers = hm([["host", "example.com"], ["transfer-encoding", "chunked"]]);
  for (let i = 0; i < values.length; i++) headers.add(`x-v${i}`, values[i]);
  const trailers = hm([["x-sum", allHigh], ["x-n", "1"]]);
  const wire = concat([
    encodeRequestHead("POST", "/p?q=caf\xe9", headers),
    encodeChunkHeader(5), new TextEncoder().encode("hello"), CRLF,
    encodeChunkHeader(300), new Uint8Array(300).fill(0xe9), CRLF,
    encodeTrailers(trailers),
  ]);
  const got = parse("request", wire);
  assert.equal(got.error, undefined);
  assert.equal(got.req!.method, "POST");
  assert.equal(got.req!.target, "/p?q=caf\xe9");
  assert.equal(got.req!.framing, "chunked");
  assert.deepEqual(pairs(got.req!.headers), pairs(headers));
  assert.equal(got.body, "hello" + "\xe9".repeat(300));
  assert.deepEqual(pairs(got.trailers!), pairs(trailers));
  assert.equal(got.done, 1);
  // And re-encoding what was parsed reproduces the original bytes exactly.
  assert.equal(str(encodeRequestHead(got.req!.method, got.req!.target, got.req!.headers)), str(encodeRequestHead("POST", "/p?q=caf\xe9", headers)));
});

test("round trip: response heads for a table of statuses and versions", () => {
  const rows: [number, 0 | 1, string | undefined, string][] = [
    [200, 1, undefined, "OK"],
    [204, 1, undefined, "No Content"],
    [503, 0, undefined, "Service Unavailable"],
    [200, 1, "R\xe9ussi", "R\xe9ussi"],
    [299, 1, undefined, "Unknown"],
  ];
  for (const [status, minor, reason, wantReason] of rows) {
    const headers = hm([["content-length", "2"], ["x-latin", allHigh]]);
    const wire = concat([encodeResponseHead(status, headers, minor, reason), new TextEncoder().encode(status === 204 ? "" : "ok")]);
    const got = parse("response", wire);
    assert.equal(got.error, undefined, String(status));
    assert.equal(got.res!.status, status);
    assert.equal(got.res!.reason, wantReason);
    assert.equal(got.res!.versionMinor, minor);
    assert.deepEqual(pairs(got.res!.headers), pairs(headers));
    assert.equal(got.body, status === 204 ? "" : "ok");
    assert.equal(got.done, 1);
  }
});
