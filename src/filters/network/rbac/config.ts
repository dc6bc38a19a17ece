/**
 * Config of `envoy.filters.network.rbac` (control side): validates the network RBAC typed_config
 * (rules, shadow_rules, stat prefixes, enforcement type) into a plain-data model the workers
 * compile once per config version. Only the connection-level permissions and principals are
 * supported (IPs, ports, SNI, and their and/or/not combinations); every other kind Envoy knows
 * is refused with its field path and "is not supported yet".
 * https://www.envoyproxy.io/docs/envoy/latest/api-v3/extensions/filters/network/rbac/v3/rbac.proto
 * https://www.envoyproxy.io/docs/envoy/latest/api-v3/config/rbac/v3/rbac.proto
 */
import * as v from "valibot";
import type { CidrRangeModel, StringMatcherModel } from "../../../config/model.ts";
import { parseStringMatcher } from "../../../config/route.ts";
import { any, describe, enumOf, isMapping, leaf, list, message, parseWith, Problem, str, uint32 } from "../../../config/schema.ts";
import { normalizeCidr } from "../../../listener/filter_chain_match.ts";
import type { ParseContext } from "../../../registry/registry.ts";
import { type ConfigExtension, registerConfigExtension } from "../../../registry/registry.ts";

/** The network RBAC `@type` URL. */
export const NETWORK_RBAC_TYPE_URL = "type.googleapis.com/envoy.extensions.filters.network.rbac.v3.RBAC";

/** A `config.rbac.v3.Permission` Legate supports (the connection-level ones). */
export type RbacPermissionModel =
  | { readonly kind: "any" }
  | { readonly kind: "and" | "or"; readonly rules: readonly RbacPermissionModel[] }
  | { readonly kind: "not"; readonly rule: RbacPermissionModel }
  | { readonly kind: "destination_ip"; readonly cidr: CidrRangeModel }
  | { readonly kind: "destination_port"; readonly port: number }
  /** [start, end), as Envoy's Int32Range. */
  | { readonly kind: "destination_port_range"; readonly start: number; readonly end: number }
  | { readonly kind: "requested_server_name"; readonly matcher: StringMatcherModel };

/** A `config.rbac.v3.Principal` Legate supports. `source_ip` (deprecated) is `direct_remote_ip`. */
export type RbacPrincipalModel =
  | { readonly kind: "any" }
  | { readonly kind: "and" | "or"; readonly ids: readonly RbacPrincipalModel[] }
  | { readonly kind: "not"; readonly id: RbacPrincipalModel }
  | { readonly kind: "direct_remote_ip" | "remote_ip"; readonly cidr: CidrRangeModel };

/** One named policy: matches when any permission and any principal match. */
export interface RbacPolicyModel {
  readonly name: string;
  readonly permissions: readonly RbacPermissionModel[];
  readonly principals: readonly RbacPrincipalModel[];
}

/** `config.rbac.v3.RBAC`: ALLOW lets through what a policy matches; DENY refuses it. */
export interface RbacRulesModel {
  readonly action: "ALLOW" | "DENY";
  /** In policy-name order (Envoy keeps them in a sorted map). */
  readonly policies: readonly RbacPolicyModel[];
}

/** envoy.extensions.filters.network.rbac.v3.RBAC after validation. */
export interface NetworkRbacModel {
  /** Stats under `<statPrefix>rbac.` (Envoy concatenates without a dot). */
  readonly statPrefix: string;
  /** Shadow stats under `<statPrefix>rbac.<shadowRulesStatPrefix>`. */
  readonly shadowRulesStatPrefix: string;
  /** Absent: every connection passes, uncounted (as Envoy without `rules`). */
  readonly rules?: RbacRulesModel;
  readonly shadowRules?: RbacRulesModel;
  readonly enforcementType: "ONE_TIME_ON_FIRST_BYTE" | "CONTINUOUS";
}

/** Envoy's `bool any = 3 [(validate.rules).bool.const = true]`. */
const anyTrue = leaf((x) => {
  if (x !== true) return new Problem(`must be true, got ${describe(x)}`);
  return true as const;
});

const cidrRangeSchema = message({
  address_prefix: str({ nonEmpty: true }),
  prefix_len: v.optional(uint32({ max: 128, wrapper: true }), 0),
});

const int32 = leaf((x) => {
  let n: unknown = x;
  if (typeof n === "string" && /^-?\d+$/.test(n)) n = Number(n);
  if (typeof n !== "number" || !Number.isInteger(n) || n < -0x8000_0000 || n > 0x7fff_ffff) {
    return new Problem(`expected a 32-bit integer, got ${describe(x)}`);
  }
  return n;
});

/** `type.v3.Int32Range` ([start, end)). */
const int32RangeSchema = message({ start: v.optional(int32, 0), end: v.optional(int32, 0) });

const PERMISSION_MEMBERS = [
  "and_rules",
  "or_rules",
  "any",
  "header",
  "url_path",
  "destination_ip",
  "destination_port",
  "destination_port_range",
  "metadata",
  "not_rule",
  "requested_server_name",
  "matcher",
  "uri_template",
] as const;
const PERMISSION_SUPPORTED = ["any", "and_rules", "or_rules", "not_rule", "destination_ip", "destination_port", "destination_port_range", "requested_server_name"];

const permissionSchema = message(
  {
    any: v.optional(anyTrue),
    and_rules: v.optional(any),
    or_rules: v.optional(any),
    not_rule: v.optional(any),
    destination_ip: v.optional(cidrRangeSchema),
    destination_port: v.optional(uint32({ max: 65535 })),
    destination_port_range: v.optional(int32RangeSchema),
    requested_server_name: v.optional(any),
  },
  {
    unsupported: ["header", "url_path", "metadata", "matcher", "uri_template"],
    oneofs: [{ members: PERMISSION_MEMBERS, supported: PERMISSION_SUPPORTED, required: true }],
  },
);

const PRINCIPAL_MEMBERS = [
  "and_ids",
  "or_ids",
  "any",
  "authenticated",
  "source_ip",
  "direct_remote_ip",
  "remote_ip",
  "header",
  "url_path",
  "metadata",
  "filter_state",
  "not_id",
] as const;
const PRINCIPAL_SUPPORTED = ["any", "and_ids", "or_ids", "not_id", "direct_remote_ip", "remote_ip", "source_ip"];

const principalSchema = message(
  {
    any: v.optional(anyTrue),
    and_ids: v.optional(any),
    or_ids: v.optional(any),
    not_id: v.optional(any),
    direct_remote_ip: v.optional(cidrRangeSchema),
    remote_ip: v.optional(cidrRangeSchema),
    source_ip: v.optional(cidrRangeSchema),
  },
  {
    unsupported: ["authenticated", "header", "url_path", "metadata", "filter_state"],
    oneofs: [{ members: PRINCIPAL_MEMBERS, supported: PRINCIPAL_SUPPORTED, required: true }],
  },
);

/** `Permission.Set` / `Principal.Set`: a non-empty list. */
const nonEmptyList = v.pipe(list, v.minLength(1, "must have at least one item"));
const permissionSetSchema = message({ rules: nonEmptyList });
const principalSetSchema = message({ ids: nonEmptyList });

const policySchema = message(
  {
    permissions: v.pipe(list, v.minLength(1, "must have at least one permission")),
    principals: v.pipe(list, v.minLength(1, "must have at least one principal")),
  },
  { unsupported: ["condition", "checked_condition"] },
);

const rulesSchema = message(
  {
    action: v.optional(enumOf(["ALLOW", "DENY"] as const, ["LOG"]), "ALLOW"),
    policies: v.optional(any),
  },
  { unsupported: ["audit_logging_options"] },
);

const networkRbacSchema = message(
  {
    stat_prefix: str({ nonEmpty: true }),
    rules: v.optional(any),
    shadow_rules: v.optional(any),
    shadow_rules_stat_prefix: v.optional(str(), ""),
    enforcement_type: v.optional(enumOf(["ONE_TIME_ON_FIRST_BYTE", "CONTINUOUS"] as const), "ONE_TIME_ON_FIRST_BYTE"),
  },
  {
    unsupported: ["matcher", "shadow_matcher"],
    oneofs: [
      { members: ["rules", "matcher"], supported: ["rules"] },
      { members: ["shadow_rules", "shadow_matcher"], supported: ["shadow_rules"] },
    ],
  },
);

function cidr(raw: { address_prefix: string; prefix_len: number }, ctx: ParseContext, rel: string): CidrRangeModel | undefined {
  const c = normalizeCidr(raw.address_prefix, raw.prefix_len);
  if (typeof c === "string") {
    ctx.issue(`${rel}${c.startsWith("malformed") ? ".address_prefix" : ".prefix_len"}`, c);
    return undefined;
  }
  return c;
}

/** Parses a list of items with `one` at `rel[i]`; undefined when any item was wrong. */
function each<T>(raw: unknown[], ctx: ParseContext, rel: string, one: (x: unknown, ctx: ParseContext, rel: string) => T | undefined): T[] | undefined {
  const out: T[] = [];
  let ok = true;
  raw.forEach((x, i) => {
    const r = one(x, ctx, `${rel}[${i}]`);
    if (r === undefined) ok = false;
    else out.push(r);
  });
  return ok ? out : undefined;
}

function parsePermission(raw: unknown, ctx: ParseContext, rel: string): RbacPermissionModel | undefined {
  const p = parseWith(ctx, permissionSchema, raw, rel);
  if (!p) return undefined;
  if (p.any !== undefined) return { kind: "any" };
  if (p.and_rules !== undefined || p.or_rules !== undefined) {
    const field = p.and_rules !== undefined ? "and_rules" : "or_rules";
    const set = parseWith(ctx, permissionSetSchema, p[field], `${rel}.${field}`);
    const rules = set && each(set.rules, ctx, `${rel}.${field}.rules`, parsePermission);
    return rules && { kind: field === "and_rules" ? "and" : "or", rules };
  }
  if (p.not_rule !== undefined) {
    const rule = parsePermission(p.not_rule, ctx, `${rel}.not_rule`);
    return rule && { kind: "not", rule };
  }
  if (p.destination_ip !== undefined) {
    const c = cidr(p.destination_ip, ctx, `${rel}.destination_ip`);
    return c && { kind: "destination_ip", cidr: c };
  }
  if (p.destination_port !== undefined) return { kind: "destination_port", port: p.destination_port };
  if (p.destination_port_range !== undefined) {
    const { start, end } = p.destination_port_range;
    // Envoy's PortRangeMatcher refuses a range that starts after it ends or leaves 0..65535.
    if (start < 0 || start > 65536 || end < 0 || end > 65536 || start > end) {
      ctx.issue(`${rel}.destination_port_range`, `invalid port range [${start}, ${end}): start and end must be within 0..65536 and start must not exceed end`);
      return undefined;
    }
    return { kind: "destination_port_range", start, end };
  }
  const matcher = parseStringMatcher(p.requested_server_name, ctx, `${rel}.requested_server_name`);
  return matcher && { kind: "requested_server_name", matcher };
}

function parsePrincipal(raw: unknown, ctx: ParseContext, rel: string): RbacPrincipalModel | undefined {
  const p = parseWith(ctx, principalSchema, raw, rel);
  if (!p) return undefined;
  if (p.any !== undefined) return { kind: "any" };
  if (p.and_ids !== undefined || p.or_ids !== undefined) {
    const field = p.and_ids !== undefined ? "and_ids" : "or_ids";
    const set = parseWith(ctx, principalSetSchema, p[field], `${rel}.${field}`);
    const ids = set && each(set.ids, ctx, `${rel}.${field}.ids`, parsePrincipal);
    return ids && { kind: field === "and_ids" ? "and" : "or", ids };
  }
  if (p.not_id !== undefined) {
    const id = parsePrincipal(p.not_id, ctx, `${rel}.not_id`);
    return id && { kind: "not", id };
  }
  if (p.remote_ip !== undefined) {
    const c = cidr(p.remote_ip, ctx, `${rel}.remote_ip`);
    return c && { kind: "remote_ip", cidr: c };
  }
  // source_ip is the deprecated name of direct_remote_ip (Envoy treats them alike).
  const field = p.direct_remote_ip !== undefined ? "direct_remote_ip" : "source_ip";
  const c = cidr((p.direct_remote_ip ?? p.source_ip)!, ctx, `${rel}.${field}`);
  return c && { kind: "direct_remote_ip", cidr: c };
}

function parseRules(raw: unknown, ctx: ParseContext, rel: string): RbacRulesModel | undefined {
  const r = parseWith(ctx, rulesSchema, raw, rel);
  if (!r) return undefined;
  const policies: RbacPolicyModel[] = [];
  let ok = true;
  if (r.policies !== undefined) {
    if (!isMapping(r.policies)) {
      ctx.issue(`${rel}.policies`, `expected a mapping of policy names to policies, got ${describe(r.policies)}`);
      return undefined;
    }
    for (const name of Object.keys(r.policies).sort()) {
      const prel = `${rel}.policies.${name}`;
      const p = parseWith(ctx, policySchema, r.policies[name], prel);
      if (!p) {
        ok = false;
        continue;
      }
      const permissions = each(p.permissions, ctx, `${prel}.permissions`, parsePermission);
      const principals = each(p.principals, ctx, `${prel}.principals`, parsePrincipal);
      if (!permissions || !principals) ok = false;
      else policies.push({ name, permissions, principals });
    }
  }
  return ok ? { action: r.action, policies } : undefined;
}

/** Control side: the network RBAC config extension. */
export const networkRbacExtension: ConfigExtension<NetworkRbacModel> = {
  name: "envoy.filters.network.rbac",
  typeUrls: [NETWORK_RBAC_TYPE_URL],
  category: "network_filter",
  parseConfig(json, ctx) {
    const m = parseWith(ctx, networkRbacSchema, json);
    if (!m) return undefined;
    const rules = m.rules === undefined ? undefined : parseRules(m.rules, ctx, "rules");
    const shadowRules = m.shadow_rules === undefined ? undefined : parseRules(m.shadow_rules, ctx, "shadow_rules");
    if ((m.rules !== undefined && !rules) || (m.shadow_rules !== undefined && !shadowRules)) return undefined;
    const out: { -readonly [K in keyof NetworkRbacModel]: NetworkRbacModel[K] } = {
      statPrefix: m.stat_prefix,
      shadowRulesStatPrefix: m.shadow_rules_stat_prefix,
      enforcementType: m.enforcement_type,
    };
    if (rules) out.rules = rules;
    if (shadowRules) out.shadowRules = shadowRules;
    return out;
  },
};

registerConfigExtension(networkRbacExtension);
