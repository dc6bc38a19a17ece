/**
 * Envoy access-log / local-reply format strings compiled once into a list of parts (control side
 * compiles, worker side runs). Supported operators are listed in SIMPLE, PARAMETRIZED and
 * UNAVAILABLE; anything else is a config error (`validateFormat`, called by the config layer).
 * https://www.envoyproxy.io/docs/envoy/latest/configuration/observability/access_log/usage
 */
import type { RequestHeaders, ResponseHeaders } from "../filter.ts";
import { formatResponseFlags, ResponseFlag } from "../response_flags.ts";
import type { StreamInfo } from "../stream_info.ts";
import { downstreamSsl } from "../../tls/downstream_tls.ts";

/** A compiled format: one finished stream → one line. */
export type CompiledFormat = (info: StreamInfo, req: RequestHeaders | null, resp: ResponseHeaders | null) => string;

type Part = (info: StreamInfo, req: RequestHeaders | null, resp: ResponseHeaders | null) => string;

/** Every response flag short name Envoy prints (LH, UH, …), in Envoy's order. */
export const RESPONSE_FLAG_NAMES: readonly string[] = formatResponseFlags(0x7fffffff).split(",");

/** The bit set of response flags named in `names` (names from RESPONSE_FLAG_NAMES). */
export function responseFlagBits(names: readonly string[]): number {
  let bits = 0;
  for (let b = 0; b < 31; b++) {
    const n = formatResponseFlags(1 << b);
    if (names.includes(n)) bits |= 1 << b;
  }
  return bits;
}

// %RESPONSE_FLAGS_LONG%: Envoy's long names, in the short names' order (bit order).
const LONG_NAMES: [number, string][] = Object.entries(ResponseFlag)
  .map(([k, bit]) => [bit, k === "OverloadManager" ? "OverloadManagerTerminated" : k] as [number, string])
  .sort((a, b) => a[0] - b[0]);
function formatResponseFlagsLong(flags: number): string {
  if (flags === 0) return "-";
  let out = "";
  for (const [bit, name] of LONG_NAMES) if (flags & bit) out = out ? `${out},${name}` : name;
  return out;
}

function dur(ms: number): string {
  return ms > 0 ? String(Math.round(ms)) : "-";
}

// START_TIME without a format: Envoy's "%Y-%m-%dT%H:%M:%E3SZ". The part up to the seconds is
// cached per second, so a busy logger formats one date per second, not one per line.
let isoSecond = -1;
let isoPrefix = "";
/** %START_TIME% in Envoy's default form, cached per second (both sides). */
export function isoStart(ms: number): string {
  const sec = Math.floor(ms / 1000);
  if (sec !== isoSecond) {
    isoSecond = sec;
    isoPrefix = new Date(sec * 1000).toISOString().slice(0, 19);
  }
  const frac = ms - sec * 1000;
  return isoPrefix + "." + String(Math.floor(frac)).padStart(3, "0") + "Z";
}

/** "ip:port" / "[v6]:port" → the address alone. */
export function stripPort(a: string): string {
  if (a.startsWith("[")) return a.slice(1, a.indexOf("]"));
  const i = a.lastIndexOf(":");
  return i < 0 ? a : a.slice(0, i);
}

function portOf(a: string): string {
  const i = a.lastIndexOf(":");
  return i < 0 || a.endsWith("]") ? "-" : a.slice(i + 1);
}

// The body of the local reply being rendered (local_reply_config body_format); set around one
// synchronous format call, so no per-stream state is needed.
let localReplyBody = "";

/** Worker: sets the text %LOCAL_REPLY_BODY% prints (the HCM sets it while rendering a local reply). */
export function setLocalReplyBody(body: string): void {
  localReplyBody = body;
}

const SIMPLE: Record<string, Part> = {
  LOCAL_REPLY_BODY: () => localReplyBody,
  START_TIME: (i) => isoStart(i.startTimeMs),
  RESPONSE_CODE: (i) => String(i.responseCode),
  RESPONSE_FLAGS: (i) => formatResponseFlags(i.responseFlags),
  RESPONSE_FLAGS_LONG: (i) => formatResponseFlagsLong(i.responseFlags),
  RESPONSE_CODE_DETAILS: (i) => i.responseCodeDetails || "-",
  BYTES_RECEIVED: (i) => String(i.bytesReceived),
  BYTES_SENT: (i) => String(i.bytesSent),
  DURATION: (i) => (i.endMono > 0 ? String(Math.round(i.endMono - i.startMono)) : "-"),
  REQUEST_DURATION: (i) => dur(i.lastDownstreamRxMono > 0 ? i.lastDownstreamRxMono - i.startMono : 0),
  RESPONSE_DURATION: (i) => dur(i.firstUpstreamRxMono > 0 ? i.firstUpstreamRxMono - i.startMono : 0),
  UPSTREAM_HOST: (i) => i.upstreamHost || "-",
  UPSTREAM_REMOTE_ADDRESS: (i) => i.upstreamHost || "-",
  UPSTREAM_REMOTE_ADDRESS_WITHOUT_PORT: (i) => (i.upstreamHost ? stripPort(i.upstreamHost) : "-"),
  UPSTREAM_LOCAL_ADDRESS: (i) => i.upstreamLocalAddress || "-",
  UPSTREAM_LOCAL_ADDRESS_WITHOUT_PORT: (i) => (i.upstreamLocalAddress ? stripPort(i.upstreamLocalAddress) : "-"),
  UPSTREAM_TRANSPORT_FAILURE_REASON: (i) => i.upstreamTransportFailureReason || "-",
  UPSTREAM_CLUSTER: (i) => i.upstreamCluster || "-",
  ROUTE_NAME: (i) => i.routeName || "-",
  PROTOCOL: (i) => i.protocol || "-",
  CONNECTION_ID: (i) => String(i.connectionId),
  DOWNSTREAM_REMOTE_ADDRESS: (i) => i.downstreamRemoteAddress,
  DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT: (i) => stripPort(i.downstreamRemoteAddress),
  DOWNSTREAM_REMOTE_PORT: (i) => portOf(i.downstreamRemoteAddress),
  DOWNSTREAM_DIRECT_REMOTE_ADDRESS: (i) => i.downstreamRemoteAddress,
  DOWNSTREAM_DIRECT_REMOTE_ADDRESS_WITHOUT_PORT: (i) => stripPort(i.downstreamRemoteAddress),
  DOWNSTREAM_DIRECT_REMOTE_PORT: (i) => portOf(i.downstreamRemoteAddress),
  DOWNSTREAM_LOCAL_ADDRESS: (i) => i.downstreamLocalAddress,
  DOWNSTREAM_LOCAL_ADDRESS_WITHOUT_PORT: (i) => stripPort(i.downstreamLocalAddress),
  DOWNSTREAM_LOCAL_PORT: (i) => portOf(i.downstreamLocalAddress),
  REQUEST_ID: (i) => i.requestId || "-",
  REQUESTED_SERVER_NAME: (i) => i.downstreamConnection?.requestedServerName || "-",
  DOWNSTREAM_PEER_SUBJECT: (i) => downstreamSsl(i.downstreamConnection?.socket)?.peerSubject || "-",
  DOWNSTREAM_TLS_VERSION: (i) => downstreamSsl(i.downstreamConnection?.socket)?.version || "-",
  DOWNSTREAM_TLS_CIPHER: (i) => downstreamSsl(i.downstreamConnection?.socket)?.cipher || "-",
};

/** Operators Envoy has that describe TLS or features Legate does not have yet: always "-"
 *  (a plaintext connection has no peer certificate, as in Envoy). */
const UNAVAILABLE = [
  "DOWNSTREAM_PEER_URI_SAN", "DOWNSTREAM_PEER_DNS_SAN", "DOWNSTREAM_PEER_IP_SAN", "DOWNSTREAM_PEER_EMAIL_SAN",
  "DOWNSTREAM_PEER_OTHERNAME_SAN", "DOWNSTREAM_PEER_ISSUER", "DOWNSTREAM_PEER_FINGERPRINT_256",
  "DOWNSTREAM_PEER_FINGERPRINT_1", "DOWNSTREAM_PEER_SERIAL", "DOWNSTREAM_PEER_CERT", "DOWNSTREAM_PEER_CERT_V_START",
  "DOWNSTREAM_PEER_CERT_V_END", "DOWNSTREAM_LOCAL_URI_SAN", "DOWNSTREAM_LOCAL_DNS_SAN", "DOWNSTREAM_LOCAL_IP_SAN",
  "DOWNSTREAM_LOCAL_SUBJECT", "DOWNSTREAM_TLS_SESSION_ID",
];
const DASH: Part = () => "-";
for (const op of UNAVAILABLE) SIMPLE[op] = DASH;

/** Operators whose value is a number in a JSON format (Envoy types them). */
const NUMERIC = new Set(["RESPONSE_CODE", "BYTES_RECEIVED", "BYTES_SENT", "DURATION", "REQUEST_DURATION", "RESPONSE_DURATION", "CONNECTION_ID"]);

/** The operators with an argument: REQ(X?Y):Z, RESP(X?Y):Z, REQ_WITHOUT_QUERY(X?Y):Z, START_TIME(fmt). */
const PARAMETRIZED = ["REQ", "RESP", "REQ_WITHOUT_QUERY", "START_TIME"];

/** The supported operator names, for error messages and docs. */
export const OPERATOR_NAMES_FOR_DOCS: string = [...PARAMETRIZED.map((p) => `${p}(…)`), ...Object.keys(SIMPLE).filter((k) => !UNAVAILABLE.includes(k)), "DOWNSTREAM_PEER_*/DOWNSTREAM_TLS_* (always -)"].join(", ");


/** A request header by name, Envoy's pseudo-headers (:method, :path, :authority, :scheme) included. */
export function requestHeader(req: RequestHeaders, name: string): string | undefined {
  switch (name) {
    case ":method":
      return req.method;
    case ":path":
      return req.path;
    case ":authority":
    case "host":
      return req.authority;
    case ":scheme":
      return req.scheme;
    default:
      return req.headers.get(name);
  }
}

function withoutQuery(v: string): string {
  const q = v.indexOf("?");
  return q < 0 ? v : v.slice(0, q);
}

function headerPart(kind: string, arg: string, maxLen: number): Part {
  const [main, alt] = arg.toLowerCase().split("?") as [string, string | undefined];
  const cut = (v: string | undefined) => (v === undefined || v === "" ? "-" : maxLen > 0 ? v.slice(0, maxLen) : v);
  if (kind === "REQ" || kind === "REQ_WITHOUT_QUERY") {
    const strip = kind === "REQ_WITHOUT_QUERY";
    return (_i, req) => {
      if (!req) return "-";
      let v = requestHeader(req, main);
      if (v === undefined && alt !== undefined) v = requestHeader(req, alt);
      return cut(v !== undefined && strip ? withoutQuery(v) : v);
    };
  }
  return (_i, _req, resp) => {
    if (!resp) return "-";
    const v = main === ":status" ? String(resp.status) : resp.headers.get(main);
    return cut(v !== undefined ? v : alt !== undefined ? resp.headers.get(alt) : undefined);
  };
}

const pad2 = (n: number) => (n < 10 ? "0" + n : String(n));
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
const DAYS = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];

/** START_TIME(fmt): strftime in UTC, plus Envoy's %s (epoch seconds), %[1-9]f / %f (fraction of
 *  a second, n digits / 9) and %E[n]S (seconds with n decimals). Compiled once per format. */
function startTimePart(fmt: string): Part {
  const pieces: ((d: Date, ms: number) => string)[] = [];
  let lit = "";
  const flush = () => {
    if (lit) {
      const l = lit;
      pieces.push(() => l);
      lit = "";
    }
  };
  const frac = (digits: number) => (_d: Date, ms: number) => String(Math.floor(ms % 1000)).padStart(3, "0").padEnd(9, "0").slice(0, digits);
  for (let i = 0; i < fmt.length; i++) {
    const c = fmt[i]!;
    if (c !== "%" || i + 1 >= fmt.length) {
      lit += c;
      continue;
    }
    let n = fmt[++i]!;
    let digits = 9;
    if (n >= "1" && n <= "9" && fmt[i + 1] === "f") {
      digits = Number(n);
      n = fmt[++i]!;
    } else if (n === "E" && /^[1-9]?S/.test(fmt.slice(i + 1))) {
      const m = /^([1-9]?)S/.exec(fmt.slice(i + 1))!;
      const dg = m[1] ? Number(m[1]) : 0;
      i += m[0].length;
      flush();
      const f = frac(dg);
      pieces.push((d, ms) => pad2(d.getUTCSeconds()) + (dg > 0 ? "." + f(d, ms) : ""));
      continue;
    }
    let p: ((d: Date, ms: number) => string) | null = null;
    switch (n) {
      case "Y": p = (d) => String(d.getUTCFullYear()); break;
      case "y": p = (d) => pad2(d.getUTCFullYear() % 100); break;
      case "m": p = (d) => pad2(d.getUTCMonth() + 1); break;
      case "d": p = (d) => pad2(d.getUTCDate()); break;
      case "e": p = (d) => String(d.getUTCDate()).padStart(2, " "); break;
      case "H": p = (d) => pad2(d.getUTCHours()); break;
      case "M": p = (d) => pad2(d.getUTCMinutes()); break;
      case "S": p = (d) => pad2(d.getUTCSeconds()); break;
      case "j": p = (d) => String(Math.floor((d.getTime() - Date.UTC(d.getUTCFullYear(), 0, 1)) / 86_400_000) + 1).padStart(3, "0"); break;
      case "b": p = (d) => MONTHS[d.getUTCMonth()]!; break;
      case "a": p = (d) => DAYS[d.getUTCDay()]!; break;
      case "F": p = (d) => `${d.getUTCFullYear()}-${pad2(d.getUTCMonth() + 1)}-${pad2(d.getUTCDate())}`; break;
      case "T": p = (d) => `${pad2(d.getUTCHours())}:${pad2(d.getUTCMinutes())}:${pad2(d.getUTCSeconds())}`; break;
      case "s": p = (_d, ms) => String(Math.floor(ms / 1000)); break;
      case "f": p = frac(digits); break;
      case "z": p = () => "+0000"; break;
      case "Z": p = () => "UTC"; break;
      case "%": lit += "%"; continue;
      default: lit += "%" + n; continue;
    }
    flush();
    pieces.push(p);
  }
  flush();
  return (info) => {
    const ms = info.startTimeMs;
    const d = new Date(ms);
    let out = "";
    for (let k = 0; k < pieces.length; k++) out += pieces[k]!(d, ms);
    return out;
  };
}

const TOKEN = /%([A-Z_0-9]+)(?:\(([^)]*)\))?(?::(\d+))?%/g;

/** Control side: the operators in `format` that are not supported (empty when all are). */
export function validateFormat(format: string): string[] {
  const bad: string[] = [];
  for (const m of format.replaceAll("%%", "").matchAll(TOKEN)) {
    const op = m[1]!;
    if (op === "REQ" || op === "RESP" || op === "REQ_WITHOUT_QUERY") {
      if (m[2] === undefined || m[2] === "") bad.push(m[0]);
    } else if (op === "START_TIME") {
      // With or without a format.
    } else if (!(op in SIMPLE) || m[2] !== undefined) {
      bad.push(m[0]);
    }
  }
  return bad;
}

function partFor(op: string, arg: string | undefined, maxLen: number): Part | null {
  if (op === "REQ" || op === "RESP" || op === "REQ_WITHOUT_QUERY") return headerPart(op, arg ?? "", maxLen);
  if (op === "START_TIME" && arg !== undefined) return startTimePart(arg);
  const p = SIMPLE[op];
  if (!p) return null;
  if (maxLen > 0) return (i, q, r) => p(i, q, r).slice(0, maxLen);
  return p;
}

function compileParts(format: string): (string | Part)[] {
  const parts: (string | Part)[] = [];
  let last = 0;
  const src = format.replaceAll("%%", "\u0000");
  for (const m of src.matchAll(TOKEN)) {
    if (m.index! > last) parts.push(src.slice(last, m.index));
    // "%%" inside an argument (a START_TIME format) is the argument's own escape: restore it.
    const p = partFor(m[1]!, m[2]?.replaceAll("\u0000", "%%"), m[3] ? Number(m[3]) : 0);
    parts.push(p ?? m[0]);
    last = m.index! + m[0].length;
  }
  if (last < src.length) parts.push(src.slice(last));
  return parts.map((p) => (typeof p === "string" ? p.replaceAll("\u0000", "%") : p));
}

/** Control side: compiles `format` (Envoy's text format) once. `%%` is a literal percent sign.
 *  With `omitEmpty` (omit_empty_values) an absent value prints "" instead of "-". */
export function compileFormat(format: string, omitEmpty = false): CompiledFormat {
  let fixed = compileParts(format);
  if (omitEmpty) {
    fixed = fixed.map((p): string | Part => {
      if (typeof p === "string") return p;
      const q = p;
      return (i, r, s) => {
        const v = q(i, r, s);
        return v === "-" ? "" : v;
      };
    });
  }
  if (fixed.length === 1 && typeof fixed[0] === "string") {
    const s = fixed[0];
    return () => s;
  }
  return (info, req, resp) => {
    let out = "";
    for (let i = 0; i < fixed.length; i++) {
      const p = fixed[i]!;
      out += typeof p === "string" ? p : p(info, req, resp);
    }
    return out;
  };
}

type JsonNode = (info: StreamInfo, req: RequestHeaders | null, resp: ResponseHeaders | null) => unknown;

function compileJsonNode(x: unknown): JsonNode {
  if (typeof x === "string") {
    const single = /^%([A-Z_0-9]+)(?:\(([^)]*)\))?(?::(\d+))?%$/.exec(x);
    if (single) {
      // One operator alone keeps its type: a number for numeric operators, null when absent.
      const p = partFor(single[1]!, single[2], single[3] ? Number(single[3]) : 0);
      if (p) {
        const numeric = NUMERIC.has(single[1]!);
        return (i, q, r) => {
          const v = p(i, q, r);
          if (v === "-") return null;
          return numeric ? Number(v) : v;
        };
      }
    }
    const f = compileFormat(x);
    return f;
  }
  if (Array.isArray(x)) {
    const items = x.map(compileJsonNode);
    return (i, q, r) => items.map((n) => n(i, q, r));
  }
  if (x !== null && typeof x === "object") {
    const entries = Object.entries(x).map(([k, v]) => [k, compileJsonNode(v)] as const);
    return (i, q, r) => {
      const o: Record<string, unknown> = {};
      for (let k = 0; k < entries.length; k++) o[entries[k]![0]] = entries[k]![1](i, q, r);
      return o;
    };
  }
  return () => x;
}

/** Control side: compiles a json_format object; each line is one JSON object and a newline.
 *  With `omitEmpty` (omit_empty_values) keys whose value is absent (null) are left out. */
export function compileJsonFormat(json: Readonly<Record<string, unknown>>, omitEmpty = false): CompiledFormat {
  const root = compileJsonNode(json);
  const drop = (_k: string, v: unknown) => (v === null ? undefined : v);
  return omitEmpty
    ? (info, req, resp) => JSON.stringify(root(info, req, resp), drop) + "\n"
    : (info, req, resp) => JSON.stringify(root(info, req, resp)) + "\n";
}
