/**
 * `envoy.filters.http.cors` (worker side): with a CorsPolicy on the route, answers CORS
 * preflights (OPTIONS with Origin and Access-Control-Request-Method) itself and adds
 * Access-Control-Allow-Origin (and credentials / expose headers) to responses to allowed origins.
 * https://www.envoyproxy.io/docs/envoy/latest/configuration/http/http_filters/cors_filter
 */
import type { Counter } from "../../../core/stats.ts";
import {
  type FilterStatus,
  registerHttpFilterRuntime,
  type RequestHeaders,
  type ResponseHeaders,
  type StreamCallbacks,
  type StreamFilter,
} from "../../../http/filter.ts";
import { HeaderMap } from "../../../http/header_map.ts";
import { CompiledStringMatcher, perRouteConfig } from "../../../router/route_table.ts";
import { draw } from "../percent.ts";
import { CORS_TYPE_URL, type CorsPolicyModel } from "./config.ts";

const NAME = "envoy.filters.http.cors";

/** A policy with compiled origin matchers (compiled on first use per config version). */
class CompiledPolicy {
  readonly origins: readonly CompiledStringMatcher[];
  constructor(readonly m: CorsPolicyModel) {
    this.origins = m.allowOrigins.map((o) => new CompiledStringMatcher(o));
  }
  allows(origin: string): boolean {
    const os = this.origins;
    for (let i = 0; i < os.length; i++) if (os[i]!.match(origin)) return true;
    return false;
  }
}

class CorsShared {
  readonly compiled = new WeakMap<object, CompiledPolicy>();
  readonly originValid: Counter;
  readonly originInvalid: Counter;
  constructor(readonly name: string, stats: { counter(n: string): Counter }, prefix: string) {
    this.originValid = stats.counter(prefix + "cors.origin_valid");
    this.originInvalid = stats.counter(prefix + "cors.origin_invalid");
  }
  policy(m: CorsPolicyModel): CompiledPolicy {
    let p = this.compiled.get(m);
    if (p === undefined) this.compiled.set(m, (p = new CompiledPolicy(m)));
    return p;
  }
}

class CorsFilter implements StreamFilter {
  #policy: CompiledPolicy | null = null;
  #origin = "";
  constructor(readonly cb: StreamCallbacks, readonly shared: CorsShared) {}

  decodeHeaders(req: RequestHeaders, _endStream: boolean): FilterStatus {
    const pr = perRouteConfig(this.cb, this.shared.name);
    if (pr === undefined || pr.disabled || pr.config === undefined) return "continue";
    const policy = this.shared.policy(pr.config as CorsPolicyModel);
    if (!draw(policy.m.enabled)) return "continue";
    const origin = req.headers.get("origin");
    if (origin === undefined || origin === "") return "continue";
    const preflight = req.method === "OPTIONS" && (req.headers.get("access-control-request-method") ?? "") !== "";
    if (!policy.allows(origin)) {
      this.shared.originInvalid.inc();
      if (preflight && !policy.m.forwardNotMatchingPreflights) {
        this.cb.encodeHeaders({ status: 403, headers: contentLengthZero() }, true);
        return "stop";
      }
      return "continue";
    }
    this.shared.originValid.inc();
    this.#policy = policy;
    this.#origin = origin;
    if (!preflight) return "continue";
    const m = policy.m;
    const h = contentLengthZero();
    h.set("access-control-allow-origin", origin);
    if (m.allowCredentials) h.set("access-control-allow-credentials", "true");
    if (m.allowMethods) h.set("access-control-allow-methods", m.allowMethods);
    if (m.allowHeaders) h.set("access-control-allow-headers", m.allowHeaders);
    if (m.maxAge) h.set("access-control-max-age", m.maxAge);
    if (m.allowPrivateNetworkAccess && req.headers.get("access-control-request-private-network") === "true") {
      h.set("access-control-allow-private-network", "true");
    }
    this.#policy = null; // the preflight answer already carries the CORS headers
    this.cb.streamInfo.responseCodeDetails = "cors_response";
    this.cb.encodeHeaders({ status: 200, headers: h }, true);
    return "stop";
  }

  encodeHeaders(resp: ResponseHeaders, _endStream: boolean): FilterStatus {
    const p = this.#policy;
    if (p === null) return "continue";
    const h = resp.headers;
    h.set("access-control-allow-origin", this.#origin);
    if (p.m.allowCredentials) h.set("access-control-allow-credentials", "true");
    if (p.m.exposeHeaders) h.set("access-control-expose-headers", p.m.exposeHeaders);
    return "continue";
  }

  onDestroy(): void {}
}

function contentLengthZero(): HeaderMap {
  const h = new HeaderMap();
  h.set("content-length", "0");
  return h;
}

registerHttpFilterRuntime({
  name: NAME,
  typeUrls: [CORS_TYPE_URL],
  createFilterFactory(_config, ctx) {
    const shared = new CorsShared(ctx.filterName ?? NAME, ctx.stats, ctx.statPrefix);
    return (cb) => new CorsFilter(cb, shared);
  },
});
