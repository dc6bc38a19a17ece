/**
 * A TLS ClientHello reader (worker side), shared by the TLS inspector and by TLS termination
 * (choosing a certificate by SNI): finds SNI and ALPN in bytes read from a socket, without
 * consuming them, across any number of TLS records and TCP segments.
 * Never throws on any input: every length is checked before it is used.
 *
 * Record layer: RFC 8446 §5.1 (type 22 = handshake, legacy version 3.x, length ≤ 2^14).
 * ClientHello: RFC 8446 §4.1.2 (and RFC 5246 §7.4.1.2, whose extensions block is optional).
 * server_name: RFC 6066 §3; application_layer_protocol_negotiation: RFC 7301 §3.1.
 */

/** Envoy's limit on the ClientHello bytes the TLS inspector reads (64 KiB). */
export const MAX_CLIENT_HELLO_SIZE = 64 * 1024;

const RECORD_HEADER = 5;
const MAX_RECORD_PAYLOAD = 1 << 14;
const CONTENT_HANDSHAKE = 22;
const HANDSHAKE_CLIENT_HELLO = 1;
const EXT_SERVER_NAME = 0;
const EXT_ALPN = 16;

/** A parsed ClientHello. */
export interface ClientHelloInfo {
  readonly kind: "client_hello";
  /** The host_name of the server_name extension ("" = none). */
  readonly serverName: string;
  /** ALPN protocol names in the client's order (empty = no ALPN extension). */
  readonly alpn: readonly string[];
  /** Bytes of the records that carried the ClientHello. */
  readonly bytes: number;
}

/** What the bytes read so far say. */
export type ClientHelloResult =
  | ClientHelloInfo
  /** Not a TLS handshake record at all (plaintext, another protocol). */
  | { readonly kind: "not_tls" }
  /** A TLS handshake so far; more bytes are needed. */
  | { readonly kind: "need_more" }
  /** The ClientHello is larger than the limit. */
  | { readonly kind: "too_large" }
  /** Looks like TLS, but the records or the ClientHello are malformed. */
  | { readonly kind: "malformed"; readonly reason: string };

const NOT_TLS = { kind: "not_tls" } as const;
const NEED_MORE = { kind: "need_more" } as const;
const TOO_LARGE = { kind: "too_large" } as const;
const malformed = (reason: string) => ({ kind: "malformed", reason }) as const;

/**
 * Reads a ClientHello from the start of `buf`. `max` bounds the bytes it may need (records
 * included); a ClientHello that cannot fit is `too_large` as soon as its length is known.
 * Cost per call is O(number of records) until the ClientHello is complete, so a hello arriving
 * one byte at a time is not re-parsed from scratch each time.
 */
export function readClientHello(buf: Uint8Array, max = MAX_CLIENT_HELLO_SIZE): ClientHelloResult {
  const n = buf.length;
  if (n === 0) return NEED_MORE;
  if (buf[0] !== CONTENT_HANDSHAKE) return NOT_TLS;
  // Record legacy_version is 3.0 (SSL 3.0) to 3.4; anything else is not TLS.
  if (n >= 2 && buf[1] !== 3) return NOT_TLS;
  if (n >= 3 && buf[2]! > 4) return NOT_TLS;

  // Walk the records, following the handshake message across them.
  let off = 0;
  let hsHave = 0; // handshake bytes seen so far
  let hsNeed = -1; // 4 + ClientHello length, once its header is seen
  let hsType = 0;
  let hsLen = 0;
  let records = 0;
  let lastRecordEnd = 0;
  while (hsNeed < 0 || hsHave < hsNeed) {
    if (off + RECORD_HEADER > n) return off + RECORD_HEADER > max ? TOO_LARGE : NEED_MORE;
    if (buf[off] !== CONTENT_HANDSHAKE) return malformed("the ClientHello is interleaved with a non-handshake record");
    if (buf[off + 1] !== 3 || buf[off + 2]! > 4) return malformed("bad record version");
    const len = (buf[off + 3]! << 8) | buf[off + 4]!;
    if (len === 0) return malformed("empty handshake record");
    if (len > MAX_RECORD_PAYLOAD) return malformed(`record length ${len} exceeds 2^14`);
    const start = off + RECORD_HEADER;
    if (start + len > max) return TOO_LARGE;
    const avail = Math.min(len, n - start);
    const before = hsHave;
    // Pick up the 4-byte handshake header, possibly split across records.
    for (let i = 0; i < avail && hsHave < 4; i++, hsHave++) {
      const b = buf[start + i]!;
      if (hsHave === 0) hsType = b;
      else hsLen = (hsLen << 8) | b;
    }
    if (hsNeed < 0 && hsHave >= 4) {
      if (hsType !== HANDSHAKE_CLIENT_HELLO) return malformed(`first handshake message is type ${hsType}, not a ClientHello`);
      hsNeed = 4 + hsLen;
      // Every record costs a 5-byte header on top of the handshake bytes.
      if (hsNeed + RECORD_HEADER * Math.ceil(hsNeed / MAX_RECORD_PAYLOAD) > max) return TOO_LARGE;
    }
    hsHave = before + avail;
    if (hsNeed >= 0 && hsHave > hsNeed) hsHave = hsNeed;
    records++;
    if (avail < len) {
      if (hsNeed >= 0 && hsHave >= hsNeed) {
        lastRecordEnd = start + len;
        break; // the hello ends inside this partial record: enough to parse
      }
      return NEED_MORE;
    }
    off = start + len;
    lastRecordEnd = off;
  }

  // Gather the ClientHello body (a view when it sits in one record, the common case).
  let body: Uint8Array;
  if (records === 1) body = buf.subarray(RECORD_HEADER + 4, RECORD_HEADER + hsNeed);
  else {
    const all = new Uint8Array(hsNeed);
    let got = 0;
    let at = 0;
    while (got < hsNeed) {
      const len = (buf[at + 3]! << 8) | buf[at + 4]!;
      const take = Math.min(len, hsNeed - got, n - at - RECORD_HEADER);
      all.set(buf.subarray(at + RECORD_HEADER, at + RECORD_HEADER + take), got);
      got += take;
      at += RECORD_HEADER + len;
    }
    body = all.subarray(4);
  }
  return parseClientHelloBody(body, lastRecordEnd);
}

/** Parses a ClientHello body (after the 4-byte handshake header). */
export function parseClientHelloBody(b: Uint8Array, bytes: number): ClientHelloResult {
  const end = b.length;
  let p = 2 + 32; // legacy_version, random
  if (p + 1 > end) return malformed("ClientHello too short");
  const sid = b[p]!;
  if (sid > 32) return malformed("session id longer than 32 bytes");
  p += 1 + sid;
  if (p + 2 > end) return malformed("ClientHello too short");
  const cs = (b[p]! << 8) | b[p + 1]!;
  if (cs < 2 || cs % 2 !== 0) return malformed("bad cipher_suites length");
  p += 2 + cs;
  if (p + 1 > end) return malformed("ClientHello too short");
  const cm = b[p]!;
  if (cm < 1) return malformed("no compression methods");
  p += 1 + cm;
  if (p > end) return malformed("ClientHello too short");
  let serverName = "";
  let alpn: string[] = [];
  if (p === end) return { kind: "client_hello", serverName, alpn, bytes }; // no extensions (TLS ≤ 1.2)
  if (p + 2 > end) return malformed("truncated extensions");
  const extLen = (b[p]! << 8) | b[p + 1]!;
  p += 2;
  if (p + extLen !== end) return malformed("extensions length does not match the ClientHello length");
  const seen: number[] = [];
  while (p < end) {
    if (p + 4 > end) return malformed("truncated extension header");
    const type = (b[p]! << 8) | b[p + 1]!;
    const len = (b[p + 2]! << 8) | b[p + 3]!;
    p += 4;
    if (p + len > end) return malformed("extension longer than the extensions block");
    if (seen.includes(type)) return malformed(`duplicate extension ${type}`);
    seen.push(type);
    if (type === EXT_SERVER_NAME) {
      const r = parseServerName(b, p, p + len);
      if (typeof r !== "string" || r === "") return malformed(r === "" ? "empty server_name extension" : r.reason);
      serverName = r;
    } else if (type === EXT_ALPN) {
      const r = parseAlpn(b, p, p + len);
      if (!Array.isArray(r)) return malformed((r as { reason: string }).reason);
      alpn = r;
    }
    p += len;
  }
  return { kind: "client_hello", serverName, alpn, bytes };
}

/** RFC 6066 §3: ServerNameList; the host_name entry (ASCII, no controls). */
function parseServerName(b: Uint8Array, p: number, end: number): string | { reason: string } {
  if (p + 2 > end) return { reason: "truncated server_name extension" };
  const listLen = (b[p]! << 8) | b[p + 1]!;
  p += 2;
  if (p + listLen !== end || listLen === 0) return { reason: "bad server_name list length" };
  let host = "";
  while (p < end) {
    if (p + 3 > end) return { reason: "truncated server_name entry" };
    const type = b[p]!;
    const len = (b[p + 1]! << 8) | b[p + 2]!;
    p += 3;
    if (p + len > end) return { reason: "server_name entry longer than its list" };
    if (type === 0) {
      if (host !== "") return { reason: "more than one host_name in server_name" };
      if (len === 0) return { reason: "empty host_name" };
      for (let i = p; i < p + len; i++) {
        const c = b[i]!;
        if (c <= 0x20 || c >= 0x7f) return { reason: "host_name is not printable ASCII" };
        host += String.fromCharCode(c);
      }
    }
    p += len;
  }
  return host;
}

/** RFC 7301 §3.1: ProtocolNameList, each name 1..255 bytes. */
function parseAlpn(b: Uint8Array, p: number, end: number): string[] | { reason: string } {
  if (p + 2 > end) return { reason: "truncated ALPN extension" };
  const listLen = (b[p]! << 8) | b[p + 1]!;
  p += 2;
  if (p + listLen !== end || listLen < 2) return { reason: "bad ALPN list length" };
  const out: string[] = [];
  while (p < end) {
    const len = b[p++]!;
    if (len === 0) return { reason: "empty ALPN protocol name" };
    if (p + len > end) return { reason: "ALPN protocol name longer than its list" };
    let s = "";
    for (let i = p; i < p + len; i++) s += String.fromCharCode(b[i]!);
    out.push(s);
    p += len;
  }
  return out;
}
