/**
 * HTTP/1.1 message encoder (RFC 9112). Worker side (data path).
 *
 * Heads are written as ISO-8859-1, one byte per char code, so obs-text bytes (0x80–0xFF) that
 * the parser decoded round-trip exactly (RFC 9110 §5.5). They are written piece by piece into a
 * reused scratch buffer, then copied out once at exactly the used length: no head string is
 * built (concatenating names and values made a rope per piece, which JSC then had to flatten
 * before TextEncoder could read it). Long pieces go through TextEncoder.encodeInto (native),
 * short ones through a plain loop, cheaper than a native call for a few bytes.
 *
 * Field names and values are written as given: validating them (no CR/LF/NUL, RFC 9110 §5.5) is
 * the job of whoever sets them (codecs validate what they parse; filters set trusted strings).
 * The one defence here is that a char code above 0xFF can never be truncated into a CR or LF: it
 * is written as "?".
 */
import type { HeaderMap } from "../header_map.ts";

const encoder = new TextEncoder();
let scratch = new Uint8Array(4096);

/** Worker: writes `s` as ISO-8859-1 bytes (chars above 0xFF become "?"); returns a fresh array of exactly s.length bytes. */
export function encodeLatin1(s: string): Uint8Array {
  const n = s.length;
  if (scratch.length < n) scratch = new Uint8Array(Math.max(n, scratch.length * 2));
  // read === written === n only if every char took one UTF-8 byte, i.e. the string is ASCII.
  const r = encoder.encodeInto(s, scratch);
  if (r.read === n && r.written === n) return scratch.slice(0, n);
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    out[i] = c > 0xff ? 0x3f : c;
  }
  return out;
}

/** Worker: the CRLF that ends each chunk's data (RFC 9112 §7.1). Shared: never write into it. */
export const CRLF: Uint8Array = new Uint8Array([13, 10]);

/** Worker: last-chunk plus the empty trailer section, `0\r\n\r\n` (RFC 9112 §7.1). Shared: never write into it. */
export const LAST_CHUNK: Uint8Array = new Uint8Array([48, 13, 10, 13, 10]);

/** Reason phrases (RFC 9110 §15), used when the caller gives none. */
const REASONS: Record<number, string> = {
  100: "Continue", 101: "Switching Protocols", 102: "Processing", 103: "Early Hints",
  200: "OK", 201: "Created", 202: "Accepted", 203: "Non-Authoritative Information", 204: "No Content",
  205: "Reset Content", 206: "Partial Content", 207: "Multi-Status", 208: "Already Reported", 226: "IM Used",
  300: "Multiple Choices", 301: "Moved Permanently", 302: "Found", 303: "See Other", 304: "Not Modified",
  305: "Use Proxy", 307: "Temporary Redirect", 308: "Permanent Redirect",
  400: "Bad Request", 401: "Unauthorized", 402: "Payment Required", 403: "Forbidden", 404: "Not Found",
  405: "Method Not Allowed", 406: "Not Acceptable", 407: "Proxy Authentication Required", 408: "Request Timeout",
  409: "Conflict", 410: "Gone", 411: "Length Required", 412: "Precondition Failed", 413: "Content Too Large",
  414: "URI Too Long", 415: "Unsupported Media Type", 416: "Range Not Satisfiable", 417: "Expectation Failed",
  418: "I'm a teapot", 421: "Misdirected Request", 422: "Unprocessable Content", 423: "Locked", 424: "Failed Dependency",
  425: "Too Early", 426: "Upgrade Required", 428: "Precondition Required", 429: "Too Many Requests",
  431: "Request Header Fields Too Large", 451: "Unavailable For Legal Reasons",
  500: "Internal Server Error", 501: "Not Implemented", 502: "Bad Gateway", 503: "Service Unavailable",
  504: "Gateway Timeout", 505: "HTTP Version Not Supported", 506: "Variant Also Negotiates",
  507: "Insufficient Storage", 508: "Loop Detected", 510: "Not Extended", 511: "Network Authentication Required",
};

/** Worker: the standard reason phrase for a status code ("Unknown" if it has none, as Envoy writes). */
export function reasonPhrase(status: number): string {
  return REASONS[status] ?? "Unknown";
}

// Status lines without a custom reason are cached per (minor version, status): they repeat.
const statusLines: string[][] = [[], []];

function statusLine(status: number, minor: 0 | 1, reason: string | undefined): string {
  if (reason !== undefined) return `HTTP/1.${minor} ${status} ${reason}\r\n`;
  const cache = statusLines[minor];
  return (cache[status] ??= `HTTP/1.${minor} ${status} ${reasonPhrase(status)}\r\n`);
}

/** Pieces longer than this go through encodeInto; shorter ones through a JS loop. */
const LOOP_MAX = 48;

/** Makes the scratch buffer at least `n` bytes long. */
function reserve(n: number): Uint8Array {
  if (scratch.length < n) scratch = new Uint8Array(Math.max(n, scratch.length * 2));
  return scratch;
}

/** Writes `s` as ISO-8859-1 at buf[at…] (room is reserved by the caller); returns the end. */
function put(buf: Uint8Array, at: number, s: string): number {
  const n = s.length;
  if (n > LOOP_MAX) {
    // read === written === n only if every char took one UTF-8 byte, i.e. the piece is ASCII.
    const r = encoder.encodeInto(s, buf.subarray(at, at + n));
    if (r.read === n && r.written === n) return at + n;
  }
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    buf[at + i] = c > 0xff ? 0x3f : c;
  }
  return at + n;
}

/** Writes one `name: value\r\n` line; returns the end. */
function putField(buf: Uint8Array, at: number, name: string, value: string): number {
  at = put(buf, at, name);
  buf[at++] = 58; // ":"
  buf[at++] = 32;
  at = put(buf, at, value);
  buf[at++] = 13;
  buf[at++] = 10;
  return at;
}

/** Writes `name: value\r\n` per line, then the empty line; returns the end. */
function putFields(buf: Uint8Array, at: number, headers: HeaderMap): number {
  const n = headers.size;
  for (let i = 0; i < n; i++) at = putField(buf, at, headers.nameAt(i), headers.valueAt(i));
  buf[at++] = 13;
  buf[at++] = 10;
  return at;
}

/** Writes the request line; returns the end (room for it is reserved by the caller). */
function putRequestLine(buf: Uint8Array, at: number, method: string, path: string): number {
  at = put(buf, at, method);
  buf[at++] = 32;
  at = put(buf, at, path);
  return put(buf, at, " HTTP/1.1\r\n");
}

/** Room a request head needs (`host`: see writeRequestHead()). */
function requestHeadSize(method: string, path: string, headers: HeaderMap, host: string | undefined): number {
  return method.length + path.length + 14 + headers.byteLength() + (host === undefined ? 0 : host.length + 8);
}

/** Writes a whole request head at buf[at…] (room reserved by the caller); returns the end. */
function putRequestHead(buf: Uint8Array, at: number, method: string, path: string, headers: HeaderMap, host: string | undefined): number {
  at = putRequestLine(buf, at, method, path);
  const n = headers.size;
  for (let i = 0; i < n; i++) at = putField(buf, at, headers.nameAt(i), headers.valueAt(i));
  if (host !== undefined) at = putField(buf, at, "host", host);
  buf[at++] = 13;
  buf[at++] = 10;
  return at;
}

/** Worker: `METHOD path HTTP/1.1\r\n` + field lines + `\r\n` (RFC 9112 §3, §5); `host` as in writeRequestHead(). */
export function encodeRequestHead(method: string, path: string, headers: HeaderMap, host?: string): Uint8Array {
  const buf = reserve(requestHeadSize(method, path, headers, host));
  return buf.slice(0, putRequestHead(buf, 0, method, path, headers, host));
}

/** Worker: status line + field lines + `\r\n` (RFC 9112 §4); the standard reason phrase when `reason` is omitted. */
export function encodeResponseHead(status: number, headers: HeaderMap, versionMinor: 0 | 1 = 1, reason?: string): Uint8Array {
  const line = statusLine(status, versionMinor, reason);
  const buf = reserve(line.length + 2 + headers.byteLength());
  return buf.slice(0, putFields(buf, put(buf, 0, line), headers));
}

/** Worker: a place heads are encoded into directly, with no array of their own (a
 *  network/write_batch.ts BatchedWriter): reserve room, write into `buffer`, commit the range. */
export interface HeadSink {
  /** Room for `n` bytes; returns their offset in `buffer`. */
  reserve(n: number): number;
  /** Read after reserve() (it may have grown). */
  readonly buffer: Uint8Array;
  /** buffer[start, end) is written: send it in order with the sink's other writes. */
  commit(start: number, end: number): void;
}

/**
 * Worker: encodeRequestHead() written straight into `sink`. `host`, when given, is written as one
 * more line after `headers` — the same bytes as headers.set("host", host) on a map without a
 * host line, without changing the map.
 */
export function writeRequestHead(sink: HeadSink, method: string, path: string, headers: HeaderMap, host?: string): void {
  const start = sink.reserve(requestHeadSize(method, path, headers, host));
  sink.commit(start, putRequestHead(sink.buffer, start, method, path, headers, host));
}

/** Worker: encodeResponseHead() written straight into `sink`. */
export function writeResponseHead(sink: HeadSink, status: number, headers: HeaderMap, versionMinor: 0 | 1 = 1, reason?: string): void {
  const line = statusLine(status, versionMinor, reason);
  const start = sink.reserve(line.length + 2 + headers.byteLength());
  const buf = sink.buffer;
  sink.commit(start, putFields(buf, put(buf, start, line), headers));
}

const HEX_DIGITS = "0123456789abcdef";

/** Worker: a chunk-size line, `hex(size)\r\n` (RFC 9112 §7.1); size must be > 0 (0 is LAST_CHUNK / encodeTrailers). */
export function encodeChunkHeader(size: number): Uint8Array {
  if (!(size > 0) || !Number.isSafeInteger(size)) throw new RangeError(`invalid chunk size ${size}`);
  let digits = 0;
  for (let v = size; v > 0; v = Math.floor(v / 16)) digits++;
  const out = new Uint8Array(digits + 2);
  let v = size;
  for (let i = digits - 1; i >= 0; i--) {
    out[i] = HEX_DIGITS.charCodeAt(v % 16);
    v = Math.floor(v / 16);
  }
  out[digits] = 13;
  out[digits + 1] = 10;
  return out;
}

/** Worker: last-chunk, trailer field lines and the final CRLF: `0\r\n` + trailers + `\r\n` (RFC 9112 §7.1.2). */
export function encodeTrailers(trailers: HeaderMap): Uint8Array {
  const buf = reserve(5 + trailers.byteLength());
  buf[0] = 48; // "0"
  buf[1] = 13;
  buf[2] = 10;
  return buf.slice(0, putFields(buf, 3, trailers));
}
