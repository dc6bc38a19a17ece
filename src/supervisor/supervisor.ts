/**
 * The hot-restart supervisor (control side, its own small process). It binds every listening
 * socket itself — through libc, so it never accepts on them — and hands them to each generation
 * it starts, by fd inheritance. SIGHUP starts generation N+1 from the executable on disk *now*
 * with the config re-read; only when N+1 reports ready does generation N drain and exit, so not
 * one connection waits in an accept queue that is about to close. If N+1 fails (bad config,
 * crash, timeout) it is killed and N keeps serving.
 */
import { Logger } from "../core/log.ts";
import { loadConfigFromSources } from "../config/sources.ts";
import type { BootstrapModel } from "../config/model.ts";
import type { ChildHandle, HostProcess } from "../runtime/host_process.ts";
import type { Runtime } from "../runtime/types.ts";
import {
  ADMIN_FD_KEY,
  ENV_EPOCH,
  ENV_FDS,
  ENV_PORTS,
  ENV_VERSION,
  EXIT_INCOMPATIBLE,
  type FromGeneration,
  HOT_RESTART_VERSION,
  type ToGeneration,
} from "./protocol.ts";

const log = new Logger("main");

/** Supervisor settings (from the command line). */
export interface SupervisorOptions {
  readonly configPath: string | undefined;
  readonly configYaml: string | undefined;
  /** Arguments passed through to every generation (config, concurrency, log level, …). */
  readonly generationArgs: readonly string[];
  readonly drainTimeS: number;
  readonly parentShutdownTimeS: number;
  readonly drainStrategy: "gradual" | "immediate";
  /** How long a new generation may take to report ready. */
  readonly startupTimeoutS: number;
}

interface Generation {
  epoch: number;
  child: ChildHandle;
  ready: boolean;
  exited: boolean;
  exitCode: number | null;
  draining: boolean;
  onReady: (() => void) | null;
  onExit: ((code: number | null) => void) | null;
}

/** A socket the supervisor owns, by key ("host:port", or "name:<listener>" for port 0). */
interface OwnedSocket {
  fd: number;
  port: number;
}

/** Runs the supervisor until no generation is left; resolves with the exit code. */
export async function runSupervisor(runtime: Runtime, host: HostProcess, opts: SupervisorOptions): Promise<number> {
  const sockets = new Map<string, OwnedSocket>();
  const gens: Generation[] = [];
  let epoch = 0;
  let restarting = false;
  let stopping = false;
  let finish!: (code: number) => void;
  const done = new Promise<number>((r) => (finish = r));

  const keyFor = (name: string, address: string, port: number) => (port === 0 ? `name:${name}` : `${address}:${port}`);

  const ports: Record<string, number> = {};
  function bindAll(b: BootstrapModel): Record<string, number> {
    const fds: Record<string, number> = {};
    const want: [string, string, string, number][] = b.listeners.map((l) => [l.name, keyFor(l.name, l.address.address, l.address.port), l.address.address, l.address.port]);
    if (b.admin) want.push([ADMIN_FD_KEY, keyFor(ADMIN_FD_KEY, b.admin.address.address, b.admin.address.port), b.admin.address.address, b.admin.address.port]);
    for (const [name, key, address, port] of want) {
      let s = sockets.get(key);
      if (!s) {
        try {
          s = host.bindTcp(address, port);
        } catch (e) {
          const what = name === ADMIN_FD_KEY ? "admin" : `listener '${name}'`;
          throw new Error(`${what}: cannot bind ${address}:${port}: ${e instanceof Error ? e.message : e}`);
        }
        sockets.set(key, s);
      }
      fds[name] = s.fd;
      ports[name] = s.port;
    }
    return fds;
  }

  async function loadConfig(): Promise<BootstrapModel> {
    return (await loadConfigFromSources(runtime, opts.configPath, opts.configYaml)).bootstrap;
  }

  function spawnGeneration(fds: Record<string, number>): Generation {
    const e = epoch++;
    const names = Object.keys(fds);
    // The child sees the IPC channel on fd 3 and the sockets from fd 4 on, in this order.
    const childFds: Record<string, number> = {};
    names.forEach((n, i) => (childFds[n] = 4 + i));
    const self = host.selfCommand();
    const child = host.spawn(self.cmd, [...self.args, ...opts.generationArgs, "--restart-epoch", String(e)], {
      fds: names.map((n) => fds[n]!),
      env: {
        [ENV_VERSION]: HOT_RESTART_VERSION,
        [ENV_EPOCH]: String(e),
        [ENV_FDS]: JSON.stringify(childFds),
        [ENV_PORTS]: JSON.stringify(Object.fromEntries(names.map((n) => [n, ports[n]!]))),
      },
    });
    const g: Generation = { epoch: e, child, ready: false, exited: false, exitCode: null, draining: false, onReady: null, onExit: null };
    gens.push(g);
    child.onMessage((raw) => onMessage(g, raw as FromGeneration));
    child.onExit((code, signal) => onExit(g, code, signal));
    log.info(`started generation ${e} (pid ${child.pid}): ${self.cmd}`);
    return g;
  }

  function onMessage(g: Generation, msg: FromGeneration): void {
    if (msg.type === "ready") {
      g.ready = true;
      log.info(`generation ${g.epoch} (pid ${msg.pid}, legate ${msg.version}) is ready`);
      g.onReady?.();
    } else if (msg.type === "final_stats") {
      // Counters carry over to the newest live generation (Envoy's hot restart stats semantics).
      // Only a ready generation is sure to be listening for it.
      const next = [...gens].reverse().find((x) => x.ready && !x.exited && !x.draining && x !== g);
      if (!next) log.warn(`generation ${g.epoch}'s counters could not be carried over: no serving generation`);
      next?.child.send({ type: "carry_stats", counters: msg.counters } satisfies ToGeneration);
    }
  }

  function onExit(g: Generation, code: number | null, signal: string | null): void {
    g.exited = true;
    g.exitCode = code;
    if (code === EXIT_INCOMPATIBLE) log.error(`generation ${g.epoch} refused to start: incompatible hot restart version; a full restart is needed`);
    else log.info(`generation ${g.epoch} exited (${signal ?? `code ${code}`})`);
    g.onExit?.(code);
    const live = gens.filter((x) => !x.exited);
    if (live.length === 0 && !restarting) {
      for (const s of sockets.values()) host.close(s.fd);
      finish(stopping ? 0 : code ?? 1);
    }
  }

  /** Starts a generation and waits for it to be ready (or fail). */
  function startAndWait(fds: Record<string, number>): Promise<Generation> {
    const g = spawnGeneration(fds);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        g.child.kill("SIGKILL");
        reject(new Error(`generation ${g.epoch} was not ready within ${opts.startupTimeoutS}s`));
      }, opts.startupTimeoutS * 1000);
      g.onReady = () => {
        clearTimeout(timer);
        resolve(g);
      };
      g.onExit = (code) => {
        clearTimeout(timer);
        if (!g.ready) reject(Object.assign(new Error(`generation ${g.epoch} exited during startup (code ${code})`), { exitCode: code }));
      };
    });
  }

  function drain(g: Generation): void {
    g.draining = true;
    g.child.send({ type: "drain", drainTimeS: opts.drainTimeS, strategy: opts.drainStrategy } satisfies ToGeneration);
    const t = setTimeout(() => {
      if (!g.exited) {
        log.warn(`generation ${g.epoch} still running after --parent-shutdown-time-s ${opts.parentShutdownTimeS}; killing it`);
        g.child.kill("SIGKILL");
      }
    }, opts.parentShutdownTimeS * 1000);
    g.onExit = () => clearTimeout(t);
  }

  /** SIGHUP: a new generation from the executable on disk now, then the old ones drain. */
  async function hotRestart(): Promise<void> {
    if (stopping) return;
    if (restarting) {
      log.warn("hot restart already in progress; SIGHUP ignored");
      return;
    }
    restarting = true;
    try {
      let b: BootstrapModel;
      try {
        b = await loadConfig();
      } catch (e) {
        log.error(`hot restart refused, the running generation keeps serving: ${e instanceof Error ? e.message : e}`);
        return;
      }
      const old = gens.filter((x) => !x.exited && !x.draining);
      let next: Generation;
      try {
        next = await startAndWait(bindAll(b));
      } catch (e) {
        log.error(`hot restart failed, the running generation keeps serving: ${e instanceof Error ? e.message : e}`);
        return;
      }
      for (const g of old) drain(g);
      log.info(`hot restart to generation ${next.epoch} done`);
    } finally {
      restarting = false;
    }
  }

  // Signals before anything starts: an early SIGHUP must not kill the supervisor (its default
  // action), and SIGTERM during start-up must still stop generation 0.
  let live = false;
  runtime.onSignal("SIGHUP", () => {
    if (live) void hotRestart();
    else log.warn("SIGHUP ignored: generation 0 is still starting");
  });
  const stop = (sig: "SIGTERM" | "SIGINT") => {
    stopping = true;
    log.info(`caught ${sig}, stopping every generation (each drains first)`);
    for (const g of gens) if (!g.exited) g.child.kill("SIGTERM");
    if (gens.every((g) => g.exited)) finish(0);
  };
  runtime.onSignal("SIGTERM", () => stop("SIGTERM"));
  runtime.onSignal("SIGINT", () => stop("SIGINT"));

  // Generation 0.
  try {
    await startAndWait(bindAll(await loadConfig()));
  } catch (e) {
    // Exit code 0 before ready: it was told to quit while initialising (POST /quitquitquit on
    // its admin, which answers from the start); the supervisor quits with it.
    const quit = (e as { exitCode?: number | null }).exitCode === 0;
    if (quit) log.info("generation 0 quit while it was starting; exiting");
    else log.error(e instanceof Error ? e.message : String(e));
    for (const g of gens) g.child.kill("SIGKILL");
    for (const s of sockets.values()) host.close(s.fd);
    return stopping || quit ? 0 : 1;
  }
  live = true;
  return done;
}
