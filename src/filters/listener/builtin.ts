/**
 * The built-in listener filters' runtime halves (worker side). Importing this module registers
 * them; the accept path (listener/active_listener.ts) imports it.
 */
import "./tls_inspector/filter.ts";
import "./proxy_protocol/filter.ts";
import "./http_inspector/filter.ts";
