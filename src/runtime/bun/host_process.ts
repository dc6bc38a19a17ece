/**
 * HostProcess on Bun: libc through bun:ffi for sockets the supervisor holds without polling
 * them, node:child_process for generations.
 */
import { dlopen, FFIType, ptr, read } from "bun:ffi";
import type { HostProcess, ListeningFd } from "../host_process.ts";
import { parentChannelFromProcess, spawnWithFds } from "../node_child.ts";
import { encodeSockaddr, errnoCode, SO_REUSEADDR, SOCK_STREAM, SOL_SOCKET, sockaddrPort } from "../sockaddr.ts";
import { RuntimeError } from "../types.ts";

/** Creates the Bun host-process adapter. */
export function createBunHostProcess(): HostProcess {
  let libc: ReturnType<typeof open> | null = null;
  function open() {
    return dlopen("libc.so.6", {
      socket: { args: [FFIType.i32, FFIType.i32, FFIType.i32], returns: FFIType.i32 },
      setsockopt: { args: [FFIType.i32, FFIType.i32, FFIType.i32, FFIType.ptr, FFIType.u32], returns: FFIType.i32 },
      bind: { args: [FFIType.i32, FFIType.ptr, FFIType.u32], returns: FFIType.i32 },
      listen: { args: [FFIType.i32, FFIType.i32], returns: FFIType.i32 },
      getsockname: { args: [FFIType.i32, FFIType.ptr, FFIType.ptr], returns: FFIType.i32 },
      dup: { args: [FFIType.i32], returns: FFIType.i32 },
      close: { args: [FFIType.i32], returns: FFIType.i32 },
      __errno_location: { args: [], returns: FFIType.ptr },
    });
  }
  const lib = () => (libc ??= open()).symbols;
  const errno = () => read.i32(lib().__errno_location()!, 0);
  const fail = (what: string, host: string, port: number): never => {
    const e = errno();
    throw new RuntimeError(errnoCode(e), `${what} ${host}:${port}: errno ${e}`);
  };
  return {
    bindTcp(host: string, port: number, backlog = 511): ListeningFd {
      const l = lib();
      const { family, buf } = encodeSockaddr(host, port);
      const fd = l.socket(family, SOCK_STREAM, 0);
      if (fd < 0) fail("socket", host, port);
      l.setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, ptr(new Int32Array([1])), 4);
      if (l.bind(fd, ptr(buf), buf.length) !== 0) {
        const e = errno();
        l.close(fd);
        throw new RuntimeError(errnoCode(e), `bind ${host}:${port}: errno ${e}`);
      }
      if (l.listen(fd, backlog) !== 0) fail("listen", host, port);
      const out = new Uint8Array(buf.length);
      l.getsockname(fd, ptr(out), ptr(new Uint32Array([out.length])));
      return { fd, port: sockaddrPort(out) };
    },
    dup: (fd) => lib().dup(fd),
    close: (fd) => void lib().close(fd),
    spawn: (cmd, args, opts) => spawnWithFds(cmd, args, opts.fds, opts.env),
    parentChannel: parentChannelFromProcess,
    selfCommand() {
      // A compiled binary runs from Bun's embedded filesystem; from source, bun + the script.
      const main = Bun.main;
      return main.startsWith("/$bunfs/") || main.startsWith("B:/~BUN/")
        ? { cmd: process.execPath, args: [] }
        : { cmd: process.execPath, args: [main] };
    },
  };
}
