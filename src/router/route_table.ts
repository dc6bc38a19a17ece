/**
 * The compiled route table (built on the control side once per config version, used read-only
 * by workers). Virtual host selection follows Envoy's order: exact domain, then suffix
 * wildcards longest first, then prefix wildcards longest first, then "*"; the port in
 * :authority takes part in matching (Envoy's default, `ignore_port_in_host_matching` false).
 * Routes match in config order on the path (prefix, path, safe_regex, path_separated_prefix),
 * then headers, then query parameters; regexes, header matchers and header formatters are all
 * compiled here, never per request.
 * https://www.envoyproxy.io/docs/envoy/latest/api-v3/config/route/v3/route_components.proto
 */
import type {
  HashPolicyModel,
  HeaderMatcherModel,
  MirrorPolicyModel,
  QueryParameterMatcherModel,
  RetryPolicyModel,
  RouteConfigModel,
  RouteModel,
  StringMatcherModel,
  VirtualHostModel,
  WeightedClusterModel,
} from "../config/model.ts";
import type { RequestHeaders, ResponseHeaders } from "../http/filter.ts";
import type { HeaderMap } from "../http/header_map.ts";
import { applyHeaderMutations, CompiledHeaderMutations, type HeaderFormatInput } from "./header_formatter.ts";
import { computeHash, type HashPolicyModel as UpstreamHashPolicy, type HashResult } from "../upstream/load_balancer/hash_policy.ts";
import { compileFullMatch, compileGlobal, translateSubstitution } from "./re2.ts";

const encoder = new TextEncoder();

const SM_EXACT = 0, SM_PREFIX = 1, SM_SUFFIX = 2, SM_CONTAINS = 3, SM_REGEX = 4;
const SM_KINDS = { exact: SM_EXACT, prefix: SM_PREFIX, suffix: SM_SUFFIX, contains: SM_CONTAINS, safe_regex: SM_REGEX } as const;

/** A StringMatcher, compiled (worker side runs `match`). */
export class CompiledStringMatcher {
  readonly kind: number;
  readonly value: string;
  readonly ignoreCase: boolean;
  readonly re: RegExp | null;
  constructor(m: StringMatcherModel) {
    this.kind = SM_KINDS[m.kind];
    this.value = m.value;
    this.ignoreCase = m.ignoreCase;
    this.re = m.kind === "safe_regex" ? compileFullMatch(m.value) : null;
  }
  match(input: string): boolean {
    const s = this.ignoreCase ? input.toLowerCase() : input;
    switch (this.kind) {
      case SM_EXACT:
        return s === this.value;
      case SM_PREFIX:
        return s.startsWith(this.value);
      case SM_SUFFIX:
        return s.endsWith(this.value);
      case SM_CONTAINS:
        return s.includes(this.value);
      default:
        return this.re!.test(s);
    }
  }
}

/** The value of header `name` for matching: pseudo-headers from the request line, repeated
 *  headers joined with "," (Envoy's getAllOfHeaderAsString), undefined when absent. */
export function requestHeaderValue(req: RequestHeaders, name: string): string | undefined {
  switch (name) {
    case ":path":
      return req.path;
    case ":method":
      return req.method;
    case ":authority":
    case "host":
      return req.authority;
    case ":scheme":
      return req.scheme;
  }
  const h = req.headers;
  let out: string | undefined;
  for (let i = 0, n = h.size; i < n; i++) {
    if (h.nameAt(i) === name) out = out === undefined ? h.valueAt(i) : out + "," + h.valueAt(i);
  }
  return out;
}

const INT = /^\s*[+-]?\d+\s*$/;

/** A HeaderMatcher, compiled. */
export class CompiledHeaderMatcher {
  readonly name: string;
  readonly kind: "string" | "present" | "range";
  readonly string: CompiledStringMatcher | null;
  readonly present: boolean;
  readonly start: number;
  readonly end: number;
  readonly invert: boolean;
  readonly treatMissingAsEmpty: boolean;
  constructor(m: HeaderMatcherModel) {
    this.name = m.name;
    this.kind = m.kind;
    this.string = m.string ? new CompiledStringMatcher(m.string) : null;
    this.present = m.present ?? true;
    this.start = m.rangeStart ?? 0;
    this.end = m.rangeEnd ?? 0;
    this.invert = m.invert;
    this.treatMissingAsEmpty = m.treatMissingAsEmpty;
  }

  /** Envoy's HeaderUtility::matchHeaders. A missing header fails every value matcher, inverted
   *  or not (unless treat_missing_header_as_empty); only presence matching sees absence. */
  matches(req: RequestHeaders): boolean {
    return this.matchValue(requestHeaderValue(req, this.name));
  }

  /** Matches a response (retriable_headers): `:status` or the joined header values. */
  matchesResponse(status: number, headers: HeaderMap): boolean {
    if (this.name === ":status") return this.matchValue(String(status));
    let out: string | undefined;
    for (let i = 0, n = headers.size; i < n; i++) {
      if (headers.nameAt(i) === this.name) out = out === undefined ? headers.valueAt(i) : out + "," + headers.valueAt(i);
    }
    return this.matchValue(out);
  }

  /** The match on a header's value (undefined: the header is absent). */
  matchValue(v: string | undefined): boolean {
    let value = v;
    if (value === undefined) {
      if (!this.treatMissingAsEmpty) {
        if (this.kind !== "present") return false;
        return this.invert ? this.present : !this.present;
      }
      value = "";
    }
    let r: boolean;
    switch (this.kind) {
      case "present":
        r = this.present;
        break;
      case "range": {
        if (!INT.test(value)) {
          r = false;
          break;
        }
        const n = Number(value);
        r = n >= this.start && n < this.end;
        break;
      }
      default:
        r = this.string!.match(value);
    }
    return r !== this.invert;
  }
}

/** Decodes %XX escapes (Envoy decodes query parameters before matching); malformed stays raw. */
function decodeQueryPart(s: string): string {
  if (s.indexOf("%") < 0) return s;
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/** The first value of query parameter `name` in `path`, "" for a name without "=", undefined when absent. */
export function queryParamValue(path: string, name: string): string | undefined {
  const q = path.indexOf("?");
  if (q < 0) return undefined;
  let end = path.indexOf("#", q);
  if (end < 0) end = path.length;
  let i = q + 1;
  while (i < end) {
    let amp = path.indexOf("&", i);
    if (amp < 0 || amp > end) amp = end;
    const eq = path.indexOf("=", i);
    const keyEnd = eq >= 0 && eq < amp ? eq : amp;
    if (decodeQueryPart(path.slice(i, keyEnd)) === name) {
      return keyEnd === amp ? "" : decodeQueryPart(path.slice(keyEnd + 1, amp));
    }
    i = amp + 1;
  }
  return undefined;
}

/** A QueryParameterMatcher, compiled. */
export class CompiledQueryMatcher {
  readonly name: string;
  readonly string: CompiledStringMatcher | null;
  constructor(m: QueryParameterMatcherModel) {
    this.name = m.name;
    this.string = m.string ? new CompiledStringMatcher(m.string) : null;
  }
  matches(path: string): boolean {
    const v = queryParamValue(path, this.name);
    if (v === undefined) return false;
    return this.string === null || this.string.match(v);
  }
}

/** `host:port` → `host` (IPv6 literals keep their brackets), for ignore_port_in_host_matching. */
function stripHostPort(a: string): string {
  const i = a.lastIndexOf(":");
  if (i < 0 || (a.startsWith("[") && a.lastIndexOf("]") > i)) return a;
  return /^\d+$/.test(a.slice(i + 1)) ? a.slice(0, i) : a;
}

/** "ip:port" → "ip" ("[v6]:port" → "v6"). */
function stripPort(a: string): string {
  if (a.startsWith("[")) {
    const e = a.indexOf("]");
    return e < 0 ? a : a.slice(1, e);
  }
  const i = a.lastIndexOf(":");
  return i < 0 || a.indexOf(":") !== i ? a : a.slice(0, i);
}

const PM_PREFIX = 0, PM_PATH = 1, PM_REGEX = 2, PM_SEPARATED = 3;
const PM_KINDS = { prefix: PM_PREFIX, path: PM_PATH, safe_regex: PM_REGEX, path_separated_prefix: PM_SEPARATED } as const;

/** The path without query string and fragment (what Envoy's path, regex and separated-prefix
 *  matchers see). */
function pathOnly(path: string): string {
  let e = path.indexOf("?");
  const h = path.indexOf("#");
  if (h >= 0 && (e < 0 || h < e)) e = h;
  return e < 0 ? path : path.slice(0, e);
}

/** The query string with its "?" ("" for none), fragment dropped. */
function queryPart(path: string): string {
  const q = path.indexOf("?");
  if (q < 0) return "";
  const h = path.indexOf("#", q);
  return h < 0 ? path.slice(q) : path.slice(q, h);
}

/** Weighted cluster choice: names with cumulative upper bounds. */
class WeightedClusters {
  readonly names: readonly string[];
  readonly bounds: readonly number[];
  readonly total: number;
  /** Per cluster: its header mutations combined with the route's, in application order. */
  mutations: readonly (readonly CompiledHeaderMutations[])[] = [];
  readonly hostRewrites: readonly (string | undefined)[];
  constructor(readonly models: readonly WeightedClusterModel[]) {
    const cs = models;
    this.names = cs.map((c) => c.name);
    this.hostRewrites = cs.map((c) => c.hostRewriteLiteral);
    const bounds: number[] = [];
    let sum = 0;
    for (const c of cs) bounds.push((sum += c.weight));
    this.bounds = bounds;
    this.total = sum;
  }
  /** Envoy: random % total, then the first cluster whose range holds it. */
  pick(random: number): string {
    return this.names[this.pickIndex(random)]!;
  }
  pickIndex(random: number): number {
    const v = random % this.total;
    const b = this.bounds;
    for (let i = 0; i < b.length; i++) if (v < b[i]!) return i;
    return b.length - 1;
  }
}

const R_5XX = 1, R_GATEWAY = 2, R_RESET = 4, R_CONNECT = 8, R_4XX = 16, R_CODES = 32, R_RATELIMITED = 64, R_HEADERS = 128;
const RETRY_BITS: Record<string, number> = {
  "5xx": R_5XX,
  "gateway-error": R_GATEWAY,
  reset: R_RESET,
  "connect-failure": R_CONNECT,
  "retriable-4xx": R_4XX,
  "retriable-status-codes": R_CODES,
  "envoy-ratelimited": R_RATELIMITED,
  "retriable-headers": R_HEADERS,
  "refused-stream": 0, // an HTTP/2 condition; HTTP/1.1 upstreams never refuse streams
};

/** A route's (or its virtual host's) retry_policy, compiled. */
export class CompiledRetryPolicy {
  readonly bits: number;
  readonly numRetries: number;
  readonly perTryTimeoutMs: number;
  readonly baseIntervalMs: number;
  readonly maxIntervalMs: number;
  readonly codes: readonly number[];
  readonly previousHosts: boolean;
  readonly hostSelectionMaxAttempts: number;
  readonly retriableHeaders: readonly CompiledHeaderMatcher[];
  constructor(m: RetryPolicyModel) {
    let bits = 0;
    for (const c of m.retryOn) bits |= RETRY_BITS[c] ?? 0;
    this.bits = bits;
    this.numRetries = m.numRetries;
    this.perTryTimeoutMs = m.perTryTimeoutMs;
    this.baseIntervalMs = m.baseIntervalMs;
    this.maxIntervalMs = m.maxIntervalMs;
    this.codes = m.retriableStatusCodes;
    this.previousHosts = m.previousHosts;
    this.hostSelectionMaxAttempts = m.hostSelectionRetryMaxAttempts;
    this.retriableHeaders = (m.retriableHeaders ?? []).map((h) => new CompiledHeaderMatcher(h));
  }

  /** Whether a response is retried: its status, `x-envoy-ratelimited` (envoy-ratelimited), or
   *  a retriable_headers match (retriable-headers). */
  retriableResponse(status: number, headers: HeaderMap): boolean {
    const b = this.bits;
    // Envoy never retries a rate-limited response, except for envoy-ratelimited.
    if (headers.has("x-envoy-ratelimited")) return (b & R_RATELIMITED) !== 0;
    if (this.retriableStatus(status)) return true;
    if (b & R_HEADERS) {
      const hs = this.retriableHeaders;
      for (let i = 0; i < hs.length; i++) if (hs[i]!.matchesResponse(status, headers)) return true;
    }
    return false;
  }
  /** Worker side: this policy with a request's x-envoy-retry-on (conditions added),
   *  x-envoy-max-retries and x-envoy-retriable-status-codes applied (a new object, made only for
   *  requests that carry those headers). Without a route policy, Envoy's defaults apply. */
  static withOverrides(base: CompiledRetryPolicy | null, retryOn: string | undefined, maxRetries: number | undefined, codes: number[], perTryMs: number): CompiledRetryPolicy {
    const conds = retryOn === undefined ? [] : retryOn.split(",").map((c) => c.trim()).filter((c) => c in RETRY_BITS);
    const p = new CompiledRetryPolicy({
      retryOn: conds,
      numRetries: maxRetries ?? base?.numRetries ?? 1,
      perTryTimeoutMs: perTryMs,
      baseIntervalMs: base?.baseIntervalMs ?? 25,
      maxIntervalMs: base?.maxIntervalMs ?? 250,
      retriableStatusCodes: [...(base?.codes ?? []), ...codes],
      previousHosts: base?.previousHosts ?? false,
      retriableHeaders: [],
      hostSelectionRetryMaxAttempts: base?.hostSelectionMaxAttempts ?? 1,
    });
    (p as { bits: number }).bits |= base?.bits ?? 0;
    (p as { retriableHeaders: readonly CompiledHeaderMatcher[] }).retriableHeaders = base?.retriableHeaders ?? [];
    return p;
  }

  /** Whether a response with `status` is retried (Envoy's RetryStateImpl::wouldRetryFromHeaders). */
  retriableStatus(status: number): boolean {
    const b = this.bits;
    if (b & R_5XX && status >= 500) return true;
    if (b & R_GATEWAY && (status === 502 || status === 503 || status === 504)) return true;
    if (b & R_4XX && status === 409) return true;
    return (b & R_CODES) !== 0 && this.codes.includes(status);
  }
  /** Whether a reset (or per-try timeout) is retried: 5xx, gateway-error and reset cover every
   *  failure to get a response; connect-failure only connection failures. */
  retriableReset(connectFailure: boolean): boolean {
    const b = this.bits;
    if (b & (R_5XX | R_GATEWAY | R_RESET)) return true;
    return connectFailure && (b & R_CONNECT) !== 0;
  }
  /** Envoy's JitteredExponentialBackOffStrategy: random in [0, (2^n - 1) × base), capped at max. */
  backOffMs(retry: number, random: number): number {
    const mult = retry >= 30 ? 0x3fffffff : (1 << retry) - 1;
    const ceiling = Math.min(mult * this.baseIntervalMs, 0x7fffffff);
    return Math.min(random % Math.max(1, ceiling), this.maxIntervalMs);
  }
}

/** One route, ready for the hot path. */
export class CompiledRoute {
  readonly name: string;
  readonly virtualHostName: string;
  /** The virtual host and this route's position in it (for re-evaluation with headers). */
  virtualHost!: CompiledVirtualHost;
  readonly index: number;
  readonly kind: "route" | "direct_response" | "redirect";
  readonly matchKind: "prefix" | "path" | "safe_regex" | "path_separated_prefix";
  readonly #pm: number;
  readonly matchValue: string;
  readonly caseSensitive: boolean;
  readonly #regex: RegExp | null;
  readonly headerMatchers: readonly CompiledHeaderMatcher[];
  readonly queryMatchers: readonly CompiledQueryMatcher[];
  /** match.runtime_fraction: numerator and denominator (0 = no fraction, or one that always
   *  holds); the route matches when the stream's random value % denominator < numerator. */
  readonly #fractionNumerator: number;
  readonly #fractionDenominator: number;
  /** Route action fields (kind "route"). */
  readonly clusterName: string;
  /** cluster_header (lower-cased) or null. */
  readonly clusterHeader: string | null;
  readonly weighted: WeightedClusters | null;
  readonly timeoutMs: number;
  /** idle_timeout ms, -1 when not configured (the HCM's stream_idle_timeout applies). */
  readonly idleTimeoutMs: number;
  /** max_stream_duration ms, 0 when not configured or disabled. */
  readonly maxStreamDurationMs: number;
  readonly prefixRewrite: string | undefined;
  readonly #regexRewrite: RegExp | null;
  readonly #regexSubstitution: string;
  readonly hostRewriteLiteral: string | undefined;
  readonly autoHostRewrite: boolean;
  /** host_rewrite_header (lower-cased) or null. */
  readonly hostRewriteHeader: string | null;
  readonly appendXForwardedHost: boolean;
  /** cluster_not_found_response_code (503 default, 404, 500). */
  readonly clusterNotFoundStatus: number;
  /** True when the upstream :path may differ from the downstream one. */
  readonly rewritesPath: boolean;
  /** Direct response fields (kind "direct_response"). */
  readonly directStatus: number;
  readonly directBody: Uint8Array | null;
  /** Redirect fields (kind "redirect"). */
  readonly redirectCode: number;
  readonly #redirect: Extract<RouteModel["action"], { kind: "redirect" }> | null;
  /** Header mutations of route, virtual host and route config, in application order. */
  readonly mutations: readonly CompiledHeaderMutations[];
  readonly hasRequestMutations: boolean;
  readonly hasResponseMutations: boolean;
  /** route_config.internal_only_headers (removed from external requests). */
  readonly internalOnlyHeaders: readonly string[];
  /** The route's retry_policy, else the virtual host's, else null. */
  readonly retryPolicy: CompiledRetryPolicy | null;
  readonly includeRequestAttemptCount: boolean;
  readonly includeAttemptCountInResponse: boolean;
  /** typed_per_filter_config merged most-specific-first (route over virtual host over route
   *  config), by filter name. */
  readonly perFilterConfig: ReadonlyMap<string, { readonly disabled: boolean; readonly config: unknown }>;
  /** hash_policy entries (empty: no hash, the load balancer chooses freely). */
  readonly hashPolicy: readonly HashPolicyModel[];
  readonly #hashPolicies: readonly UpstreamHashPolicy[];
  /** per_request_buffer_limit_bytes of the route, else of the virtual host, else 1 MiB: how
   *  much request body is kept for retries. */
  readonly retryBufferLimit: number;
  /** request_mirror_policies (empty: no mirroring). */
  readonly mirrors: readonly MirrorPolicyModel[];
  /** upgrade_configs of the route action: lower-cased type → enabled; null when none. */
  readonly #upgrades: ReadonlyMap<string, boolean> | null;

  constructor(m: RouteModel, vh: VirtualHostModel, rc: RouteConfigModel | null, index: number) {
    this.name = m.name;
    this.virtualHostName = vh.name;
    this.index = index;
    const match = m.match;
    this.matchKind = match.kind;
    this.#pm = PM_KINDS[match.kind];
    this.caseSensitive = match.caseSensitive;
    // Envoy's case_sensitive does not apply to safe_regex (the regex decides).
    this.matchValue = this.caseSensitive || match.kind === "safe_regex" ? match.value : match.value.toLowerCase();
    this.#regex = match.kind === "safe_regex" ? compileFullMatch(match.value) : null;
    this.headerMatchers = (match.headers ?? []).map((h) => new CompiledHeaderMatcher(h));
    this.queryMatchers = (match.queryParameters ?? []).map((q) => new CompiledQueryMatcher(q));
    const rf = match.runtimeFraction;
    // A fraction at or above its denominator always holds (Envoy's evaluateFractionalPercent):
    // it costs nothing per request.
    this.#fractionNumerator = rf !== undefined && rf.numerator < rf.denominator ? rf.numerator : 0;
    this.#fractionDenominator = rf !== undefined && rf.numerator < rf.denominator ? rf.denominator : 0;
    const a = m.action;
    this.kind = a.kind;
    this.clusterName = "";
    this.clusterHeader = null;
    this.weighted = null;
    this.timeoutMs = 0;
    this.idleTimeoutMs = -1;
    this.maxStreamDurationMs = 0;
    this.prefixRewrite = undefined;
    this.#regexRewrite = null;
    this.#regexSubstitution = "";
    this.hostRewriteLiteral = undefined;
    this.autoHostRewrite = false;
    this.hostRewriteHeader = null;
    this.appendXForwardedHost = false;
    this.clusterNotFoundStatus = 503;
    this.directStatus = 0;
    this.directBody = null;
    this.redirectCode = 0;
    this.#redirect = null;
    if (a.kind === "route") {
      this.clusterName = a.cluster;
      this.clusterHeader = a.clusterHeader ?? null;
      this.weighted = a.weightedClusters ? new WeightedClusters(a.weightedClusters) : null;
      this.timeoutMs = a.timeoutMs;
      this.idleTimeoutMs = a.idleTimeoutMs ?? -1;
      this.maxStreamDurationMs = a.maxStreamDurationMs ?? 0;
      this.prefixRewrite = a.prefixRewrite;
      if (a.regexRewrite) {
        this.#regexRewrite = compileGlobal(a.regexRewrite.pattern);
        this.#regexSubstitution = translateSubstitution(a.regexRewrite.substitution);
      }
      this.hostRewriteLiteral = a.hostRewriteLiteral;
      this.autoHostRewrite = a.autoHostRewrite ?? false;
      this.hostRewriteHeader = a.hostRewriteHeader ?? null;
      this.appendXForwardedHost = a.appendXForwardedHost ?? false;
      this.clusterNotFoundStatus = a.clusterNotFoundResponseCode ?? 503;
    } else if (a.kind === "direct_response") {
      this.directStatus = a.status;
      this.directBody = a.body === undefined ? null : encoder.encode(a.body);
    } else {
      this.redirectCode = a.responseCode;
      this.#redirect = a;
      if (a.regexRewrite) {
        this.#regexRewrite = compileGlobal(a.regexRewrite.pattern);
        this.#regexSubstitution = translateSubstitution(a.regexRewrite.substitution);
      }
      this.prefixRewrite = a.prefixRewrite;
    }
    this.rewritesPath = this.prefixRewrite !== undefined || this.#regexRewrite !== null;
    // Envoy applies route, then virtual host, then route configuration mutations, so the most
    // general level wins a conflict, unless most_specific_header_mutations_wins reverses it.
    const levels = [m.headerMutations, vh.headerMutations, rc?.headerMutations];
    if (rc?.mostSpecificHeaderMutationsWins) levels.reverse();
    this.mutations = levels.filter((x) => x !== undefined).map((x) => new CompiledHeaderMutations(x!));
    let hasReq = this.mutations.some((x) => x.hasRequest);
    let hasResp = this.mutations.some((x) => x.hasResponse);
    const w = this.weighted;
    if (w !== null) {
      // Weighted cluster headers come first (before the route's), or last when the most
      // specific level wins.
      w.mutations = w.models.map((c) => {
        if (c.headerMutations === undefined) return this.mutations;
        const own = new CompiledHeaderMutations(c.headerMutations);
        hasReq ||= own.hasRequest;
        hasResp ||= own.hasResponse;
        return rc?.mostSpecificHeaderMutationsWins ? [...this.mutations, own] : [own, ...this.mutations];
      });
    }
    this.hasRequestMutations = hasReq;
    this.hasResponseMutations = hasResp;
    this.internalOnlyHeaders = rc?.internalOnlyHeaders ?? [];
    const rp = (a.kind === "route" ? a.retryPolicy : undefined) ?? vh.retryPolicy;
    this.retryPolicy = rp && a.kind === "route" ? new CompiledRetryPolicy(rp) : null;
    this.includeRequestAttemptCount = vh.includeRequestAttemptCount ?? false;
    this.includeAttemptCountInResponse = vh.includeAttemptCountInResponse ?? false;
    const pfc = new Map<string, { readonly disabled: boolean; readonly config: unknown }>();
    for (const level of [rc?.typedPerFilterConfig, vh.typedPerFilterConfig, m.typedPerFilterConfig]) {
      if (level) for (const [k, v] of Object.entries(level)) pfc.set(k, v);
    }
    this.perFilterConfig = pfc;
    this.hashPolicy = (a.kind === "route" ? a.hashPolicy : undefined) ?? [];
    this.#hashPolicies = this.hashPolicy.map((p): UpstreamHashPolicy => {
      if (p.kind === "cookie") return { kind: "cookie", name: p.name, ttlMs: p.cookieTtlMs, path: p.cookiePath ?? "", terminal: p.terminal };
      if (p.kind === "source_ip") return { kind: "source_ip", terminal: p.terminal };
      return { kind: p.kind, name: p.name, terminal: p.terminal };
    });
    this.mirrors = (a.kind === "route" ? a.mirrorPolicies : undefined) ?? [];
    const ups = a.kind === "route" ? a.upgradeConfigs : undefined;
    this.#upgrades = ups ? new Map(ups.map((u) => [u.upgradeType, u.enabled])) : null;
    this.retryBufferLimit = m.perRequestBufferLimitBytes ?? vh.perRequestBufferLimitBytes ?? 1 << 20;
  }

  /** The request hash for ring hash / Maglev load balancing, and the cookie to set when a
   *  cookie policy with a ttl generated one (the upstream hash_policy evaluator: Envoy's
   *  HashPolicyImpl::generateHash, rotate-left-1 xor, terminal policies stop the list). */
  requestHash(req: RequestHeaders, downstreamRemoteAddress: string): HashResult {
    return computeHash(this.#hashPolicies, {
      header: (name) => requestHeaderValue(req, name),
      path: req.path,
      sourceIp: stripPort(downstreamRemoteAddress),
    });
  }

  /** True when the path part of the match holds for `path` (the :path, query included). */
  matchesPath(path: string): boolean {
    switch (this.#pm) {
      case PM_PREFIX: {
        // Prefix matching sees the whole :path, query included, as Envoy's does.
        const v = this.matchValue;
        if (this.caseSensitive) return path.startsWith(v);
        return path.length >= v.length && path.slice(0, v.length).toLowerCase() === v;
      }
      case PM_PATH: {
        const p = pathOnly(path);
        return this.caseSensitive ? p === this.matchValue : p.toLowerCase() === this.matchValue;
      }
      case PM_REGEX:
        return this.#regex!.test(pathOnly(path));
      default: {
        // path_separated_prefix: the prefix, then the end of the path or a "/".
        const p0 = pathOnly(path);
        const p = this.caseSensitive ? p0 : p0.toLowerCase();
        const v = this.matchValue;
        return p.startsWith(v) && (p.length === v.length || p.charCodeAt(v.length) === 47);
      }
    }
  }

  /** Whether an upgrade of `type` (lower-cased) may go through this route: the route's own
   *  upgrade_configs entry when it has one (it overrides the HCM both ways), else `hcmEnabled`
   *  (Envoy's HttpConnectionManagerConfig::createUpgradeFilterChain). */
  upgradeAllowed(type: string, hcmEnabled: boolean): boolean {
    const own = this.#upgrades === null ? undefined : this.#upgrades.get(type);
    return own === undefined ? hcmEnabled : own;
  }

  /** True when the route has a runtime_fraction that may fail (lookups then need a random value). */
  get hasRuntimeFraction(): boolean {
    return this.#fractionDenominator !== 0;
  }

  /** runtime_fraction for the stream's `random` value (a uint32): Envoy's
   *  featureEnabled(key, default_value, stream_id) with no runtime override, i.e.
   *  random % denominator < numerator. */
  fractionHolds(random: number): boolean {
    return this.#fractionDenominator === 0 || random % this.#fractionDenominator < this.#fractionNumerator;
  }

  /** Path, query parameters and runtime_fraction (no header matchers): what a lookup without
   *  headers can check. */
  matches(path: string, random = 0): boolean {
    if (!this.matchesPath(path)) return false;
    if (this.#fractionDenominator !== 0 && random % this.#fractionDenominator >= this.#fractionNumerator) return false;
    const qs = this.queryMatchers;
    for (let i = 0; i < qs.length; i++) if (!qs[i]!.matches(path)) return false;
    return true;
  }

  /** The full match: path, runtime_fraction (for the stream's `random`), headers, query parameters. */
  matchesRequest(req: RequestHeaders, random = 0): boolean {
    if (!this.matches(req.path, random)) return false;
    return this.matchesHeaders(req);
  }

  /** The header matchers alone. */
  matchesHeaders(req: RequestHeaders): boolean {
    const hs = this.headerMatchers;
    for (let i = 0; i < hs.length; i++) if (!hs[i]!.matches(req)) return false;
    return true;
  }

  /** Length of the matched prefix in `path` (for prefix_rewrite). */
  #matchedLength(path: string): number {
    return this.#pm === PM_PREFIX || this.#pm === PM_SEPARATED ? this.matchValue.length : pathOnly(path).length;
  }

  /** The upstream :path after prefix_rewrite / regex_rewrite (or `path` unchanged). */
  rewritePath(path: string): string {
    if (this.prefixRewrite !== undefined) return this.prefixRewrite + path.slice(this.#matchedLength(path));
    if (this.#regexRewrite !== null) {
      const p = pathOnly(path);
      return p.replace(this.#regexRewrite, this.#regexSubstitution) + path.slice(p.length);
    }
    return path;
  }

  /** The cluster for this request ("" when cluster_header names none). */
  /** The weighted cluster index for `random` (-1 when the route has no weighted_clusters). */
  chooseWeighted(random: number): number {
    return this.weighted === null ? -1 : this.weighted.pickIndex(random);
  }

  chooseCluster(req: RequestHeaders, random: number): string {
    if (this.weighted !== null) return this.weighted.pick(random);
    if (this.clusterHeader !== null) return req.headers.get(this.clusterHeader) ?? "";
    return this.clusterName;
  }

  /** The Location of a redirect route (Envoy's RouteEntryImplBase::newUri). */
  redirectLocation(req: RequestHeaders): string {
    const r = this.#redirect!;
    const origScheme = req.headers.get("x-forwarded-proto") ?? req.scheme;
    const scheme = r.schemeRedirect ?? origScheme;
    const port = r.portRedirect !== undefined ? ":" + r.portRedirect : "";
    let host: string;
    if (r.hostRedirect !== undefined) {
      host = r.hostRedirect;
    } else {
      host = req.authority;
      const end = host.startsWith("[") ? (host.lastIndexOf("]:") >= 0 ? host.lastIndexOf("]:") + 1 : -1) : host.lastIndexOf(":");
      if (end >= 0) {
        // The request's port is dropped when a new port is set, or when the scheme changes
        // away from a scheme whose default port the request used.
        const reqPort = host.slice(end);
        let strip = port !== "";
        if (scheme !== origScheme) {
          strip ||= (origScheme === "https" && reqPort === ":443") || (origScheme === "http" && reqPort === ":80");
        }
        if (strip) host = host.slice(0, end);
      }
    }
    let path: string;
    if (r.pathRedirect !== undefined) {
      path = r.pathRedirect.includes("?") || r.stripQuery ? r.pathRedirect : r.pathRedirect + queryPart(req.path);
    } else {
      path = req.path;
      if (r.stripQuery) path = pathOnly(path);
      path = this.rewritePath(path);
    }
    return `${scheme}://${host}${port}${path}`;
  }
}

/** A virtual host's routes in config order (first match wins). */
export class CompiledVirtualHost {
  readonly name: string;
  readonly routes: readonly CompiledRoute[];
  /** True when some route has header matchers (a lookup needs the request headers). */
  readonly needsHeaders: boolean;
  /** True when some route has a runtime_fraction (a lookup needs the stream's random value). */
  readonly needsRandom: boolean;
  constructor(m: VirtualHostModel, rc: RouteConfigModel | null = null) {
    this.name = m.name;
    this.routes = m.routes.map((r, i) => new CompiledRoute(r, m, rc, i));
    for (const r of this.routes) r.virtualHost = this;
    this.needsHeaders = this.routes.some((r) => r.headerMatchers.length > 0);
    this.needsRandom = this.routes.some((r) => r.hasRuntimeFraction);
  }
  /** The first route matching `path` (and `req`'s headers when given), or null. `random` is the
   *  stream's random value for runtime_fraction (Envoy passes the stream id). */
  route(path: string, req?: RequestHeaders, random = 0): CompiledRoute | null {
    const rs = this.routes;
    if (req === undefined) {
      for (let i = 0; i < rs.length; i++) if (rs[i]!.matches(path, random)) return rs[i]!;
      return null;
    }
    return this.routeFrom(0, req, random);
  }
  /** The first route at or after `from` matching the whole request, or null. */
  routeFrom(from: number, req: RequestHeaders, random = 0): CompiledRoute | null {
    const rs = this.routes;
    for (let i = from; i < rs.length; i++) if (rs[i]!.matchesRequest(req, random)) return rs[i]!;
    return null;
  }
}

/** A route configuration compiled for lookups by (:authority, :path, headers). */
export class RouteTable {
  readonly name: string;
  readonly #exact = new Map<string, CompiledVirtualHost>();
  /** [suffix without "*", vhost], longest suffix first. */
  readonly #suffix: [string, CompiledVirtualHost][] = [];
  /** [prefix without "*", vhost], longest prefix first. */
  readonly #prefix: [string, CompiledVirtualHost][] = [];
  readonly #any: CompiledVirtualHost | null = null;
  readonly #ignorePort: boolean;
  /** True when some route has a runtime_fraction: the stream draws a random value for lookups. */
  readonly needsRandom: boolean;

  constructor(m: RouteConfigModel) {
    this.name = m.name;
    this.#ignorePort = m.ignorePortInHostMatching ?? false;
    let any: CompiledVirtualHost | null = null;
    for (const vm of m.virtualHosts) {
      const vh = new CompiledVirtualHost(vm, m);
      for (const raw of vm.domains) {
        const d = raw.toLowerCase();
        if (d === "*") any = vh;
        else if (d.startsWith("*")) this.#suffix.push([d.slice(1), vh]);
        else if (d.endsWith("*")) this.#prefix.push([d.slice(0, -1), vh]);
        else this.#exact.set(d, vh);
      }
    }
    this.#suffix.sort((a, b) => b[0].length - a[0].length);
    this.#prefix.sort((a, b) => b[0].length - a[0].length);
    this.#any = any;
    let needsRandom = false;
    for (const vh of this.#exact.values()) needsRandom ||= vh.needsRandom;
    for (const [, vh] of this.#suffix) needsRandom ||= vh.needsRandom;
    for (const [, vh] of this.#prefix) needsRandom ||= vh.needsRandom;
    this.needsRandom = needsRandom || (any !== null && any.needsRandom);
  }

  /** The virtual host for `authority` (lower-case), or null. Wildcards never match empty. */
  virtualHost(authority: string): CompiledVirtualHost | null {
    if (this.#ignorePort) authority = stripHostPort(authority);
    const exact = this.#exact.get(authority);
    if (exact) return exact;
    for (const [s, vh] of this.#suffix) {
      if (authority.length > s.length && authority.endsWith(s)) return vh;
    }
    for (const [p, vh] of this.#prefix) {
      if (authority.length > p.length && authority.startsWith(p)) return vh;
    }
    return this.#any;
  }

  /** The route for a request, or null (404 NR). Without `req`, header matchers are not
   *  checked (see `resolveRoute`). `random` is the stream's random value (a uint32, the same
   *  for every lookup of one stream) that runtime_fraction matches are decided with. */
  route(authority: string, path: string, req?: RequestHeaders, random = 0): CompiledRoute | null {
    const vh = this.virtualHost(authority);
    return vh ? vh.route(path, req, random) : null;
  }
}

/**
 * Worker side: the route for the stream, header matchers included. `cb.route()` may have been
 * computed from :authority and :path alone; since header matchers only narrow a match, the
 * answer is then either right or an earlier route whose headers do not match, and the scan
 * continues after it with the full request.
 */
export function resolveRoute(cb: { route(): CompiledRoute | null; readonly request: RequestHeaders }): CompiledRoute | null {
  const r = cb.route();
  if (r === null || !r.virtualHost.needsHeaders) return r;
  // `r` passed its runtime_fraction when it was chosen; it is not drawn again here.
  if (r.matchesHeaders(cb.request)) return r;
  const vh = r.virtualHost;
  return vh.routeFrom(r.index + 1, cb.request, vh.needsRandom ? streamRandom() : 0);
}

/** Worker side: a uint32 random value for a stream's runtime_fraction matches (Envoy uses the
 *  stream id, drawn from its random generator). No allocation. */
export function streamRandom(): number {
  return (Math.random() * 4294967296) >>> 0;
}

/**
 * Worker side: Envoy's RouteEntry::finalizeRequestHeaders for a forwarding route, in Envoy's
 * order: internal-only headers dropped from external requests (no `x-envoy-internal: true`),
 * custom headers (route, virtual host, route config), the host rewrite (literal), then the
 * path rewrite with `x-envoy-original-path`. auto_host_rewrite happens once a host is chosen.
 */
export function finalizeRequestHeaders(route: CompiledRoute, req: RequestHeaders, fmt: HeaderFormatInput | null, weighted = -1): void {
  const headers = req.headers;
  const internalOnly = route.internalOnlyHeaders;
  if (internalOnly.length > 0 && headers.get("x-envoy-internal") !== "true") {
    for (let i = 0; i < internalOnly.length; i++) headers.remove(internalOnly[i]!);
  }
  if (route.hasRequestMutations && fmt !== null) {
    const ms = weighted >= 0 ? route.weighted!.mutations[weighted]! : route.mutations;
    for (let i = 0; i < ms.length; i++) applyHeaderMutations(headers, ms[i]!.requestRemove, ms[i]!.requestAdd, fmt);
  }
  const clusterHost = weighted >= 0 ? route.weighted!.hostRewrites[weighted] : undefined;
  if (route.hostRewriteLiteral !== undefined) rewriteHost(route, req, route.hostRewriteLiteral);
  else if (clusterHost !== undefined) rewriteHost(route, req, clusterHost);
  else if (route.hostRewriteHeader !== null) {
    // host_rewrite_header: the header's value, when present and not empty.
    const v = headers.get(route.hostRewriteHeader);
    if (v !== undefined && v !== "") rewriteHost(route, req, v);
  }
  if (route.rewritesPath) {
    headers.set("x-envoy-original-path", req.path);
    req.path = route.rewritePath(req.path);
  }
}

/** Worker side: replaces :authority; with append_x_forwarded_host the old one is appended to
 *  x-forwarded-host (Envoy: only when the host actually changes). */
export function rewriteHost(route: CompiledRoute, req: RequestHeaders, host: string): void {
  if (route.appendXForwardedHost && host !== req.authority) {
    const xfh = req.headers.get("x-forwarded-host");
    req.headers.set("x-forwarded-host", xfh ? `${xfh},${req.authority}` : req.authority);
  }
  req.authority = host;
}

/** Worker side: the route's response header mutations (route, virtual host, route config). */
export function finalizeResponseHeaders(route: CompiledRoute, resp: ResponseHeaders, fmt: HeaderFormatInput, weighted = -1): void {
  fmt.resp = resp;
  const ms = weighted >= 0 ? route.weighted!.mutations[weighted]! : route.mutations;
  for (let i = 0; i < ms.length; i++) applyHeaderMutations(resp.headers, ms[i]!.responseRemove, ms[i]!.responseAdd, fmt);
}

/** Worker side: the per-route config of filter `name` for this stream's route (most specific
 *  level wins), or undefined. Filters call it once per stream. */
export function perRouteConfig(
  cb: { route(): CompiledRoute | null; readonly request: RequestHeaders },
  name: string,
): { readonly disabled: boolean; readonly config: unknown } | undefined {
  const r = resolveRoute(cb);
  return r === null || r.perFilterConfig.size === 0 ? undefined : r.perFilterConfig.get(name);
}
