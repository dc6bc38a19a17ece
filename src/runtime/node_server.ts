/**
 * Shared by the control side's node:http / node:http2 servers (src/runtime/grpc.ts,
 * src/runtime/http_json.ts): listen on host:port, keep track of the open connections, and close
 * everything at once.
 */

/** A running control-side server. */
export interface ControlServer extends AsyncDisposable {
  /** The bound port (the real one when 0 was asked for). */
  readonly port: number;
  /** Stops accepting and closes every open connection now. */
  close(): Promise<void>;
}

/** What node:net, node:http and node:http2 servers have in common here. */
interface ListeningServer {
  once(event: "error", fn: (e: Error) => void): unknown;
  off(event: "error", fn: (e: Error) => void): unknown;
  listen(port: number, host: string, cb: () => void): unknown;
  address(): unknown;
  close(cb: () => void): unknown;
}

/** Listens; `peers` is the set of open connections (sessions) the caller keeps up to date,
 *  destroyed on close. */
export function listenTracked(server: ListeningServer, host: string, port: number, peers: Set<{ destroy(): void }>): Promise<ControlServer> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      const addr = server.address() as { port?: number } | null;
      const bound = typeof addr === "object" && addr?.port !== undefined ? addr.port : port;
      let closed: Promise<void> | null = null;
      const close = (): Promise<void> => {
        closed ??= new Promise<void>((done) => {
          server.close(() => done());
          for (const p of peers) p.destroy();
          peers.clear();
        });
        return closed;
      };
      resolve({ port: bound, close, [Symbol.asyncDispose]: close });
    });
  });
}
