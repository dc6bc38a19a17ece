/**
 * HTTP/1.1 message parser (RFC 9112 syntax, RFC 9110 semantics). Worker side (data path).
 *
 * One parser per connection, reused for every message on it (keep-alive, pipelining). It is
 * push-based: execute() takes whatever bytes the socket produced and reports heads, body bytes,
 * trailers and completion through a handler object, so no promise or closure is made per
 * message.
 *
 * How it stays fast (docs/DESIGN §7):
 * - Bytes are parsed in one pass per line with lookup tables; the head is never decoded into one
 *   string and split. Names, method, target and values are decoded straight from byte ranges;
 *   common names and methods are interned (no string is created for them at all).
 * - Only a line that straddles two input chunks is copied (into one reusable buffer); everything
 *   else is read in place. Body bytes are handed on as subarray views of the input, except
 *   small pieces, which are copied: on JSC the first view of a freshly received chunk costs
 *   ~0.4 µs (its ArrayBuffer is materialised), far more than copying a few hundred bytes.
 *
 * How it stays safe (request smuggling, RFC 9112 §11.2): framing is decided exactly as RFC 9112
 * §6.3 says and every ambiguity is fatal: Content-Length with Transfer-Encoding, differing or
 * malformed Content-Length, any transfer coding but a single final "chunked", obs-fold, bare LF,
 * whitespace before the colon, control characters, malformed chunk-size lines.
 *
 * Errors are judged per complete line: a line's faults are reported when its line feed arrives
 * (or when it outgrows the header limit), so the same bytes give the same events however the
 * socket happened to split them.
 */
import { HeaderMap } from "../header_map.ts";

/** Worker: which side of the exchange a parser reads. */
export type MessageKind = "request" | "response";

/** Worker: how the body of a message is delimited (RFC 9112 §6.3). "close" = until EOF, responses only. */
export type BodyFraming = "none" | "length" | "chunked" | "close";

/** Worker: per-connection parser limits (from the HCM's config snapshot). */
export interface Http1ParserOptions {
  kind: MessageKind;
  /** Bytes of start line + field lines + final CRLF (and separately of a trailer section); default 60 KiB, as Envoy's max_request_headers_kb. */
  maxHeaderBytes?: number;
  /** Field lines per header (or trailer) section; default 100, as Envoy's max_headers_count. */
  maxHeadersCount?: number;
}

/** Worker: a parsed request line and header section. */
export interface RequestHead {
  method: string;
  target: string;
  versionMinor: 0 | 1;
  headers: HeaderMap;
  keepAlive: boolean;
  framing: BodyFraming;
  /** -1 unless framing is "length". */
  contentLength: number;
  expectContinue: boolean;
  /** An HTTP/1.1 Upgrade request (Upgrade header listed in Connection, RFC 9110 §7.8). */
  upgrade: boolean;
}

/** Worker: a parsed status line and header section (interim 1xx heads included). */
export interface ResponseHead {
  status: number;
  reason: string;
  versionMinor: 0 | 1;
  headers: HeaderMap;
  keepAlive: boolean;
  framing: BodyFraming;
  /** -1 unless framing is "length". */
  contentLength: number;
}

/** Worker: receives the parser's events; called synchronously from execute() and finish(). */
export interface Http1ParserHandler {
  onRequestHead?(head: RequestHead): void;
  /** Also called for interim 1xx heads (not 101), with framing "none" and no onMessageComplete; the final response follows. */
  onResponseHead?(head: ResponseHead): void;
  /** Decoded body bytes: the chunk given to execute() itself, a view into it, or (pieces up to SMALL_BODY bytes) a copy; consume or copy before that chunk is reused. */
  onBody(chunk: Uint8Array): void;
  /** Only for chunked messages whose trailer section was not empty. */
  onTrailers(trailers: HeaderMap): void;
  onMessageComplete(): void;
  /** Fatal: the parser is dead afterwards. */
  onError(err: CodecError): void;
}

/** Worker: Envoy-style response code details used by this codec (HCM local replies and access logs report them). */
export const Http1Details = {
  codecError: "http1.codec_error",
  invalidCharacters: "http1.invalid_characters",
  headersTooLarge: "http1.headers_too_large",
  tooManyHeaders: "http1.too_many_headers",
  invalidMethod: "http1.invalid_method",
  invalidUrl: "http1.invalid_url",
  unsupportedVersion: "http1.unsupported_version",
  contentLengthAndChunked: "http1.content_length_and_chunked_not_allowed",
  invalidTransferEncoding: "http1.invalid_transfer_encoding",
  duplicateContentLength: "http1.duplicate_content_length",
  invalidContentLength: "http1.invalid_content_length",
  missingHost: "http1.missing_host",
  duplicateHost: "http1.duplicate_host",
  invalidHost: "http1.invalid_host",
  invalidChunk: "http1.invalid_chunk",
  bodyDisallowed: "http1.body_disallowed",
  prematureEof: "http1.premature_eof",
} as const;

/** Worker: a fatal protocol error; `status` is the local reply to send (always 502 for a response parser: a bad upstream). */
export class CodecError extends Error {
  constructor(
    readonly status: number,
    readonly detail: string,
    message: string,
  ) {
    super(message);
    this.name = "CodecError";
  }
}

// ---------------------------------------------------------------------------------------------
// Byte classes. Tables, not regexes or comparisons chains: one indexed load per byte.

const CR = 13;
const LF = 10;
const SP = 32;
const HT = 9;
const COLON = 58;
const COMMA = 44;
const SEMI = 59;

/** tchar (RFC 9110 §5.6.2) → its lower-case code; 0 for anything else. Lower-cases names for free. */
const TCHAR = new Uint8Array(256);
for (let c = 0; c < 256; c++) {
  const ch = String.fromCharCode(c);
  if (/[A-Z]/.test(ch)) TCHAR[c] = c + 32;
  else if (/[a-z0-9!#$%&'*+\-.^_`|~]/.test(ch)) TCHAR[c] = c;
}
/** field-vchar / SP / HTAB (RFC 9110 §5.5): VCHAR, obs-text, SP, HTAB. Rejects NUL, CR, LF and other CTLs. */
const VALUE_OK = new Uint8Array(256);
for (let c = 0; c < 256; c++) VALUE_OK[c] = c === HT || (c >= 0x20 && c !== 0x7f) ? 1 : 0;
/** request-target bytes: visible ASCII, plus obs-text which some clients send raw (no SP, no CTL). */
const TARGET_OK = new Uint8Array(256);
for (let c = 0; c < 256; c++) TARGET_OK[c] = c > 0x20 && c !== 0x7f ? 1 : 0;
/** Host / authority-form bytes: unreserved, sub-delims, pct-encoded, ':' and IP-literal brackets (RFC 3986 §3.2). */
const HOST_OK = new Uint8Array(256);
for (let c = 0; c < 256; c++) HOST_OK[c] = /[A-Za-z0-9\-._~!$&'()*+,;=%:[\]]/.test(String.fromCharCode(c)) ? 1 : 0;
/** Hex digit value + 1 (0 = not a hex digit), for chunk-size (RFC 9112 §7.1). */
const HEX = new Uint8Array(256);
for (let c = 0; c < 256; c++) {
  if (c >= 48 && c <= 57) HEX[c] = c - 48 + 1;
  else if (c >= 97 && c <= 102) HEX[c] = c - 97 + 11;
  else if (c >= 65 && c <= 70) HEX[c] = c - 65 + 11;
}

/** Worker: body pieces up to this many bytes are handed on as copies rather than views (see the header comment). */
export const SMALL_BODY = 2048;

/** Longest chunk-size line (size + extensions) we accept; extensions are dropped on re-encoding anyway. */
const MAX_CHUNK_LINE = 4096;

function ascii(s: string): Uint8Array {
  const b = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) b[i] = s.charCodeAt(i);
  return b;
}

// Interned field names: returned as the same string object every time, and given an id so the
// headers that steer framing are recognised with an integer compare.
const KNOWN_NAMES = [
  "host", "content-length", "transfer-encoding", "connection", "expect", "upgrade",
  "user-agent", "accept", "accept-encoding", "accept-language", "content-type", "cookie",
  "set-cookie", "date", "server", "cache-control", "authorization", "x-forwarded-for",
  "x-forwarded-proto", "x-request-id", "keep-alive", "te", "trailer", "referer", "origin",
  "location", "etag", "last-modified", "if-none-match", "if-modified-since", "vary",
  "content-encoding", "range", "pragma", "via", "accept-ranges", "proxy-connection",
  "x-envoy-expected-rq-timeout-ms", "grpc-status", "grpc-message", "age", "expires",
  "access-control-allow-origin", "strict-transport-security", "sec-websocket-key",
  "sec-websocket-version", "sec-websocket-accept", "x-real-ip", "forwarded",
];
const ID_HOST = 0;
const ID_CONTENT_LENGTH = 1;
const ID_TRANSFER_ENCODING = 2;
const ID_CONNECTION = 3;
const ID_EXPECT = 4;
const ID_UPGRADE = 5;
const ID_SPECIAL_MAX = 5;
const KNOWN_BYTES = KNOWN_NAMES.map(ascii);
const KNOWN_BY_LEN: number[][] = [];
for (let id = 0; id < KNOWN_NAMES.length; id++) (KNOWN_BY_LEN[KNOWN_NAMES[id].length] ??= []).push(id);
for (let n = 0; n < KNOWN_BY_LEN.length; n++) KNOWN_BY_LEN[n] ??= [];

const KNOWN_METHODS = ["GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"];
const METHOD_BYTES = KNOWN_METHODS.map(ascii);

const LIT_CLOSE = ascii("close");
const LIT_KEEP_ALIVE = ascii("keep-alive");
const LIT_UPGRADE = ascii("upgrade");
const LIT_CHUNKED = ascii("chunked");
const LIT_100_CONTINUE = ascii("100-continue");
const LIT_HTTP = ascii("http://");
const LIT_HTTPS = ascii("https://");

/** Whether src[s, e) equals the lower-case literal, ASCII case-insensitively (tokens, RFC 9110 §5.6.2). */
function tokenEquals(src: Uint8Array, s: number, e: number, lit: Uint8Array): boolean {
  if (e - s !== lit.length) return false;
  for (let i = 0; i < lit.length; i++) if (TCHAR[src[s + i]] !== lit[i]) return false;
  return true;
}

/** Whether src[s, …) starts with the lower-case literal, case-insensitively (URI schemes, RFC 3986 §3.1). */
function startsWithCi(src: Uint8Array, s: number, e: number, lit: Uint8Array): boolean {
  if (e - s < lit.length) return false;
  for (let i = 0; i < lit.length; i++) {
    const c = src[s + i];
    if ((c >= 65 && c <= 90 ? c + 32 : c) !== lit[i]) return false;
  }
  return true;
}

function knownNameId(src: Uint8Array, s: number, e: number): number {
  const n = e - s;
  if (n >= KNOWN_BY_LEN.length) return -1;
  const cands = KNOWN_BY_LEN[n];
  for (let k = 0; k < cands.length; k++) {
    const kb = KNOWN_BYTES[cands[k]];
    let j = 0;
    while (j < n && TCHAR[src[s + j]] === kb[j]) j++;
    if (j === n) return cands[k];
  }
  return -1;
}

const utf8 = new TextDecoder();

// Reused argument arrays, one per length, for String.fromCharCode.apply: for short strings this
// builds a flat string in one call (char-by-char `+=` builds ropes, which JSC must flatten later).
const SHORT = 16;
const ARGS: number[][] = Array.from({ length: SHORT + 1 }, (_, n) => new Array<number>(n).fill(0));

/**
 * Decodes src[s, e) one char per byte (ISO-8859-1), so obs-text bytes survive a round trip.
 * Longer ASCII strings go through the native UTF-8 decoder, identical to latin1 for ASCII.
 * TextDecoder("latin1") is not used: it is windows-1252, which remaps 0x80–0x9F.
 */
function latin1(src: Uint8Array, s: number, e: number): string {
  const n = e - s;
  if (n <= SHORT) {
    const a = ARGS[n];
    for (let i = 0; i < n; i++) a[i] = src[s + i];
    return String.fromCharCode.apply(null, a);
  }
  let hi = 0;
  for (let i = s; i < e; i++) hi |= src[i];
  if (hi < 0x80) return utf8.decode(src.subarray(s, e));
  let r = "";
  for (let i = s; i < e; i += 4096) {
    r += String.fromCharCode.apply(null, src.subarray(i, Math.min(e, i + 4096)) as unknown as number[]);
  }
  return r;
}

// A direct-mapped cache of recently decoded values and targets. Proxied traffic repeats most of
// them (host, user-agent, accept, content-type, paths), and a byte compare against the cached
// string is far cheaper than allocating a new one. The slot hash reads 4 bytes (O(1)); a miss
// just overwrites the slot, so hostile input can only cost misses, never growth.
const CACHE_SLOTS = 1024;
const CACHE_MAX_LEN = 96;
const valueCache: string[] = new Array<string>(CACHE_SLOTS).fill("");

/** latin1() through the value cache. */
function cachedLatin1(src: Uint8Array, s: number, e: number): string {
  const n = e - s;
  if (n === 0) return "";
  if (n > CACHE_MAX_LEN) return latin1(src, s, e);
  const slot = (n * 0x9e5 + src[s] * 0x3b + src[s + (n >> 1)] * 0x1f + src[e - 1]) & (CACHE_SLOTS - 1);
  const c = valueCache[slot];
  if (c.length === n) {
    let k = 0;
    while (k < n && c.charCodeAt(k) === src[s + k]) k++;
    if (k === n) return c;
  }
  const v = latin1(src, s, e);
  valueCache[slot] = v;
  return v;
}

/** Decodes a validated token, lower-cased through the TCHAR table. */
function lowerToken(src: Uint8Array, s: number, e: number): string {
  const n = e - s;
  if (n <= SHORT) {
    const a = ARGS[n];
    for (let i = 0; i < n; i++) a[i] = TCHAR[src[s + i]];
    return String.fromCharCode.apply(null, a);
  }
  return utf8.decode(src.subarray(s, e)).toLowerCase();
}

// Field names outside KNOWN_NAMES (x-b3-traceid, custom headers) are interned the same way,
// compared case-insensitively through TCHAR.
const NAME_SLOTS = 256;
const nameCache: string[] = new Array<string>(NAME_SLOTS).fill("");

/** A validated field name, lower-cased, interned when possible. */
function fieldName(src: Uint8Array, s: number, e: number): string {
  const n = e - s;
  if (n > CACHE_MAX_LEN) return lowerToken(src, s, e);
  const slot = (n * 0x9e5 + TCHAR[src[s]] * 0x3b + TCHAR[src[s + (n >> 1)]] * 0x1f + TCHAR[src[e - 1]]) & (NAME_SLOTS - 1);
  const c = nameCache[slot];
  if (c.length === n) {
    let k = 0;
    while (k < n && c.charCodeAt(k) === TCHAR[src[s + k]]) k++;
    if (k === n) return c;
  }
  const v = lowerToken(src, s, e);
  nameCache[slot] = v;
  return v;
}

// ---------------------------------------------------------------------------------------------
// Parser states. Line states first so `state <= S_FIELDS` tests "reading a head".

const S_START = 0; // expecting a start line (leading CRLFs are skipped, RFC 9112 §2.2)
const S_FIELDS = 1; // header field lines
const S_TRAILERS = 2; // trailer field lines after the last chunk (RFC 9112 §7.1.2)
const S_BODY_LENGTH = 3;
const S_CHUNK_SIZE = 4; // hex digits
const S_CHUNK_BWS = 5; // whitespace after the size, before ';'
const S_CHUNK_EXT = 6; // chunk-ext up to CR
const S_CHUNK_SIZE_LF = 7;
const S_CHUNK_DATA = 8;
const S_CHUNK_DATA_CR = 9;
const S_CHUNK_DATA_LF = 10;
const S_BODY_CLOSE = 11;
const S_DEAD = 12;

const INCOMPLETE = -1;
const ERR = -2;

const FRAMING_NONE: BodyFraming = "none";

/** Worker: a streaming HTTP/1.1 request or response parser, one per connection, reusable across messages. */
export class Http1Parser {
  private readonly isRequest: boolean;
  private readonly maxHeaderBytes: number;
  private readonly maxHeadersCount: number;
  private readonly handler: Http1ParserHandler;

  private state = S_START;
  private _paused = false;
  private _inMessage = false;

  // A line split across execute() calls is copied here until its LF arrives.
  private lineBuf: Uint8Array | null = null;
  private lineLen = 0;

  // Per head (reset by the start line) or per trailer section.
  private headBytes = 0;
  private fieldCount = 0;
  private headers: HeaderMap | null = null;
  private method = "";
  private target = "";
  private status = 0;
  private reason = "";
  private versionMinor: 0 | 1 = 1;
  private clSeen = false;
  private clValue = -1;
  private teSeen = false;
  private teChunked = false;
  private teUnsupported = false;
  private connClose = false;
  private connKeepAlive = false;
  private connUpgrade = false;
  private hostCount = 0;
  private expectSeen = false;
  private upgradeSeen = false;

  // Per message.
  private remaining = 0; // body bytes left (length framing) or chunk bytes left
  private chunkLineBytes = 0;
  private tunnelAfter = false; // pause after completion: the bytes that follow are not HTTP/1
  private expectMethod = ""; // response parsers: the method the next final response answers

  constructor(opts: Http1ParserOptions, handler: Http1ParserHandler) {
    this.isRequest = opts.kind === "request";
    this.maxHeaderBytes = opts.maxHeaderBytes ?? 60 * 1024;
    this.maxHeadersCount = opts.maxHeadersCount ?? 100;
    this.handler = handler;
  }

  /** Worker: true after pause() (or after an upgrade/CONNECT message completed) until resume(). */
  get paused(): boolean {
    return this._paused;
  }

  /** Worker: true between a head and its onMessageComplete (interim 1xx heads included). */
  get inMessage(): boolean {
    return this._inMessage;
  }

  /**
   * Worker: stops byte consumption after the current callback; execute() then returns the bytes it used.
   * A message without body still gets its onMessageComplete right after its head (no bytes lie between).
   */
  pause(): void {
    this._paused = true;
  }

  /** Worker: allows execute() again; the caller re-feeds the bytes the paused execute() did not consume. */
  resume(): void {
    this._paused = false;
  }

  /** Worker: response parsers: the method of the request the next final response answers (HEAD and CONNECT change framing, RFC 9112 §6.3). */
  expectResponseTo(method: string): void {
    this.expectMethod = method;
  }

  /** Worker: back to the initial state, keeping options, handler and buffers. */
  reset(): void {
    this.state = S_START;
    this._paused = false;
    this._inMessage = false;
    this.lineLen = 0;
    this.headBytes = 0;
    this.fieldCount = 0;
    this.headers = null;
    this.remaining = 0;
    this.chunkLineBytes = 0;
    this.tunnelAfter = false;
    this.expectMethod = "";
  }

  /**
   * Worker: parses as much of `chunk` as it can and returns the bytes consumed: less than
   * chunk.length only when paused (the caller keeps and later re-feeds the rest) or after an error.
   */
  execute(chunk: Uint8Array): number {
    if (this.state === S_DEAD || this._paused) return 0;
    const len = chunk.length;
    let pos = 0;
    try {
      while (pos < len) {
        const st = this.state;
        if (st <= S_TRAILERS) {
          pos = this.lines(chunk, pos);
        } else if (st === S_BODY_LENGTH || st === S_CHUNK_DATA) {
          const take = Math.min(this.remaining, len - pos);
          const end = pos + take;
          this.remaining -= take;
          if (this.remaining === 0) {
            if (st === S_CHUNK_DATA) this.state = S_CHUNK_DATA_CR;
            else this.state = S_START; // set before the callbacks so a pause inside them is consistent
          }
          this.handler.onBody(take === len ? chunk : take <= SMALL_BODY ? chunk.slice(pos, end) : chunk.subarray(pos, end));
          pos = end;
          if (this.remaining === 0 && st === S_BODY_LENGTH) this.complete();
        } else if (st === S_BODY_CLOSE) {
          // RFC 9112 §6.3 rule 8: everything until the connection closes is body.
          this.handler.onBody(pos === 0 ? chunk : chunk.subarray(pos));
          pos = len;
        } else if (st === S_DEAD) {
          break;
        } else {
          pos = this.chunkFraming(chunk, pos);
        }
        if (this._paused) break;
      }
    } catch (e) {
      // A throwing handler leaves the message half-delivered; never parse on from there.
      this.state = S_DEAD;
      throw e;
    }
    return pos;
  }

  /**
   * Worker: the connection reached EOF. Completes a close-delimited response body, or reports a
   * truncated message (400 request / 502 response). Returns true at a clean message boundary.
   */
  finish(): boolean {
    const st = this.state;
    if (st === S_DEAD) return false;
    if (st === S_BODY_CLOSE) {
      this.complete();
      return true;
    }
    if (st === S_START && this.lineLen === 0 && !this._inMessage) return true;
    this.fail(400, Http1Details.prematureEof, this.isRequest ? "connection closed before the request was complete" : "upstream closed the connection before the response was complete");
    return false;
  }

  // -------------------------------------------------------------------------------------------

  /** Reports a fatal error once; response parsers always report 502 (the upstream misbehaved). */
  private fail(status: number, detail: string, message: string): number {
    this.state = S_DEAD;
    this.handler.onError(new CodecError(this.isRequest ? status : 502, detail, message));
    return ERR;
  }

  /** Processes head/trailer lines from chunk[pos…]; returns the new position. */
  private lines(chunk: Uint8Array, pos: number): number {
    const len = chunk.length;
    while (pos < len) {
      if (this.lineLen > 0) {
        // Finish a line begun in an earlier chunk: copy up to its LF, then parse the copy.
        let lf = pos;
        while (lf < len && chunk[lf] !== LF) lf++;
        const end = lf < len ? lf + 1 : len;
        if (!this.bufferLine(chunk, pos, end)) return pos;
        if (lf === len) return len;
        const n = this.lineLen;
        this.lineLen = 0;
        const r = this.line(this.lineBuf!, 0, n);
        if (r !== n) {
          // A complete line always parses to its end or fails; anything else is a parser bug.
          if (r !== ERR) this.fail(400, Http1Details.codecError, "internal: buffered line not consumed");
          return pos;
        }
        pos = end;
      } else {
        const r = this.line(chunk, pos, len);
        if (r === INCOMPLETE) return this.bufferLine(chunk, pos, len) ? len : pos;
        if (r === ERR) return pos;
        pos = r;
      }
      if (this.state > S_TRAILERS || this._paused) return pos;
    }
    return pos;
  }

  /** Keeps a partial line for the next chunk, enforcing the header size limit on it. */
  private bufferLine(src: Uint8Array, s: number, e: number): boolean {
    const n = e - s;
    const need = this.lineLen + n;
    if (this.headBytes + need > this.maxHeaderBytes) {
      this.fail(431, Http1Details.headersTooLarge, `header section exceeds ${this.maxHeaderBytes} bytes`);
      return false;
    }
    let buf = this.lineBuf;
    if (buf === null || buf.length < need) {
      const grown = new Uint8Array(Math.max(need, buf === null ? 256 : buf.length * 2));
      if (buf !== null) grown.set(buf.subarray(0, this.lineLen));
      this.lineBuf = buf = grown;
    }
    buf.set(n === src.length ? src : src.subarray(s, e), this.lineLen);
    this.lineLen = need;
    return true;
  }

  /** Parses one line at src[s…limit): returns the index after its LF, INCOMPLETE or ERR. */
  private line(src: Uint8Array, s: number, limit: number): number {
    const st = this.state;
    if (st === S_START) {
      if (src[s] === CR) {
        // RFC 9112 §2.2: ignore empty lines before a request line (old clients send CRLF after a body).
        if (s + 1 >= limit) return INCOMPLETE;
        if (src[s + 1] === LF) return s + 2;
        return this.lineError(src, s, limit, 400, Http1Details.codecError, "CR not followed by LF");
      }
      return this.isRequest ? this.requestLine(src, s, limit) : this.statusLine(src, s, limit);
    }
    return this.fieldLine(src, s, limit, st === S_TRAILERS);
  }

  /**
   * A fault was found in the line at src[s…]. Faults are reported only once the whole line is
   * here (else INCOMPLETE), and the size limit is judged first, so split points never change
   * the outcome.
   */
  private lineError(src: Uint8Array, s: number, limit: number, status: number, detail: string, message: string): number {
    let lf = s;
    while (lf < limit && src[lf] !== LF) lf++;
    if (lf === limit) return INCOMPLETE;
    if (this.headBytes + (lf + 1 - s) > this.maxHeaderBytes) {
      return this.fail(431, Http1Details.headersTooLarge, `header section exceeds ${this.maxHeaderBytes} bytes`);
    }
    return this.fail(status, detail, message);
  }

  /** Returns the index of the LF ending the line that starts at s, or -1 if not in src[s, limit). */
  private static findLf(src: Uint8Array, i: number, limit: number): number {
    while (i < limit && src[i] !== LF) i++;
    return i < limit ? i : -1;
  }

  /** Resets the per-head state when a start line begins a new head. */
  private beginHead(lineBytes: number): void {
    this.headBytes = lineBytes;
    this.fieldCount = 0;
    this.headers = new HeaderMap();
    this.clSeen = false;
    this.clValue = -1;
    this.teSeen = false;
    this.teChunked = false;
    this.teUnsupported = false;
    this.connClose = false;
    this.connKeepAlive = false;
    this.connUpgrade = false;
    this.hostCount = 0;
    this.expectSeen = false;
    this.upgradeSeen = false;
    this.state = S_FIELDS;
  }

  /** request-line = method SP request-target SP HTTP-version CRLF (RFC 9112 §3); single SPs only. */
  private requestLine(src: Uint8Array, s: number, limit: number): number {
    let i = s;
    while (i < limit && TCHAR[src[i]] !== 0) i++;
    if (i >= limit) return INCOMPLETE;
    if (src[i] !== SP || i === s) return this.lineError(src, s, limit, 400, Http1Details.invalidMethod, "invalid method token");
    const ms = s;
    const me = i;
    const ts = ++i;
    while (i < limit && TARGET_OK[src[i]] !== 0) i++;
    if (i >= limit) return INCOMPLETE;
    const te = i;
    if (src[i] !== SP || i === ts) {
      const c = src[i];
      if (c === CR || c === LF) return this.lineError(src, s, limit, 400, Http1Details.codecError, "request line has no HTTP version");
      return this.lineError(src, s, limit, 400, Http1Details.invalidUrl, "invalid character in request target");
    }
    const vs = i + 1;
    const lf = Http1Parser.findLf(src, vs, limit);
    if (lf < 0) return INCOMPLETE;
    const end = lf + 1;
    if (end - s > this.maxHeaderBytes) {
      return this.fail(431, Http1Details.headersTooLarge, `header section exceeds ${this.maxHeaderBytes} bytes`);
    }
    const minor = this.version(src, vs, lf);
    if (minor < 0) return ERR;

    // Method: interned when common (methods are case-sensitive, RFC 9110 §9.1).
    let method: string | undefined;
    const mlen = me - ms;
    for (let k = 0; k < METHOD_BYTES.length; k++) {
      const mb = METHOD_BYTES[k];
      if (mb.length !== mlen) continue;
      let j = 0;
      while (j < mlen && src[ms + j] === mb[j]) j++;
      if (j === mlen) {
        method = KNOWN_METHODS[k];
        break;
      }
    }
    method ??= latin1(src, ms, me);

    // request-target forms (RFC 9112 §3.2): origin-form for everything but CONNECT (which
    // requires authority-form), absolute-form (http/https), asterisk-form only for OPTIONS.
    const t0 = src[ts];
    const isConnect = method === "CONNECT";
    let ok: boolean;
    if (isConnect) ok = validAuthority(src, ts, te);
    else if (t0 === 47 /* / */) ok = true;
    else if (t0 === 42 /* * */) ok = te - ts === 1 && method === "OPTIONS";
    else ok = startsWithCi(src, ts, te, LIT_HTTP) || startsWithCi(src, ts, te, LIT_HTTPS);
    if (!ok) return this.fail(400, Http1Details.invalidUrl, `invalid request target form for ${method}`);

    this.method = method;
    this.target = cachedLatin1(src, ts, te);
    this.versionMinor = minor as 0 | 1;
    this.beginHead(end - s);
    return end;
  }

  /** status-line = HTTP-version SP status-code SP [ reason-phrase ] CRLF (RFC 9112 §4); a missing second SP is tolerated. */
  private statusLine(src: Uint8Array, s: number, limit: number): number {
    const lf = Http1Parser.findLf(src, s, limit);
    if (lf < 0) return INCOMPLETE;
    const end = lf + 1;
    if (end - s > this.maxHeaderBytes) {
      return this.fail(431, Http1Details.headersTooLarge, `header section exceeds ${this.maxHeaderBytes} bytes`);
    }
    if (lf - s < 13 || src[s + 8] !== SP) return this.fail(502, Http1Details.codecError, "malformed status line");
    const minor = this.version(src, s, s + 8);
    if (minor < 0) return ERR;
    if (src[lf - 1] !== CR) return this.fail(502, Http1Details.codecError, "bare LF in status line");
    const d0 = src[s + 9] - 48, d1 = src[s + 10] - 48, d2 = src[s + 11] - 48;
    if (d0 < 1 || d0 > 9 || d1 < 0 || d1 > 9 || d2 < 0 || d2 > 9) return this.fail(502, Http1Details.codecError, "invalid status code");
    const status = d0 * 100 + d1 * 10 + d2;
    const cr = lf - 1;
    let reason = "";
    if (cr > s + 12) {
      if (src[s + 12] !== SP) return this.fail(502, Http1Details.codecError, "malformed status line");
      for (let i = s + 13; i < cr; i++) {
        if (VALUE_OK[src[i]] === 0) return this.fail(502, Http1Details.invalidCharacters, "invalid character in reason phrase");
      }
      reason = cachedLatin1(src, s + 13, cr);
    }
    this.status = status;
    this.reason = reason;
    this.versionMinor = minor as 0 | 1;
    this.beginHead(end - s);
    return end;
  }

  /**
   * HTTP-version at src[vs, lf) followed by CR at lf-1 for request lines, or exactly 8 bytes for
   * status lines. Returns the minor version or ERR. HTTP/x.y other than 1.0/1.1 → 505 (RFC 9110
   * §15.6.6); anything else → 400.
   */
  private version(src: Uint8Array, vs: number, lf: number): number {
    // Request lines pass the LF index (CR precedes it); status lines pass vs + 8.
    let ve = lf;
    if (this.isRequest) {
      if (src[lf - 1] !== CR) return this.fail(400, Http1Details.codecError, "bare LF in request line");
      ve = lf - 1;
    }
    if (
      ve - vs !== 8 || src[vs] !== 72 || src[vs + 1] !== 84 || src[vs + 2] !== 84 || src[vs + 3] !== 80 ||
      src[vs + 4] !== 47 || src[vs + 6] !== 46
    ) {
      return this.fail(400, Http1Details.codecError, "malformed HTTP version");
    }
    const major = src[vs + 5] - 48;
    const minor = src[vs + 7] - 48;
    if (major < 0 || major > 9 || minor < 0 || minor > 9) return this.fail(400, Http1Details.codecError, "malformed HTTP version");
    if (major !== 1 || minor > 1) return this.fail(505, Http1Details.unsupportedVersion, `unsupported HTTP version ${major}.${minor}`);
    return minor;
  }

  /**
   * field-line = field-name ":" OWS field-value OWS CRLF (RFC 9112 §5, RFC 9110 §5.5), or the
   * empty line ending the section. One pass: name bytes through TCHAR, value bytes through
   * VALUE_OK; trailing OWS is trimmed afterwards by stepping back from the CR.
   */
  private fieldLine(src: Uint8Array, s: number, limit: number, trailer: boolean): number {
    let c = src[s];
    if (c === CR) {
      if (s + 1 >= limit) return INCOMPLETE;
      if (src[s + 1] !== LF) return this.lineError(src, s, limit, 400, Http1Details.codecError, "CR not followed by LF");
      if (this.headBytes + 2 > this.maxHeaderBytes) {
        return this.fail(431, Http1Details.headersTooLarge, `header section exceeds ${this.maxHeaderBytes} bytes`);
      }
      if (trailer) this.endTrailers();
      else this.endHead();
      return this.state === S_DEAD ? ERR : s + 2;
    }
    if (c === SP || c === HT) {
      // RFC 9112 §5.2: obs-fold must be rejected outside message/http.
      return this.lineError(src, s, limit, 400, Http1Details.codecError, "obsolete line folding");
    }
    let i = s;
    while (i < limit && TCHAR[(c = src[i])] !== 0) i++;
    if (i >= limit) return INCOMPLETE;
    if (c !== COLON) {
      // RFC 9112 §5.1: no whitespace between field name and colon (a classic smuggling vector).
      if (c === SP || c === HT) return this.lineError(src, s, limit, 400, Http1Details.invalidCharacters, "whitespace before colon in field line");
      if (c === LF || c === CR) return this.lineError(src, s, limit, 400, Http1Details.codecError, "field line without colon");
      return this.lineError(src, s, limit, 400, Http1Details.invalidCharacters, "invalid character in field name");
    }
    if (i === s) return this.lineError(src, s, limit, 400, Http1Details.invalidCharacters, "empty field name");
    const ne = i++;
    while (i < limit && ((c = src[i]) === SP || c === HT)) i++;
    const vs = i;
    while (i < limit && VALUE_OK[src[i]] !== 0) i++;
    if (i >= limit) return INCOMPLETE;
    c = src[i];
    let ve = i; // trailing OWS is not part of the value (RFC 9110 §5.5)
    while (ve > vs && (src[ve - 1] === SP || src[ve - 1] === HT)) ve--;
    // RFC 9110 §5.5: CR, LF and NUL in a value must be rejected; we reject every CTL but HTAB.
    if (c !== CR) {
      if (c === LF) return this.lineError(src, s, limit, 400, Http1Details.codecError, "bare LF line terminator");
      return this.lineError(src, s, limit, 400, Http1Details.invalidCharacters, "invalid character in field value");
    }
    if (i + 1 >= limit) return INCOMPLETE;
    if (src[i + 1] !== LF) return this.lineError(src, s, limit, 400, Http1Details.invalidCharacters, "CR inside field value");
    const end = i + 2;
    const headBytes = this.headBytes + (end - s);
    if (headBytes > this.maxHeaderBytes) {
      return this.fail(431, Http1Details.headersTooLarge, `header section exceeds ${this.maxHeaderBytes} bytes`);
    }
    if (++this.fieldCount > this.maxHeadersCount) {
      return this.fail(431, Http1Details.tooManyHeaders, `more than ${this.maxHeadersCount} header fields`);
    }
    this.headBytes = headBytes;

    const id = knownNameId(src, s, ne);
    const name = id >= 0 ? KNOWN_NAMES[id] : fieldName(src, s, ne);
    let value: string | undefined;
    if (id >= 0 && id <= ID_SPECIAL_MAX && !trailer) {
      switch (id) {
        case ID_HOST:
          // RFC 9112 §3.2: more than one Host line, or an invalid value, is a 400 (requests only).
          if (!this.isRequest) break;
          if (++this.hostCount > 1) return this.fail(400, Http1Details.duplicateHost, "multiple Host header fields");
          for (let k = vs; k < ve; k++) {
            if (HOST_OK[src[k]] === 0) return this.fail(400, Http1Details.invalidHost, "invalid Host header value");
          }
          break;
        case ID_CONTENT_LENGTH: {
          const r = this.contentLength(src, vs, ve);
          if (r === ERR) return ERR;
          if (r === 0) return end; // an identical duplicate: folded into the first line
          if (r === 2) value = String(this.clValue); // a list of identical values: normalised
          break;
        }
        case ID_TRANSFER_ENCODING:
          if (this.transferEncoding(src, vs, ve) === ERR) return ERR;
          break;
        case ID_CONNECTION:
          this.connectionTokens(src, vs, ve);
          break;
        case ID_EXPECT:
          // RFC 9110 §10.1.1: the only expectation defined is 100-continue.
          if (tokenEquals(src, vs, ve, LIT_100_CONTINUE)) this.expectSeen = true;
          break;
        case ID_UPGRADE:
          if (ve > vs) this.upgradeSeen = true;
          break;
      }
    }
    value ??= cachedLatin1(src, vs, ve);
    // Heads get their map from the start line; a trailer map exists only once a trailer does.
    (this.headers ??= new HeaderMap()).add(name, value);
    return end;
  }

  /**
   * Content-Length = 1*DIGIT (RFC 9110 §8.6). A list or repeated lines of one identical value
   * may be folded; differing values, signs, empties or values ≥ 2^53 are fatal (RFC 9112 §6.3
   * rule 5). Returns 1 (add as is), 2 (add normalised), 0 (duplicate, skip) or ERR.
   */
  private contentLength(src: Uint8Array, vs: number, ve: number): number {
    let n = -1;
    let list = false;
    let i = vs;
    for (;;) {
      let v = 0;
      const ds = i;
      while (i < ve) {
        const d = src[i] - 48;
        if (d < 0 || d > 9) break;
        v = v * 10 + d;
        if (v > Number.MAX_SAFE_INTEGER) return this.fail(400, Http1Details.invalidContentLength, "Content-Length too large");
        i++;
      }
      if (i === ds) return this.fail(400, Http1Details.invalidContentLength, "invalid Content-Length value");
      if (n >= 0 && v !== n) return this.fail(400, Http1Details.duplicateContentLength, "differing Content-Length values");
      n = v;
      while (i < ve && (src[i] === SP || src[i] === HT)) i++;
      if (i === ve) break;
      if (src[i] !== COMMA) return this.fail(400, Http1Details.invalidContentLength, "invalid Content-Length value");
      list = true;
      i++;
      while (i < ve && (src[i] === SP || src[i] === HT)) i++;
    }
    if (this.clSeen) {
      if (n !== this.clValue) return this.fail(400, Http1Details.duplicateContentLength, "differing Content-Length values");
      return 0;
    }
    this.clSeen = true;
    this.clValue = n;
    return list ? 2 : 1;
  }

  /**
   * Transfer-Encoding list (RFC 9112 §6.1). We implement only "chunked", applied once (RFC 9112
   * §7), which then is necessarily the final coding; any other coding is 501 (RFC 9112 §6.1),
   * chunked twice is 400. Empty list elements are allowed by the list syntax (RFC 9110 §5.6.1).
   */
  private transferEncoding(src: Uint8Array, vs: number, ve: number): number {
    this.teSeen = true;
    let i = vs;
    while (i < ve) {
      let e = i;
      while (e < ve && src[e] !== COMMA) e++;
      let a = i, b = e;
      while (a < b && (src[a] === SP || src[a] === HT)) a++;
      while (b > a && (src[b - 1] === SP || src[b - 1] === HT)) b--;
      if (b > a) {
        if (tokenEquals(src, a, b, LIT_CHUNKED)) {
          if (this.teChunked) return this.fail(400, Http1Details.invalidTransferEncoding, "chunked applied more than once");
          this.teChunked = true;
        } else {
          this.teUnsupported = true;
        }
      }
      i = e + 1;
    }
    return 0;
  }

  /** Connection options (RFC 9110 §7.6.1): comma-separated, case-insensitive tokens. */
  private connectionTokens(src: Uint8Array, vs: number, ve: number): void {
    let i = vs;
    while (i < ve) {
      let e = i;
      while (e < ve && src[e] !== COMMA) e++;
      let a = i, b = e;
      while (a < b && (src[a] === SP || src[a] === HT)) a++;
      while (b > a && (src[b - 1] === SP || src[b - 1] === HT)) b--;
      if (tokenEquals(src, a, b, LIT_CLOSE)) this.connClose = true;
      else if (tokenEquals(src, a, b, LIT_KEEP_ALIVE)) this.connKeepAlive = true;
      else if (tokenEquals(src, a, b, LIT_UPGRADE)) this.connUpgrade = true;
      i = e + 1;
    }
  }

  /** RFC 9112 §9.3: HTTP/1.1 persists unless "close"; HTTP/1.0 only with "keep-alive". */
  private keepAlive(): boolean {
    if (this.connClose) return false;
    return this.versionMinor === 1 || this.connKeepAlive;
  }

  /** The header section ended: decide framing (RFC 9112 §6.3), deliver the head, start the body. */
  private endHead(): void {
    const headers = this.headers!;
    const v = this.versionMinor;
    if (this.isRequest) {
      let framing: BodyFraming = FRAMING_NONE;
      let contentLength = -1;
      if (this.teSeen) {
        if (this.clSeen) {
          this.fail(400, Http1Details.contentLengthAndChunked, "both Content-Length and Transfer-Encoding");
          return;
        }
        if (v === 0) {
          this.fail(400, Http1Details.invalidTransferEncoding, "Transfer-Encoding in an HTTP/1.0 request");
          return;
        }
        if (this.teUnsupported) {
          this.fail(501, Http1Details.invalidTransferEncoding, "unsupported transfer coding");
          return;
        }
        if (!this.teChunked) {
          this.fail(400, Http1Details.invalidTransferEncoding, "empty Transfer-Encoding");
          return;
        }
        framing = "chunked";
      } else if (this.clSeen) {
        framing = "length";
        contentLength = this.clValue;
      }
      if (v === 1 && this.hostCount === 0) {
        this.fail(400, Http1Details.missingHost, "HTTP/1.1 request without Host");
        return;
      }
      const method = this.method;
      const isConnect = method === "CONNECT";
      if (isConnect) {
        // RFC 9110 §9.3.6: CONNECT has no content; after it the connection is a tunnel.
        if (framing === "chunked" || contentLength > 0) {
          this.fail(400, Http1Details.bodyDisallowed, "CONNECT request with a body");
          return;
        }
        framing = FRAMING_NONE;
        contentLength = -1;
      }
      const upgrade = v === 1 && this.upgradeSeen && this.connUpgrade;
      const head: RequestHead = {
        method,
        target: this.target,
        versionMinor: v,
        headers,
        keepAlive: this.keepAlive(),
        framing,
        contentLength,
        // RFC 9110 §10.1.1: a 100-continue expectation in HTTP/1.0 is ignored.
        expectContinue: v === 1 && this.expectSeen,
        upgrade,
      };
      this.headers = null;
      this.tunnelAfter = upgrade || isConnect;
      this._inMessage = true;
      this.startBody(framing, contentLength);
      this.handler.onRequestHead?.(head);
      this.afterHead(framing, contentLength);
      return;
    }

    const status = this.status;
    if (status < 200 && status !== 101) {
      // Interim response (RFC 9110 §15.2): report it and read the next head.
      const head: ResponseHead = {
        status, reason: this.reason, versionMinor: v, headers, keepAlive: this.keepAlive(), framing: FRAMING_NONE, contentLength: -1,
      };
      this.headers = null;
      this._inMessage = true;
      this.state = S_START;
      this.headBytes = 0;
      this.handler.onResponseHead?.(head);
      return;
    }
    const method = this.expectMethod;
    this.expectMethod = "";
    let framing: BodyFraming;
    let contentLength = -1;
    let tunnel = false;
    if (status === 101 || (method === "CONNECT" && status < 300)) {
      // RFC 9112 §6.3 rule 2 / RFC 9110 §15.2.2: the bytes after the head belong to another protocol.
      framing = FRAMING_NONE;
      tunnel = true;
    } else if (method === "HEAD" || status === 204 || status === 304) {
      framing = FRAMING_NONE; // RFC 9112 §6.3 rule 1, whatever the header fields say
    } else if (this.teSeen) {
      if (this.clSeen) {
        this.fail(502, Http1Details.contentLengthAndChunked, "upstream sent both Content-Length and Transfer-Encoding");
        return;
      }
      if (v === 0 || this.teUnsupported || !this.teChunked) {
        this.fail(502, Http1Details.invalidTransferEncoding, "unsupported upstream Transfer-Encoding");
        return;
      }
      framing = "chunked";
    } else if (this.clSeen) {
      framing = "length";
      contentLength = this.clValue;
    } else {
      framing = "close";
    }
    const head: ResponseHead = {
      status,
      reason: this.reason,
      versionMinor: v,
      headers,
      keepAlive: framing !== "close" && this.keepAlive(),
      framing,
      contentLength,
    };
    this.headers = null;
    this.tunnelAfter = tunnel;
    this._inMessage = true;
    this.startBody(framing, contentLength);
    this.handler.onResponseHead?.(head);
    this.afterHead(framing, contentLength);
  }

  /** Enters the body state for a framing (before the head callback, so a pause in it is consistent). */
  private startBody(framing: BodyFraming, contentLength: number): void {
    if (framing === "length" && contentLength > 0) {
      this.state = S_BODY_LENGTH;
      this.remaining = contentLength;
    } else if (framing === "chunked") {
      this.state = S_CHUNK_SIZE;
      this.remaining = 0;
      this.chunkLineBytes = 0;
    } else if (framing === "close") {
      this.state = S_BODY_CLOSE;
    } else {
      this.state = S_START;
    }
  }

  /** Completes a message that has no body bytes right after its head. */
  private afterHead(framing: BodyFraming, contentLength: number): void {
    if (this.state === S_DEAD) return;
    if (framing === FRAMING_NONE || (framing === "length" && contentLength === 0)) this.complete();
  }

  /** Ends the current message: the state is reset before the callback so it may pause, reset or re-arm. */
  private complete(): void {
    this.state = S_START;
    this.headBytes = 0;
    this._inMessage = false;
    const tunnel = this.tunnelAfter;
    this.tunnelAfter = false;
    this.handler.onMessageComplete();
    // After an upgrade or CONNECT the bytes that follow are not HTTP/1: stop until the owner decides.
    if (tunnel) this._paused = true;
  }

  /** Trailer section ended (RFC 9112 §7.1.2): deliver it if not empty, then complete. */
  private endTrailers(): void {
    const trailers = this.headers;
    this.headers = null;
    if (trailers !== null) this.handler.onTrailers(trailers);
    this.complete();
  }

  /** chunk-size [ chunk-ext ] CRLF and the CRLF after chunk-data (RFC 9112 §7.1), byte by byte. */
  private chunkFraming(src: Uint8Array, pos: number): number {
    const len = src.length;
    let st = this.state;
    while (pos < len) {
      const c = src[pos];
      if (st === S_CHUNK_DATA_CR) {
        if (c !== CR) return this.chunkError("chunk data not followed by CRLF", pos);
        st = S_CHUNK_DATA_LF;
        pos++;
        continue;
      }
      if (st === S_CHUNK_DATA_LF) {
        if (c !== LF) return this.chunkError("chunk data not followed by CRLF", pos);
        st = S_CHUNK_SIZE;
        this.remaining = 0;
        this.chunkLineBytes = 0;
        pos++;
        continue;
      }
      if (++this.chunkLineBytes > MAX_CHUNK_LINE) return this.chunkError("chunk-size line too long", pos);
      if (st === S_CHUNK_SIZE) {
        const h = HEX[c];
        if (h !== 0) {
          const v = this.remaining * 16 + (h - 1);
          if (v > Number.MAX_SAFE_INTEGER) return this.chunkError("chunk size too large", pos);
          this.remaining = v;
          pos++;
          continue;
        }
        // At least one hex digit must precede anything else.
        if (this.chunkLineBytes === 1) return this.chunkError("missing chunk size", pos);
        if (c === CR) st = S_CHUNK_SIZE_LF;
        else if (c === SEMI) st = S_CHUNK_EXT;
        else if (c === SP || c === HT) st = S_CHUNK_BWS;
        else return this.chunkError("invalid character in chunk size", pos);
        pos++;
        continue;
      }
      if (st === S_CHUNK_BWS) {
        // BWS is only allowed before a chunk-ext (RFC 9112 §7.1.1).
        if (c === SEMI) st = S_CHUNK_EXT;
        else if (c !== SP && c !== HT) return this.chunkError("invalid character after chunk size", pos);
        pos++;
        continue;
      }
      if (st === S_CHUNK_EXT) {
        // Extensions are skipped (they are not forwarded); only their bytes are checked: no
        // CTLs and no bare LF, which lenient parsers disagree about (chunk-extension smuggling).
        if (c === CR) st = S_CHUNK_SIZE_LF;
        else if (VALUE_OK[c] === 0) return this.chunkError("invalid character in chunk extension", pos);
        pos++;
        continue;
      }
      // S_CHUNK_SIZE_LF
      if (c !== LF) return this.chunkError("chunk-size line not ended by CRLF", pos);
      pos++;
      this.chunkLineBytes = 0;
      if (this.remaining === 0) {
        // last-chunk: a trailer section follows, parsed with the header rules and limits.
        this.state = S_TRAILERS;
        this.headBytes = 0;
        this.fieldCount = 0;
        this.headers = null;
        return pos;
      }
      this.state = S_CHUNK_DATA;
      return pos;
    }
    this.state = st;
    return pos;
  }

  private chunkError(message: string, pos: number): number {
    this.fail(400, Http1Details.invalidChunk, message);
    return pos;
  }
}

/** authority-form for CONNECT (RFC 9112 §3.2.3): host ":" port, with a non-empty decimal port. */
function validAuthority(src: Uint8Array, s: number, e: number): boolean {
  let colon = -1;
  for (let i = s; i < e; i++) {
    const c = src[i];
    if (HOST_OK[c] === 0) return false;
    if (c === COLON) colon = i;
  }
  if (colon <= s || colon === e - 1 || e - colon - 1 > 5) return false;
  for (let i = colon + 1; i < e; i++) if (src[i] < 48 || src[i] > 57) return false;
  return true;
}
