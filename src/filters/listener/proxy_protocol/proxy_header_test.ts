import assert from "node:assert/strict";
import { test } from "../../../../tests/harness.ts";
import { formatWords, readProxyHeader } from "./proxy_header.ts";

const enc = (s: string) => new Uint8Array([...s].map((c) => c.charCodeAt(0)));
const SIG = [0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a];

/** A v2 header: command (0 LOCAL, 1 PROXY), family/transport byte, address block and TLVs. */
export function v2(command: number, famProto: number, block: number[]): Uint8Array {
  return new Uint8Array([...SIG, 0x20 | command, famProto, block.length >> 8, block.length & 255, ...block]);
}

test("PROXY v1: TCP4, TCP6 and UNKNOWN headers", () => {
  const h = readProxyHeader(enc("PROXY TCP4 192.0.2.1 198.51.100.7 56324 443\r\nGET /"));
  assert.deepEqual(h, {
    kind: "header",
    version: 1,
    length: 45,
    source: { address: "192.0.2.1", port: 56324 },
    destination: { address: "198.51.100.7", port: 443 },
  });
  const h6 = readProxyHeader(enc("PROXY TCP6 2001:db8:0:0:0:0:0:1 ::1 1 65535\r\n"));
  assert.equal(h6.kind, "header");
  if (h6.kind === "header") {
    assert.deepEqual(h6.source, { address: "2001:db8::1", port: 1 });
    assert.deepEqual(h6.destination, { address: "::1", port: 65535 });
  }
  const u = readProxyHeader(enc("PROXY UNKNOWN ffff::1 ::1 1 2\r\nxyz"));
  assert.deepEqual(u, { kind: "header", version: 1, length: 31 });
});

test("PROXY v1: prefixes need more; no header is not_proxy", () => {
  const full = enc("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n");
  for (let n = 1; n < full.length; n++) assert.equal(readProxyHeader(full.subarray(0, n)).kind, "need_more", `${n}`);
  assert.equal(readProxyHeader(enc("GET / HTTP/1.1\r\n")).kind, "not_proxy");
  assert.equal(readProxyHeader(enc("PROXI")).kind, "not_proxy");
  assert.equal(readProxyHeader(new Uint8Array([0x16, 3, 1])).kind, "not_proxy");
});

test("PROXY v1: malformed headers are errors", () => {
  const bad = [
    "PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n",
    "PROXY TCP4 1.2.3.4 5.6.7.8 1 70000\r\n",
    "PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n",
    "PROXY TCP4 ::1 5.6.7.8 1 2\r\n",
    "PROXY TCP6 1.2.3.4 ::1 1 2\r\n",
    "PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n",
    "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n",
    "PROXY TCP4 1.2.3.4  5.6.7.8 1 2\r\n",
    "PROXY TCP4 1.2.3.4 5.6.7.8 -1 2\r\n",
    "PROXY " + "x".repeat(120),
  ];
  for (const s of bad) {
    const r = readProxyHeader(enc(s));
    assert.equal(r.kind, "error", JSON.stringify(s));
    if (r.kind === "error") assert.equal(r.version, 1);
  }
});

test("PROXY v2: IPv4 and IPv6 PROXY, LOCAL, TLVs skipped", () => {
  const h = readProxyHeader(new Uint8Array([...v2(1, 0x11, [10, 0, 0, 1, 10, 0, 0, 2, 0x30, 0x39, 0x01, 0xbb]), 65]));
  assert.deepEqual(h, {
    kind: "header",
    version: 2,
    length: 28,
    source: { address: "10.0.0.1", port: 12345 },
    destination: { address: "10.0.0.2", port: 443 },
  });
  const s6 = [0x20, 0x01, 0x0d, 0xb8, ...new Array(11).fill(0), 5];
  const d6 = [...new Array(10).fill(0), 0xff, 0xff, 127, 0, 0, 1];
  const tlv = [0x01, 0, 2, 0x68, 0x32, 0x04, 0, 0]; // ALPN "h2", NOOP
  const h6 = readProxyHeader(v2(1, 0x21, [...s6, ...d6, 0, 80, 0, 81, ...tlv]));
  assert.equal(h6.kind, "header");
  if (h6.kind === "header") {
    assert.deepEqual(h6.source, { address: "2001:db8::5", port: 80 });
    assert.deepEqual(h6.destination, { address: "::ffff:127.0.0.1", port: 81 });
    assert.equal(h6.length, 16 + 36 + tlv.length);
  }
  assert.deepEqual(readProxyHeader(v2(0, 0x00, [])), { kind: "header", version: 2, length: 16 });
  assert.deepEqual(readProxyHeader(v2(0, 0x11, [1, 2, 3])), { kind: "header", version: 2, length: 19 });
});

test("PROXY v2: prefixes need more; malformed headers are errors", () => {
  const full = v2(1, 0x11, [10, 0, 0, 1, 10, 0, 0, 2, 0, 1, 0, 2]);
  for (let n = 1; n < full.length; n++) assert.equal(readProxyHeader(full.subarray(0, n)).kind, "need_more", `${n}`);
  const bad: Uint8Array[] = [
    new Uint8Array([...SIG, 0x31, 0x11, 0, 0]), // version 3
    new Uint8Array([...SIG, 0x22, 0x11, 0, 0]), // command 2
    v2(1, 0x11, [1, 2, 3]), // short IPv4 block
    v2(1, 0x21, new Array(20).fill(0)), // short IPv6 block
    v2(1, 0x31, new Array(216).fill(0)), // AF_UNIX
    v2(1, 0x13, new Array(12).fill(0)), // unknown transport
    v2(1, 0x11, [...new Array(12).fill(0), 1, 0]), // truncated TLV
    v2(1, 0x11, [...new Array(12).fill(0), 1, 0, 9, 1]), // TLV past the end
  ];
  for (const b of bad) {
    const r = readProxyHeader(b);
    assert.equal(r.kind, "error", Array.from(b).join(","));
    if (r.kind === "error") assert.equal(r.version, 2);
  }
});

test("PROXY: random bytes never throw", () => {
  let seed = 7;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
  const base = [enc("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n"), v2(1, 0x21, new Array(40).fill(1))];
  for (let i = 0; i < 3000; i++) {
    const src = base[i % 2]!;
    const b = src.slice(0, 1 + Math.floor(rnd() * src.length));
    for (let k = 0; k < 2; k++) b[6 + Math.floor(rnd() * Math.max(1, b.length - 6))] = Math.floor(rnd() * 256);
    const r = readProxyHeader(b);
    assert.ok(["need_more", "not_proxy", "error", "header"].includes(r.kind));
  }
});

test("formatWords: RFC 5952 text", () => {
  assert.equal(formatWords([0x20010db8, 0, 0, 1]), "2001:db8::1");
  assert.equal(formatWords([0, 0, 0, 0]), "::");
  assert.equal(formatWords([0x20010db8, 0x00010000, 0x00010000, 0x00010001]), "2001:db8:1:0:1:0:1:1");
  assert.equal(formatWords([0x20010000, 0x00000001, 0, 0x00000001]), "2001:0:0:1::1");
  assert.equal(formatWords([0x7f000001]), "127.0.0.1");
});
