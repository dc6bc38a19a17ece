/**
 * The network RBAC engine (worker side runs it; built once per config version per worker):
 * permissions and principals compiled into a tree of matcher objects, CIDR ranges pre-parsed into
 * masked 32-bit words, string matchers (RE2-checked safe_regex) compiled once. A connection's
 * addresses are parsed at most once, on first use.
 * https://www.envoyproxy.io/docs/envoy/latest/api-v3/config/rbac/v3/rbac.proto
 */
import type { CidrRangeModel } from "../../../config/model.ts";
import { parseIpWords } from "../../../listener/filter_chain_match.ts";
import { CompiledStringMatcher } from "../../../router/route_table.ts";
import type { RbacPermissionModel, RbacPrincipalModel, RbacRulesModel } from "./config.ts";

/** What a connection offers to the engine; address words are parsed lazily and cached. */
export class RbacInput {
  #local: number[] | null | undefined;
  #remote: number[] | null | undefined;
  #direct: number[] | null | undefined;
  constructor(
    readonly localAddress: string,
    readonly localPort: number,
    readonly remoteAddress: string,
    /** The peer that connected to us (differs from remoteAddress only after a PROXY header). */
    readonly directRemoteAddress: string,
    /** SNI ("" = none). */
    readonly serverName: string,
  ) {}
  get local(): number[] | null {
    return this.#local === undefined ? (this.#local = parseIpWords(this.localAddress)) : this.#local;
  }
  get remote(): number[] | null {
    return this.#remote === undefined ? (this.#remote = parseIpWords(this.remoteAddress)) : this.#remote;
  }
  get direct(): number[] | null {
    if (this.#direct === undefined) this.#direct = this.directRemoteAddress === this.remoteAddress ? this.remote : parseIpWords(this.directRemoteAddress);
    return this.#direct;
  }
}

/** A CIDR range as masked words (IPv4: one word, IPv6: four). */
export class CompiledCidr {
  readonly #words: number[];
  readonly #masks: number[];
  constructor(c: CidrRangeModel) {
    const w = parseIpWords(c.addressPrefix);
    if (w === null) throw new Error(`malformed IP address ${JSON.stringify(c.addressPrefix)}`);
    this.#masks = w.map((_, i) => maskOf(c.prefixLen - 32 * i));
    this.#words = w.map((x, i) => (x & this.#masks[i]!) >>> 0);
  }
  /** Envoy's CidrRange::isInRange: an address of the other family never matches. */
  contains(ip: readonly number[] | null): boolean {
    if (ip === null || ip.length !== this.#words.length) return false;
    for (let i = 0; i < ip.length; i++) if (((ip[i]! & this.#masks[i]!) >>> 0) !== this.#words[i]) return false;
    return true;
  }
}

function maskOf(bits: number): number {
  if (bits >= 32) return 0xffffffff;
  if (bits <= 0) return 0;
  return (0xffffffff << (32 - bits)) >>> 0;
}

/** One compiled permission or principal. */
export interface RbacMatcher {
  matches(input: RbacInput): boolean;
}

const ANY: RbacMatcher = { matches: () => true };

class AndMatcher implements RbacMatcher {
  constructor(readonly parts: readonly RbacMatcher[]) {}
  matches(input: RbacInput): boolean {
    for (let i = 0; i < this.parts.length; i++) if (!this.parts[i]!.matches(input)) return false;
    return true;
  }
}

class OrMatcher implements RbacMatcher {
  constructor(readonly parts: readonly RbacMatcher[]) {}
  matches(input: RbacInput): boolean {
    for (let i = 0; i < this.parts.length; i++) if (this.parts[i]!.matches(input)) return true;
    return false;
  }
}

class NotMatcher implements RbacMatcher {
  constructor(readonly inner: RbacMatcher) {}
  matches(input: RbacInput): boolean {
    return !this.inner.matches(input);
  }
}

class IpMatcher implements RbacMatcher {
  readonly cidr: CompiledCidr;
  constructor(c: CidrRangeModel, readonly which: "local" | "remote" | "direct") {
    this.cidr = new CompiledCidr(c);
  }
  matches(input: RbacInput): boolean {
    return this.cidr.contains(input[this.which]);
  }
}

class PortRangeMatcher implements RbacMatcher {
  constructor(readonly start: number, readonly end: number) {}
  matches(input: RbacInput): boolean {
    return input.localPort >= this.start && input.localPort < this.end;
  }
}

class ServerNameMatcher implements RbacMatcher {
  constructor(readonly m: CompiledStringMatcher) {}
  matches(input: RbacInput): boolean {
    return this.m.match(input.serverName);
  }
}

/** Worker side: compiles a permission. */
export function compilePermission(p: RbacPermissionModel): RbacMatcher {
  switch (p.kind) {
    case "any":
      return ANY;
    case "and":
      return new AndMatcher(p.rules.map(compilePermission));
    case "or":
      return new OrMatcher(p.rules.map(compilePermission));
    case "not":
      return new NotMatcher(compilePermission(p.rule));
    case "destination_ip":
      return new IpMatcher(p.cidr, "local");
    case "destination_port":
      return new PortRangeMatcher(p.port, p.port + 1);
    case "destination_port_range":
      return new PortRangeMatcher(p.start, p.end);
    case "requested_server_name":
      return new ServerNameMatcher(new CompiledStringMatcher(p.matcher));
  }
}

/** Worker side: compiles a principal. */
export function compilePrincipal(p: RbacPrincipalModel): RbacMatcher {
  switch (p.kind) {
    case "any":
      return ANY;
    case "and":
      return new AndMatcher(p.ids.map(compilePrincipal));
    case "or":
      return new OrMatcher(p.ids.map(compilePrincipal));
    case "not":
      return new NotMatcher(compilePrincipal(p.id));
    case "direct_remote_ip":
      return new IpMatcher(p.cidr, "direct");
    case "remote_ip":
      return new IpMatcher(p.cidr, "remote");
  }
}

/** A policy: any permission and any principal. */
class CompiledPolicy {
  readonly permissions: OrMatcher;
  readonly principals: OrMatcher;
  constructor(readonly name: string, permissions: readonly RbacPermissionModel[], principals: readonly RbacPrincipalModel[]) {
    this.permissions = new OrMatcher(permissions.map(compilePermission));
    this.principals = new OrMatcher(principals.map(compilePrincipal));
  }
  matches(input: RbacInput): boolean {
    return this.permissions.matches(input) && this.principals.matches(input);
  }
}

/** Envoy's RoleBasedAccessControlEngineImpl for the connection-level subset. */
export class RbacEngine {
  readonly #policies: CompiledPolicy[];
  readonly #allowOnMatch: boolean;
  /** Name of the policy that matched in the last `allowed` call ("" = none), for logs. */
  matchedPolicy = "";
  constructor(rules: RbacRulesModel) {
    this.#allowOnMatch = rules.action === "ALLOW";
    this.#policies = rules.policies.map((p) => new CompiledPolicy(p.name, p.permissions, p.principals));
  }

  /** ALLOW: true when some policy matches; DENY: true when none does. */
  allowed(input: RbacInput): boolean {
    const ps = this.#policies;
    for (let i = 0; i < ps.length; i++) {
      if (ps[i]!.matches(input)) {
        this.matchedPolicy = ps[i]!.name;
        return this.#allowOnMatch;
      }
    }
    this.matchedPolicy = "";
    return !this.#allowOnMatch;
  }
}
