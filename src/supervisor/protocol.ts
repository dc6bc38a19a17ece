/**
 * The supervisor ↔ generation protocol (JSON over the child_process IPC channel), versioned.
 * A generation whose HOT_RESTART_VERSION differs from the supervisor's refuses to start, and
 * the supervisor keeps the running generation: such an upgrade needs a full restart.
 */

/** Printed by --hot-restart-version; bumped on any incompatible change below. */
export const HOT_RESTART_VERSION = "legate.hot_restart.v1";

/** Environment the supervisor passes to a generation. */
export const ENV_VERSION = "LEGATE_HOT_RESTART_VERSION";
export const ENV_EPOCH = "LEGATE_RESTART_EPOCH";
/** JSON object: listener name → inherited fd number; the admin socket under ADMIN_FD_KEY. */
export const ENV_FDS = "LEGATE_INHERITED_FDS";
export const ADMIN_FD_KEY = "@admin";
/** JSON object: listener name (or ADMIN_FD_KEY) → bound port (an adopted fd may not report it). */
export const ENV_PORTS = "LEGATE_INHERITED_PORTS";
/** Exit code of a generation that refuses an incompatible supervisor. */
export const EXIT_INCOMPATIBLE = 78;

/** Supervisor → generation. */
export type ToGeneration =
  | { type: "drain"; drainTimeS: number; strategy: "gradual" | "immediate" }
  | { type: "carry_stats"; counters: Record<string, number> };

/** Generation → supervisor. */
export type FromGeneration =
  | { type: "ready"; epoch: number; pid: number; version: string }
  | { type: "final_stats"; epoch: number; counters: Record<string, number> };
