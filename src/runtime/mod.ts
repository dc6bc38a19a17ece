/**
 * Picks the adapter for the runtime we are running on. The dynamic imports are string literals
 * so `bun build --compile` bundles both adapters (only the matching one is ever evaluated).
 */
import type { Runtime } from "./types.ts";

export type * from "./types.ts";
export { RuntimeError } from "./types.ts";

let cached: Promise<Runtime> | undefined;

/** The host runtime's name; throws on anything that is neither Bun nor Deno (control side). */
export function currentRuntimeName(): "bun" | "deno" {
  const g = globalThis as { Bun?: unknown; Deno?: unknown };
  if (g.Bun !== undefined) return "bun";
  if (g.Deno !== undefined) return "deno";
  throw new Error("Legate runs on Bun or Deno; this runtime is neither");
}

/** Loads (once per thread) and returns the adapter for the current runtime (control side). */
export function loadRuntime(): Promise<Runtime> {
  cached ??= currentRuntimeName() === "bun"
    ? import("./bun/runtime.ts").then((m) => m.createBunRuntime())
    : import("./deno/runtime.ts").then((m) => m.createDenoRuntime());
  return cached;
}
