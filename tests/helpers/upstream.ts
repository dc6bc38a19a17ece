/**
 * Test helper upstreams on 127.0.0.1 port 0: a real HTTP server (node:http, an independent
 * HTTP/1.1 implementation) that records what it received, and raw TCP servers that misbehave
 * on purpose. All close with `await using`.
 */
import * as http from "node:http";
import * as net from "node:net";

/** What the upstream saw of one request. */
export interface SeenRequest {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: Uint8Array;
  /** True if the client went away before the request body ended. */
  aborted: boolean;
}

/** A running HTTP upstream. */
export interface TestUpstream extends AsyncDisposable {
  port: number;
  requests: SeenRequest[];
  /** Connections accepted so far. */
  connections: number;
  /** Connections open now. */
  openConnections(): number;
}

/** How the upstream answers: return status/headers/body, or take over `res` yourself. */
export type UpstreamHandler = (req: SeenRequest, res: http.ServerResponse) => void | { status?: number; headers?: Record<string, string>; body?: string | Uint8Array };

/** Default: 200 with body "upstream saw <method> <url>". */
export const echoInfo: UpstreamHandler = (req) => {
  const body = `upstream saw ${req.method} ${req.url}`;
  return { headers: { "content-length": String(Buffer.byteLength(body)) }, body };
};

/** Starts an HTTP upstream with `handler`. */
export async function startUpstream(handler: UpstreamHandler = echoInfo): Promise<TestUpstream> {
  const requests: SeenRequest[] = [];
  const sockets = new Set<net.Socket>();
  let connections = 0;
  const server = http.createServer((req, res) => {
    const chunks: Uint8Array[] = [];
    const seen: SeenRequest = { method: req.method!, url: req.url!, headers: req.headers, body: new Uint8Array(0), aborted: false };
    requests.push(seen);
    req.on("data", (c: Uint8Array) => chunks.push(c));
    req.on("aborted", () => (seen.aborted = true));
    req.on("error", () => (seen.aborted = true));
    req.on("close", () => {
      if (!req.complete) seen.aborted = true;
    });
    req.on("end", () => {
      seen.body = Buffer.concat(chunks);
      const out = handler(seen, res);
      if (out) {
        res.writeHead(out.status ?? 200, out.headers ?? {});
        res.end(out.body ?? "");
      }
    });
  });
  server.keepAliveTimeout = 60_000;
  server.on("connection", (s: net.Socket) => {
    connections++;
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    requests,
    get connections() {
      return connections;
    },
    openConnections: () => sockets.size,
    [Symbol.asyncDispose]: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

/** A raw TCP server whose per-connection behaviour is `onConnection`. */
export interface RawServer extends AsyncDisposable {
  port: number;
  accepted: number;
  openConnections(): number;
}

/** Starts a raw TCP server (for upstreams that reset, hang or talk garbage). */
export async function startRawServer(onConnection: (s: net.Socket) => void): Promise<RawServer> {
  const sockets = new Set<net.Socket>();
  let accepted = 0;
  const server = net.createServer((s) => {
    accepted++;
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
    s.on("error", () => {});
    onConnection(s);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    port: (server.address() as net.AddressInfo).port,
    get accepted() {
      return accepted;
    },
    openConnections: () => sockets.size,
    [Symbol.asyncDispose]: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

/** A port with nothing listening (bound then closed). */
export async function closedPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}
