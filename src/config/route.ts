/**
 * `envoy.config.route.v3.RouteConfiguration` (control side): schemas for the supported subset and
 * Envoy's semantic checks (domain wildcards and duplicates, routes naming unknown clusters,
 * direct response body size). Used for the HCM's inline `route_config` (and later for RDS).
 */
import * as v from "valibot";
import { findByPerRouteTypeUrl, findByTypeUrl, type ParseContext } from "../registry/registry.ts";
import "../filters/http/configs.ts";
import { compileHeaderValue } from "../router/header_formatter.ts";
import { re2Problem } from "../router/re2.ts";
import type {
  HashPolicyModel,
  HeaderMatcherModel,
  HeaderMutationsModel,
  HeaderValueOptionModel,
  MirrorPolicyModel,
  PerFilterConfigModel,
  QueryParameterMatcherModel,
  RegexRewriteModel,
  RetryPolicyModel,
  RouteActionModel,
  RouteConfigModel,
  RouteMatchModel,
  RouteModel,
  StringMatcherModel,
  VirtualHostModel,
  WeightedClusterModel,
} from "./model.ts";
import { any, bool, describe, duration, enumOf, inlineDataSource, isMapping, leaf, list, message, parseWith, Problem, str, uint32 } from "./schema.ts";

/** Envoy's default for `max_direct_response_body_size_bytes`. */
const DEFAULT_MAX_DIRECT_RESPONSE_BODY_BYTES = 4096;

/** Fields shared by RouteConfiguration, VirtualHost and Route: header mutations. */
const headerMutationFields = {
  typed_per_filter_config: v.optional(any),
  request_headers_to_add: v.optional(list),
  request_headers_to_remove: v.optional(v.array(str({ nonEmpty: true }))),
  response_headers_to_add: v.optional(list),
  response_headers_to_remove: v.optional(v.array(str({ nonEmpty: true }))),
};

const routeConfigurationSchema = message(
  {
    name: v.optional(str(), ""),
    virtual_hosts: v.optional(list, []),
    validate_clusters: v.optional(bool({ wrapper: true })),
    max_direct_response_body_size_bytes: v.optional(uint32({ wrapper: true }), DEFAULT_MAX_DIRECT_RESPONSE_BODY_BYTES),
    internal_only_headers: v.optional(v.array(str({ nonEmpty: true }))),
    most_specific_header_mutations_wins: v.optional(bool(), false),
    ignore_port_in_host_matching: v.optional(bool(), false),
    ...headerMutationFields,
  },
  {
    unsupported: [
      "vhds",
      "cluster_specifier_plugins",
      "request_mirror_policies",
      "ignore_path_parameters_in_path_matching",
      "metadata",
    ],
  },
);

/** A proto3 JSON int64 (number or decimal string). */
const int64 = leaf((x) => {
  const n = typeof x === "string" && /^-?\d+$/.test(x) ? Number(x) : x;
  if (typeof n !== "number" || !Number.isInteger(n)) return new Problem(`expected an integer, got ${describe(x)}`);
  return n;
});

const regexMatcherSchema = message(
  {
    google_re2: v.optional(message({}, { unsupported: ["max_program_size"] })),
    regex: str({ nonEmpty: true }),
  },
);

const stringMatcherSchema = message(
  {
    exact: v.optional(str()),
    prefix: v.optional(str({ nonEmpty: true })),
    suffix: v.optional(str({ nonEmpty: true })),
    contains: v.optional(str({ nonEmpty: true })),
    safe_regex: v.optional(regexMatcherSchema),
    ignore_case: v.optional(bool(), false),
  },
  {
    unsupported: ["custom"],
    oneofs: [{
      members: ["exact", "prefix", "suffix", "safe_regex", "contains", "custom"],
      supported: ["exact", "prefix", "suffix", "safe_regex", "contains"],
      required: true,
    }],
  },
);

const headerMatcherSchema = message(
  {
    name: str({ nonEmpty: true }),
    exact_match: v.optional(str()),
    safe_regex_match: v.optional(regexMatcherSchema),
    range_match: v.optional(message({ start: v.optional(int64, 0), end: v.optional(int64, 0) })),
    present_match: v.optional(bool()),
    prefix_match: v.optional(str({ nonEmpty: true })),
    suffix_match: v.optional(str({ nonEmpty: true })),
    contains_match: v.optional(str({ nonEmpty: true })),
    string_match: v.optional(stringMatcherSchema),
    invert_match: v.optional(bool(), false),
    treat_missing_header_as_empty: v.optional(bool(), false),
  },
  {
    oneofs: [{
      members: ["exact_match", "safe_regex_match", "range_match", "present_match", "prefix_match", "suffix_match", "contains_match", "string_match"],
      supported: ["string_match", "present_match", "range_match"],
    }],
  },
);

const queryParameterMatcherSchema = message(
  {
    name: str({ nonEmpty: true }),
    string_match: v.optional(stringMatcherSchema),
    present_match: v.optional(bool()),
  },
  { oneofs: [{ members: ["string_match", "present_match"], supported: ["string_match", "present_match"] }] },
);

const headerValueOptionSchema = message(
  {
    header: message({ key: str({ nonEmpty: true }), value: v.optional(str(), "") }, { unsupported: ["raw_value"] }),
    append: v.optional(bool({ wrapper: true })),
    append_action: v.optional(enumOf(["APPEND_IF_EXISTS_OR_ADD", "ADD_IF_ABSENT", "OVERWRITE_IF_EXISTS_OR_ADD", "OVERWRITE_IF_EXISTS"])),
    keep_empty_value: v.optional(bool(), false),
  },
);

const DENOMINATORS: Record<string, number> = { HUNDRED: 100, TEN_THOUSAND: 10_000, MILLION: 1_000_000 };

/** A `config.core.v3.RuntimeFractionalPercent`: Legate has no runtime layer, so only
 *  default_value is read; runtime_key is accepted and ignored. */
const runtimeFractionSchema = message({
  default_value: message({ numerator: v.optional(uint32(), 0), denominator: v.optional(enumOf(["HUNDRED", "TEN_THOUSAND", "MILLION"]), "HUNDRED") }),
  runtime_key: v.optional(str()),
});

const routeMatchSchema = message(
  {
    prefix: v.optional(str()),
    path: v.optional(str()),
    safe_regex: v.optional(regexMatcherSchema),
    path_separated_prefix: v.optional(str({ nonEmpty: true })),
    case_sensitive: v.optional(bool({ wrapper: true }), true),
    headers: v.optional(list),
    query_parameters: v.optional(list),
    runtime_fraction: v.optional(runtimeFractionSchema),
  },
  {
    unsupported: [
      "connect_matcher",
      "path_match_policy",
      "grpc",
      "tls_context",
      "dynamic_metadata",
      "filter_state",
    ],
    oneofs: [{
      members: ["prefix", "path", "safe_regex", "connect_matcher", "path_separated_prefix", "path_match_policy"],
      supported: ["prefix", "path", "safe_regex", "path_separated_prefix"],
      required: true,
    }],
  },
);

const regexRewriteSchema = message({ pattern: regexMatcherSchema, substitution: str() });

const clusterWeightSchema = message(
  {
    name: str({ nonEmpty: true }),
    weight: v.optional(uint32({ wrapper: true }), 0),
    request_headers_to_add: v.optional(list),
    request_headers_to_remove: v.optional(v.array(str({ nonEmpty: true }))),
    response_headers_to_add: v.optional(list),
    response_headers_to_remove: v.optional(v.array(str({ nonEmpty: true }))),
    host_rewrite_literal: v.optional(str({ nonEmpty: true })),
  },
  { unsupported: ["cluster_header", "metadata_match", "typed_per_filter_config"] },
);

const weightedClustersSchema = message(
  { clusters: v.array(clusterWeightSchema), total_weight: v.optional(uint32({ min: 1, wrapper: true })) },
  { unsupported: ["runtime_key_prefix", "header_name", "random_value_specifier"] },
);

/** RouteAction.UpgradeConfig: per-route overrides of the HCM's upgrade_configs. */
const routeUpgradeConfigSchema = v.pipe(
  message({ upgrade_type: str({ nonEmpty: true }), enabled: v.optional(bool({ wrapper: true }), true) }, { unsupported: ["connect_config"] }),
  v.check((u) => u.upgrade_type.toUpperCase() !== "CONNECT", "upgrade_type CONNECT is not supported yet"),
);

const routeActionSchema = message(
  {
    cluster: v.optional(str({ nonEmpty: true })),
    cluster_header: v.optional(str({ nonEmpty: true })),
    weighted_clusters: v.optional(weightedClustersSchema),
    timeout: v.optional(duration(), "15s"),
    idle_timeout: v.optional(duration()),
    prefix_rewrite: v.optional(str()),
    regex_rewrite: v.optional(regexRewriteSchema),
    host_rewrite_literal: v.optional(str({ nonEmpty: true })),
    auto_host_rewrite: v.optional(bool({ wrapper: true })),
    host_rewrite_header: v.optional(str({ nonEmpty: true })),
    append_x_forwarded_host: v.optional(bool(), false),
    cluster_not_found_response_code: v.optional(enumOf(["SERVICE_UNAVAILABLE", "NOT_FOUND", "INTERNAL_SERVER_ERROR"]), "SERVICE_UNAVAILABLE"),
    retry_policy: v.optional(any),
    hash_policy: v.optional(list),
    request_mirror_policies: v.optional(list),
    max_stream_duration: v.optional(message(
      { max_stream_duration: v.optional(duration()) },
      { unsupported: ["grpc_timeout_header_max", "grpc_timeout_header_offset"] },
    )),
    upgrade_configs: v.optional(v.array(routeUpgradeConfigSchema)),
  },
  {
    unsupported: [
      "cluster_specifier_plugin",
      "inline_cluster_specifier_plugin",
      "metadata_match",
      "path_rewrite_policy",
      "host_rewrite_path_regex",
      "early_data_policy",
      "retry_policy_typed_config",
      "priority",
      "rate_limits",
      "include_vh_rate_limits",
      "cors",
      "max_grpc_timeout",
      "grpc_timeout_offset",
      "internal_redirect_policy",
      "internal_redirect_action",
      "max_internal_redirects",
      "hedge_policy",
    ],
    oneofs: [
      {
        members: ["cluster", "cluster_header", "weighted_clusters", "cluster_specifier_plugin", "inline_cluster_specifier_plugin"],
        supported: ["cluster", "cluster_header", "weighted_clusters"],
        required: true,
      },
      {
        members: ["host_rewrite_literal", "auto_host_rewrite", "host_rewrite_header", "host_rewrite_path_regex"],
        supported: ["host_rewrite_literal", "auto_host_rewrite", "host_rewrite_header"],
      },
    ],
  },
);

const REDIRECT_CODES: Record<string, number> = {
  MOVED_PERMANENTLY: 301,
  FOUND: 302,
  SEE_OTHER: 303,
  TEMPORARY_REDIRECT: 307,
  PERMANENT_REDIRECT: 308,
};
const REDIRECT_NAMES = Object.keys(REDIRECT_CODES);

/** RedirectAction.RedirectResponseCode by name (or proto enum number). */
const redirectCode = leaf((x) => {
  if (typeof x === "number" && Number.isInteger(x) && x >= 0 && x < REDIRECT_NAMES.length) return REDIRECT_CODES[REDIRECT_NAMES[x]!]!;
  if (typeof x === "string" && REDIRECT_CODES[x.toUpperCase()] !== undefined) return REDIRECT_CODES[x.toUpperCase()]!;
  return new Problem(`unknown value ${describe(x)} (accepted: ${REDIRECT_NAMES.join(", ")})`);
});

const redirectSchema = message(
  {
    https_redirect: v.optional(bool()),
    scheme_redirect: v.optional(str({ nonEmpty: true })),
    host_redirect: v.optional(str({ nonEmpty: true })),
    port_redirect: v.optional(uint32({ max: 65535 })),
    path_redirect: v.optional(str()),
    prefix_rewrite: v.optional(str()),
    regex_rewrite: v.optional(regexRewriteSchema),
    response_code: v.optional(redirectCode, 0),
    strip_query: v.optional(bool(), false),
  },
  {
    oneofs: [
      { members: ["https_redirect", "scheme_redirect"], supported: ["https_redirect", "scheme_redirect"] },
      { members: ["path_redirect", "prefix_rewrite", "regex_rewrite"], supported: ["path_redirect", "prefix_rewrite", "regex_rewrite"] },
    ],
  },
);

const directResponseSchema = message(
  {
    status: uint32({ min: 200, max: 599 }),
    body: v.optional(inlineDataSource),
  },
  { unsupported: ["body_format"] },
);

const routeSchema = message(
  {
    name: v.optional(str(), ""),
    match: routeMatchSchema,
    route: v.optional(routeActionSchema),
    redirect: v.optional(redirectSchema),
    direct_response: v.optional(directResponseSchema),
    per_request_buffer_limit_bytes: v.optional(uint32({ wrapper: true })),
    ...headerMutationFields,
  },
  {
    unsupported: [
      "filter_action",
      "non_forwarding_action",
      "metadata",
      "decorator",
      "tracing",
      "stat_prefix",
      "request_body_buffer_limit",
    ],
    oneofs: [{
      members: ["route", "redirect", "direct_response", "filter_action", "non_forwarding_action"],
      supported: ["route", "redirect", "direct_response"],
      required: true,
    }],
  },
);

/** retry_on conditions Legate implements (HTTP/1.1 upstreams; refused-stream never fires). */
export const RETRY_ON = [
  "5xx",
  "gateway-error",
  "reset",
  "connect-failure",
  "retriable-4xx",
  "retriable-status-codes",
  "refused-stream",
  "envoy-ratelimited",
  "retriable-headers",
];
/** Envoy's other retry_on conditions (refused as not supported yet). */
const RETRY_ON_LATER = [
  "reset-before-request",
  "http3-post-connect-failure",
  "cancelled",
  "deadline-exceeded",
  "internal",
  "resource-exhausted",
  "unavailable",
];

const hashPolicySchema = message(
  {
    header: v.optional(message({ header_name: str({ nonEmpty: true }) }, { unsupported: ["regex_rewrite"] })),
    cookie: v.optional(message({ name: str({ nonEmpty: true }), ttl: v.optional(duration()), path: v.optional(str()) }, { unsupported: ["attributes"] })),
    connection_properties: v.optional(message({ source_ip: bool() })),
    query_parameter: v.optional(message({ name: str({ nonEmpty: true }) })),
    terminal: v.optional(bool(), false),
  },
  {
    unsupported: ["filter_state"],
    oneofs: [{
      members: ["header", "cookie", "connection_properties", "query_parameter", "filter_state"],
      supported: ["header", "cookie", "connection_properties", "query_parameter"],
      required: true,
    }],
  },
);

function buildHashPolicy(raw: unknown[], ctx: ParseContext): HashPolicyModel[] | undefined {
  const out: HashPolicyModel[] = [];
  let ok = true;
  raw.forEach((item, i) => {
    const h = parseWith(ctx, hashPolicySchema, item, `[${i}]`);
    if (!h) {
      ok = false;
      return;
    }
    const terminal = h.terminal;
    if (h.header) out.push({ kind: "header", name: h.header.header_name.toLowerCase(), terminal });
    else if (h.cookie) {
      out.push({
        kind: "cookie",
        name: h.cookie.name,
        terminal,
        ...(h.cookie.ttl !== undefined ? { cookieTtlMs: h.cookie.ttl } : {}),
        ...(h.cookie.path ? { cookiePath: h.cookie.path } : {}),
      });
    }
    else if (h.query_parameter) out.push({ kind: "query_parameter", name: h.query_parameter.name, terminal });
    // source_ip: false hashes nothing (Envoy ignores the policy).
    else if (h.connection_properties?.source_ip) out.push({ kind: "source_ip", name: "", terminal });
  });
  return ok ? out : undefined;
}

const mirrorPolicySchema = message(
  {
    cluster: str({ nonEmpty: true }),
    runtime_fraction: v.optional(runtimeFractionSchema),
    trace_sampled: v.optional(bool({ wrapper: true })),
    disable_shadow_host_suffix_append: v.optional(bool(), false),
  },
  { unsupported: ["cluster_header", "request_headers_mutations", "host_rewrite_literal"] },
);

function buildMirrorPolicies(raw: unknown[], ctx: ParseContext, checkClusters: boolean): MirrorPolicyModel[] | undefined {
  const out: MirrorPolicyModel[] = [];
  let ok = true;
  raw.forEach((item, i) => {
    const m = parseWith(ctx, mirrorPolicySchema, item, `[${i}]`);
    if (!m) {
      ok = false;
      return;
    }
    if (checkClusters && !ctx.clusterNames?.has(m.cluster)) {
      ctx.issue(`[${i}].cluster`, `unknown cluster ${JSON.stringify(m.cluster)}`);
      ok = false;
      return;
    }
    const d = m.runtime_fraction?.default_value;
    out.push({
      cluster: m.cluster,
      numerator: d ? d.numerator : 100,
      denominator: d ? DENOMINATORS[d.denominator]! : 100,
      disableShadowHostSuffixAppend: m.disable_shadow_host_suffix_append,
    });
  });
  return ok ? out : undefined;
}

const PREVIOUS_HOSTS_TYPE = "type.googleapis.com/envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate";

const retryPolicySchema = message(
  {
    retry_on: v.optional(str(), ""),
    num_retries: v.optional(uint32({ wrapper: true }), 1),
    per_try_timeout: v.optional(duration()),
    retry_host_predicate: v.optional(v.array(message({ name: str({ nonEmpty: true }), typed_config: v.optional(v.record(v.string(), v.unknown())) }))),
    host_selection_retry_max_attempts: v.optional(int64, 1),
    retriable_status_codes: v.optional(v.array(uint32({ min: 100, max: 599 })), []),
    retry_back_off: v.optional(message({ base_interval: duration({ positive: true }), max_interval: v.optional(duration({ positive: true })) })),
    retriable_headers: v.optional(list),
  },
  {
    unsupported: [
      "per_try_idle_timeout",
      "retry_priority",
      "retry_options_predicates",
      "rate_limited_retry_back_off",
      "retriable_request_headers",
    ],
  },
);

function buildRetryPolicy(raw: unknown, ctx: ParseContext): RetryPolicyModel | undefined {
  const p = parseWith(ctx, retryPolicySchema, raw);
  if (!p) return undefined;
  const retryOn = p.retry_on.split(",").map((x) => x.trim()).filter((x) => x !== "");
  for (const cond of retryOn) {
    if (RETRY_ON.includes(cond)) continue;
    ctx.issue("retry_on", RETRY_ON_LATER.includes(cond) ? `${cond} is not supported yet` : `unknown retry_on condition ${JSON.stringify(cond)}`);
    return undefined;
  }
  let previousHosts = false;
  for (const [i, pred] of (p.retry_host_predicate ?? []).entries()) {
    const type = pred.typed_config?.["@type"];
    if (pred.name !== "envoy.retry_host_predicates.previous_hosts" || (type !== undefined && type !== PREVIOUS_HOSTS_TYPE)) {
      ctx.issue(`retry_host_predicate[${i}]`, `${pred.name} is not supported yet (only envoy.retry_host_predicates.previous_hosts)`);
      return undefined;
    }
    previousHosts = true;
  }
  // Envoy's defaults: base 25 ms, max 10 × base; max below base is refused.
  const base = p.retry_back_off?.base_interval ?? 25;
  const max = p.retry_back_off?.max_interval ?? base * 10;
  if (max < base) {
    ctx.issue("retry_back_off.max_interval", "max_interval must be greater than or equal to the base_interval");
    return undefined;
  }
  let retriableHeaders: HeaderMatcherModel[] | undefined;
  if (p.retriable_headers !== undefined) {
    retriableHeaders = buildHeaderMatchers(p.retriable_headers, ctx, "retriable_headers");
    if (!retriableHeaders) return undefined;
  }
  return {
    retryOn,
    numRetries: p.num_retries,
    perTryTimeoutMs: p.per_try_timeout ?? 0,
    baseIntervalMs: base,
    maxIntervalMs: max,
    retriableStatusCodes: p.retriable_status_codes,
    previousHosts,
    hostSelectionRetryMaxAttempts: Math.max(0, p.host_selection_retry_max_attempts),
    ...(retriableHeaders && retriableHeaders.length ? { retriableHeaders } : {}),
  };
}

const virtualHostSchema = message(
  {
    name: str({ nonEmpty: true }),
    domains: v.array(str()),
    routes: v.optional(list, []),
    include_request_attempt_count: v.optional(bool(), false),
    include_attempt_count_in_response: v.optional(bool(), false),
    per_request_buffer_limit_bytes: v.optional(uint32({ wrapper: true })),
    retry_policy: v.optional(any),
    ...headerMutationFields,
  },
  {
    unsupported: [
      "matcher",
      "require_tls",
      "virtual_clusters",
      "rate_limits",
      "cors",
      "retry_policy_typed_config",
      "hedge_policy",
      "include_is_timeout_retry_header",
      "request_body_buffer_limit",
      "request_mirror_policies",
      "metadata",
    ],
  },
);

/** Control side: why a (lower-cased) domain is not one of the forms Envoy matches — exact,
 *  `*.suffix`/`*suffix`, `prefix*`, or `*` — or undefined when it is fine. */
export function domainProblem(domain: string): string | undefined {
  if (domain === "") return "a domain must not be empty";
  if (domain === "*") return undefined;
  const stars = domain.split("*").length - 1;
  if (stars === 0) return undefined;
  if (stars === 1 && (domain.startsWith("*") || domain.endsWith("*"))) return undefined;
  return `invalid domain ${JSON.stringify(domain)}: a wildcard "*" may appear once, at the start or at the end`;
}

/** Control side: parses a RouteConfiguration (keys already snake_case); undefined when invalid. */
export function parseRouteConfiguration(raw: unknown, ctx: ParseContext): RouteConfigModel | undefined {
  const rc = parseWith(ctx, routeConfigurationSchema, raw);
  const rawHosts = isMapping(raw) && Array.isArray(raw.virtual_hosts) ? raw.virtual_hosts : [];
  const checkClusters = ctx.clusterNames !== undefined && rc?.validate_clusters !== false;
  const maxBody = rc?.max_direct_response_body_size_bytes ?? DEFAULT_MAX_DIRECT_RESPONSE_BODY_BYTES;
  const seenDomains = new Set<string>();
  const virtualHosts: VirtualHostModel[] = [];
  let ok = rc !== undefined;
  rawHosts.forEach((rawHost, i) => {
    const hostCtx = ctx.child(`virtual_hosts[${i}]`);
    const host = parseVirtualHost(rawHost, hostCtx, seenDomains, checkClusters, maxBody);
    if (host) virtualHosts.push(host);
    else ok = false;
  });
  if (!ok || !rc) return undefined;
  const mutations = buildHeaderMutations(rc, ctx);
  if (mutations === null) return undefined;
  const out: { -readonly [K in keyof RouteConfigModel]: RouteConfigModel[K] } = { name: rc.name, virtualHosts };
  if (mutations) out.headerMutations = mutations;
  if (rc.internal_only_headers) {
    const names = rc.internal_only_headers.map((h) => h.toLowerCase());
    const bad = names.findIndex((h) => h.startsWith(":") || h === "host");
    if (bad >= 0) {
      ctx.issue(`internal_only_headers[${bad}]`, `${JSON.stringify(names[bad])} cannot be an internal-only header`);
      return undefined;
    }
    out.internalOnlyHeaders = names;
  }
  if (rc.most_specific_header_mutations_wins) out.mostSpecificHeaderMutationsWins = true;
  if (rc.ignore_port_in_host_matching) out.ignorePortInHostMatching = true;
  const pfc = buildPerFilterConfig(rc.typed_per_filter_config, ctx);
  if (pfc === null) return undefined;
  if (pfc) out.typedPerFilterConfig = pfc;
  return out;
}

function parseVirtualHost(
  raw: unknown,
  ctx: ParseContext,
  seenDomains: Set<string>,
  checkClusters: boolean,
  maxBody: number,
): VirtualHostModel | undefined {
  const vh = parseWith(ctx, virtualHostSchema, raw);
  // Routes are parsed one by one so that a bad virtual host field does not hide route problems.
  const rawRoutes = isMapping(raw) && Array.isArray(raw.routes) ? raw.routes : [];
  const routes: RouteModel[] = [];
  let ok = vh !== undefined;
  rawRoutes.forEach((rawRoute, j) => {
    const routeCtx = ctx.child(`routes[${j}]`);
    const r = parseWith(routeCtx, routeSchema, rawRoute);
    const route = r && buildRoute(r, routeCtx, checkClusters, maxBody);
    if (route) routes.push(route);
    else ok = false;
  });
  if (!vh) return undefined;
  if (vh.domains.length === 0) {
    ctx.issue("domains", "must list at least one domain");
    ok = false;
  }
  const domains: string[] = [];
  vh.domains.forEach((d, j) => {
    // Envoy matches hosts case-insensitively and rejects "www.A.com" next to "www.a.com".
    const domain = d.toLowerCase();
    const problem = domainProblem(domain);
    if (problem) {
      ctx.issue(`domains[${j}]`, problem);
      ok = false;
    } else if (seenDomains.has(domain)) {
      ctx.issue("domains", `duplicate domain ${JSON.stringify(domain)}`);
      ok = false;
    }
    seenDomains.add(domain);
    domains.push(domain);
  });
  const mutations = buildHeaderMutations(vh, ctx);
  if (mutations === null) ok = false;
  const retryPolicy = vh.retry_policy === undefined ? undefined : buildRetryPolicy(vh.retry_policy, ctx.child("retry_policy"));
  if (vh.retry_policy !== undefined && !retryPolicy) ok = false;
  const pfc = buildPerFilterConfig(vh.typed_per_filter_config, ctx);
  if (pfc === null) ok = false;
  if (!ok) return undefined;
  const out: { -readonly [K in keyof VirtualHostModel]: VirtualHostModel[K] } = { name: vh.name, domains, routes };
  if (mutations) out.headerMutations = mutations;
  if (retryPolicy) out.retryPolicy = retryPolicy;
  if (vh.include_request_attempt_count) out.includeRequestAttemptCount = true;
  if (vh.include_attempt_count_in_response) out.includeAttemptCountInResponse = true;
  if (vh.per_request_buffer_limit_bytes !== undefined) out.perRequestBufferLimitBytes = vh.per_request_buffer_limit_bytes;
  if (pfc) out.typedPerFilterConfig = pfc;
  return out;
}

// --- matchers ------------------------------------------------------------------------------

type RegexIn = { regex: string };

/** Checks a RegexMatcher's pattern for RE2 compatibility; returns it, or undefined (reported). */
function checkRegex(m: RegexIn, ctx: ParseContext, rel: string): string | undefined {
  const problem = re2Problem(m.regex);
  if (problem) {
    ctx.issue(rel ? `${rel}.regex` : "regex", problem);
    return undefined;
  }
  return m.regex;
}

function buildStringMatcher(m: v.InferOutput<typeof stringMatcherSchema>, ctx: ParseContext, rel: string): StringMatcherModel | undefined {
  const ignoreCase = m.ignore_case;
  if (m.safe_regex !== undefined) {
    if (ignoreCase) {
      // Envoy refuses ignore_case with safe_regex ("ignore_case has no effect for safe_regex").
      ctx.issue(`${rel}.ignore_case`, "ignore_case cannot be used with safe_regex");
      return undefined;
    }
    const re = checkRegex(m.safe_regex, ctx, `${rel}.safe_regex`);
    return re === undefined ? undefined : { kind: "safe_regex", value: re, ignoreCase: false };
  }
  const pick = (kind: StringMatcherModel["kind"], value: string): StringMatcherModel => ({
    kind,
    value: ignoreCase ? value.toLowerCase() : value,
    ignoreCase,
  });
  if (m.exact !== undefined) return pick("exact", m.exact);
  if (m.prefix !== undefined) return pick("prefix", m.prefix);
  if (m.suffix !== undefined) return pick("suffix", m.suffix);
  return pick("contains", m.contains ?? "");
}

/** Control side: parses a list of HeaderMatchers (reported at `headers[i]`). */
export function buildHeaderMatchers(raw: unknown[], ctx: ParseContext, field = "headers"): HeaderMatcherModel[] | undefined {
  const out: HeaderMatcherModel[] = [];
  let ok = true;
  raw.forEach((item, i) => {
    const rel = `${field}[${i}]`;
    const h = parseWith(ctx, headerMatcherSchema, item, rel);
    if (!h) {
      ok = false;
      return;
    }
    const base = { name: h.name.toLowerCase(), invert: h.invert_match, treatMissingAsEmpty: h.treat_missing_header_as_empty };
    let m: HeaderMatcherModel | undefined;
    const s = (kind: StringMatcherModel["kind"], value: string): HeaderMatcherModel => ({ ...base, kind: "string", string: { kind, value, ignoreCase: false } });
    if (h.string_match !== undefined) {
      const sm = buildStringMatcher(h.string_match, ctx, `${rel}.string_match`);
      m = sm && { ...base, kind: "string", string: sm };
    } else if (h.exact_match !== undefined) m = s("exact", h.exact_match);
    else if (h.prefix_match !== undefined) m = s("prefix", h.prefix_match);
    else if (h.suffix_match !== undefined) m = s("suffix", h.suffix_match);
    else if (h.contains_match !== undefined) m = s("contains", h.contains_match);
    else if (h.safe_regex_match !== undefined) {
      const re = checkRegex(h.safe_regex_match, ctx, `${rel}.safe_regex_match`);
      m = re === undefined ? undefined : s("safe_regex", re);
    } else if (h.range_match !== undefined) {
      const { start, end } = h.range_match;
      if (end <= start) {
        ctx.issue(`${rel}.range_match`, `end (${end}) must be greater than start (${start})`);
      } else m = { ...base, kind: "range", rangeStart: start, rangeEnd: end };
    } else {
      // No specifier: Envoy checks that the header is present.
      m = { ...base, kind: "present", present: h.present_match ?? true };
    }
    if (m) out.push(m);
    else ok = false;
  });
  return ok ? out : undefined;
}

function buildQueryMatchers(raw: unknown[], ctx: ParseContext): QueryParameterMatcherModel[] | undefined {
  const out: QueryParameterMatcherModel[] = [];
  let ok = true;
  raw.forEach((item, i) => {
    const rel = `query_parameters[${i}]`;
    const q = parseWith(ctx, queryParameterMatcherSchema, item, rel);
    if (!q) {
      ok = false;
      return;
    }
    if (q.string_match !== undefined) {
      const sm = buildStringMatcher(q.string_match, ctx, `${rel}.string_match`);
      if (sm) out.push({ name: q.name, string: sm });
      else ok = false;
    } else {
      out.push({ name: q.name, string: undefined });
    }
  });
  return ok ? out : undefined;
}

// --- typed_per_filter_config ---------------------------------------------------------------

const FILTER_CONFIG_TYPE = "type.googleapis.com/envoy.config.route.v3.FilterConfig";
const filterConfigSchema = message({ config: v.optional(any), is_optional: v.optional(bool(), false), disabled: v.optional(bool(), false) });

/** Resolves one per-route Any through the filter's per-route parser. */
function parsePerRouteAny(raw: unknown, ctx: ParseContext): { config: unknown } | undefined {
  if (!isMapping(raw) || typeof raw["@type"] !== "string") {
    ctx.issue("", `expected a mapping with "@type", got ${describe(raw)}`);
    return undefined;
  }
  const url = raw["@type"];
  const ext = findByPerRouteTypeUrl(url);
  if (!ext || !ext.parsePerRouteConfig) {
    const known = findByTypeUrl(url);
    ctx.issue("@type", known ? `per-route config of ${known.name} is not supported yet` : `unknown per-route config type ${JSON.stringify(url)}`);
    return undefined;
  }
  const { "@type": _, ...fields } = raw;
  const config = ext.parsePerRouteConfig(fields, ctx, url);
  return config === undefined ? undefined : { config };
}

/** typed_per_filter_config of one level; undefined when absent, null when invalid (reported). */
function buildPerFilterConfig(raw: unknown, ctx: ParseContext): PerFilterConfigModel | undefined | null {
  if (raw === undefined) return undefined;
  const c = ctx.child("typed_per_filter_config");
  if (!isMapping(raw)) {
    c.issue("", `expected a mapping of filter names, got ${describe(raw)}`);
    return null;
  }
  const out: Record<string, { disabled: boolean; config: unknown }> = {};
  let ok = true;
  for (const [name, any] of Object.entries(raw)) {
    const at = c.child(name);
    if (isMapping(any) && any["@type"] === FILTER_CONFIG_TYPE) {
      const { "@type": _, ...fields } = any;
      const fc = parseWith(at, filterConfigSchema, fields);
      if (!fc) {
        ok = false;
        continue;
      }
      if (fc.disabled) {
        out[name] = { disabled: true, config: undefined };
        continue;
      }
      if (fc.config === undefined) {
        out[name] = { disabled: false, config: undefined };
        continue;
      }
      const inner = parsePerRouteAny(fc.config, at.child("config"));
      if (inner) out[name] = { disabled: false, config: inner.config };
      else ok = false;
      continue;
    }
    const r = parsePerRouteAny(any, at);
    if (r) out[name] = { disabled: false, config: r.config };
    else ok = false;
  }
  return ok ? out : null;
}

// --- header mutations ----------------------------------------------------------------------

type MutationFields = {
  request_headers_to_add?: unknown[] | undefined;
  request_headers_to_remove?: string[] | undefined;
  response_headers_to_add?: unknown[] | undefined;
  response_headers_to_remove?: string[] | undefined;
};

/** Control side: parses a list of HeaderValueOptions (reported at `<rel>[i]`). */
export function buildHeaderValueOptions(raw: unknown[], ctx: ParseContext, rel: string): HeaderValueOptionModel[] | undefined {
  const out: HeaderValueOptionModel[] = [];
  let ok = true;
  raw.forEach((item, i) => {
    const at = `${rel}[${i}]`;
    const h = parseWith(ctx, headerValueOptionSchema, item, at);
    if (!h) {
      ok = false;
      return;
    }
    const key = h.header.key.toLowerCase();
    if (key.startsWith(":") || key === "host") {
      ctx.issue(`${at}.header.key`, `${JSON.stringify(key)}: pseudo-headers and host cannot be modified here (not supported yet)`);
      ok = false;
      return;
    }
    if (h.append !== undefined && h.append_action !== undefined) {
      ctx.issue(at, "only one of append, append_action may be set");
      ok = false;
      return;
    }
    const f = compileHeaderValue(h.header.value);
    if (typeof f === "string") {
      ctx.issue(`${at}.header.value`, f);
      ok = false;
      return;
    }
    // The deprecated `append` (default true) maps onto append_action as Envoy documents.
    const appendAction = h.append_action ?? (h.append === false ? "OVERWRITE_IF_EXISTS_OR_ADD" : "APPEND_IF_EXISTS_OR_ADD");
    out.push({ key, value: h.header.value, appendAction, keepEmptyValue: h.keep_empty_value });
  });
  return ok ? out : undefined;
}

function buildRemoveList(raw: string[], ctx: ParseContext, rel: string): string[] | undefined {
  const out = raw.map((h) => h.toLowerCase());
  const bad = out.findIndex((h) => h.startsWith(":") || h === "host");
  if (bad >= 0) {
    ctx.issue(`${rel}[${bad}]`, `${JSON.stringify(out[bad])}: pseudo-headers and host cannot be removed`);
    return undefined;
  }
  return out;
}

/** The level's mutations; undefined when there are none, null when invalid (reported). */
function buildHeaderMutations(f: MutationFields, ctx: ParseContext): HeaderMutationsModel | undefined | null {
  if (!f.request_headers_to_add && !f.request_headers_to_remove && !f.response_headers_to_add && !f.response_headers_to_remove) {
    return undefined;
  }
  const reqAdd = buildHeaderValueOptions(f.request_headers_to_add ?? [], ctx, "request_headers_to_add");
  const reqRemove = buildRemoveList(f.request_headers_to_remove ?? [], ctx, "request_headers_to_remove");
  const respAdd = buildHeaderValueOptions(f.response_headers_to_add ?? [], ctx, "response_headers_to_add");
  const respRemove = buildRemoveList(f.response_headers_to_remove ?? [], ctx, "response_headers_to_remove");
  if (!reqAdd || !reqRemove || !respAdd || !respRemove) return null;
  return { requestHeadersToAdd: reqAdd, requestHeadersToRemove: reqRemove, responseHeadersToAdd: respAdd, responseHeadersToRemove: respRemove };
}

// --- routes --------------------------------------------------------------------------------

function buildMatch(m: v.InferOutput<typeof routeMatchSchema>, ctx: ParseContext): RouteMatchModel | undefined {
  const cs = m.case_sensitive;
  let out: { -readonly [K in keyof RouteMatchModel]: RouteMatchModel[K] };
  if (m.prefix !== undefined) out = { kind: "prefix", value: m.prefix, caseSensitive: cs };
  else if (m.path !== undefined) out = { kind: "path", value: m.path, caseSensitive: cs };
  else if (m.safe_regex !== undefined) {
    const re = checkRegex(m.safe_regex, ctx, "match.safe_regex");
    if (re === undefined) return undefined;
    out = { kind: "safe_regex", value: re, caseSensitive: cs };
  } else {
    const p = m.path_separated_prefix ?? "";
    // Envoy's validation rule for path_separated_prefix: "^[^?#]+[^?#/]$".
    if (!/^[^?#]+[^?#/]$/.test(p)) {
      ctx.issue("match.path_separated_prefix", `${JSON.stringify(p)} must not contain "?" or "#" and must not end with "/"`);
      return undefined;
    }
    out = { kind: "path_separated_prefix", value: p, caseSensitive: cs };
  }
  if (m.headers) {
    const hs = buildHeaderMatchers(m.headers, ctx.child("match"));
    if (!hs) return undefined;
    if (hs.length) out.headers = hs;
  }
  if (m.query_parameters) {
    const qs = buildQueryMatchers(m.query_parameters, ctx.child("match"));
    if (!qs) return undefined;
    if (qs.length) out.queryParameters = qs;
  }
  if (m.runtime_fraction) {
    const d = m.runtime_fraction.default_value;
    out.runtimeFraction = { numerator: d.numerator, denominator: DENOMINATORS[d.denominator]! };
  }
  return out;
}

function buildRegexRewrite(r: v.InferOutput<typeof regexRewriteSchema>, ctx: ParseContext, rel: string): RegexRewriteModel | undefined {
  const re = checkRegex(r.pattern, ctx, `${rel}.pattern`);
  return re === undefined ? undefined : { pattern: re, substitution: r.substitution };
}

function buildRoute(
  r: v.InferOutput<typeof routeSchema>,
  ctx: ParseContext,
  checkClusters: boolean,
  maxBody: number,
): RouteModel | undefined {
  const match = buildMatch(r.match, ctx);
  const mutations = buildHeaderMutations(r, ctx);
  const pfc = buildPerFilterConfig(r.typed_per_filter_config, ctx);
  if (!match || mutations === null || pfc === null) return undefined;
  let action: RouteActionModel;
  if (r.route) {
    const ra = r.route;
    const cluster = ra.cluster ?? "";
    if (ra.cluster !== undefined && checkClusters && !ctx.clusterNames?.has(cluster)) {
      ctx.issue("route.cluster", `unknown cluster ${JSON.stringify(cluster)}`);
      return undefined;
    }
    if (ra.prefix_rewrite !== undefined && ra.regex_rewrite !== undefined) {
      ctx.issue("route", "only one of prefix_rewrite, regex_rewrite may be set");
      return undefined;
    }
    const a: { -readonly [K in keyof Extract<RouteActionModel, { kind: "route" }>]: Extract<RouteActionModel, { kind: "route" }>[K] } = {
      kind: "route",
      cluster,
      timeoutMs: ra.timeout,
      prefixRewrite: ra.prefix_rewrite,
    };
    if (ra.cluster_header !== undefined) a.clusterHeader = ra.cluster_header.toLowerCase();
    if (ra.weighted_clusters !== undefined) {
      const wc = ra.weighted_clusters;
      if (wc.clusters.length === 0) {
        ctx.issue("route.weighted_clusters.clusters", "must list at least one cluster");
        return undefined;
      }
      let sum = 0;
      let bad = false;
      wc.clusters.forEach((c, i) => {
        sum += c.weight;
        if (checkClusters && !ctx.clusterNames?.has(c.name)) {
          ctx.issue(`route.weighted_clusters.clusters[${i}].name`, `unknown cluster ${JSON.stringify(c.name)}`);
          bad = true;
        }
      });
      if (bad) return undefined;
      // Envoy: the weights' sum is the total; the deprecated total_weight, when given, must equal it.
      if (sum === 0 || sum > 0xffff_ffff) {
        ctx.issue("route.weighted_clusters", `the sum of the weights must be between 1 and 4294967295, got ${sum}`);
        return undefined;
      }
      if (wc.total_weight !== undefined && wc.total_weight !== sum) {
        ctx.issue("route.weighted_clusters.total_weight", `sum of weights in the weighted_cluster (${sum}) should match total_weight (${wc.total_weight})`);
        return undefined;
      }
      const clusters: WeightedClusterModel[] = [];
      for (const [i, c] of wc.clusters.entries()) {
        const hm = buildHeaderMutations(c, ctx.child(`route.weighted_clusters.clusters[${i}]`));
        if (hm === null) return undefined;
        clusters.push({
          name: c.name,
          weight: c.weight,
          ...(hm ? { headerMutations: hm } : {}),
          ...(c.host_rewrite_literal !== undefined ? { hostRewriteLiteral: c.host_rewrite_literal } : {}),
        });
      }
      a.weightedClusters = clusters;
    }
    if (ra.regex_rewrite !== undefined) {
      const rr = buildRegexRewrite(ra.regex_rewrite, ctx, "route.regex_rewrite");
      if (!rr) return undefined;
      a.regexRewrite = rr;
    }
    if (ra.host_rewrite_literal !== undefined) a.hostRewriteLiteral = ra.host_rewrite_literal;
    if (ra.auto_host_rewrite) a.autoHostRewrite = true;
    if (ra.host_rewrite_header !== undefined) a.hostRewriteHeader = ra.host_rewrite_header.toLowerCase();
    if (ra.append_x_forwarded_host) a.appendXForwardedHost = true;
    if (ra.cluster_not_found_response_code !== "SERVICE_UNAVAILABLE") {
      a.clusterNotFoundResponseCode = ra.cluster_not_found_response_code === "NOT_FOUND" ? 404 : 500;
    }
    if (ra.idle_timeout !== undefined) a.idleTimeoutMs = ra.idle_timeout;
    if (ra.max_stream_duration?.max_stream_duration !== undefined) a.maxStreamDurationMs = ra.max_stream_duration.max_stream_duration;
    if (ra.request_mirror_policies !== undefined) {
      const mp = buildMirrorPolicies(ra.request_mirror_policies, ctx.child("route.request_mirror_policies"), checkClusters);
      if (!mp) return undefined;
      if (mp.length) a.mirrorPolicies = mp;
    }
    if (ra.hash_policy !== undefined) {
      const hp = buildHashPolicy(ra.hash_policy, ctx.child("route.hash_policy"));
      if (!hp) return undefined;
      if (hp.length) a.hashPolicy = hp;
    }
    if (ra.retry_policy !== undefined) {
      const rp = buildRetryPolicy(ra.retry_policy, ctx.child("route.retry_policy"));
      if (!rp) return undefined;
      a.retryPolicy = rp;
    }
    if (ra.upgrade_configs !== undefined && ra.upgrade_configs.length > 0) {
      // Envoy refuses a type listed twice (case-insensitively): "Duplicate upgrade".
      const seen = new Set<string>();
      for (const [i, u] of ra.upgrade_configs.entries()) {
        const t = u.upgrade_type.toLowerCase();
        if (seen.has(t)) {
          ctx.issue(`route.upgrade_configs[${i}].upgrade_type`, `duplicate upgrade ${JSON.stringify(u.upgrade_type)}`);
          return undefined;
        }
        seen.add(t);
      }
      a.upgradeConfigs = ra.upgrade_configs.map((u) => ({ upgradeType: u.upgrade_type.toLowerCase(), enabled: u.enabled }));
    }
    action = a;
  } else if (r.redirect) {
    const rd = r.redirect;
    let regexRewrite: RegexRewriteModel | undefined;
    if (rd.regex_rewrite !== undefined) {
      regexRewrite = buildRegexRewrite(rd.regex_rewrite, ctx, "redirect.regex_rewrite");
      if (!regexRewrite) return undefined;
    }
    if (rd.scheme_redirect !== undefined && !/^[a-zA-Z][a-zA-Z0-9+.-]*$/.test(rd.scheme_redirect)) {
      ctx.issue("redirect.scheme_redirect", `invalid scheme ${JSON.stringify(rd.scheme_redirect)}`);
      return undefined;
    }
    action = {
      kind: "redirect",
      schemeRedirect: rd.scheme_redirect?.toLowerCase() ?? (rd.https_redirect ? "https" : undefined),
      hostRedirect: rd.host_redirect,
      portRedirect: rd.port_redirect === 0 ? undefined : rd.port_redirect,
      pathRedirect: rd.path_redirect,
      prefixRewrite: rd.prefix_rewrite,
      regexRewrite,
      responseCode: rd.response_code || 301,
      stripQuery: rd.strip_query,
    };
  } else {
    const dr = r.direct_response!;
    if (dr.body !== undefined) {
      const size = new TextEncoder().encode(dr.body).length;
      if (size > maxBody) {
        ctx.issue("direct_response.body", `response body size is ${size} bytes; maximum is ${maxBody}`);
        return undefined;
      }
    }
    action = { kind: "direct_response", status: dr.status, body: dr.body };
  }
  const out: { -readonly [K in keyof RouteModel]: RouteModel[K] } = { name: r.name, match, action };
  if (mutations) out.headerMutations = mutations;
  if (pfc) out.typedPerFilterConfig = pfc;
  if (r.per_request_buffer_limit_bytes !== undefined) out.perRequestBufferLimitBytes = r.per_request_buffer_limit_bytes;
  return out;
}

/** Control side: parses a `type.matcher.v3.StringMatcher` at `rel` (for HTTP filter configs). */
export function parseStringMatcher(raw: unknown, ctx: ParseContext, rel: string): StringMatcherModel | undefined {
  const m = parseWith(ctx, stringMatcherSchema, raw, rel);
  return m && buildStringMatcher(m, ctx, rel);
}
