/**
 * Portability check: only src/runtime/ may name Bun, Deno or node:* modules (DESIGN.md §4).
 * Scans src/**\/*.ts except src/runtime/, src/gen/ and `*_test.ts`, prints every offending line
 * as `file:line: text`, and exits 1 if there is any. Runs on Bun and Deno:
 * `bun scripts/check_imports.ts` / `deno run -A scripts/check_imports.ts`.
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative, resolve, sep } from "node:path";
import process from "node:process";

/** One offending line. */
export interface Finding {
  /** Path relative to the scanned root, with forward slashes. */
  file: string;
  /** 1-based line number. */
  line: number;
  text: string;
}

/** What counts as naming a runtime: its global, or a runtime-specific module specifier. */
const RULES: RegExp[] = [
  /(?<![\w$.])Bun\./,
  /(?<![\w$.])Deno\./,
  /\bglobalThis\s*\.\s*(?:Bun|Deno)\b/,
  /\bglobalThis\s*\[\s*["'`](?:Bun|Deno)["'`]\s*\]/,
  /["'`](?:Bun|Deno)["'`]\s+in\s+globalThis\b/,
  // import … from "x", export … from "x", import "x", import("x"), require("x")
  /(?:\bfrom\s*|\bimport\s*\(?\s*|\brequire\s*\(\s*)["'`](?:node:[^"'`]*|bun|bun:[^"'`]*)["'`]/,
];

/** Directories (relative to src/) that may name runtimes, and generated code. */
const EXEMPT_DIRS = ["runtime", "gen"];

/** Returns the offending lines of one file's text (worker- and control-independent; a tool). */
export function scanText(file: string, text: string): Finding[] {
  const out: Finding[] = [];
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (RULES.some((r) => r.test(line))) out.push({ file, line: i + 1, text: line.trim() });
  }
  return out;
}

/** Scans `<root>/src` (the repository layout) and returns every offending line, sorted by file. */
export function scanTree(root: string): Finding[] {
  const src = join(root, "src");
  const files: string[] = [];
  const walk = (dir: string, rel: string[]): void => {
    for (const name of readdirSync(dir).sort()) {
      if (name.startsWith(".") || name === "node_modules") continue;
      const p = join(dir, name);
      if (statSync(p).isDirectory()) {
        if (rel.length === 0 && EXEMPT_DIRS.includes(name)) continue;
        walk(p, [...rel, name]);
      } else if (name.endsWith(".ts") && !name.endsWith("_test.ts")) {
        files.push(p);
      }
    }
  };
  walk(src, []);
  const out: Finding[] = [];
  for (const f of files) out.push(...scanText(relative(root, f).split(sep).join("/"), readFileSync(f, "utf8")));
  return out;
}

if (import.meta.main) {
  const root = resolve(import.meta.dirname ?? new URL(".", import.meta.url).pathname, "..");
  const findings = scanTree(root);
  for (const f of findings) console.log(`${f.file}:${f.line}: ${f.text}`);
  if (findings.length > 0) {
    console.error(`check_imports: ${findings.length} line(s) name Bun, Deno or node:* outside src/runtime/`);
    process.exit(1);
  }
  console.log("check_imports: ok");
}
