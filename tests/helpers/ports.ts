/**
 * Test helper: a loopback port that nothing listens on, for configs that need a fixed port
 * (or an address nothing answers on). It is taken below Linux's ephemeral range (32768+), so a
 * later bind to port 0 (an admin, another test's listener) cannot be handed the same port; a
 * short-lived process checks that it can be bound, so no socket of ours lingers on it.
 */
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { ROOT } from "./binary.ts";

const PROBE = `
const net = require("node:net");
const tryOne = (n) => {
  if (n === 0) process.exit(1);
  const port = 20000 + Math.floor(Math.random() * 12000);
  const s = net.createServer();
  s.once("error", () => tryOne(n - 1));
  s.listen(port, "127.0.0.1", () => s.close(() => { console.log(port); process.exit(0); }));
};
tryOne(50);`;

export function freePort(): number {
  const out = spawnSync(join(ROOT, "node_modules/.bin/bun"), ["-e", PROBE], { encoding: "utf8" });
  const port = Number(out.stdout.trim());
  if (!Number.isInteger(port) || port <= 0) throw new Error(`could not find a free port: ${out.stderr}`);
  return port;
}
