/**
 * HostProcess on Deno: libc through Deno.dlopen for sockets the supervisor holds without
 * polling them, node:child_process for generations.
 */
import type { HostProcess, ListeningFd } from "../host_process.ts";
import { parentChannelFromProcess, spawnWithFds } from "../node_child.ts";
import { encodeSockaddr, errnoCode, SO_REUSEADDR, SOCK_STREAM, SOL_SOCKET, sockaddrPort } from "../sockaddr.ts";
import { RuntimeError } from "../types.ts";

const SYMBOLS = {
  socket: { parameters: ["i32", "i32", "i32"], result: "i32" },
  setsockopt: { parameters: ["i32", "i32", "i32", "buffer", "u32"], result: "i32" },
  bind: { parameters: ["i32", "buffer", "u32"], result: "i32" },
  listen: { parameters: ["i32", "i32"], result: "i32" },
  getsockname: { parameters: ["i32", "buffer", "buffer"], result: "i32" },
  dup: { parameters: ["i32"], result: "i32" },
  close: { parameters: ["i32"], result: "i32" },
  __errno_location: { parameters: [], result: "pointer" },
} as const;

/** Creates the Deno host-process adapter. */
export function createDenoHostProcess(): HostProcess {
  let libc: Deno.DynamicLibrary<typeof SYMBOLS> | null = null;
  const lib = () => (libc ??= Deno.dlopen("libc.so.6", SYMBOLS)).symbols;
  const errno = () => {
    const p = lib().__errno_location();
    return p ? new Deno.UnsafePointerView(p).getInt32() : 0;
  };
  return {
    bindTcp(host: string, port: number, backlog = 511): ListeningFd {
      const l = lib();
      const { family, buf } = encodeSockaddr(host, port);
      const fd = l.socket(family, SOCK_STREAM, 0);
      if (fd < 0) throw new RuntimeError(errnoCode(errno()), `socket ${host}:${port}: errno ${errno()}`);
      l.setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, new Int32Array([1]), 4);
      if (l.bind(fd, buf, buf.length) !== 0) {
        const e = errno();
        l.close(fd);
        throw new RuntimeError(errnoCode(e), `bind ${host}:${port}: errno ${e}`);
      }
      if (l.listen(fd, backlog) !== 0) throw new RuntimeError(errnoCode(errno()), `listen ${host}:${port}: errno ${errno()}`);
      const out = new Uint8Array(buf.length);
      l.getsockname(fd, out, new Uint32Array([out.length]));
      return { fd, port: sockaddrPort(out) };
    },
    dup: (fd) => lib().dup(fd),
    close: (fd) => void lib().close(fd),
    spawn: (cmd, args, opts) => spawnWithFds(cmd, args, opts.fds, opts.env),
    parentChannel: parentChannelFromProcess,
    selfCommand() {
      const main = Deno.mainModule;
      const script = main.startsWith("file://") ? decodeURIComponent(new URL(main).pathname) : main;
      return { cmd: Deno.execPath(), args: ["run", "-A", script] };
    },
  };
}
