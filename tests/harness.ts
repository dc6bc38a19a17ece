/**
 * The shared test harness: one `test()` for Bun and Deno, run by scripts/test.ts.
 * Test files (`*_test.ts`) register cases at import time; the runner executes them in order.
 */
export interface TestContext {
  /** Registers a cleanup that runs after the test, last registered first. */
  defer(fn: () => unknown): void;
  /** Aborted when the test times out, so helpers can stop waiting. */
  readonly signal: AbortSignal;
}

export interface TestCase {
  name: string;
  file: string;
  fn: (t: TestContext) => unknown;
  timeoutMs: number;
  skip: string | false;
}

export const registry: TestCase[] = [];
let currentFile = "";

/** Set by the runner while it imports a file, so cases know where they came from. */
export function setCurrentFile(file: string): void {
  currentFile = file;
}

export interface TestOptions {
  timeoutMs?: number;
  /** A reason to skip (e.g. a tool is missing); a skipped test is reported, never silently passed. */
  skip?: string | false;
}

/** Registers a test case. */
export function test(name: string, fn: (t: TestContext) => unknown, opts: TestOptions = {}): void {
  registry.push({ name, file: currentFile, fn, timeoutMs: opts.timeoutMs ?? 10_000, skip: opts.skip ?? false });
}

/** Polls `cond` until it is truthy or `timeoutMs` passes; throws with `what` on timeout. */
export async function waitFor<T>(cond: () => T | Promise<T>, what: string, timeoutMs = 5000, stepMs = 10): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await cond();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs}ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, stepMs));
  }
}
