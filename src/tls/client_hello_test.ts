import assert from "node:assert/strict";
import { test } from "../../tests/harness.ts";
import { MAX_CLIENT_HELLO_SIZE, readClientHello } from "./client_hello.ts";

/** A ClientHello captured from `openssl s_client -servername api.example.com -alpn h2,http/1.1`. */
const OPENSSL_HELLO = hex("160301014e0100014a03037e9ed6261e98704e7e59ace3b11af0e9fa4454087ee33a58d452854b2803d8e820c529ccd5228843876552b9354a556ae4995be49625a44e55687458ab09a3bd99003e130213031301c02cc030009fcca9cca8ccaac02bc02f009ec024c028006bc023c0270067c00ac0140039c009c0130033009d009c003d003c0035002f00ff010000c300000014001200000f6170692e6578616d706c652e636f6d000b000403000102000a00160014001d0017001e0019001801000101010201030104002300000010000e000c02683208687474702f312e310016000000170000000d002a0028040305030603080708080809080a080b080408050806040105010601030303010302040205020602002b0009080304030303020301002d00020101003300260024001d0020682a881c2db2def7a93ba991bab8ecc5e4262f0931ed9dd120f4f7d713818c3d");

function hex(s: string): Uint8Array {
  const out = new Uint8Array(s.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(s.slice(2 * i, 2 * i + 2), 16);
  return out;
}

function u16(n: number): number[] {
  return [n >> 8, n & 255];
}

/** A ClientHello handshake message (header included) with the given extensions. */
export function buildHello(opts: { sni?: string; alpn?: string[]; padding?: number; extensions?: number[][] } = {}): Uint8Array {
  const exts: number[] = [];
  if (opts.sni !== undefined) {
    const name = [...opts.sni].map((c) => c.charCodeAt(0));
    const entry = [0, ...u16(name.length), ...name];
    exts.push(...u16(0), ...u16(entry.length + 2), ...u16(entry.length), ...entry);
  }
  if (opts.alpn) {
    const list = opts.alpn.flatMap((p) => [p.length, ...[...p].map((c) => c.charCodeAt(0))]);
    exts.push(...u16(16), ...u16(list.length + 2), ...u16(list.length), ...list);
  }
  if (opts.padding) exts.push(...u16(21), ...u16(opts.padding), ...new Array(opts.padding).fill(0));
  for (const e of opts.extensions ?? []) exts.push(...e);
  const body = [3, 3, ...new Array(32).fill(7), 0, ...u16(2), 0x13, 0x01, 1, 0, ...u16(exts.length), ...exts];
  return new Uint8Array([1, body.length >> 16, (body.length >> 8) & 255, body.length & 255, ...body]);
}

/** Wraps handshake bytes in TLS records of at most `size` payload bytes each. */
export function records(hs: Uint8Array, size = 16384): Uint8Array {
  const out: number[] = [];
  for (let i = 0; i < hs.length; i += size) {
    const part = hs.subarray(i, Math.min(hs.length, i + size));
    out.push(22, 3, 1, ...u16(part.length), ...part);
  }
  return new Uint8Array(out);
}

test("ClientHello: a real openssl ClientHello gives SNI and ALPN", () => {
  const r = readClientHello(OPENSSL_HELLO);
  assert.equal(r.kind, "client_hello");
  if (r.kind !== "client_hello") return;
  assert.equal(r.serverName, "api.example.com");
  assert.deepEqual(r.alpn, ["h2", "http/1.1"]);
  assert.equal(r.bytes, OPENSSL_HELLO.length);
});

test("ClientHello: every proper prefix needs more, never a verdict or a throw", () => {
  for (let n = 1; n < OPENSSL_HELLO.length; n++) {
    assert.equal(readClientHello(OPENSSL_HELLO.subarray(0, n)).kind, "need_more", `prefix of ${n} bytes`);
  }
});

test("ClientHello: split over many records (even the handshake header) still parses", () => {
  const hs = buildHello({ sni: "a.example", alpn: ["http/1.1"] });
  for (const size of [1, 2, 3, 5, 50]) {
    const buf = records(hs, size);
    const r = readClientHello(buf);
    assert.equal(r.kind, "client_hello", `records of ${size}`);
    if (r.kind === "client_hello") {
      assert.equal(r.serverName, "a.example");
      assert.deepEqual(r.alpn, ["http/1.1"]);
    }
    for (let n = 1; n < buf.length; n++) assert.equal(readClientHello(buf.subarray(0, n)).kind, "need_more");
  }
});

test("ClientHello: no extensions, no SNI, no ALPN", () => {
  const r = readClientHello(records(buildHello()));
  assert.equal(r.kind, "client_hello");
  if (r.kind === "client_hello") assert.deepEqual([r.serverName, r.alpn], ["", []]);
});

test("ClientHello: plaintext and other protocols are not TLS", () => {
  for (const s of ["GET / HTTP/1.1\r\n", "PRI * HTTP/2.0", "\x16\x04\x01", "\x16\x03\x09", "SSH-2.0-x"]) {
    const b = new Uint8Array([...s].map((c) => c.charCodeAt(0)));
    assert.equal(readClientHello(b).kind, "not_tls", JSON.stringify(s));
  }
});

test("ClientHello: larger than 64 KiB is too_large as soon as its length is known", () => {
  assert.equal(MAX_CLIENT_HELLO_SIZE, 65536);
  const big = records(buildHello({ sni: "x.y", padding: 65500 }));
  assert.equal(readClientHello(big.subarray(0, 9)).kind, "too_large");
  // Just under the limit is fine.
  const ok = records(buildHello({ sni: "x.y", padding: 60000 }));
  const r = readClientHello(ok);
  assert.equal(r.kind, "client_hello");
  // A 16-KiB+ record length is malformed.
  assert.equal(readClientHello(new Uint8Array([22, 3, 1, 0x40, 0x01, 1, 0, 0, 1])).kind, "malformed");
});

test("ClientHello: malformed handshakes are reported, not thrown", () => {
  const cases: [string, Uint8Array][] = [
    ["not a ClientHello", new Uint8Array([22, 3, 1, 0, 4, 2, 0, 0, 0])],
    ["empty record", new Uint8Array([22, 3, 1, 0, 0])],
    ["alert inside", new Uint8Array([...records(buildHello({ sni: "a.b" }), 10).subarray(0, 30), 21, 3, 1, 0, 2, 1, 0])],
    ["duplicate SNI extension", records(buildHello({ sni: "a.b", extensions: [[0, 0, 0, 8, 0, 6, 0, 0, 3, 97, 46, 98]] }))],
    ["empty ALPN name", records(buildHello({ alpn: [""] }))],
    ["extension longer than block", records(buildHello({ extensions: [[0, 99, 0, 50, 1]] }))],
  ];
  for (const [what, b] of cases) assert.equal(readClientHello(b).kind, "malformed", what);
});

test("ClientHello: random corruption never throws", () => {
  let seed = 42;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
  for (let i = 0; i < 3000; i++) {
    const b = OPENSSL_HELLO.slice(0, 1 + Math.floor(rnd() * OPENSSL_HELLO.length));
    for (let k = 0; k < 3; k++) b[Math.floor(rnd() * b.length)] = Math.floor(rnd() * 256);
    if (rnd() < 0.5) b[0] = 22;
    const r = readClientHello(b);
    assert.ok(["client_hello", "not_tls", "need_more", "too_large", "malformed"].includes(r.kind));
  }
});
