/**
 * The runtime halves of the built-in HTTP filters besides the router (worker side), and their
 * config halves. Imported by the HTTP connection manager's runtime registration.
 */
import "./configs.ts";
import "./buffer/filter.ts";
import "./cors/filter.ts";
import "./fault/filter.ts";
import "./header_mutation/filter.ts";
import "./health_check/filter.ts";
import "./local_ratelimit/filter.ts";
