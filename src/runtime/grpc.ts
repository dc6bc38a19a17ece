/**
 * gRPC over HTTP/2 for the control side (xDS client, and the test/example xDS management
 * server): connect-node's transport and handler adapter on node:http2, which both Bun and Deno
 * implement. The rest of the code sees connect's portable `Transport` and `ConnectRouter` only.
 */
import type { ConnectRouter, Transport } from "@connectrpc/connect";
import { connectNodeAdapter, createGrpcTransport } from "@connectrpc/connect-node";
import * as http2 from "node:http2";
import { type ControlServer, listenTracked } from "./node_server.ts";

/** Client TLS for a gRPC channel (PEM text). */
export interface GrpcTlsOptions {
  ca?: string;
  cert?: string;
  key?: string;
  serverName?: string;
  rejectUnauthorized: boolean;
}

/** Control side: a gRPC transport to `host:port` (h2c, or TLS when `tls` is given). */
export function grpcTransport(opts: { host: string; port: number; tls?: GrpcTlsOptions; idleConnectionTimeoutMs?: number }): Transport {
  const host = opts.host.includes(":") ? `[${opts.host}]` : opts.host;
  const tls = opts.tls;
  return createGrpcTransport({
    baseUrl: `${tls ? "https" : "http"}://${host}:${opts.port}`,
    nodeOptions: tls
      ? { ca: tls.ca, cert: tls.cert, key: tls.key, servername: tls.serverName, rejectUnauthorized: tls.rejectUnauthorized }
      : undefined,
    idleConnectionTimeoutMs: opts.idleConnectionTimeoutMs,
  });
}

/** A running gRPC server (close() also ends every open stream). */
export type GrpcServer = ControlServer;

/** Server TLS for a gRPC server (PEM text); `ca` + `requestCert` ask for client certificates. */
export interface GrpcServerTlsOptions {
  cert: string;
  key: string;
  ca?: string;
  requestCert?: boolean;
}

/** Control side: serves the services `routes` registers on `host:port` (0 = any), over h2c, or
 *  over TLS (ALPN h2) when `tls` is given. */
export function startGrpcServer(host: string, port: number, routes: (router: ConnectRouter) => void, tls?: GrpcServerTlsOptions): Promise<GrpcServer> {
  const handler = connectNodeAdapter({ routes, grpc: true, connect: false, grpcWeb: false });
  const server = tls
    ? http2.createSecureServer({ cert: tls.cert, key: tls.key, ca: tls.ca, requestCert: tls.requestCert ?? false, rejectUnauthorized: tls.requestCert ?? false, ALPNProtocols: ["h2"] }, handler)
    : http2.createServer(handler);
  const sessions = new Set<http2.ServerHttp2Session>();
  (server as http2.Http2Server).on("session", (s: http2.ServerHttp2Session) => {
    sessions.add(s);
    s.on("close", () => sessions.delete(s));
  });
  return listenTracked(server, host, port, sessions);
}
