/**
 * scripts/suite.sh, the part of `make test` that runs one runtime's suite: it resumes a Deno
 * suite after Deno's known nghttp2 abort (denoland/deno#36788) at the case that was running,
 * at most twice, and fails on any other crash. Driven with a fake suite that crashes on cue.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "../harness.ts";
import { ROOT } from "../helpers/binary.ts";

const NGHTTP2 = "deno: nghttp2/lib/nghttp2_session.c:2402: int find_stream_on_goaway_func(void *, void *): Assertion `stream->closed_next == NULL' failed.";

/** A fake runtime suite of 6 cases that dies on case 3 the first `crashes` times it gets
 *  there, with `exit` and (when `message`) the nghttp2 assertion on stderr. */
function fakeSuite(dir: string, name: string, crashes: number, exit: number, message: boolean): string {
  const path = join(dir, "fake.sh");
  writeFileSync(path, `#!/usr/bin/env bash
from=\${1#--from=}
for i in 0 1 2 3 4 5; do
  ((i < from)) && continue
  if [ $i = 3 ] && [ "$(cat ${dir}/crashes 2>/dev/null || echo 0)" -lt ${crashes} ]; then
    echo $(( $(cat ${dir}/crashes 2>/dev/null || echo 0) + 1 )) > ${dir}/crashes
    ${message ? `echo "${NGHTTP2.replaceAll("`", "\\`")}" >&2` : ":"}
    exit ${exit}
  fi
  echo "ok   src/fake_test.ts > case $i (1ms)"
done
echo
echo "${name}: $((6 - from)) passed, 0 failed, 0 skipped (0.1s)"
`, { mode: 0o755 });
  return path;
}

function runSuite(name: string, crashes: number, exit: number, message: boolean): { rc: number; passed: number; out: string } {
  const dir = mkdtempSync(join(tmpdir(), "legate-suite-"));
  try {
    const fake = fakeSuite(dir, name, crashes, exit, message);
    const out = join(dir, "logs");
    const r = spawnSync("bash", ["-c", `mkdir -p ${out}; out=${out}; source scripts/suite.sh; suite ${name} ${fake}; echo "rc=$?"; echo "passed=$(count 'ok  ')"`], { cwd: ROOT, encoding: "utf8" });
    const text = r.stdout + r.stderr;
    return { rc: Number(/rc=(\d+)/.exec(text)?.[1]), passed: Number(/passed=(\d+)/.exec(text)?.[1]), out: text };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test("suite.sh: Deno's nghttp2 abort is reported and the suite resumes at the running case; every case counted once", () => {
  const r = runSuite("deno", 1, 134, true);
  assert.equal(r.rc, 0, r.out);
  assert.match(r.out, /== deno crashed \(exit 134\) in node:http2's nghttp2 \(denoland\/deno#36788\); resuming at case 3 \(retry 1 of 2\)/);
  assert.equal(r.passed, 6);
  // Twice is still resumed; a bare SIGSEGV (the same bug's other face) too.
  assert.equal(runSuite("deno", 2, 134, true).rc, 0);
  assert.equal(runSuite("deno", 1, 139, false).rc, 0);
});

test("suite.sh: a third abort, another crash, or the same abort on Bun fail the run", () => {
  const third = runSuite("deno", 3, 134, true);
  assert.equal(third.rc, 1, third.out);
  assert.match(third.out, /== deno crashed \(exit 134\) before its summary/);
  assert.equal(runSuite("deno", 1, 134, false).rc, 1, "an abort without the nghttp2 message is not resumed");
  assert.equal(runSuite("deno", 1, 1, true).rc, 1, "an ordinary exit before the summary is not resumed");
  assert.equal(runSuite("bun", 1, 134, true).rc, 1, "only the Deno suite is resumed");
});
