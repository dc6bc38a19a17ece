/**
 * Test helper: the compiled binary (dist/legate), built on demand, run as a child process.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import { waitFor } from "../harness.ts";

export const ROOT = resolve(import.meta.dirname ?? new URL(".", import.meta.url).pathname, "../..");
export const BINARY = join(ROOT, "dist/legate");

/** Builds dist/legate if it is missing (make test builds it first). */
export function ensureBinary(): string {
  if (!existsSync(BINARY)) {
    const r = spawnSync("bash", [join(ROOT, "scripts/build.sh")], { cwd: ROOT, encoding: "utf8" });
    if (r.status !== 0) throw new Error(`build failed: ${r.stderr}`);
  }
  return BINARY;
}

/** Runs the binary to completion (bounded) and returns its exit code and output. */
export function runBinary(args: string[], timeoutMs = 15000): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(ensureBinary(), args, { cwd: ROOT, encoding: "utf8", timeout: timeoutMs });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** A running binary. */
export interface RunningBinary extends AsyncDisposable {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Resolves with the exit code once it exits (bounded). */
  exited(timeoutMs?: number): Promise<number | null>;
  /** The admin port, read from the "admin address:" log line, once /ready answers 200
   *  (`live: false`: as soon as it is listening, while the server may still initialise). */
  adminPort(opts?: { live?: boolean }): Promise<number>;
  /** Sends a signal by pid (Deno's ChildProcess.kill() misreports handled signals as fatal). */
  signal(sig: NodeJS.Signals): void;
}

/** Starts the binary with `args`; killed on dispose if still running. */
export function startBinary(args: string[], cmd: string = ensureBinary()): RunningBinary {
  const child = spawn(cmd, args, { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
  let out = "", err = "";
  let code: number | null | undefined = undefined;
  child.stdout!.on("data", (d: Uint8Array) => (out += new TextDecoder().decode(d)));
  child.stderr!.on("data", (d: Uint8Array) => (err += new TextDecoder().decode(d)));
  child.on("exit", (c) => (code = c));
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    exited: async (timeoutMs = 10000) => {
      await waitFor(() => code !== undefined, "the process to exit", timeoutMs);
      return code ?? null;
    },
    adminPort: async ({ live = true } = {}) => {
      const m = await waitFor(() => /admin address: [^\s]+:(\d+)/.exec(err), `the admin address in the log:\n${err}`, 10000);
      const port = Number(m![1]);
      if (!live) return port;
      // Admin answers while the server initialises (as Envoy's does): wait until it is LIVE.
      await waitFor(async () => {
        if (code !== undefined) throw new Error(`exited (${code}) before it was LIVE:\n${err}`);
        return (await fetch(`http://127.0.0.1:${port}/ready`).catch(() => null))?.status === 200;
      }, `GET /ready to answer 200:\n${err}`, 15000, 25);
      return port;
    },
    signal: (sig) => void process.kill(child.pid!, sig),
    [Symbol.asyncDispose]: async () => {
      if (code === undefined) {
        child.kill("SIGKILL");
        await waitFor(() => code !== undefined, "the killed process to exit", 5000).catch(() => {});
      }
    },
  };
}
