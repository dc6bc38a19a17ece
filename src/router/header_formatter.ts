/**
 * Envoy's custom request/response headers (`request_headers_to_add`, `response_headers_to_add`
 * on routes, virtual hosts and route configurations): values with %VARIABLE% substitution,
 * compiled once per config version (control side) and applied per request (worker side).
 * https://www.envoyproxy.io/docs/envoy/latest/configuration/http/http_conn_man/headers#custom-request-response-headers
 */
import { isoStart, requestHeader, stripPort } from "../http/conn_manager/formatter.ts";
import type { HeaderMutationsModel, HeaderValueOptionModel } from "../config/model.ts";
import type { RequestHeaders, ResponseHeaders } from "../http/filter.ts";
import type { HeaderMap } from "../http/header_map.ts";
import type { StreamInfo } from "../http/stream_info.ts";

/** What a header value may read (worker side; one reused object per router). */
export interface HeaderFormatInput {
  info: StreamInfo;
  req: RequestHeaders;
  resp: ResponseHeaders | null;
  /** "ip:port" of the chosen upstream host, "" before one is chosen. */
  upstreamHost: string;
}

type Part = (x: HeaderFormatInput) => string;


const VARIABLES: Record<string, Part> = {
  DOWNSTREAM_REMOTE_ADDRESS: (x) => x.info.downstreamRemoteAddress,
  DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT: (x) => stripPort(x.info.downstreamRemoteAddress),
  DOWNSTREAM_DIRECT_REMOTE_ADDRESS: (x) => x.info.downstreamRemoteAddress,
  DOWNSTREAM_DIRECT_REMOTE_ADDRESS_WITHOUT_PORT: (x) => stripPort(x.info.downstreamRemoteAddress),
  DOWNSTREAM_LOCAL_ADDRESS: (x) => x.info.downstreamLocalAddress,
  DOWNSTREAM_LOCAL_ADDRESS_WITHOUT_PORT: (x) => stripPort(x.info.downstreamLocalAddress),
  // Envoy: the upstream host is not chosen yet when request headers are evaluated, so in
  // request_headers_to_add this is empty (and the header is skipped unless keep_empty_value).
  UPSTREAM_REMOTE_ADDRESS: (x) => x.upstreamHost,
  UPSTREAM_REMOTE_ADDRESS_WITHOUT_PORT: (x) => (x.upstreamHost ? stripPort(x.upstreamHost) : ""),
  START_TIME: (x) => isoStart(x.info.startTimeMs),
  PROTOCOL: (x) => x.info.protocol,
};


const reqHeader = (req: RequestHeaders, name: string): string => requestHeader(req, name) ?? "";

const TOKEN = /%([A-Z_0-9]+)(?:\(([^)]*)\))?%/y;

/** Control side: compiles an Envoy header value; returns the reason when it cannot. */
export function compileHeaderValue(value: string): Part | string {
  const parts: (string | Part)[] = [];
  let lit = "";
  let i = 0;
  while (i < value.length) {
    const c = value[i]!;
    if (c !== "%") {
      lit += c;
      i++;
      continue;
    }
    if (value[i + 1] === "%") {
      lit += "%";
      i += 2;
      continue;
    }
    TOKEN.lastIndex = i;
    const m = TOKEN.exec(value);
    if (!m) return `invalid header value ${JSON.stringify(value)}: a "%" must start a %VARIABLE% or be written "%%"`;
    const op = m[1]!;
    const arg = m[2];
    let part: Part;
    if (op === "REQ" || op === "RESP") {
      if (!arg) return `%${op}(…)% needs a header name`;
      const name = arg.split("?")[0]!.toLowerCase();
      part = op === "REQ"
        ? (x) => reqHeader(x.req, name)
        : (x) => (x.resp === null ? "" : name === ":status" ? String(x.resp.status) : x.resp.headers.get(name) ?? "");
    } else if (VARIABLES[op] !== undefined && (arg === undefined || arg === "")) {
      part = VARIABLES[op]!;
    } else if (op === "START_TIME") {
      return "%START_TIME(format)% with a format is not supported yet";
    } else {
      return `header variable %${op}% is not supported yet`;
    }
    if (lit) parts.push(lit);
    lit = "";
    parts.push(part);
    i += m[0].length;
  }
  if (lit) parts.push(lit);
  if (parts.length === 0) return () => "";
  if (parts.length === 1) {
    const p = parts[0]!;
    return typeof p === "string" ? () => p : p;
  }
  return (x) => {
    let out = "";
    for (let k = 0; k < parts.length; k++) {
      const p = parts[k]!;
      out += typeof p === "string" ? p : p(x);
    }
    return out;
  };
}

const ACTIONS = { APPEND_IF_EXISTS_OR_ADD: 0, ADD_IF_ABSENT: 1, OVERWRITE_IF_EXISTS_OR_ADD: 2, OVERWRITE_IF_EXISTS: 3 } as const;

/** One header to add, compiled. */
class CompiledHeaderValue {
  readonly key: string;
  readonly action: number;
  readonly keepEmpty: boolean;
  readonly format: Part;
  constructor(m: HeaderValueOptionModel) {
    this.key = m.key;
    this.action = ACTIONS[m.appendAction];
    this.keepEmpty = m.keepEmptyValue;
    const f = compileHeaderValue(m.value);
    if (typeof f === "string") throw new Error(f); // the config layer checked it already
    this.format = f;
  }
}

/** One level's header mutations (route, virtual host or route config), compiled. */
export class CompiledHeaderMutations {
  readonly requestAdd: readonly CompiledHeaderValue[];
  readonly requestRemove: readonly string[];
  readonly responseAdd: readonly CompiledHeaderValue[];
  readonly responseRemove: readonly string[];
  constructor(m: HeaderMutationsModel) {
    this.requestAdd = m.requestHeadersToAdd.map((h) => new CompiledHeaderValue(h));
    this.requestRemove = m.requestHeadersToRemove;
    this.responseAdd = m.responseHeadersToAdd.map((h) => new CompiledHeaderValue(h));
    this.responseRemove = m.responseHeadersToRemove;
  }
  get hasRequest(): boolean {
    return this.requestAdd.length + this.requestRemove.length > 0;
  }
  get hasResponse(): boolean {
    return this.responseAdd.length + this.responseRemove.length > 0;
  }
}

/** Worker side: removes, then adds, as Envoy's HeaderParser::evaluateHeaders does. */
export function applyHeaderMutations(
  h: HeaderMap,
  remove: readonly string[],
  add: readonly CompiledHeaderValue[],
  x: HeaderFormatInput,
): void {
  for (let i = 0; i < remove.length; i++) h.remove(remove[i]!);
  for (let i = 0; i < add.length; i++) {
    const a = add[i]!;
    const v = a.format(x);
    if (v === "" && !a.keepEmpty) continue;
    switch (a.action) {
      case 0:
        h.add(a.key, v);
        break;
      case 1:
        if (!h.has(a.key)) h.add(a.key, v);
        break;
      case 2:
        h.set(a.key, v);
        break;
      default:
        if (h.has(a.key)) h.set(a.key, v);
    }
  }
}
