import assert from "node:assert/strict";
import { test } from "../../../tests/harness.ts";
import type { HeaderMap } from "../header_map.ts";
import {
  CodecError,
  Http1Details as D,
  Http1Parser,
  type Http1ParserHandler,
  type MessageKind,
  type RequestHead,
  type ResponseHead,
  SMALL_BODY,
} from "./parser.ts";

// ---------------------------------------------------------------------------------------------
// A recording handler and a driver that feeds pieces the way the HCM / upstream pool do: pause
// in onMessageComplete, resume and re-feed the unconsumed rest.

/** One byte per char, so tests can write obs-text bytes as "\xe9". */
function bytes(s: string): Uint8Array {
  const b = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) b[i] = s.charCodeAt(i);
  return b;
}
function str(b: Uint8Array): string {
  let s = "";
  for (let i = 0; i < b.length; i++) s += String.fromCharCode(b[i]);
  return s;
}
function fmtHeaders(h: HeaderMap): string {
  const parts: string[] = [];
  for (let i = 0; i < h.size; i++) parts.push(`${h.nameAt(i)}: ${h.valueAt(i)}`);
  return parts.length ? " " + parts.join(", ") : "";
}
function fmtFraming(framing: string, cl: number): string {
  return cl >= 0 ? `${framing}:${cl}` : framing;
}

interface Entry {
  name: string;
  kind: MessageKind;
  input: string;
  /** Exact event list when the input is fed whole. */
  events?: string[];
  /** Or just the final event: the expected error. */
  error?: [number, string];
  /** Response parsers: the request method of each response, in order (default GET). */
  methods?: string[];
  /** Call finish() after the last byte (EOF). */
  finish?: boolean;
  maxHeaderBytes?: number;
  maxHeadersCount?: number;
}

class Recorder implements Http1ParserHandler {
  events: string[] = [];
  body: number[] = [];
  tunnelBytes: number[] = [];
  parser!: Http1Parser;
  current: Uint8Array | null = null;
  dead = false;
  tunnelNext = false; // the head just delivered turns the connection into a tunnel
  tunnel = false;
  responses = 0;

  constructor(readonly entry: Entry) {}

  flush(): void {
    if (this.body.length) this.events.push(`body ${String.fromCharCode(...this.body)}`);
    this.body = [];
  }
  push(e: string): void {
    this.flush();
    this.events.push(e);
  }
  onRequestHead(h: RequestHead): void {
    assert.equal(this.parser.inMessage, true);
    this.tunnelNext = h.upgrade || h.method === "CONNECT";
    let flags = "";
    if (h.keepAlive) flags += " ka";
    if (h.expectContinue) flags += " expect";
    if (h.upgrade) flags += " upgrade";
    this.push(`req ${h.method} ${h.target} v${h.versionMinor} ${fmtFraming(h.framing, h.contentLength)}${flags} |${fmtHeaders(h.headers)}`);
  }
  onResponseHead(h: ResponseHead): void {
    assert.equal(this.parser.inMessage, true);
    const method = this.entry.methods?.[this.responses] ?? "GET";
    this.tunnelNext = h.status === 101 || (method === "CONNECT" && h.status >= 200 && h.status < 300);
    this.push(`res ${h.status} ${h.reason} v${h.versionMinor} ${fmtFraming(h.framing, h.contentLength)}${h.keepAlive ? " ka" : ""} |${fmtHeaders(h.headers)}`);
  }
  onBody(chunk: Uint8Array): void {
    assert.equal(this.parser.inMessage, true);
    assert.ok(chunk.length > 0, "empty body chunk");
    // No copies beyond small pieces: the chunk must be a view into the piece given to
    // execute(), or a copy of at most SMALL_BODY bytes of it.
    const cur = this.current!;
    if (chunk.buffer === cur.buffer) {
      assert.ok(chunk.byteOffset >= cur.byteOffset && chunk.byteOffset + chunk.length <= cur.byteOffset + cur.length);
    } else {
      assert.ok(chunk.length <= SMALL_BODY, "body chunk is neither a view of the input nor a small copy");
    }
    for (let i = 0; i < chunk.length; i++) this.body.push(chunk[i]);
  }
  onTrailers(t: HeaderMap): void {
    this.push(`trailers |${fmtHeaders(t)}`);
  }
  onMessageComplete(): void {
    assert.equal(this.parser.inMessage, false);
    this.push("done");
    this.responses++;
    if (this.entry.kind === "response") this.parser.expectResponseTo(this.entry.methods?.[this.responses] ?? "GET");
    this.tunnel = this.tunnelNext;
    // Like the HCM: hold the next pipelined message until this one's response went out.
    this.parser.pause();
  }
  onError(err: CodecError): void {
    assert.ok(err instanceof CodecError);
    assert.ok(!this.dead, "onError called twice");
    this.dead = true;
    this.push(`error ${err.status} ${err.detail}`);
  }
}

function run(entry: Entry, pieces: Uint8Array[]): string[] {
  const rec = new Recorder(entry);
  const p = new Http1Parser(
    { kind: entry.kind, maxHeaderBytes: entry.maxHeaderBytes ?? 60 * 1024, maxHeadersCount: entry.maxHeadersCount ?? 100 },
    rec,
  );
  rec.parser = p;
  if (entry.kind === "response") p.expectResponseTo(entry.methods?.[0] ?? "GET");
  outer: for (const piece of pieces) {
    let off = 0;
    while (off < piece.length) {
      if (p.paused) {
        if (rec.tunnel) {
          // The parser stopped after an upgrade / CONNECT: the rest is raw tunnel data.
          for (let i = off; i < piece.length; i++) rec.tunnelBytes.push(piece[i]);
          break;
        }
        p.resume();
      }
      const chunk = off === 0 ? piece : piece.subarray(off);
      rec.current = chunk;
      const n = p.execute(chunk);
      off += n;
      if (rec.dead) {
        assert.equal(p.execute(chunk), 0, "a dead parser consumes nothing");
        break outer;
      }
      if (off < piece.length) assert.ok(p.paused, "execute stopped early without pause or error");
    }
  }
  if (rec.tunnelBytes.length) rec.push(`tunnel ${String.fromCharCode(...rec.tunnelBytes)}`);
  if (entry.finish && !rec.dead && !rec.tunnel) {
    // A truncated message reports its error through onError; only a clean EOF is logged here.
    if (p.finish()) rec.push("finish true");
    else assert.ok(rec.dead, "finish() returned false without an error");
  }
  rec.flush();
  return rec.events;
}

/** Pieces that are copies (own buffers), so "body chunks are views of the input" is really checked. */
function split(input: Uint8Array, cuts: number[]): Uint8Array[] {
  const out: Uint8Array[] = [];
  let prev = 0;
  for (const c of [...cuts, input.length]) {
    out.push(input.slice(prev, c));
    prev = c;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Corpus.

const H = "Host: a\r\n";

const requests: Entry[] = [
  {
    name: "simple GET",
    kind: "request",
    input: "GET /index.html?q=1 HTTP/1.1\r\nHost: example.com\r\nUser-Agent: curl/8.5.0\r\nAccept: */*\r\n\r\n",
    events: ["req GET /index.html?q=1 v1 none ka | host: example.com, user-agent: curl/8.5.0, accept: */*", "done"],
  },
  {
    name: "POST with Content-Length",
    kind: "request",
    input: "POST /submit HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\nContent-Type: text/plain\r\n\r\nhello world",
    events: ["req POST /submit v1 length:11 ka | host: a, content-length: 11, content-type: text/plain", "body hello world", "done"],
  },
  {
    name: "chunked with extensions and trailers",
    kind: "request",
    input:
      "POST /up HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n" +
      '5;foo=bar\r\nhello\r\n6 ; name="q v";x\r\n world\r\n0\r\nX-Checksum: abc\r\nX-Other:  1 \r\n\r\n',
    events: [
      "req POST /up v1 chunked ka | host: a, transfer-encoding: chunked",
      "body hello world",
      "trailers | x-checksum: abc, x-other: 1",
      "done",
    ],
  },
  {
    name: "chunked, upper-case hex, leading zeros, CRLFs inside data, no trailers",
    kind: "request",
    input: "PUT /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n\r\n00A\r\n0123\r\n\r\n78\r\n4\r\n\r\n\r\n\r\n000\r\n\r\n",
    events: ["req PUT /x v1 chunked ka | host: a, transfer-encoding: Chunked", "body 0123\r\n\r\n78\r\n\r\n", "done"],
  },
  {
    name: "HTTP/1.0 without keep-alive (no Host needed)",
    kind: "request",
    input: "GET / HTTP/1.0\r\n\r\n",
    events: ["req GET / v0 none |", "done"],
  },
  {
    name: "HTTP/1.0 with keep-alive",
    kind: "request",
    input: "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\nContent-Length: 2\r\n\r\nok",
    events: ["req GET / v0 length:2 ka | connection: Keep-Alive, content-length: 2", "body ok", "done"],
  },
  {
    name: "HTTP/1.1 with Connection: close among other tokens",
    kind: "request",
    input: "GET / HTTP/1.1\r\nHost: a\r\nConnection: x-foo , CLOSE\r\n\r\n",
    events: ["req GET / v1 none | host: a, connection: x-foo , CLOSE", "done"],
  },
  {
    name: "pipelined requests",
    kind: "request",
    input: `GET /a HTTP/1.1\r\n${H}\r\nPOST /b HTTP/1.1\r\n${H}Content-Length: 3\r\n\r\nabcGET /c HTTP/1.1\r\n${H}\r\n`,
    events: [
      "req GET /a v1 none ka | host: a",
      "done",
      "req POST /b v1 length:3 ka | host: a, content-length: 3",
      "body abc",
      "done",
      "req GET /c v1 none ka | host: a",
      "done",
    ],
  },
  {
    name: "absolute-form target",
    kind: "request",
    input: "GET HTTP://example.com:8080/p?x=1 HTTP/1.1\r\nHost: example.com:8080\r\n\r\n",
    events: ["req GET HTTP://example.com:8080/p?x=1 v1 none ka | host: example.com:8080", "done"],
  },
  {
    name: "OPTIONS asterisk-form",
    kind: "request",
    input: `OPTIONS * HTTP/1.1\r\n${H}\r\n`,
    events: ["req OPTIONS * v1 none ka | host: a", "done"],
  },
  {
    name: "CONNECT authority-form, then tunnel bytes",
    kind: "request",
    input: "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n\x16\x03\x01GET / HTTP/1.1\r\n",
    events: ["req CONNECT example.com:443 v1 none ka | host: example.com:443", "done", "tunnel \x16\x03\x01GET / HTTP/1.1\r\n"],
  },
  {
    name: "CONNECT IPv6 literal with Content-Length: 0",
    kind: "request",
    input: "CONNECT [::1]:8443 HTTP/1.1\r\nHost: [::1]:8443\r\nContent-Length: 0\r\n\r\n",
    events: ["req CONNECT [::1]:8443 v1 none ka | host: [::1]:8443, content-length: 0", "done"],
  },
  {
    name: "Expect: 100-continue",
    kind: "request",
    input: `PUT /f HTTP/1.1\r\n${H}Content-Length: 2\r\nExpect: 100-Continue\r\n\r\nhi`,
    events: ["req PUT /f v1 length:2 ka expect | host: a, content-length: 2, expect: 100-Continue", "body hi", "done"],
  },
  {
    name: "Expect in HTTP/1.0 is ignored",
    kind: "request",
    input: "PUT /f HTTP/1.0\r\nContent-Length: 0\r\nExpect: 100-continue\r\n\r\n",
    events: ["req PUT /f v0 length:0 | content-length: 0, expect: 100-continue", "done"],
  },
  {
    name: "Upgrade: websocket, then tunnel bytes",
    kind: "request",
    input: `GET /ws HTTP/1.1\r\n${H}Connection: keep-alive, Upgrade\r\nUpgrade: websocket\r\n\r\n\x81\x85abcd`,
    events: ["req GET /ws v1 none ka upgrade | host: a, connection: keep-alive, Upgrade, upgrade: websocket", "done", "tunnel \x81\x85abcd"],
  },
  {
    name: "Upgrade without Connection: upgrade is not an upgrade",
    kind: "request",
    input: `GET /ws HTTP/1.1\r\n${H}Upgrade: websocket\r\n\r\nGET / HTTP/1.1\r\n${H}\r\n`,
    events: ["req GET /ws v1 none ka | host: a, upgrade: websocket", "done", "req GET / v1 none ka | host: a", "done"],
  },
  {
    name: "leading empty lines are skipped (RFC 9112 §2.2)",
    kind: "request",
    input: `\r\n\r\nGET / HTTP/1.1\r\n${H}\r\n\r\nGET /2 HTTP/1.1\r\n${H}\r\n`,
    events: ["req GET / v1 none ka | host: a", "done", "req GET /2 v1 none ka | host: a", "done"],
  },
  {
    name: "identical duplicate Content-Length lines are folded, a list normalised",
    kind: "request",
    input: `POST / HTTP/1.1\r\n${H}Content-Length: 3\r\nContent-Length: 3\r\n\r\nabcPOST / HTTP/1.1\r\n${H}Content-Length: 2 ,2\r\n\r\nxy`,
    events: [
      "req POST / v1 length:3 ka | host: a, content-length: 3",
      "body abc",
      "done",
      "req POST / v1 length:2 ka | host: a, content-length: 2",
      "body xy",
      "done",
    ],
  },
  {
    name: "values: OWS trimmed, empty, inner tab, obs-text, long ASCII and long latin1",
    kind: "request",
    input:
      `GET / HTTP/1.1\r\n${H}X-Empty:\r\nX-Blank: \t \r\nX-Tab:\ta\tb \r\nX-Latin: caf\xe9\r\n` +
      `X-Long: ${"abcdefghij".repeat(5)}\r\nX-Long-Latin: ${"\xff\x80".repeat(20)}\r\n\r\n`,
    events: [
      `req GET / v1 none ka | host: a, x-empty: , x-blank: , x-tab: a\tb, x-latin: caf\xe9, x-long: ${"abcdefghij".repeat(5)}, x-long-latin: ${"\xff\x80".repeat(20)}`,
      "done",
    ],
  },
  {
    name: "names are lower-cased (known, unknown, long)",
    kind: "request",
    input: `GET / HTTP/1.1\r\nHOST: a\r\nX-Custom-HEADER: v\r\nX-A-Very-Long-Header-Name-Indeed: w\r\nContent-TYPE: t\r\n\r\n`,
    events: ["req GET / v1 none ka | host: a, x-custom-header: v, x-a-very-long-header-name-indeed: w, content-type: t", "done"],
  },
  {
    name: "uncommon method and raw obs-text in the target",
    kind: "request",
    input: `PROPFIND /caf\xe9/%20 HTTP/1.1\r\n${H}\r\n`,
    events: ["req PROPFIND /caf\xe9/%20 v1 none ka | host: a", "done"],
  },
  {
    name: "empty Host is allowed",
    kind: "request",
    input: "GET / HTTP/1.1\r\nHost:\r\n\r\n",
    events: ["req GET / v1 none ka | host: ", "done"],
  },
  {
    name: "headers exactly at the limits",
    kind: "request",
    input: `GET / HTTP/1.1\r\n${H}A: 1\r\nB: 2\r\n\r\n`,
    maxHeaderBytes: 39,
    maxHeadersCount: 3,
    events: ["req GET / v1 none ka | host: a, a: 1, b: 2", "done"],
  },
  {
    name: "EOF between messages is clean",
    kind: "request",
    input: `GET / HTTP/1.1\r\n${H}\r\n`,
    finish: true,
    events: ["req GET / v1 none ka | host: a", "done", "finish true"],
  },
];

// Malformed and smuggling inputs: each must fail with exactly this status and detail.
const bad: [string, string, number, string, Partial<Entry>?][] = [
  ["CL and TE", `POST / HTTP/1.1\r\n${H}Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n`, 400, D.contentLengthAndChunked],
  ["TE and CL", `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n`, 400, D.contentLengthAndChunked],
  ["differing duplicate CL", `POST / HTTP/1.1\r\n${H}Content-Length: 5\r\nContent-Length: 6\r\n\r\n`, 400, D.duplicateContentLength],
  ["differing CL list", `POST / HTTP/1.1\r\n${H}Content-Length: 5, 6\r\n\r\n`, 400, D.duplicateContentLength],
  ["CL not digits", `POST / HTTP/1.1\r\n${H}Content-Length: abc\r\n\r\n`, 400, D.invalidContentLength],
  ["CL empty", `POST / HTTP/1.1\r\n${H}Content-Length:\r\n\r\n`, 400, D.invalidContentLength],
  ["CL with sign", `POST / HTTP/1.1\r\n${H}Content-Length: +5\r\n\r\n`, 400, D.invalidContentLength],
  ["CL negative", `POST / HTTP/1.1\r\n${H}Content-Length: -1\r\n\r\n`, 400, D.invalidContentLength],
  ["CL hex", `POST / HTTP/1.1\r\n${H}Content-Length: 0x10\r\n\r\n`, 400, D.invalidContentLength],
  ["CL with inner space", `POST / HTTP/1.1\r\n${H}Content-Length: 1 2\r\n\r\n`, 400, D.invalidContentLength],
  ["CL empty list element", `POST / HTTP/1.1\r\n${H}Content-Length: 1,,1\r\n\r\n`, 400, D.invalidContentLength],
  ["CL 2^53 overflows", `POST / HTTP/1.1\r\n${H}Content-Length: 9007199254740992\r\n\r\n`, 400, D.invalidContentLength],
  ["CL huge", `POST / HTTP/1.1\r\n${H}Content-Length: 99999999999999999999999\r\n\r\n`, 400, D.invalidContentLength],
  ["TE gzip", `POST / HTTP/1.1\r\n${H}Transfer-Encoding: gzip\r\n\r\n`, 501, D.invalidTransferEncoding],
  ["TE gzip, chunked", `POST / HTTP/1.1\r\n${H}Transfer-Encoding: gzip, chunked\r\n\r\n`, 501, D.invalidTransferEncoding],
  ["TE chunked, gzip (chunked not final)", `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked, gzip\r\n\r\n`, 501, D.invalidTransferEncoding],
  ["TE identity", `POST / HTTP/1.1\r\n${H}Transfer-Encoding: identity\r\n\r\n`, 501, D.invalidTransferEncoding],
  ["TE xchunked", `POST / HTTP/1.1\r\n${H}Transfer-Encoding: xchunked\r\n\r\n`, 501, D.invalidTransferEncoding],
  ["TE chunked with parameter", `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked;q=1\r\n\r\n`, 501, D.invalidTransferEncoding],
  ["TE chunked twice in one line", `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked, chunked\r\n\r\n`, 400, D.invalidTransferEncoding],
  ["TE chunked twice in two lines", `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n`, 400, D.invalidTransferEncoding],
  ["TE empty", `POST / HTTP/1.1\r\n${H}Transfer-Encoding: \r\n\r\n`, 400, D.invalidTransferEncoding],
  ["TE in HTTP/1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400, D.invalidTransferEncoding],
  ["obs-fold", `GET / HTTP/1.1\r\n${H}X-A: a\r\n b\r\n\r\n`, 400, D.codecError],
  ["obs-fold with tab", `GET / HTTP/1.1\r\n${H}X-A: a\r\n\tb\r\n\r\n`, 400, D.codecError],
  ["bare LF everywhere", "GET / HTTP/1.1\nHost: a\n\n", 400, D.codecError],
  ["bare LF after a field", `GET / HTTP/1.1\r\nHost: a\nX: b\r\n\r\n`, 400, D.codecError],
  ["bare LF as the empty line", `GET / HTTP/1.1\r\n${H}\n`, 400, D.codecError],
  ["CR not followed by LF ends head", `GET / HTTP/1.1\r\n${H}\rX\r\n\r\n`, 400, D.codecError],
  ["space before colon", `GET / HTTP/1.1\r\nHost : a\r\n\r\n`, 400, D.invalidCharacters],
  ["tab before colon", `GET / HTTP/1.1\r\n${H}Content-Length\t: 5\r\n\r\n`, 400, D.invalidCharacters],
  ["empty field name", `GET / HTTP/1.1\r\n${H}: a\r\n\r\n`, 400, D.invalidCharacters],
  ["invalid name char", `GET / HTTP/1.1\r\n${H}X@Y: a\r\n\r\n`, 400, D.invalidCharacters],
  ["non-ASCII name", `GET / HTTP/1.1\r\n${H}X\xe9: a\r\n\r\n`, 400, D.invalidCharacters],
  ["field line without colon", `GET / HTTP/1.1\r\n${H}NoColon\r\n\r\n`, 400, D.codecError],
  ["NUL in value", `GET / HTTP/1.1\r\n${H}X: a\x00b\r\n\r\n`, 400, D.invalidCharacters],
  ["CR in value", `GET / HTTP/1.1\r\n${H}X: a\rb\r\n\r\n`, 400, D.invalidCharacters],
  ["CTL in value", `GET / HTTP/1.1\r\n${H}X: a\x01b\r\n\r\n`, 400, D.invalidCharacters],
  ["DEL in value", `GET / HTTP/1.1\r\n${H}X: a\x7fb\r\n\r\n`, 400, D.invalidCharacters],
  ["invalid method char", `G(T / HTTP/1.1\r\n${H}\r\n`, 400, D.invalidMethod],
  ["leading space before method", ` GET / HTTP/1.1\r\n${H}\r\n`, 400, D.invalidMethod],
  ["non-ASCII method", `G\xc9T / HTTP/1.1\r\n${H}\r\n`, 400, D.invalidMethod],
  ["double space before target", `GET  / HTTP/1.1\r\n${H}\r\n`, 400, D.invalidUrl],
  ["relative target", `GET foo HTTP/1.1\r\n${H}\r\n`, 400, D.invalidUrl],
  ["asterisk with GET", `GET * HTTP/1.1\r\n${H}\r\n`, 400, D.invalidUrl],
  ["asterisk plus path with OPTIONS", `OPTIONS */x HTTP/1.1\r\n${H}\r\n`, 400, D.invalidUrl],
  ["authority-form with GET", `GET example.com:80 HTTP/1.1\r\n${H}\r\n`, 400, D.invalidUrl],
  ["origin-form with CONNECT", `CONNECT /x HTTP/1.1\r\n${H}\r\n`, 400, D.invalidUrl],
  ["CONNECT without port", `CONNECT example.com HTTP/1.1\r\n${H}\r\n`, 400, D.invalidUrl],
  ["CONNECT with userinfo", `CONNECT u@example.com:443 HTTP/1.1\r\n${H}\r\n`, 400, D.invalidUrl],
  ["unsupported scheme", `GET ftp://x/ HTTP/1.1\r\n${H}\r\n`, 400, D.invalidUrl],
  ["control char in target", `GET /a\x01b HTTP/1.1\r\n${H}\r\n`, 400, D.invalidUrl],
  ["DEL in target", `GET /a\x7fb HTTP/1.1\r\n${H}\r\n`, 400, D.invalidUrl],
  ["tab in target", `GET /a\tb HTTP/1.1\r\n${H}\r\n`, 400, D.invalidUrl],
  ["space in target", `GET /a b HTTP/1.1\r\n${H}\r\n`, 400, D.codecError],
  ["HTTP/0.9 request line", "GET /\r\n\r\n", 400, D.codecError],
  ["HTTP/2.0", `GET / HTTP/2.0\r\n${H}\r\n`, 505, D.unsupportedVersion],
  ["HTTP/1.2", `GET / HTTP/1.2\r\n${H}\r\n`, 505, D.unsupportedVersion],
  ["HTTP/0.9 version", `GET / HTTP/0.9\r\n${H}\r\n`, 505, D.unsupportedVersion],
  ["lower-case version", `GET / http/1.1\r\n${H}\r\n`, 400, D.codecError],
  ["garbage version", `GET / HTTX/1.1\r\n${H}\r\n`, 400, D.codecError],
  ["version with two digits", `GET / HTTP/1.10\r\n${H}\r\n`, 400, D.codecError],
  ["trailing space after version", `GET / HTTP/1.1 \r\n${H}\r\n`, 400, D.codecError],
  ["head too large", `GET / HTTP/1.1\r\n${H}X-Big: ${"a".repeat(200)}\r\n\r\n`, 431, D.headersTooLarge, { maxHeaderBytes: 128 }],
  ["head one byte over", `GET / HTTP/1.1\r\n${H}A: 1\r\nB: 2\r\n\r\n`, 431, D.headersTooLarge, { maxHeaderBytes: 38 }],
  ["unterminated line over the limit", `GET / HTTP/1.1\r\n${H}X: ${"a".repeat(300)}`, 431, D.headersTooLarge, { maxHeaderBytes: 128 }],
  ["request line over the limit", `GET /${"a".repeat(300)} HTTP/1.1\r\n${H}\r\n`, 431, D.headersTooLarge, { maxHeaderBytes: 128 }],
  ["too large beats a bad char on the same line", `GET / HTTP/1.1\r\n${H}X: \x01${"a".repeat(300)}\r\n\r\n`, 431, D.headersTooLarge, { maxHeaderBytes: 128 }],
  ["too large is judged at the line that crosses the limit", `GET / HTTP/1.1\r\n${H}X-Big: ${"a".repeat(200)}\r\nBad Line\r\n\r\n`, 431, D.headersTooLarge, { maxHeaderBytes: 128 }],
  ["complete lines over the limit, head not ended yet", `GET / HTTP/1.1\r\n${H}X-Big: ${"a".repeat(200)}\r\n`, 431, D.headersTooLarge, { maxHeaderBytes: 128 }],
  ["too many headers", `GET / HTTP/1.1\r\n${H}A: 1\r\nB: 2\r\nC: 3\r\n\r\n`, 431, D.tooManyHeaders, { maxHeadersCount: 3 }],
  ["missing Host", "GET / HTTP/1.1\r\nAccept: */*\r\n\r\n", 400, D.missingHost],
  ["duplicate Host", `GET / HTTP/1.1\r\n${H}Host: b\r\n\r\n`, 400, D.duplicateHost],
  ["Host with space", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400, D.invalidHost],
  ["Host with slash", "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", 400, D.invalidHost],
  ["Host with userinfo", "GET / HTTP/1.1\r\nHost: u@a\r\n\r\n", 400, D.invalidHost],
  ["chunk size not hex", `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\nzz\r\n`, 400, D.invalidChunk],
  ["chunk size missing", `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n\r\n`, 400, D.invalidChunk],
  ["chunk size missing before ext", `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n;a=b\r\n`, 400, D.invalidChunk],
  ["chunk size negative", `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n-5\r\n`, 400, D.invalidChunk],
  ["chunk size 0x prefix", `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n0x5\r\nhello\r\n0\r\n\r\n`, 400, D.invalidChunk],
  ["chunk size overflow", `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n${"f".repeat(17)}\r\n`, 400, D.invalidChunk],
  ["chunk size trailing space", `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n5 \r\nhello\r\n0\r\n\r\n`, 400, D.invalidChunk],
  ["chunk size bare LF", `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\n`, 400, D.invalidChunk],
  ["chunk ext bare LF", `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n5;a\nhello\r\n0\r\n\r\n`, 400, D.invalidChunk],
  ["chunk ext CTL", `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n5;a\x00\r\nhello\r\n0\r\n\r\n`, 400, D.invalidChunk],
  ["chunk line too long", `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n5;${"a".repeat(5000)}\r\n`, 400, D.invalidChunk],
  ["chunk data longer than size", `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n5\r\nhelloX\r\n0\r\n\r\n`, 400, D.invalidChunk],
  ["chunk data followed by X LF", `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n5\r\nhelloX\n0\r\n\r\n`, 400, D.invalidChunk],
  ["chunk data LF only", `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n5\r\nhello\n0\r\n\r\n`, 400, D.invalidChunk],
  ["chunk data CR then X", `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n5\r\nhello\rX`, 400, D.invalidChunk],
  ["trailer with space in name", `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n0\r\nBad Name: x\r\n\r\n`, 400, D.invalidCharacters],
  ["trailer obs-fold", `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n0\r\nA: x\r\n y\r\n\r\n`, 400, D.codecError],
  ["trailer bare LF", `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n0\r\nA: x\n\r\n`, 400, D.codecError],
  ["too many trailers", `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n0\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n`, 431, D.tooManyHeaders, { maxHeadersCount: 2 }],
  ["CONNECT with a body", "CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\nContent-Length: 5\r\n\r\nhello", 400, D.bodyDisallowed],
  ["CONNECT chunked", "CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\nTransfer-Encoding: chunked\r\n\r\n", 400, D.bodyDisallowed],
  ["CR then garbage before the request line", `\rGET / HTTP/1.1\r\n${H}\r\n`, 400, D.codecError],
  ["truncated head at EOF", "GET / HTTP/1.1\r\nHo", 400, D.prematureEof, { finish: true }],
  ["truncated body at EOF", `POST / HTTP/1.1\r\n${H}Content-Length: 10\r\n\r\nabc`, 400, D.prematureEof, { finish: true }],
  ["truncated chunked body at EOF", `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n5\r\nhel`, 400, D.prematureEof, { finish: true }],
  ["truncated trailers at EOF", `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n0\r\nA: 1\r\n`, 400, D.prematureEof, { finish: true }],
  ["second pipelined request is bad", `GET / HTTP/1.1\r\n${H}\r\nGET / HTTP/1.1\r\n${H}Content-Length: 1\r\nContent-Length: 2\r\n\r\n`, 400, D.duplicateContentLength],
];
for (const [name, input, status, detail, extra] of bad) {
  requests.push({ name, kind: "request", input, error: [status, detail], ...extra });
}

const responses: Entry[] = [
  {
    name: "response with Content-Length",
    kind: "response",
    input: "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nServer: x\r\n\r\nhello",
    events: ["res 200 OK v1 length:5 ka | content-length: 5, server: x", "body hello", "done"],
  },
  {
    name: "chunked response with trailers",
    kind: "response",
    input: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\ngrpc-status: 0\r\ngrpc-message: ok\r\n\r\n",
    events: ["res 200 OK v1 chunked ka | transfer-encoding: chunked", "body abc", "trailers | grpc-status: 0, grpc-message: ok", "done"],
  },
  {
    name: "close-delimited body finished by EOF",
    kind: "response",
    input: "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nsome body bytes\r\n\r\nHTTP/1.1 200 OK\r\n",
    finish: true,
    events: ["res 200 OK v1 close | content-type: text/plain", "body some body bytes\r\n\r\nHTTP/1.1 200 OK\r\n", "done", "finish true"],
  },
  {
    name: "204 and 304 have no body, whatever the headers say",
    kind: "response",
    input:
      "HTTP/1.1 204 No Content\r\n\r\nHTTP/1.1 304 Not Modified\r\nContent-Length: 100\r\n\r\n" +
      "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
    events: [
      "res 204 No Content v1 none ka |",
      "done",
      "res 304 Not Modified v1 none ka | content-length: 100",
      "done",
      "res 200 OK v1 length:0 ka | content-length: 0",
      "done",
    ],
  },
  {
    name: "response to HEAD has no body, the next one does",
    kind: "response",
    methods: ["HEAD", "GET"],
    input: "HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n\r\n",
    events: ["res 200 OK v1 none ka | content-length: 1234", "done", "res 200 OK v1 chunked ka | transfer-encoding: chunked", "body x", "done"],
  },
  {
    name: "100 Continue then 200",
    kind: "response",
    input: "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </s.css>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
    events: [
      "res 100 Continue v1 none ka |",
      "res 103 Early Hints v1 none ka | link: </s.css>",
      "res 200 OK v1 length:2 ka | content-length: 2",
      "body ok",
      "done",
    ],
  },
  {
    name: "101 Switching Protocols, then tunnel bytes",
    kind: "response",
    input: "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n\x81\x05hello",
    events: ["res 101 Switching Protocols v1 none ka | upgrade: websocket, connection: Upgrade", "done", "tunnel \x81\x05hello"],
  },
  {
    name: "2xx to CONNECT ignores framing headers, then tunnel bytes",
    kind: "response",
    methods: ["CONNECT"],
    input: "HTTP/1.1 200 Connection Established\r\nContent-Length: 10\r\n\r\nraw",
    events: ["res 200 Connection Established v1 none ka | content-length: 10", "done", "tunnel raw"],
  },
  {
    name: "non-2xx to CONNECT has a body",
    kind: "response",
    methods: ["CONNECT"],
    input: "HTTP/1.1 403 Forbidden\r\nContent-Length: 2\r\n\r\nno",
    events: ["res 403 Forbidden v1 length:2 ka | content-length: 2", "body no", "done"],
  },
  {
    name: "HTTP/1.0 responses: close by default, keep-alive on request",
    kind: "response",
    input: "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nhiHTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n",
    events: [
      "res 200 OK v0 length:2 | content-length: 2",
      "body hi",
      "done",
      "res 200 OK v0 length:0 ka | connection: keep-alive, content-length: 0",
      "done",
    ],
  },
  {
    name: "status line without reason, empty reason, Connection: close",
    kind: "response",
    input: "HTTP/1.1 200\r\nContent-Length: 0\r\n\r\nHTTP/1.1 404 \r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
    events: ["res 200  v1 length:0 ka | content-length: 0", "done", "res 404  v1 length:0 | connection: close, content-length: 0", "done"],
  },
  {
    name: "Host rules are request rules: repeated or odd Host in a response is just a field",
    kind: "response",
    input: "HTTP/1.1 200 OK\r\nHost: a b\r\nHost: c\r\nContent-Length: 0\r\n\r\n",
    events: ["res 200 OK v1 length:0 ka | host: a b, host: c, content-length: 0", "done"],
  },
  {
    name: "reason phrase with obs-text",
    kind: "response",
    input: "HTTP/1.1 200 Tr\xe8s bien\r\nContent-Length: 0\r\n\r\n",
    events: ["res 200 Tr\xe8s bien v1 length:0 ka | content-length: 0", "done"],
  },
];
const badResponses: [string, string, string, Partial<Entry>?][] = [
  ["truncated Content-Length body", "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", D.prematureEof, { finish: true }],
  ["truncated chunked body", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab", D.prematureEof, { finish: true }],
  ["EOF after 100 Continue", "HTTP/1.1 100 Continue\r\n\r\n", D.prematureEof, { finish: true }],
  ["truncated status line", "HTTP/1.1 20", D.prematureEof, { finish: true }],
  ["HTTP/2.0 status line", "HTTP/2.0 200 OK\r\n\r\n", D.unsupportedVersion],
  ["garbage status line", "HTTP/1.1 2x0 OK\r\n\r\n", D.codecError],
  ["status below 100", "HTTP/1.1 099 Nope\r\n\r\n", D.codecError],
  ["status with 4 digits", "HTTP/1.1 2000 OK\r\n\r\n", D.codecError],
  ["not HTTP at all", "SSH-2.0-OpenSSH_9.6\r\n", D.codecError],
  ["bare LF in response", "HTTP/1.1 200 OK\nContent-Length: 0\n\n", D.codecError],
  ["CL and TE in response", "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", D.contentLengthAndChunked],
  ["TE gzip in response", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", D.invalidTransferEncoding],
  ["TE in HTTP/1.0 response", "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", D.invalidTransferEncoding],
  ["differing CL in response", "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", D.duplicateContentLength],
  ["control char in reason", "HTTP/1.1 200 O\x01K\r\n\r\n", D.invalidCharacters],
  ["response headers too large", `HTTP/1.1 200 OK\r\nX: ${"a".repeat(200)}\r\n\r\n`, D.headersTooLarge, { maxHeaderBytes: 100 }],
];
for (const [name, input, detail, extra] of badResponses) {
  responses.push({ name, kind: "response", input, error: [502, detail], ...extra });
}

const corpus = [...requests, ...responses];

// ---------------------------------------------------------------------------------------------

for (const entry of corpus) {
  test(`corpus (${entry.kind}): ${entry.name}`, () => {
    const events = run(entry, [bytes(entry.input).slice()]);
    if (entry.events) assert.deepEqual(events, entry.events);
    if (entry.error) {
      const [status, detail] = entry.error;
      assert.equal(events.at(-1), `error ${status} ${detail}`, `events: ${JSON.stringify(events)}`);
      assert.ok(!events.includes("done") || entry.name.includes("pipelined"), "an invalid message must not complete");
    }
  });
}

/** mulberry32: a tiny seeded PRNG so the random splits are reproducible. */
function prng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = seed;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

test("property: every single split point gives the same events as one chunk", () => {
  for (const entry of corpus) {
    const input = bytes(entry.input);
    const whole = run(entry, [input.slice()]);
    for (let cut = 1; cut < input.length; cut++) {
      assert.deepEqual(run(entry, split(input, [cut])), whole, `${entry.name}: split at ${cut}`);
    }
  }
});

test("property: random multi-splits and byte-at-a-time give the same events (seeded)", () => {
  const rand = prng(0x1e6a7e);
  for (const entry of corpus) {
    const input = bytes(entry.input);
    const whole = run(entry, [input.slice()]);
    const oneByOne = Array.from({ length: input.length - 1 }, (_, i) => i + 1);
    assert.deepEqual(run(entry, split(input, oneByOne)), whole, `${entry.name}: byte at a time`);
    for (let iter = 0; iter < 25; iter++) {
      const k = 2 + Math.floor(rand() * 8);
      const cuts = new Set<number>();
      for (let j = 0; j < k; j++) cuts.add(1 + Math.floor(rand() * (input.length - 1)));
      const sorted = [...cuts].sort((a, b) => a - b);
      assert.deepEqual(run(entry, split(input, sorted)), whole, `${entry.name}: cuts ${sorted.join(",")}`);
    }
  }
});

// ---------------------------------------------------------------------------------------------
// Direct API behaviour.

/** A handler that records and can be told to pause in chosen callbacks. */
class Probe implements Http1ParserHandler {
  log: string[] = [];
  parser!: Http1Parser;
  pauseOnComplete = false;
  pauseOnBody = false;
  throwOnHead = false;
  onRequestHead(h: RequestHead): void {
    if (this.throwOnHead) throw new Error("boom");
    this.log.push(`head ${h.target}`);
  }
  onResponseHead(h: ResponseHead): void {
    this.log.push(`head ${h.status}`);
  }
  onBody(c: Uint8Array): void {
    this.log.push(`body ${str(c)}`);
    if (this.pauseOnBody) this.parser.pause();
  }
  onTrailers(): void {
    this.log.push("trailers");
  }
  onMessageComplete(): void {
    this.log.push("done");
    if (this.pauseOnComplete) this.parser.pause();
  }
  onError(e: CodecError): void {
    this.log.push(`error ${e.status}`);
  }
}
function probe(kind: MessageKind): Probe {
  const h = new Probe();
  h.parser = new Http1Parser({ kind }, h);
  return h;
}

test("pipelining as the HCM drives it: pause in onMessageComplete, re-feed the rest after resume", () => {
  const h = probe("request");
  h.pauseOnComplete = true;
  const p = h.parser;
  const r1 = `GET /1 HTTP/1.1\r\n${H}\r\n`;
  const r2 = `POST /2 HTTP/1.1\r\n${H}Content-Length: 3\r\n\r\nabc`;
  const r3 = `GET /3 HTTP/1.1\r\n${H}\r\n`;
  const all = bytes(r1 + r2 + r3);

  let used = p.execute(all);
  assert.equal(used, r1.length);
  assert.equal(p.paused, true);
  assert.equal(p.inMessage, false);
  assert.equal(p.execute(all.subarray(used)), 0, "paused parser consumes nothing");
  assert.deepEqual(h.log, ["head /1", "done"]);

  p.resume();
  let rest = all.subarray(used);
  used = p.execute(rest);
  assert.equal(used, r2.length);
  assert.deepEqual(h.log.slice(2), ["head /2", "body abc", "done"]);

  p.resume();
  rest = rest.subarray(used);
  assert.equal(p.execute(rest), r3.length);
  assert.deepEqual(h.log.slice(5), ["head /3", "done"]);
  p.resume();
  assert.equal(p.finish(), true);
});

test("pause inside onBody stops between chunks; the rest is re-fed", () => {
  const h = probe("request");
  h.pauseOnBody = true;
  const p = h.parser;
  const head = `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n`;
  const all = bytes(head + "3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n");
  const used = p.execute(all);
  assert.equal(used, head.length + "3\r\nabc".length);
  assert.equal(p.inMessage, true);
  p.resume();
  assert.equal(p.execute(all.subarray(used)), all.length - used - "\r\n0\r\n\r\n".length);
  p.resume();
  const used2 = all.length - "\r\n0\r\n\r\n".length;
  assert.equal(p.execute(all.subarray(used2)), "\r\n0\r\n\r\n".length);
  assert.deepEqual(h.log, ["head /", "body abc", "body de", "done"]);
});

test("a bodiless message completes right after its head even if the head callback paused", () => {
  const log: string[] = [];
  const p: Http1Parser = new Http1Parser({ kind: "request" }, {
    onRequestHead: () => {
      log.push("head");
      p.pause();
    },
    onBody: () => log.push("body"),
    onTrailers: () => log.push("trailers"),
    onMessageComplete: () => log.push("done"),
    onError: () => log.push("error"),
  });
  const input = bytes(`GET / HTTP/1.1\r\n${H}\r\nGET / HTTP/1.1\r\n`);
  assert.equal(p.execute(input), `GET / HTTP/1.1\r\n${H}\r\n`.length);
  assert.deepEqual(log, ["head", "done"]);
});

test("upgrade, CONNECT, 101 and CONNECT 2xx pause the parser by themselves: tunnel bytes are never parsed", () => {
  const rows: [MessageKind, string | undefined, string, string][] = [
    ["request", undefined, `GET /ws HTTP/1.1\r\n${H}Connection: upgrade\r\nUpgrade: websocket\r\n\r\n`, "\x81\x00GET / HTTP/1.1\r\n"],
    ["request", undefined, "CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n", "\x16\x03\x01\x00"],
    ["response", "GET", "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n", "\x81\x00"],
    ["response", "CONNECT", "HTTP/1.1 200 OK\r\n\r\n", "HTTP/1.1 200 OK\r\n\r\n"],
  ];
  for (const [kind, method, head, tunnel] of rows) {
    const h = probe(kind); // never pauses on its own
    if (method) h.parser.expectResponseTo(method);
    const input = bytes(head + tunnel);
    assert.equal(h.parser.execute(input), head.length, head);
    assert.equal(h.parser.paused, true, head);
    assert.equal(h.parser.inMessage, false, head);
    assert.equal(h.log.at(-1), "done", head);
    assert.equal(h.log.length, 2, head);
  }
  // A refused upgrade: the owner resumes and HTTP/1.1 continues on the same connection.
  const h = probe("request");
  const first = `GET /ws HTTP/1.1\r\n${H}Connection: upgrade\r\nUpgrade: h2c\r\n\r\n`;
  const input = bytes(first + `GET /next HTTP/1.1\r\n${H}\r\n`);
  assert.equal(h.parser.execute(input), first.length);
  h.parser.resume();
  assert.equal(h.parser.execute(input.subarray(first.length)), input.length - first.length);
  assert.deepEqual(h.log, ["head /ws", "done", "head /next", "done"]);
});

test("body chunks beyond SMALL_BODY are zero-copy views of the input; smaller ones are copies", () => {
  const views: Uint8Array[] = [];
  const p = new Http1Parser({ kind: "request" }, {
    onBody: (c) => views.push(c),
    onTrailers: () => {},
    onMessageComplete: () => {},
    onError: (e) => assert.fail(e.message),
  });
  const big = "b".repeat(SMALL_BODY + 1);
  const input = bytes(`POST / HTTP/1.1\r\n${H}Content-Length: ${big.length}\r\n\r\n${big}`);
  p.execute(input);
  assert.equal(views.length, 1);
  assert.equal(views[0].buffer, input.buffer);
  assert.equal(views[0].byteOffset, input.length - big.length);
  input[input.length - 1] = 0x21; // writing through the input shows through the view
  assert.equal(str(views[0]), big.slice(0, -1) + "!");

  const small = bytes(`POST / HTTP/1.1\r\n${H}Content-Length: 5\r\n\r\nhello`);
  p.execute(small);
  assert.equal(views.length, 2);
  assert.notEqual(views[1].buffer, small.buffer);
  small[small.length - 1] = 0x21; // a copy: the receiver owns it
  assert.equal(str(views[1]), "hello");
});

test("finish(): clean boundary, close-delimited completion, truncation", () => {
  const rows: [MessageKind, string, boolean, string[]][] = [
    ["request", "", true, []],
    ["request", `GET / HTTP/1.1\r\n${H}\r\n`, true, ["head /", "done"]],
    ["request", `GET / HTTP/1.1\r\n`, false, ["error 400"]],
    ["request", `\r`, false, ["error 400"]],
    ["response", "HTTP/1.1 200 OK\r\n\r\nabc", true, ["head 200", "body abc", "done"]],
    ["response", "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nabc", false, ["head 200", "body abc", "error 502"]],
  ];
  for (const [kind, input, clean, log] of rows) {
    const h = probe(kind);
    h.parser.execute(bytes(input));
    assert.equal(h.parser.finish(), clean, input);
    assert.deepEqual(h.log, log, input);
  }
});

test("expectResponseTo applies to one final response only (not to 1xx)", () => {
  const h = probe("response");
  const p = h.parser;
  p.expectResponseTo("HEAD");
  p.execute(bytes("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n"));
  assert.deepEqual(h.log, ["head 100", "head 200", "done"]);
  // Not re-armed: the next response is a GET-like one and has its body.
  p.execute(bytes("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc"));
  assert.deepEqual(h.log.slice(3), ["head 200", "body abc", "done"]);
});

test("inMessage spans interim heads; the parser is reusable after reset()", () => {
  const h = probe("response");
  const p = h.parser;
  assert.equal(p.inMessage, false);
  p.execute(bytes("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Len"));
  assert.equal(p.inMessage, true);
  p.reset();
  assert.equal(p.inMessage, false);
  p.execute(bytes("HTTP/1.1 204 No Content\r\n\r\n"));
  assert.deepEqual(h.log, ["head 100", "head 204", "done"]);
  assert.equal(p.finish(), true);
});

test("after an error the parser is dead: no more events, nothing consumed", () => {
  const h = probe("request");
  const p = h.parser;
  const bad = bytes(`GET / HTTP/1.1\r\nHost : a\r\n\r\n`);
  assert.ok(p.execute(bad) < bad.length);
  assert.equal(p.execute(bytes(`GET / HTTP/1.1\r\n${H}\r\n`)), 0);
  assert.equal(p.finish(), false);
  assert.deepEqual(h.log, ["error 400"]);
  p.reset();
  p.execute(bytes(`GET /ok HTTP/1.1\r\n${H}\r\n`));
  assert.deepEqual(h.log, ["error 400", "head /ok", "done"]);
});

test("a throwing handler propagates and leaves the parser dead", () => {
  const h = probe("request");
  h.throwOnHead = true;
  assert.throws(() => h.parser.execute(bytes(`GET / HTTP/1.1\r\n${H}\r\n`)), /boom/);
  assert.equal(h.parser.execute(bytes(`GET / HTTP/1.1\r\n${H}\r\n`)), 0);
});

test("interned names and methods: same strings; framing headers recognised case-insensitively", () => {
  const heads: RequestHead[] = [];
  const p = new Http1Parser({ kind: "request" }, {
    onRequestHead: (h) => heads.push(h),
    onBody: () => {},
    onTrailers: () => {},
    onMessageComplete: () => {},
    onError: (e) => assert.fail(e.message),
  });
  p.execute(bytes(`get / HTTP/1.1\r\nHOST: a\r\nCONTENT-LENGTH: 1\r\n\r\nxGET / HTTP/1.1\r\nhost: a\r\n\r\n`));
  assert.equal(heads.length, 2);
  assert.equal(heads[0].method, "get", "methods are case-sensitive");
  assert.equal(heads[0].framing, "length");
  assert.equal(heads[0].contentLength, 1);
  assert.equal(heads[1].method, "GET");
  assert.equal(heads[0].headers.nameAt(1), "content-length");
});

test("a very long header value spanning many chunks is reassembled", () => {
  const big = "v".repeat(20000) + "\xe9";
  const input = bytes(`GET / HTTP/1.1\r\n${H}X-Big: ${big}\r\n\r\n`);
  const heads: RequestHead[] = [];
  const p = new Http1Parser({ kind: "request" }, {
    onRequestHead: (h) => heads.push(h),
    onBody: () => {},
    onTrailers: () => {},
    onMessageComplete: () => {},
    onError: (e) => assert.fail(e.message),
  });
  for (let i = 0; i < input.length; i += 1000) p.execute(input.slice(i, i + 1000));
  assert.equal(heads.length, 1);
  assert.equal(heads[0].headers.get("x-big"), big);
});
