/**
 * The host services (files, process, signals, stdio) shared by the Bun and Deno adapters; both
 * runtimes implement these node:* modules faithfully. Control side only: none of this is on the
 * data path.
 */
import { appendFile, readFile, writeFile } from "node:fs/promises";
import { hostname } from "node:os";
import process from "node:process";
import { toRuntimeError } from "./errors.ts";
import type { Runtime } from "./types.ts";

/** The part of `Runtime` that is the same on every real runtime. */
export type HostServices = Omit<Runtime, "name" | "version" | "listen" | "connect" | "resolve" | "createTlsServerContext" | "startTlsServer" | "checkTlsParams">;

/** Builds the host services on node:fs / node:os / node:process (control side). */
export function createNodeHost(): HostServices {
  return {
    async readTextFile(path: string): Promise<string> {
      try {
        return await readFile(path, "utf8");
      } catch (e) {
        throw toRuntimeError(e);
      }
    },
    async writeTextFile(path: string, text: string): Promise<void> {
      try {
        await writeFile(path, text, "utf8");
      } catch (e) {
        throw toRuntimeError(e);
      }
    },
    async appendFile(path: string, data: Uint8Array): Promise<void> {
      try {
        await appendFile(path, data);
      } catch (e) {
        throw toRuntimeError(e);
      }
    },
    args: () => process.argv.slice(2),
    env: (name: string) => process.env[name],
    pid: process.pid,
    execPath: process.execPath,
    hostname: () => hostname(),
    exit: (code: number): never => process.exit(code),
    onSignal(signal, fn) {
      process.on(signal, fn);
      return () => void process.off(signal, fn);
    },
    writeStdout: (text: string) => void process.stdout.write(text),
    writeStderr: (text: string) => void process.stderr.write(text),
    memoryUsage() {
      const m = process.memoryUsage();
      return { rss: m.rss, heapUsed: m.heapUsed };
    },
  };
}
