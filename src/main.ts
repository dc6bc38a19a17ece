/**
 * Legate's entry point (control side): parses flags, loads and validates the config, and
 * either reports on it (--mode validate) or serves it.
 */
import { parseArgs, USAGE } from "./cli.ts";
import { loadConfigFromSources } from "./config/sources.ts";
import { configureLogging, Logger } from "./core/log.ts";
import { ConfigError } from "./core/errors.ts";
import { loadRuntime } from "./runtime/mod.ts";
import { type Server, startServer } from "./server/server.ts";
import { VERSION } from "./version.ts";

const runtime = await loadRuntime();
const log = new Logger("main");

function fail(msg: string, code = 1): never {
  runtime.writeStderr(msg.endsWith("\n") ? msg : msg + "\n");
  return runtime.exit(code);
}

let opts;
try {
  opts = parseArgs(runtime.args());
} catch (e) {
  fail(`legate: ${e instanceof Error ? e.message : e}\n\n${USAGE}`);
}
if (opts.help) {
  runtime.writeStdout(USAGE);
  runtime.exit(0);
}
if (opts.version) {
  runtime.writeStdout(`legate version: ${VERSION} (${runtime.name} ${runtime.version})\n`);
  runtime.exit(0);
}
configureLogging({ pid: runtime.pid, level: opts.logLevel, sink: (line) => runtime.writeStderr(line + "\n") });
if (opts.configPath === undefined && opts.configYaml === undefined) {
  fail("legate: no configuration: give -c/--config-path FILE and/or --config-yaml STRING (see --help)");
}

let loaded;
try {
  loaded = await loadConfigFromSources(runtime, opts.configPath, opts.configYaml);
} catch (e) {
  if (e instanceof ConfigError) {
    if (opts.mode === "validate") fail(e.message);
    fail(`legate: invalid configuration:\n${e.message}`);
  }
  fail(`legate: ${e instanceof Error ? e.message : e}`);
}

if (opts.mode === "validate") {
  runtime.writeStdout(`configuration '${opts.configPath ?? "--config-yaml"}' OK\n`);
  runtime.exit(0);
}

// Signals first: a SIGTERM that arrives while the server starts must still stop it cleanly.
let server: Server | undefined;
let stopping = false;
const stop = (sig: string) => {
  if (stopping) return;
  stopping = true;
  log.info(`caught ${sig}, shutting down`);
  void (server?.close() ?? Promise.resolve()).then(() => runtime.exit(0));
};
runtime.onSignal("SIGINT", () => stop("SIGINT"));
runtime.onSignal("SIGTERM", () => stop("SIGTERM"));

try {
  const started = await startServer(runtime, loaded.bootstrap, {
    rawConfig: loaded.raw,
    // Envoy's default: one worker per CPU.
    concurrency: opts.concurrency ?? Math.max(1, navigator.hardwareConcurrency || 1),
    workerUrl: new URL("./worker/worker_main.ts", import.meta.url),
    configPath: opts.configPath,
    configYaml: opts.configYaml,
    logLevel: opts.logLevel,
    onQuit: () => runtime.exit(0),
  });
  server = started;
  if (stopping) await started.close().then(() => runtime.exit(0));
} catch (e) {
  fail(`legate: ${e instanceof Error ? e.message : e}`);
}
