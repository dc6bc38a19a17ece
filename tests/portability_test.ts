/**
 * The portability rule (DESIGN.md §4): only src/runtime/ names Bun, Deno or node:* modules.
 * Checks the real tree and, so the check itself can fail, a synthetic tree with offenders.
 */
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { scanText, scanTree } from "../scripts/check_imports.ts";
import { test } from "./harness.ts";

const root = resolve(import.meta.dirname ?? new URL(".", import.meta.url).pathname, "..");

test("src/ outside runtime/ and gen/ names no runtime", () => {
  const findings = scanTree(root);
  assert.deepEqual(findings.map((f) => `${f.file}:${f.line}: ${f.text}`), []);
});

test("the scanner flags offenders and spares the exempt places", (t) => {
  const dir = mkdtempSync(join(tmpdir(), "legate-portability-"));
  t.defer(() => rmSync(dir, { recursive: true, force: true }));
  const write = (rel: string, text: string) => {
    mkdirSync(join(dir, rel, ".."), { recursive: true });
    writeFileSync(join(dir, rel), text);
  };
  const bad = [
    'import { readFileSync } from "node:fs";',
    'export { createServer } from "node:net";',
    'import "node:process";',
    'const os = await import("node:os");',
    'const p = require("node:path");',
    'import type { Socket } from "bun";',
    'import { Database } from "bun:sqlite";',
    "const v = Bun.version;",
    "Deno.exit(1);",
    "if (globalThis.Bun) {}",
    'const isDeno = "Deno" in globalThis;',
  ];
  write("src/core/bad.ts", ["// fine", ...bad, "const fine = 1;"].join("\n"));
  const clean = 'import { x } from "./y.ts";\nconst s = "node: a label"; // Bunny.x, myDeno.y\n';
  write("src/core/clean.ts", clean);
  for (const exempt of ["src/runtime/bun/runtime.ts", "src/gen/x_pb.ts", "src/core/bad_test.ts"]) write(exempt, bad.join("\n"));
  const findings = scanTree(dir);
  assert.deepEqual(findings.map((f) => f.file), bad.map(() => "src/core/bad.ts"));
  assert.deepEqual(findings.map((f) => f.line), bad.map((_, i) => i + 2));
  assert.equal(findings[0]!.text, bad[0]);
  assert.deepEqual(scanText("x.ts", clean), []);
});
