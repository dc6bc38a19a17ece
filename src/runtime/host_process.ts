/**
 * Process-level host services for hot restart (control side): listening sockets the supervisor
 * owns without accepting on them (bound through libc, so no event loop polls them), fd
 * duplication, spawning a generation with inherited fds and an IPC channel, and the channel
 * back to the supervisor. Kept apart from `Runtime` because only the supervisor and the
 * generation's main thread use it.
 */

/** A listening socket created by `bindTcp`. */
export interface ListeningFd {
  readonly fd: number;
  /** The bound port (the real one when 0 was asked for). */
  readonly port: number;
}

/** A spawned generation. */
export interface ChildHandle {
  readonly pid: number;
  send(msg: unknown): void;
  onMessage(fn: (msg: unknown) => void): void;
  /** Called once when the process exits (code, or the signal that ended it). */
  onExit(fn: (code: number | null, signal: string | null) => void): void;
  kill(signal: "SIGTERM" | "SIGKILL" | "SIGINT"): void;
}

/** The supervisor, as a generation sees it. */
export interface ParentChannel {
  send(msg: unknown): void;
  onMessage(fn: (msg: unknown) => void): void;
  /** The supervisor went away (the IPC channel closed). */
  onDisconnect(fn: () => void): void;
}

/** How to start this same program again: the executable on disk now, and its arguments. */
export interface SelfCommand {
  readonly cmd: string;
  readonly args: readonly string[];
}

/** What hot restart needs from the host. */
export interface HostProcess {
  /** socket(2) + SO_REUSEADDR + bind(2) + listen(2); throws RuntimeError (EADDRINUSE, …). */
  bindTcp(host: string, port: number, backlog?: number): ListeningFd;
  dup(fd: number): number;
  close(fd: number): void;
  /** Spawns `cmd args`; the child gets the IPC channel on fd 3 and `fds` as fds 4, 5, …
   *  (stdout and stderr inherited). */
  spawn(cmd: string, args: readonly string[], opts: { fds: readonly number[]; env: Record<string, string> }): ChildHandle;
  /** The IPC channel to the supervisor, if this process was started with one. */
  parentChannel(): ParentChannel | null;
  /** How to launch this program again (compiled binary, or runtime + script). */
  selfCommand(): SelfCommand;
}

let cached: Promise<HostProcess> | undefined;

/** Loads the host-process adapter for the current runtime (cached). */
export function loadHostProcess(): Promise<HostProcess> {
  cached ??= "Bun" in globalThis
    ? import("./bun/host_process.ts").then((m) => m.createBunHostProcess())
    : import("./deno/host_process.ts").then((m) => m.createDenoHostProcess());
  return cached;
}
