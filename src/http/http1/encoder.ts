/**
 * HTTP/1.1 message encoder (RFC 9112). Worker side (data path).
 *
 * Heads are built as one string and written out as ISO-8859-1, one byte per char code, so
 * obs-text bytes (0x80–0xFF) that the parser decoded round-trip exactly (RFC 9110 §5.5). The
 * common all-ASCII case goes through TextEncoder.encodeInto into a reused scratch buffer (native
 * speed), then one copy of exactly the used length; anything else takes a manual loop.
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

function appendFields(head: string, headers: HeaderMap): string {
  const n = headers.size;
  for (let i = 0; i < n; i++) head += headers.nameAt(i) + ": " + headers.valueAt(i) + "\r\n";
  return head;
}

/** Worker: `METHOD path HTTP/1.1\r\n` + field lines + `\r\n` (RFC 9112 §3, §5). */
export function encodeRequestHead(method: string, path: string, headers: HeaderMap): Uint8Array {
  return encodeLatin1(appendFields(method + " " + path + " HTTP/1.1\r\n", headers) + "\r\n");
}

/** Worker: status line + field lines + `\r\n` (RFC 9112 §4); the standard reason phrase when `reason` is omitted. */
export function encodeResponseHead(status: number, headers: HeaderMap, versionMinor: 0 | 1 = 1, reason?: string): Uint8Array {
  return encodeLatin1(appendFields(statusLine(status, versionMinor, reason), headers) + "\r\n");
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
  return encodeLatin1(appendFields("0\r\n", trailers) + "\r\n");
}
