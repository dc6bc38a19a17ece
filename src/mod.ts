/**
 * Legate's public embedding API (no side effects on import beyond extension registration).
 */
export { startServer, Server, type ServerOptions } from "./server/server.ts";
export { loadBootstrap, parseConfigText, mergeConfig } from "./config/load.ts";
export { loadConfigFromSources } from "./config/sources.ts";
export { loadRuntime } from "./runtime/mod.ts";
export type { BootstrapModel } from "./config/model.ts";
export type { Runtime } from "./runtime/types.ts";
export { ConfigError } from "./core/errors.ts";
export { VERSION } from "./version.ts";
