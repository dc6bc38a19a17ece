import assert from "node:assert/strict";
import { test } from "../../../../tests/harness.ts";
import { detectHttp } from "./filter.ts";

const enc = (s: string) => new Uint8Array([...s].map((c) => c.charCodeAt(0)));

test("http_inspector: HTTP/1.0, HTTP/1.1 and the h2c preface", () => {
  assert.equal(detectHttp(enc("GET / HTTP/1.1\r\nHost: x\r\n\r\n")), "http/1.1");
  assert.equal(detectHttp(enc("POST /a?b=c HTTP/1.0\r\n")), "http/1.0");
  assert.equal(detectHttp(enc("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0")), "h2c");
});

test("http_inspector: every prefix needs more; non-HTTP is none", () => {
  for (const s of ["GET /index.html HTTP/1.1\r\n", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"]) {
    for (let n = 1; n < s.length; n++) assert.equal(detectHttp(enc(s.slice(0, n))), "need_more", JSON.stringify(s.slice(0, n)));
  }
  for (const s of ["\x16\x03\x01\x00", "GET / HTTP/2.0\r\n", "GET  / HTTP/1.1\r\n", "GET / HTTP/1.1\n", "G(T / HTTP/1.1\r\n", "SSH-2.0-OpenSSH\r\n", "PRI * HTTP/2.0\r\n\r\nXX"]) {
    assert.equal(detectHttp(enc(s)), "none", JSON.stringify(s));
  }
  // A request line that never ends is given up on at the limit.
  assert.equal(detectHttp(enc("GET /" + "a".repeat(100)), 64), "none");
});
