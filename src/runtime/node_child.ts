/**
 * Child processes and the parent IPC channel through `node:child_process` / `process`, which
 * behave the same on Bun and Deno (fd inheritance by stdio index, JSON messages over "ipc").
 */
import { spawn } from "node:child_process";
import process from "node:process";
import type { ChildHandle, ParentChannel } from "./host_process.ts";

/** Spawns with the IPC channel on fd 3 and `fds` on 4, 5, …; stdout/stderr inherited. */
export function spawnWithFds(cmd: string, args: readonly string[], fds: readonly number[], env: Record<string, string>): ChildHandle {
  const child = spawn(cmd, [...args], {
    // stdin inherited, not "ignore": a scratch container may have no /dev/null to open.
    stdio: ["inherit", "inherit", "inherit", "ipc", ...fds],
    env: { ...process.env, ...env },
  });
  let exited = false;
  const exitFns: ((code: number | null, signal: string | null) => void)[] = [];
  child.on("exit", (code, signal) => {
    exited = true;
    for (const f of exitFns) f(code, signal);
  });
  child.on("error", () => {
    if (!exited) {
      exited = true;
      for (const f of exitFns) f(127, null);
    }
  });
  return {
    pid: child.pid ?? -1,
    send: (msg) => {
      if (child.connected) child.send(msg as never);
    },
    onMessage: (fn) => void child.on("message", fn),
    onExit: (fn) => void exitFns.push(fn),
    // By pid: Deno's ChildProcess.kill() misreports signals the child handles as fatal.
    kill: (sig) => {
      if (!exited && child.pid) {
        try {
          process.kill(child.pid, sig);
        } catch {
          // already gone
        }
      }
    },
  };
}

/** The channel to the supervisor when started with an IPC channel, else null. */
export function parentChannelFromProcess(): ParentChannel | null {
  if (typeof process.send !== "function" || !process.connected) return null;
  return {
    send: (msg) => {
      if (process.connected) process.send!(msg as never);
    },
    onMessage: (fn) => void process.on("message", fn),
    onDisconnect: (fn) => void process.on("disconnect", fn),
  };
}
