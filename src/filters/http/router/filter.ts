/**
 * Registers the runtime half of `envoy.filters.http.router` (the router itself lives in
 * src/router/router_filter.ts).
 */
import { registerHttpFilterRuntime } from "../../../http/filter.ts";
import { createRouterFilterFactory } from "../../../router/router_filter.ts";

/** The router's @type URL. */
export const ROUTER_TYPE_URL = "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router";

registerHttpFilterRuntime({
  name: "envoy.filters.http.router",
  typeUrls: [ROUTER_TYPE_URL],
  createFilterFactory: createRouterFilterFactory,
});
