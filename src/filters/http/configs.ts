/**
 * The config halves of the built-in HTTP filters besides the router (control side). Imported by
 * the route configuration parser, so loading any config registers them (and their per-route
 * configs for typed_per_filter_config).
 */
import "./buffer/config.ts";
import "./cors/config.ts";
import "./fault/config.ts";
import "./header_mutation/config.ts";
import "./health_check/config.ts";
import "./local_ratelimit/config.ts";
