/**
 * The built-in config extensions (control side). Importing this module registers them; the config
 * loader imports it, so loading a config always sees the built-ins.
 */
import "./access_log.ts";
import "../filters/network/http_connection_manager/config.ts";
import "../filters/network/tcp_proxy/config.ts";
import "../filters/network/rbac/config.ts";
import "../filters/network/local_ratelimit/config.ts";
import "../filters/network/connection_limit/config.ts";
import "../filters/http/router/config.ts";
import "../filters/listener/tls_inspector/config.ts";
import "../filters/listener/proxy_protocol/config.ts";
import "../filters/listener/http_inspector/config.ts";

/** Control side: `@type` URLs of the built-in extensions, for diagnostics. */
export { FILE_ACCESS_LOG_TYPE_URL, STDERR_ACCESS_LOG_TYPE_URL, STDOUT_ACCESS_LOG_TYPE_URL } from "./access_log.ts";
export { HCM_TYPE_URL } from "../filters/network/http_connection_manager/config.ts";
export { ROUTER_TYPE_URL } from "../filters/http/router/config.ts";
