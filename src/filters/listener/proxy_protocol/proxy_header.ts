/**
 * A PROXY protocol header reader (worker side) for versions 1 (text) and 2 (binary), from the
 * bytes read at accept. Never throws: every length is checked first.
 * https://www.haproxy.org/download/2.9/doc/proxy-protocol.txt (§2.1 v1, §2.2 v2)
 */
import { parseIpWords } from "../../../listener/filter_chain_match.ts";

/** v1: the longest header, CRLF included (§2.1). */
export const V1_MAX_LENGTH = 107;
/** v2: the fixed part; the variable part is at most 65535 bytes more. */
export const V2_HEADER_LENGTH = 16;
export const V2_MAX_LENGTH = V2_HEADER_LENGTH + 0xffff;

const V1_SIGNATURE = [0x50, 0x52, 0x4f, 0x58, 0x59, 0x20]; // "PROXY "
const V2_SIGNATURE = [0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a];

/** An address from the header. */
export interface ProxyAddress {
  readonly address: string;
  readonly port: number;
}

/** What the bytes say. */
export type ProxyHeaderResult =
  | { readonly kind: "need_more" }
  /** Neither signature: the connection does not start with a PROXY header. */
  | { readonly kind: "not_proxy" }
  /** A header of `version` that is malformed or unsupported (e.g. AF_UNIX). */
  | { readonly kind: "error"; readonly version: 1 | 2; readonly reason: string }
  /** A header of `length` bytes; `source`/`destination` are absent for v1 UNKNOWN, v2 LOCAL and
   *  v2 AF_UNSPEC (the connection keeps its real addresses). */
  | {
    readonly kind: "header";
    readonly version: 1 | 2;
    readonly length: number;
    readonly source?: ProxyAddress;
    readonly destination?: ProxyAddress;
  };

const NEED_MORE = { kind: "need_more" } as const;
const NOT_PROXY = { kind: "not_proxy" } as const;
const err = (version: 1 | 2, reason: string) => ({ kind: "error", version, reason }) as const;

/** Compares `buf` with `sig` over their common length: 1 = full match, 0 = a prefix so far, -1 = no. */
function matchSignature(buf: Uint8Array, sig: readonly number[]): number {
  const n = Math.min(buf.length, sig.length);
  for (let i = 0; i < n; i++) if (buf[i] !== sig[i]) return -1;
  return buf.length >= sig.length ? 1 : 0;
}

/** Reads a PROXY header at the start of `buf`. */
export function readProxyHeader(buf: Uint8Array): ProxyHeaderResult {
  if (buf.length === 0) return NEED_MORE;
  const v1 = matchSignature(buf, V1_SIGNATURE);
  if (v1 === 1) return readV1(buf);
  const v2 = matchSignature(buf, V2_SIGNATURE);
  if (v2 === 1) return readV2(buf);
  return v1 === 0 || v2 === 0 ? NEED_MORE : NOT_PROXY;
}

function readV1(buf: Uint8Array): ProxyHeaderResult {
  const limit = Math.min(buf.length, V1_MAX_LENGTH);
  let lf = -1;
  for (let i = V1_SIGNATURE.length; i < limit; i++) {
    if (buf[i] === 0x0a) {
      lf = i;
      break;
    }
  }
  if (lf < 0) return buf.length >= V1_MAX_LENGTH ? err(1, `no CRLF within ${V1_MAX_LENGTH} bytes`) : NEED_MORE;
  if (buf[lf - 1] !== 0x0d) return err(1, "line does not end with CRLF");
  let line = "";
  for (let i = 0; i < lf - 1; i++) {
    const c = buf[i]!;
    if (c < 0x20 || c > 0x7e) return err(1, "non-printable byte in the header");
    line += String.fromCharCode(c);
  }
  const length = lf + 1;
  const f = line.split(" ");
  // f[0] is "PROXY"
  if (f[1] === "UNKNOWN") return { kind: "header", version: 1, length };
  if (f.length !== 6) return err(1, `expected "PROXY TCP4|TCP6 src dst sport dport", got ${JSON.stringify(line)}`);
  const family = f[1] === "TCP4" ? 1 : f[1] === "TCP6" ? 4 : 0;
  if (!family) return err(1, `unknown protocol ${JSON.stringify(f[1])}`);
  const src = parseIpWords(f[2]!);
  const dst = parseIpWords(f[3]!);
  if (!src || src.length !== family || f[2]!.includes("%")) return err(1, `bad source address ${JSON.stringify(f[2])}`);
  if (!dst || dst.length !== family || f[3]!.includes("%")) return err(1, `bad destination address ${JSON.stringify(f[3])}`);
  const sport = parsePort(f[4]!);
  const dport = parsePort(f[5]!);
  if (sport < 0) return err(1, `bad source port ${JSON.stringify(f[4])}`);
  if (dport < 0) return err(1, `bad destination port ${JSON.stringify(f[5])}`);
  return {
    kind: "header",
    version: 1,
    length,
    source: { address: formatWords(src), port: sport },
    destination: { address: formatWords(dst), port: dport },
  };
}

/** 0..65535 in decimal, or -1. */
function parsePort(s: string): number {
  if (s.length === 0 || s.length > 5) return -1;
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i) - 48;
    if (c < 0 || c > 9) return -1;
    n = n * 10 + c;
  }
  return n <= 65535 ? n : -1;
}

function readV2(buf: Uint8Array): ProxyHeaderResult {
  if (buf.length < V2_HEADER_LENGTH) return NEED_MORE;
  const verCmd = buf[12]!;
  if (verCmd >> 4 !== 2) return err(2, `unsupported version ${verCmd >> 4}`);
  const command = verCmd & 0x0f;
  if (command > 1) return err(2, `unsupported command ${command}`);
  const famProto = buf[13]!;
  const len = (buf[14]! << 8) | buf[15]!;
  const length = V2_HEADER_LENGTH + len;
  if (buf.length < length) return NEED_MORE;
  const family = famProto >> 4;
  const transport = famProto & 0x0f;
  let addrLen = 0;
  let source: ProxyAddress | undefined;
  let destination: ProxyAddress | undefined;
  if (command === 1 && family !== 0) {
    if (family === 3) return err(2, "AF_UNIX addresses are not supported");
    if (family !== 1 && family !== 2) return err(2, `unknown address family ${family}`);
    if (transport !== 1 && transport !== 2) return err(2, `unknown transport protocol ${transport}`);
    const b = V2_HEADER_LENGTH;
    if (family === 1) {
      addrLen = 12;
      if (len < addrLen) return err(2, `address block of ${len} bytes is too short for IPv4`);
      source = { address: formatWords([readU32(buf, b)]), port: (buf[b + 8]! << 8) | buf[b + 9]! };
      destination = { address: formatWords([readU32(buf, b + 4)]), port: (buf[b + 10]! << 8) | buf[b + 11]! };
    } else {
      addrLen = 36;
      if (len < addrLen) return err(2, `address block of ${len} bytes is too short for IPv6`);
      const s = [readU32(buf, b), readU32(buf, b + 4), readU32(buf, b + 8), readU32(buf, b + 12)];
      const d = [readU32(buf, b + 16), readU32(buf, b + 20), readU32(buf, b + 24), readU32(buf, b + 28)];
      source = { address: formatWords(s), port: (buf[b + 32]! << 8) | buf[b + 33]! };
      destination = { address: formatWords(d), port: (buf[b + 34]! << 8) | buf[b + 35]! };
    }
  } else if (command === 1 && transport !== 0) {
    return err(2, "AF_UNSPEC with a transport protocol");
  }
  // LOCAL and AF_UNSPEC: the address block (if any) is skipped whole, so are its TLVs.
  if (command === 1 && family !== 0) {
    // TLVs (§2.2.7): type, 16-bit length, value; they must tile the rest of the block.
    let p = V2_HEADER_LENGTH + addrLen;
    while (p < length) {
      if (p + 3 > length) return err(2, "truncated TLV header");
      const tlvLen = (buf[p + 1]! << 8) | buf[p + 2]!;
      p += 3 + tlvLen;
      if (p > length) return err(2, "TLV longer than the header");
    }
  }
  return { kind: "header", version: 2, length, ...(source ? { source, destination } : {}) };
}

function readU32(b: Uint8Array, p: number): number {
  return ((b[p]! << 24) | (b[p + 1]! << 16) | (b[p + 2]! << 8) | b[p + 3]!) >>> 0;
}

/** An IPv4 word or four IPv6 words as text (IPv6 in RFC 5952 form; v4-mapped as ::ffff:a.b.c.d). */
export function formatWords(w: readonly number[]): string {
  const v4 = (x: number) => `${x >>> 24}.${(x >>> 16) & 255}.${(x >>> 8) & 255}.${x & 255}`;
  if (w.length === 1) return v4(w[0]!);
  if (w[0] === 0 && w[1] === 0 && w[2] === 0xffff) return `::ffff:${v4(w[3]!)}`;
  const g: number[] = [];
  for (const x of w) g.push(x >>> 16, x & 0xffff);
  // The longest run of two or more zero groups becomes "::" (the first, on a tie).
  let best = -1, bestLen = 1;
  for (let i = 0; i < 8;) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) (best = i), (bestLen = j - i);
    i = j;
  }
  const hex = (a: number[]) => a.map((x) => x.toString(16)).join(":");
  if (best < 0) return hex(g);
  return `${hex(g.slice(0, best))}::${hex(g.slice(best + bestLen))}`;
}
