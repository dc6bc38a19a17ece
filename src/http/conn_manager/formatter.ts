/**
 * Envoy access-log format strings compiled once into a list of parts (control side compiles,
 * worker side runs). Supported operators are listed in OPERATORS; an unknown one is a config
 * error (`validateFormat`).
 * https://www.envoyproxy.io/docs/envoy/latest/configuration/observability/access_log/usage
 */
import type { RequestHeaders, ResponseHeaders } from "../filter.ts";
import { formatResponseFlags } from "../response_flags.ts";
import type { StreamInfo } from "../stream_info.ts";

/** A compiled format: one finished stream → one line. */
export type CompiledFormat = (info: StreamInfo, req: RequestHeaders | null, resp: ResponseHeaders | null) => string;

type Part = (info: StreamInfo, req: RequestHeaders | null, resp: ResponseHeaders | null) => string;

function dur(ms: number): string {
  return ms > 0 ? String(Math.round(ms)) : "-";
}

const SIMPLE: Record<string, Part> = {
  START_TIME: (i) => new Date(i.startTimeMs).toISOString(),
  RESPONSE_CODE: (i) => String(i.responseCode),
  RESPONSE_FLAGS: (i) => formatResponseFlags(i.responseFlags),
  RESPONSE_CODE_DETAILS: (i) => i.responseCodeDetails || "-",
  BYTES_RECEIVED: (i) => String(i.bytesReceived),
  BYTES_SENT: (i) => String(i.bytesSent),
  DURATION: (i) => (i.endMono > 0 ? String(Math.round(i.endMono - i.startMono)) : "-"),
  REQUEST_DURATION: (i) => dur(i.lastDownstreamRxMono > 0 ? i.lastDownstreamRxMono - i.startMono : 0),
  RESPONSE_DURATION: (i) => dur(i.firstUpstreamRxMono > 0 ? i.firstUpstreamRxMono - i.startMono : 0),
  UPSTREAM_HOST: (i) => i.upstreamHost || "-",
  UPSTREAM_CLUSTER: (i) => i.upstreamCluster || "-",
  ROUTE_NAME: (i) => i.routeName || "-",
  PROTOCOL: (i) => i.protocol || "-",
  DOWNSTREAM_REMOTE_ADDRESS: (i) => i.downstreamRemoteAddress,
  DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT: (i) => stripPort(i.downstreamRemoteAddress),
  DOWNSTREAM_DIRECT_REMOTE_ADDRESS: (i) => i.downstreamRemoteAddress,
  DOWNSTREAM_DIRECT_REMOTE_ADDRESS_WITHOUT_PORT: (i) => stripPort(i.downstreamRemoteAddress),
  DOWNSTREAM_LOCAL_ADDRESS: (i) => i.downstreamLocalAddress,
  DOWNSTREAM_LOCAL_ADDRESS_WITHOUT_PORT: (i) => stripPort(i.downstreamLocalAddress),
  REQUEST_ID: (i) => i.requestId || "-",
};

/** The operators this formatter understands (besides REQ(), RESP()). */
export const OPERATORS: readonly string[] = Object.keys(SIMPLE);

function stripPort(a: string): string {
  if (a.startsWith("[")) return a.slice(1, a.indexOf("]"));
  const i = a.lastIndexOf(":");
  return i < 0 ? a : a.slice(0, i);
}

function requestHeader(req: RequestHeaders, name: string): string | undefined {
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

function headerPart(kind: "REQ" | "RESP", arg: string, maxLen: number): Part {
  const [main, alt] = arg.toLowerCase().split("?") as [string, string | undefined];
  const cut = (v: string | undefined) => (v === undefined ? "-" : maxLen > 0 ? v.slice(0, maxLen) : v);
  if (kind === "REQ") {
    return (_i, req) => {
      if (!req) return "-";
      const v = requestHeader(req, main);
      return cut(v !== undefined ? v : alt !== undefined ? requestHeader(req, alt) : undefined);
    };
  }
  return (_i, _req, resp) => {
    if (!resp) return "-";
    const v = main === ":status" ? String(resp.status) : resp.headers.get(main);
    return cut(v !== undefined ? v : alt !== undefined ? resp.headers.get(alt) : undefined);
  };
}

const TOKEN = /%([A-Z_]+)(?:\(([^)]*)\))?(?::(\d+))?%/g;

/** Returns the operators in `format` that are not supported (empty when all are). */
export function validateFormat(format: string): string[] {
  const bad: string[] = [];
  for (const m of format.matchAll(TOKEN)) {
    const op = m[1]!;
    if (op === "REQ" || op === "RESP") {
      if (m[2] === undefined || m[2] === "") bad.push(`%${op}%`);
    } else if (!(op in SIMPLE) && !(op === "START_TIME" && m[2] !== undefined)) {
      bad.push(m[0]);
    }
  }
  return bad;
}

/** Compiles `format` (Envoy's text format) once. `%%` is a literal percent sign. */
export function compileFormat(format: string): CompiledFormat {
  const parts: (string | Part)[] = [];
  let last = 0;
  const src = format.replaceAll("%%", "\u0000");
  for (const m of src.matchAll(TOKEN)) {
    if (m.index! > last) parts.push(src.slice(last, m.index));
    const op = m[1]!;
    const maxLen = m[3] ? Number(m[3]) : 0;
    if (op === "REQ" || op === "RESP") parts.push(headerPart(op, m[2] ?? "", maxLen));
    else if (SIMPLE[op]) parts.push(SIMPLE[op]);
    else parts.push(m[0]);
    last = m.index! + m[0].length;
  }
  if (last < src.length) parts.push(src.slice(last));
  const fixed = parts.map((p) => (typeof p === "string" ? p.replaceAll("\u0000", "%") : p));
  return (info, req, resp) => {
    let out = "";
    for (let i = 0; i < fixed.length; i++) {
      const p = fixed[i]!;
      out += typeof p === "string" ? p : p(info, req, resp);
    }
    return out;
  };
}
