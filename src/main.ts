/**
 * Legate's entry point (control side). Roles:
 *  - `--mode validate`: check the config, print OK or every error, exit 0 or 1;
 *  - supervisor (default): owns the listening sockets, runs generations, hot-restarts on SIGHUP;
 *  - generation: started by the supervisor (inherited sockets, IPC channel), serves traffic;
 *  - `--disable-hot-restart`: one process that binds and serves by itself;
 *  - `xds-server …`: the test/example xDS management server (src/xds/server/cli.ts).
 */
import { type CliOptions, parseArgs, USAGE } from "./cli.ts";
import { loadConfigFromSources } from "./config/sources.ts";
import { configureLogging, Logger } from "./core/log.ts";
import { ConfigError } from "./core/errors.ts";
import { loadHostProcess } from "./runtime/host_process.ts";
import { loadRuntime } from "./runtime/mod.ts";
import { type Server, ServerClosedError, startServer } from "./server/server.ts";
import {
  ENV_FDS,
  ENV_PORTS,
  ENV_VERSION,
  EXIT_INCOMPATIBLE,
  type FromGeneration,
  HOT_RESTART_VERSION,
  type ToGeneration,
} from "./supervisor/protocol.ts";
import { runSupervisor } from "./supervisor/supervisor.ts";
import { VERSION } from "./version.ts";

const runtime = await loadRuntime();
const log = new Logger("main");

function fail(msg: string, code = 1): never {
  runtime.writeStderr(msg.endsWith("\n") ? msg : msg + "\n");
  return runtime.exit(code);
}

const argv = runtime.args();
// Subcommand: the test/example xDS management server (src/xds/server/).
if (argv[0] === "xds-server") {
  const { runXdsServerCli } = await import("./xds/server/cli.ts");
  runtime.exit(await runXdsServerCli(runtime, argv.slice(1)));
}
let opts: CliOptions;
try {
  opts = parseArgs(argv);
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
if (opts.hotRestartVersion) {
  runtime.writeStdout(`${HOT_RESTART_VERSION}\n`);
  runtime.exit(0);
}
configureLogging({ pid: runtime.pid, level: opts.logLevel, sink: (line) => runtime.writeStderr(line + "\n") });
if (opts.configPath === undefined && opts.configYaml === undefined) {
  fail("legate: no configuration: give -c/--config-path FILE and/or --config-yaml STRING (see --help)");
}

const inheritedFdsJson = runtime.env(ENV_FDS);
const isGeneration = inheritedFdsJson !== undefined;
if (isGeneration && runtime.env(ENV_VERSION) !== HOT_RESTART_VERSION) {
  fail(
    `legate: the supervisor speaks hot restart protocol ${runtime.env(ENV_VERSION)}, this binary ${HOT_RESTART_VERSION}: a full restart is needed`,
    EXIT_INCOMPATIBLE,
  );
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

const host = await loadHostProcess();

if (!isGeneration && !opts.disableHotRestart) {
  // Supervisor: generations get the same arguments (minus what only the supervisor uses).
  const generationArgs: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const flag = a.split("=")[0]!;
    if (["--drain-time-s", "--parent-shutdown-time-s", "--drain-strategy", "--restart-epoch"].includes(flag)) {
      if (!a.includes("=")) i++;
      continue;
    }
    generationArgs.push(a);
  }
  const code = await runSupervisor(runtime, host, {
    configPath: opts.configPath,
    configYaml: opts.configYaml,
    generationArgs,
    drainTimeS: opts.drainTimeS,
    parentShutdownTimeS: opts.parentShutdownTimeS,
    drainStrategy: opts.drainStrategy,
    startupTimeoutS: 60,
  });
  runtime.exit(code);
}

// Serving: a generation under the supervisor, or a standalone process.
const channel = isGeneration ? host.parentChannel() : null;
if (isGeneration && !channel) fail("legate: started as a generation but there is no channel to the supervisor");

let server: Server | undefined;
let stopping = false;
const stop = (sig: string) => {
  if (stopping) return;
  stopping = true;
  // Drain and exit: stop accepting, let requests in flight finish (connections close after
  // their current request), for at most --drain-time-s.
  log.info(`caught ${sig}, draining for up to ${opts.drainTimeS}s, then exiting`);
  void (server ? drain(server, opts.drainTimeS) : Promise.resolve()).then(() => runtime.exit(0));
};
// Signals first: a SIGTERM that arrives while the server starts must still stop it cleanly.
runtime.onSignal("SIGINT", () => stop("SIGINT"));
runtime.onSignal("SIGTERM", () => stop("SIGTERM"));
// SIGHUP belongs to the supervisor (a generation may see it too when sent to the process group);
// SIGUSR1 asks to reopen access logs, which are opened per write batch anyway. Neither may kill us.
runtime.onSignal("SIGHUP", () => {
  if (!isGeneration) log.info("SIGHUP ignored: hot restart is disabled (--disable-hot-restart)");
});
runtime.onSignal("SIGUSR1", () => log.info("SIGUSR1: access logs are reopened on their next write"));
// A supervisor that dies takes its generations with it: no orphans, even mid-drain.
channel?.onDisconnect(() => {
  log.warn("the supervisor went away; exiting");
  setTimeout(() => runtime.exit(0), 2000);
  void (server?.close() ?? Promise.resolve()).then(() => runtime.exit(0));
});
// Listen from the start: counters carried over before the server is up are held until it is.
const carried: Record<string, number>[] = [];
let drainRequested: number | undefined;
channel?.onMessage((raw) => {
  const msg = raw as ToGeneration;
  if (msg.type === "carry_stats") {
    if (server) server.carryCounters(msg.counters);
    else carried.push(msg.counters);
  } else if (msg.type === "drain") {
    if (server) void drainAndExit(server, msg.drainTimeS);
    else drainRequested = msg.drainTimeS;
  }
});

try {
  const started = await startServer(runtime, loaded.bootstrap, {
    rawConfig: loaded.raw,
    // Envoy's default: one worker per CPU.
    concurrency: opts.concurrency ?? Math.max(1, navigator.hardwareConcurrency || 1),
    workerUrl: new URL("./worker/worker_main.ts", import.meta.url),
    configPath: opts.configPath,
    configYaml: opts.configYaml,
    logLevel: opts.logLevel,
    restartEpoch: opts.restartEpoch,
    inheritedFds: isGeneration ? JSON.parse(inheritedFdsJson!) as Record<string, number> : undefined,
    inheritedPorts: isGeneration ? JSON.parse(runtime.env(ENV_PORTS) ?? "{}") as Record<string, number> : undefined,
    dupFd: (fd) => host.dup(fd),
    onQuit: () => runtime.exit(0),
  });
  server = started;
  if (stopping) await started.close().then(() => runtime.exit(0));
} catch (e) {
  // Asked to quit while initialising: that is a clean exit, not a failure.
  if (e instanceof ServerClosedError) runtime.exit(0);
  fail(`legate: ${e instanceof Error ? e.message : e}`);
}

if (channel && server) {
  for (const c of carried.splice(0)) server.carryCounters(c);
  channel.send({ type: "ready", epoch: opts.restartEpoch, pid: runtime.pid, version: VERSION } satisfies FromGeneration);
  if (drainRequested !== undefined) void drainAndExit(server, drainRequested);
}

/** Hot restart, old side: stop accepting, let connections finish (at most drainTimeS), hand
 *  the counters to the supervisor, exit. */
async function drainAndExit(s: Server, drainTimeS: number): Promise<void> {
  if (stopping) return;
  stopping = true;
  log.info(`draining for up to ${drainTimeS}s (a newer generation is serving)`);
  await drain(s, drainTimeS);
  channel!.send({ type: "final_stats", epoch: opts.restartEpoch, counters: s.counterValues() } satisfies FromGeneration);
  // Let the IPC message flush before exiting.
  setTimeout(() => runtime.exit(0), 100);
}

/** Stops accepting, waits until no downstream connection is left (at most drainTimeS), closes. */
async function drain(s: Server, drainTimeS: number): Promise<void> {
  await s.stopAcceptingAndDrain();
  const deadline = Date.now() + drainTimeS * 1000;
  while (Date.now() < deadline && s.activeConnections() > 0) await new Promise((r) => setTimeout(r, 50));
  await s.close();
}
