/**
 * The compiled route table (built on the control side once per config version, used read-only
 * by workers). Virtual host selection follows Envoy's order: exact domain, then suffix
 * wildcards longest first, then prefix wildcards longest first, then "*"; the port in
 * :authority takes part in matching (Envoy's default, `ignore_port_in_host_matching` false).
 * https://www.envoyproxy.io/docs/envoy/latest/api-v3/config/route/v3/route_components.proto#config-route-v3-virtualhost
 */
import type { RouteConfigModel, RouteModel, VirtualHostModel } from "../config/model.ts";

const encoder = new TextEncoder();

/** One route, ready for the hot path. */
export class CompiledRoute {
  readonly name: string;
  readonly virtualHostName: string;
  readonly kind: "route" | "direct_response";
  readonly matchKind: "prefix" | "path";
  readonly matchValue: string;
  readonly caseSensitive: boolean;
  /** Route action fields (kind "route"). */
  readonly clusterName: string;
  readonly timeoutMs: number;
  readonly prefixRewrite: string | undefined;
  /** Direct response fields (kind "direct_response"). */
  readonly directStatus: number;
  readonly directBody: Uint8Array | null;

  constructor(m: RouteModel, vhost: string) {
    this.name = m.name;
    this.virtualHostName = vhost;
    this.matchKind = m.match.kind;
    this.caseSensitive = m.match.caseSensitive;
    this.matchValue = this.caseSensitive ? m.match.value : m.match.value.toLowerCase();
    const a = m.action;
    this.kind = a.kind;
    if (a.kind === "route") {
      this.clusterName = a.cluster;
      this.timeoutMs = a.timeoutMs;
      this.prefixRewrite = a.prefixRewrite;
      this.directStatus = 0;
      this.directBody = null;
    } else {
      this.clusterName = "";
      this.timeoutMs = 0;
      this.prefixRewrite = undefined;
      this.directStatus = a.status;
      this.directBody = a.body === undefined ? null : encoder.encode(a.body);
    }
  }

  /** True when this route matches `path` (the :path, query included). */
  matches(path: string): boolean {
    const p = this.caseSensitive ? path : path.toLowerCase();
    if (this.matchKind === "prefix") return p.startsWith(this.matchValue);
    // `path` matches exactly, after the query string is removed.
    const q = p.indexOf("?");
    return q < 0 ? p === this.matchValue : p.length >= q && p.slice(0, q) === this.matchValue;
  }

  /** The upstream :path after prefix_rewrite (or `path` unchanged). */
  rewritePath(path: string): string {
    if (this.prefixRewrite === undefined || this.matchKind !== "prefix") return path;
    return this.prefixRewrite + path.slice(this.matchValue.length);
  }
}

/** A virtual host's routes in config order (first match wins). */
export class CompiledVirtualHost {
  readonly name: string;
  readonly routes: readonly CompiledRoute[];
  constructor(m: VirtualHostModel) {
    this.name = m.name;
    this.routes = m.routes.map((r) => new CompiledRoute(r, m.name));
  }
  /** The first route matching `path`, or null. */
  route(path: string): CompiledRoute | null {
    const rs = this.routes;
    for (let i = 0; i < rs.length; i++) if (rs[i]!.matches(path)) return rs[i]!;
    return null;
  }
}

/** A route configuration compiled for lookups by (:authority, :path). */
export class RouteTable {
  readonly name: string;
  readonly #exact = new Map<string, CompiledVirtualHost>();
  /** [suffix without "*", vhost], longest suffix first. */
  readonly #suffix: [string, CompiledVirtualHost][] = [];
  /** [prefix without "*", vhost], longest prefix first. */
  readonly #prefix: [string, CompiledVirtualHost][] = [];
  readonly #any: CompiledVirtualHost | null = null;

  constructor(m: RouteConfigModel) {
    this.name = m.name;
    let any: CompiledVirtualHost | null = null;
    for (const vm of m.virtualHosts) {
      const vh = new CompiledVirtualHost(vm);
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
  }

  /** The virtual host for `authority` (lower-case), or null. Wildcards never match empty. */
  virtualHost(authority: string): CompiledVirtualHost | null {
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

  /** The route for a request, or null (404 NR). */
  route(authority: string, path: string): CompiledRoute | null {
    const vh = this.virtualHost(authority);
    return vh ? vh.route(path) : null;
  }
}
