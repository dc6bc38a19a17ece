/**
 * `src/gen/` and `proto/` are committed; these tests fail when either is stale. proto/ must equal
 * a fresh copy from the pinned @grpc/grpc-js-xds (scripts/proto_sync.ts), and src/gen/ must equal
 * what `buf generate` writes from proto/ (into a temp dir here), byte for byte. Offline: buf and
 * protoc-gen-es come from node_modules. Fix a failure with `make proto`.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { test } from "../harness.ts";
import { diff } from "../../scripts/proto_sync.ts";

const root = resolve(import.meta.dirname ?? new URL(".", import.meta.url).pathname, "../..");

/** Relative paths of every file under `dir`, sorted, with forward slashes. */
function listFiles(dir: string, rel = "", acc: string[] = []): string[] {
  for (const name of readdirSync(join(dir, rel)).sort()) {
    const r = rel ? `${rel}/${name}` : name;
    if (statSync(join(dir, r)).isDirectory()) listFiles(dir, r, acc);
    else acc.push(r);
  }
  return acc;
}

function run(cmd: string, args: string[], timeoutMs: number): Promise<void> {
  return new Promise((res, rej) => {
    execFile(cmd, args, { cwd: root, timeout: timeoutMs }, (err, stdout, stderr) => {
      if (err) rej(new Error(`${cmd} ${args.join(" ")} failed: ${err.message}\n${stdout}${stderr}`));
      else res();
    });
  });
}

test("proto/ is the closure of ROOTS copied from the pinned @grpc/grpc-js-xds", () => {
  assert.deepEqual(diff(), [], "proto/ is stale: run make proto");
});

test("src/gen/ is what buf generate writes from proto/ (not stale)", async (t) => {
  const tmp = mkdtempSync(join(tmpdir(), "legate-gen-"));
  t.defer(() => rmSync(tmp, { recursive: true, force: true }));
  // buf.gen.yaml writes to src/gen relative to --output.
  await run(join(root, "node_modules/.bin/buf"), ["generate", "proto", "--template", "proto/buf.gen.yaml", "--output", tmp], 50_000);
  const fresh = join(tmp, "src/gen");
  const committed = join(root, "src/gen");
  assert.ok(existsSync(fresh), "buf generate wrote nothing");
  const want = listFiles(fresh);
  assert.ok(want.length > 50, `only ${want.length} generated files`);
  assert.deepEqual(listFiles(committed), want, "src/gen/ has missing or extra files: run make proto");
  const stale = want.filter((f) => !readFileSync(join(fresh, f)).equals(readFileSync(join(committed, f))));
  assert.deepEqual(stale, [], "src/gen/ is stale: run make proto");
}, { timeoutMs: 60_000 });
