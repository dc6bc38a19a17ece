/**
 * `envoy.filters.http.health_check` (worker side). A request matching the configured headers
 * is a health check: without pass-through it is answered here (200, or 503 with flag LH and
 * `x-envoy-immediate-health-check-fail` while the server fails health checks); with
 * pass-through it goes upstream, except while the server fails, when it is answered 503 here.
 * https://www.envoyproxy.io/docs/envoy/latest/configuration/http/http_filters/health_check_filter
 */
import {
  type FilterStatus,
  registerHttpFilterRuntime,
  type RequestHeaders,
  type ResponseHeaders,
  type StreamCallbacks,
  type StreamFilter,
} from "../../../http/filter.ts";
import { ResponseFlag } from "../../../http/response_flags.ts";
import { CompiledHeaderMatcher } from "../../../router/route_table.ts";
import { HEALTH_CHECK_TYPE_URL, type HealthCheckModel } from "./config.ts";

const NEVER_FAILED = () => false;

class HealthCheckShared {
  readonly headers: readonly CompiledHeaderMatcher[];
  constructor(readonly passThrough: boolean, headers: HealthCheckModel["headers"], readonly failed: () => boolean) {
    this.headers = headers.map((h) => new CompiledHeaderMatcher(h));
  }
}

class HealthCheckFilter implements StreamFilter {
  #isHealthCheck = false;
  constructor(readonly cb: StreamCallbacks, readonly shared: HealthCheckShared) {}

  decodeHeaders(req: RequestHeaders, _endStream: boolean): FilterStatus {
    const hs = this.shared.headers;
    for (let i = 0; i < hs.length; i++) if (!hs[i]!.matches(req)) return "continue";
    this.#isHealthCheck = true;
    const failed = this.shared.failed();
    if (this.shared.passThrough && !failed) return "continue";
    if (failed) this.cb.sendLocalReply(503, "", ResponseFlag.FailedLocalHealthCheck, "health_check_failed");
    else this.cb.sendLocalReply(200, "", 0, "health_check_ok");
    return "stop";
  }

  encodeHeaders(resp: ResponseHeaders, _endStream: boolean): FilterStatus {
    if (this.#isHealthCheck && this.shared.failed()) resp.headers.set("x-envoy-immediate-health-check-fail", "true");
    return "continue";
  }

  onDestroy(): void {}
}

registerHttpFilterRuntime({
  name: "envoy.filters.http.health_check",
  typeUrls: [HEALTH_CHECK_TYPE_URL],
  createFilterFactory(config, ctx) {
    const m = config as HealthCheckModel;
    const shared = new HealthCheckShared(m.passThroughMode, m.headers, ctx.healthCheckFailed ?? NEVER_FAILED);
    return (cb) => new HealthCheckFilter(cb, shared);
  },
});
