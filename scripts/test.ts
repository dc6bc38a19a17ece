/**
 * Test runner for both runtimes: `bun scripts/test.ts [filter…]` or `deno run -A scripts/test.ts`.
 * Finds every `*_test.ts` under src/ and tests/, runs the cases one at a time with a timeout,
 * and ends with the line `<runtime>: N passed, N failed, N skipped`.
 *
 * `--from=N` starts at case N of the (deterministic) list and leaves the earlier ones out of
 * the counts: scripts/test_all.sh uses it to resume after a runtime crash it knows of.
 */
import { readdirSync, statSync } from "node:fs";
import { join, relative, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { registry, setCurrentFile, type TestContext } from "../tests/harness.ts";

const root = resolve(import.meta.dirname ?? new URL(".", import.meta.url).pathname, "..");
const runtime = "Bun" in globalThis ? "bun" : "Deno" in globalThis ? "deno" : "node";
const filters = process.argv.slice(2).filter((a) => !a.startsWith("-"));
const fromArg = process.argv.slice(2).find((a) => a.startsWith("--from="));
const from = fromArg ? Number(fromArg.slice("--from=".length)) : 0;
if (!Number.isInteger(from) || from < 0) throw new Error(`--from wants a case index, got ${fromArg}`);

function walk(dir: string, out: string[]): void {
  for (const name of readdirSync(dir)) {
    if (name === "node_modules" || name.startsWith(".")) continue;
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p, out);
    else if (name.endsWith("_test.ts")) out.push(p);
  }
}

const files: string[] = [];
for (const d of ["src", "tests"]) walk(join(root, d), files);
files.sort();

for (const f of files) {
  const rel = relative(root, f);
  if (filters.length && !filters.some((x) => rel.includes(x))) continue;
  setCurrentFile(rel);
  await import(pathToFileURL(f).href);
}

let passed = 0, failed = 0, skipped = 0;
const failures: string[] = [];
const started = Date.now();
for (const c of registry.slice(from)) {
  const label = `${c.file} > ${c.name}`;
  if (c.skip) {
    skipped++;
    console.log(`SKIP ${label} (${c.skip})`);
    continue;
  }
  const ac = new AbortController();
  const cleanups: (() => unknown)[] = [];
  const ctx: TestContext = { defer: (fn) => void cleanups.push(fn), signal: ac.signal };
  const t0 = Date.now();
  let timer: ReturnType<typeof setTimeout> | undefined;
  let error: unknown = undefined;
  try {
    await Promise.race([
      Promise.resolve().then(() => c.fn(ctx)),
      new Promise((_, reject) => {
        timer = setTimeout(() => {
          ac.abort();
          reject(new Error(`test timed out after ${c.timeoutMs}ms`));
        }, c.timeoutMs);
      }),
    ]);
  } catch (e) {
    error = e;
  } finally {
    clearTimeout(timer);
    for (const fn of cleanups.reverse()) {
      try {
        await fn();
      } catch (e) {
        error ??= e;
      }
    }
  }
  const ms = Date.now() - t0;
  if (error === undefined) {
    passed++;
    console.log(`ok   ${label} (${ms}ms)`);
  } else {
    failed++;
    const msg = error instanceof Error ? (error.stack ?? error.message) : String(error);
    console.log(`FAIL ${label} (${ms}ms)\n     ${msg.replaceAll("\n", "\n     ")}`);
    failures.push(label);
  }
}
if (failures.length) console.log(`\n${runtime} failures:\n  ${failures.join("\n  ")}`);
console.log(`\n${runtime}: ${passed} passed, ${failed} failed, ${skipped} skipped (${((Date.now() - started) / 1000).toFixed(1)}s)`);
process.exit(failed ? 1 : 0);
