/**
 * `envoy.config.route.v3.RouteConfiguration` (control side): schemas for the supported subset and
 * Envoy's semantic checks (domain wildcards and duplicates, routes naming unknown clusters,
 * direct response body size). Used for the HCM's inline `route_config` (and later for RDS).
 */
import * as v from "valibot";
import type { ParseContext } from "../registry/registry.ts";
import type { RouteActionModel, RouteConfigModel, RouteModel, VirtualHostModel } from "./model.ts";
import { bool, duration, inlineDataSource, isMapping, list, message, parseWith, str, uint32 } from "./schema.ts";

/** Envoy's default for `max_direct_response_body_size_bytes`. */
const DEFAULT_MAX_DIRECT_RESPONSE_BODY_BYTES = 4096;

const routeConfigurationSchema = message(
  {
    name: v.optional(str(), ""),
    virtual_hosts: v.optional(list, []),
    validate_clusters: v.optional(bool({ wrapper: true })),
    max_direct_response_body_size_bytes: v.optional(uint32({ wrapper: true }), DEFAULT_MAX_DIRECT_RESPONSE_BODY_BYTES),
  },
  {
    unsupported: [
      "vhds",
      "internal_only_headers",
      "response_headers_to_add",
      "response_headers_to_remove",
      "request_headers_to_add",
      "request_headers_to_remove",
      "most_specific_header_mutations_wins",
      "cluster_specifier_plugins",
      "request_mirror_policies",
      "ignore_port_in_host_matching",
      "ignore_path_parameters_in_path_matching",
      "typed_per_filter_config",
      "metadata",
    ],
  },
);

const routeMatchSchema = message(
  {
    prefix: v.optional(str()),
    path: v.optional(str()),
    case_sensitive: v.optional(bool({ wrapper: true }), true),
  },
  {
    unsupported: [
      "safe_regex",
      "connect_matcher",
      "path_separated_prefix",
      "path_match_policy",
      "runtime_fraction",
      "headers",
      "query_parameters",
      "grpc",
      "tls_context",
      "dynamic_metadata",
      "filter_state",
    ],
    oneofs: [{
      members: ["prefix", "path", "safe_regex", "connect_matcher", "path_separated_prefix", "path_match_policy"],
      supported: ["prefix", "path"],
      required: true,
    }],
  },
);

const routeActionSchema = message(
  {
    cluster: v.optional(str({ nonEmpty: true })),
    timeout: v.optional(duration(), "15s"),
    prefix_rewrite: v.optional(str()),
  },
  {
    unsupported: [
      "cluster_header",
      "weighted_clusters",
      "cluster_specifier_plugin",
      "inline_cluster_specifier_plugin",
      "cluster_not_found_response_code",
      "metadata_match",
      "regex_rewrite",
      "path_rewrite_policy",
      "host_rewrite_literal",
      "auto_host_rewrite",
      "host_rewrite_header",
      "host_rewrite_path_regex",
      "append_x_forwarded_host",
      "idle_timeout",
      "early_data_policy",
      "retry_policy",
      "retry_policy_typed_config",
      "request_mirror_policies",
      "priority",
      "rate_limits",
      "include_vh_rate_limits",
      "hash_policy",
      "cors",
      "max_grpc_timeout",
      "grpc_timeout_offset",
      "upgrade_configs",
      "internal_redirect_policy",
      "internal_redirect_action",
      "max_internal_redirects",
      "hedge_policy",
      "max_stream_duration",
    ],
    oneofs: [{
      members: ["cluster", "cluster_header", "weighted_clusters", "cluster_specifier_plugin", "inline_cluster_specifier_plugin"],
      supported: ["cluster"],
      required: true,
    }],
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
    direct_response: v.optional(directResponseSchema),
  },
  {
    unsupported: [
      "redirect",
      "filter_action",
      "non_forwarding_action",
      "metadata",
      "decorator",
      "typed_per_filter_config",
      "request_headers_to_add",
      "request_headers_to_remove",
      "response_headers_to_add",
      "response_headers_to_remove",
      "tracing",
      "per_request_buffer_limit_bytes",
      "stat_prefix",
      "request_body_buffer_limit",
    ],
    oneofs: [{
      members: ["route", "redirect", "direct_response", "filter_action", "non_forwarding_action"],
      supported: ["route", "direct_response"],
      required: true,
    }],
  },
);

const virtualHostSchema = message(
  {
    name: str({ nonEmpty: true }),
    domains: v.array(str()),
    routes: v.optional(list, []),
  },
  {
    unsupported: [
      "matcher",
      "require_tls",
      "virtual_clusters",
      "rate_limits",
      "request_headers_to_add",
      "request_headers_to_remove",
      "response_headers_to_add",
      "response_headers_to_remove",
      "cors",
      "typed_per_filter_config",
      "include_request_attempt_count",
      "include_attempt_count_in_response",
      "retry_policy",
      "retry_policy_typed_config",
      "hedge_policy",
      "include_is_timeout_retry_header",
      "per_request_buffer_limit_bytes",
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
  return { name: rc.name, virtualHosts };
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
  return ok ? { name: vh.name, domains, routes } : undefined;
}

function buildRoute(
  r: v.InferOutput<typeof routeSchema>,
  ctx: ParseContext,
  checkClusters: boolean,
  maxBody: number,
): RouteModel | undefined {
  const match = r.match.prefix !== undefined
    ? { kind: "prefix" as const, value: r.match.prefix, caseSensitive: r.match.case_sensitive }
    : { kind: "path" as const, value: r.match.path ?? "", caseSensitive: r.match.case_sensitive };
  let action: RouteActionModel;
  if (r.route) {
    const cluster = r.route.cluster ?? "";
    if (checkClusters && !ctx.clusterNames?.has(cluster)) {
      ctx.issue("route.cluster", `unknown cluster ${JSON.stringify(cluster)}`);
      return undefined;
    }
    // Envoy also rewrites an exact `path` match ("the matched prefix (or path)"); our router only
    // rewrites prefixes so far, so refuse rather than silently ignore it.
    if (r.route.prefix_rewrite !== undefined && match.kind === "path") {
      ctx.issue("route.prefix_rewrite", "prefix_rewrite with a path match is not supported yet");
      return undefined;
    }
    action = { kind: "route", cluster, timeoutMs: r.route.timeout, prefixRewrite: r.route.prefix_rewrite };
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
  return { name: r.name, match, action };
}
