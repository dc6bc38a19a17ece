/**
 * Control side helpers for the test/example xDS management server (src/xds/server/): a small
 * HTTP/1.1 server for xDS REST-JSON (`POST /v3/discovery:<type>`), and the file-system polling
 * its snapshot source needs (stat, list a directory, read a file). node:http and node:fs work the
 * same on Bun and Deno; nothing here is on the data path.
 */
import * as http from "node:http";
import { readdir, readFile, stat } from "node:fs/promises";
import { type ControlServer, listenTracked } from "./node_server.ts";

/** One HTTP request as the handler sees it. */
export interface HttpJsonRequest {
  method: string;
  /** Path and query, as sent. */
  url: string;
  headers: Record<string, string>;
  body: string;
}

/** The handler's answer. */
export interface HttpJsonResponse {
  status: number;
  body?: string;
  headers?: Record<string, string>;
}

/** A running HTTP/1.1 server. */
export type HttpJsonServer = ControlServer;

/** Largest request body accepted (bytes); a DiscoveryRequest is small. */
const MAX_BODY = 4 * 1024 * 1024;

/** Control side: serves `handler` over HTTP/1.1 on `host:port` (0 = any free port). */
export function startHttpJsonServer(
  host: string,
  port: number,
  handler: (req: HttpJsonRequest) => Promise<HttpJsonResponse> | HttpJsonResponse,
): Promise<HttpJsonServer> {
  const sockets = new Set<import("node:net").Socket>();
  const server = http.createServer((req, res) => {
    const chunks: Uint8Array[] = [];
    let size = 0;
    let tooBig = false;
    req.on("data", (c: Uint8Array) => {
      size += c.byteLength;
      if (size > MAX_BODY) tooBig = true;
      else chunks.push(c);
    });
    req.on("end", () => {
      const reply = (r: HttpJsonResponse): void => {
        const body = r.body ?? "";
        res.writeHead(r.status, { "content-length": String(Buffer.byteLength(body)), ...r.headers });
        res.end(body);
      };
      if (tooBig) return reply({ status: 413, body: "request body too large\n" });
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(req.headers)) if (typeof v === "string") headers[k] = v;
      const input: HttpJsonRequest = {
        method: req.method ?? "GET",
        url: req.url ?? "/",
        headers,
        body: Buffer.concat(chunks).toString("utf8"),
      };
      Promise.resolve()
        .then(() => handler(input))
        .then(reply, (e) => reply({ status: 500, body: `${e instanceof Error ? e.message : e}\n` }));
    });
    req.on("error", () => res.destroy());
  });
  server.on("connection", (s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  return listenTracked(server, host, port, sockets);
}

/** What `statPath` reports; undefined when the path does not exist. */
export interface PathStat {
  isDirectory: boolean;
  mtimeMs: number;
  size: number;
  ino: number;
}

/** Control side: stats `path` (following symlinks); undefined when it does not exist. */
export async function statPath(path: string): Promise<PathStat | undefined> {
  try {
    const s = await stat(path);
    return { isDirectory: s.isDirectory(), mtimeMs: s.mtimeMs, size: s.size, ino: Number(s.ino) };
  } catch {
    return undefined;
  }
}

/** Control side: the names in directory `path` (not recursive). */
export function listDirectory(path: string): Promise<string[]> {
  return readdir(path);
}

/** Control side: reads a UTF-8 text file. */
export function readTextFile(path: string): Promise<string> {
  return readFile(path, "utf8");
}
