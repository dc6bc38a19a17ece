/**
 * Test helper: a loopback port that nothing listens on, taken from a process that bound it and
 * exited (so no socket of ours lingers on it).
 */
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { ROOT } from "./binary.ts";

export function freePort(): number {
  const out = spawnSync(join(ROOT, "node_modules/.bin/bun"), ["-e", `const s=require("node:net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close(()=>process.exit(0))})`], { encoding: "utf8" });
  const port = Number(out.stdout.trim());
  if (!Number.isInteger(port) || port <= 0) throw new Error(`could not find a free port: ${out.stderr}`);
  return port;
}
