/**
 * Route `hash_policy` evaluation (worker side): turns a request into the 32-bit `hashKey` that
 * RING_HASH and MAGLEV use (`ThreadLocalCluster.chooseHost({ hashKey })`). Policies are tried in
 * order; each one that applies mixes its hash into the result (rotate-left then xor, as Envoy
 * combines them); a `terminal` policy that produced a hash stops the list. A cookie policy with
 * a `ttl` whose cookie is absent generates one, and the caller adds it to the response.
 * https://www.envoyproxy.io/docs/envoy/latest/api-v3/config/route/v3/route_components.proto#config-route-v3-routeaction-hashpolicy
 */
import { hashString } from "./prng.ts";

/** One compiled `RouteAction.HashPolicy` (the route parser builds these). */
export type HashPolicyModel =
  | { readonly kind: "header"; readonly name: string; readonly terminal: boolean }
  | {
    readonly kind: "cookie";
    readonly name: string;
    /** Set: generate the cookie when absent (0 = session cookie). Unset: never generate. */
    readonly ttlMs: number | undefined;
    readonly path: string;
    readonly terminal: boolean;
  }
  | { readonly kind: "source_ip"; readonly terminal: boolean }
  | { readonly kind: "query_parameter"; readonly name: string; readonly terminal: boolean };

/** What a hash policy may read from the request. */
export interface HashInput {
  /** Header value by lower-case name (undefined when absent). */
  header(name: string): string | undefined;
  /** The request path including the query. */
  readonly path: string;
  /** The downstream peer IP (no port). */
  readonly sourceIp: string;
}

/** The hash, and the cookie to set on the response when a cookie policy generated one. */
export interface HashResult {
  hashKey: number | undefined;
  setCookie: string | undefined;
}

/** Computes the request hash for `policies` (undefined when none applied). */
export function computeHash(policies: readonly HashPolicyModel[], req: HashInput): HashResult {
  let hash: number | undefined = undefined;
  let setCookie: string | undefined = undefined;
  for (const p of policies) {
    let h: number | undefined = undefined;
    switch (p.kind) {
      case "header": {
        const v = req.header(p.name);
        if (v !== undefined) h = hashString(v);
        break;
      }
      case "source_ip":
        if (req.sourceIp) h = hashString(req.sourceIp);
        break;
      case "query_parameter": {
        const v = queryParam(req.path, p.name);
        if (v !== undefined) h = hashString(v);
        break;
      }
      case "cookie": {
        const v = cookieValue(req.header("cookie"), p.name);
        if (v !== undefined) h = hashString(v);
        else if (p.ttlMs !== undefined) {
          // Envoy derives the generated value from the downstream address, so a client keeps
          // landing on the same host until the cookie takes over.
          const value = (hashString(req.sourceIp, 0x2545f491) >>> 0).toString(16).padStart(8, "0") +
            (hashString(req.sourceIp + p.name) >>> 0).toString(16).padStart(8, "0");
          h = hashString(value);
          setCookie = `${p.name}="${value}"` + (p.ttlMs > 0 ? `; Max-Age=${Math.floor(p.ttlMs / 1000)}` : "") +
            (p.path ? `; Path=${p.path}` : "") + "; HttpOnly";
        }
        break;
      }
    }
    if (h === undefined) continue;
    hash = hash === undefined ? h : ((((hash << 1) | (hash >>> 31)) ^ h) >>> 0);
    if (p.terminal) break;
  }
  return { hashKey: hash, setCookie };
}

/** The first value of query parameter `name` (raw, not percent-decoded), or undefined. */
function queryParam(path: string, name: string): string | undefined {
  const q = path.indexOf("?");
  if (q < 0) return undefined;
  const end = path.indexOf("#", q);
  const query = path.slice(q + 1, end < 0 ? undefined : end);
  for (const part of query.split("&")) {
    const eq = part.indexOf("=");
    const k = eq < 0 ? part : part.slice(0, eq);
    if (k === name) return eq < 0 ? "" : part.slice(eq + 1);
  }
  return undefined;
}

/** The value of cookie `name` in a Cookie header, or undefined. */
function cookieValue(header: string | undefined, name: string): string | undefined {
  if (header === undefined) return undefined;
  for (const part of header.split(";")) {
    const s = part.trim();
    const eq = s.indexOf("=");
    if (eq > 0 && s.slice(0, eq) === name) {
      const v = s.slice(eq + 1);
      return v.length >= 2 && v.startsWith('"') && v.endsWith('"') ? v.slice(1, -1) : v;
    }
  }
  return undefined;
}
