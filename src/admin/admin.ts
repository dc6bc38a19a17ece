/**
 * The admin server (control side): Envoy's admin endpoints over our own HTTP/1.1 codec.
 * GET reads, POST changes state (Envoy answers other methods on mutating endpoints with 405).
 * https://www.envoyproxy.io/docs/envoy/latest/operations/admin
 */
import type { Logger } from "../core/log.ts";
import { formatHistogram, QUANTILES, quantile, type StatsSource } from "../core/stats.ts";
import { configureLogging, logLevel, parseLogLevel } from "../core/log.ts";
import { renderPrometheus } from "./prometheus.ts";
import { HeaderMap } from "../http/header_map.ts";
import { encodeResponseHead } from "../http/http1/encoder.ts";
import { type CodecError, Http1Parser, type Http1ParserHandler, type RequestHead } from "../http/http1/parser.ts";
import { httpDate } from "../core/clock.ts";
import type { Runtime, RuntimeError, SocketEvents, TcpListener, TcpSocket } from "../runtime/types.ts";

const encoder = new TextEncoder();

/** What the admin needs from the server it reports on. */
export interface AdminContext {
  readonly stats: StatsSource;
  /** "LIVE", "PRE_INITIALIZING", "DRAINING". */
  state(): string;
  serverInfo(): unknown;
  configDump(resource: string | undefined): unknown;
  clustersText(): string;
  clustersJson(): unknown;
  listenersText(): string;
  listenersJson(): unknown;
  /** Health check failing state (POST /healthcheck/fail). */
  setHealthCheckFailed(failed: boolean): void;
  quit(): void;
  memory(): unknown;
  /** Re-reads and applies the config sources (POST /reload). */
  reload(): Promise<{ ok: true; version: number } | { ok: false; error: string }>;
  /** Every listener starts draining (HTTP answers `connection: close`). */
  drainListeners(): void;
}

/** An admin response. */
export interface AdminResponse {
  status: number;
  contentType: string;
  body: string;
}

type Handler = (query: URLSearchParams) => AdminResponse | Promise<AdminResponse>;

interface Endpoint {
  path: string;
  help: string;
  mutates: boolean;
  handler: Handler;
}

function text(body: string, status = 200): AdminResponse {
  return { status, contentType: "text/plain; charset=UTF-8", body };
}

function json(value: unknown, status = 200): AdminResponse {
  return { status, contentType: "application/json", body: JSON.stringify(value, null, 2) + "\n" };
}

/** The admin endpoint table and request dispatch (no I/O; tests call `handle` directly). */
export class Admin {
  readonly #endpoints = new Map<string, Endpoint>();

  constructor(readonly ctx: AdminContext) {
    const add = (path: string, help: string, mutates: boolean, handler: Handler) =>
      this.#endpoints.set(path, { path, help, mutates, handler });
    add("/", "Admin home page", false, () => this.#help());
    add("/help", "print out list of admin commands", false, () => this.#help());
    add("/ready", "print server state, return 200 if LIVE, otherwise return 503", false, () => {
      const s = ctx.state();
      return text(`${s}\n`, s === "LIVE" ? 200 : 503);
    });
    add("/server_info", "print server version/status information", false, () => json(ctx.serverInfo()));
    add("/stats", "print server stats", false, (q) => this.#stats(q));
    add("/config_dump", "dump current Envoy configs", false, (q) => json(ctx.configDump(q.get("resource") ?? undefined)));
    add("/clusters", "upstream cluster status", false, (q) =>
      q.get("format") === "json" ? json(ctx.clustersJson()) : text(ctx.clustersText()));
    add("/listeners", "print listener info", false, (q) =>
      q.get("format") === "json" ? json(ctx.listenersJson()) : text(ctx.listenersText()));
    add("/memory", "print current allocation/heap usage", false, () => json(ctx.memory()));
    add("/healthcheck/fail", "cause the server to fail health checks", true, () => {
      ctx.setHealthCheckFailed(true);
      return text("OK\n");
    });
    add("/healthcheck/ok", "cause the server to pass health checks", true, () => {
      ctx.setHealthCheckFailed(false);
      return text("OK\n");
    });
    add("/reset_counters", "reset all counters to zero", true, () => {
      ctx.stats.resetCounters();
      return text("OK\n");
    });
    add("/stats/prometheus", "print server stats in prometheus format", false, (q) => ({
      status: 200,
      contentType: "text/plain; version=0.0.4; charset=UTF-8",
      body: renderPrometheus(ctx.stats.entries(), q.has("usedonly"), ctx.stats.histograms()),
    }));
    add("/reload", "re-read the config file (and --config-yaml) and apply it; a bad config is refused", true, async () => {
      const r = await ctx.reload();
      return r.ok ? text(`OK: config version ${r.version}\n`) : text(`config refused, the running config keeps serving:\n${r.error}\n`, 400);
    });
    add("/drain_listeners", "drain listeners (?graceful, ?inboundonly accepted)", true, () => {
      ctx.drainListeners();
      return text("OK\n");
    });
    add("/logging", "query/change logging levels (POST ?level=LEVEL)", false, () => text(`active loggers:\n  all: ${logLevel()}\n`));
    add("/quitquitquit", "exit the server", true, () => {
      queueMicrotask(() => ctx.quit());
      return text("OK\n");
    });
  }

  /** Answers one request. */
  async handle(method: string, target: string): Promise<AdminResponse> {
    const q = target.indexOf("?");
    const path = q < 0 ? target : target.slice(0, q);
    const query = new URLSearchParams(q < 0 ? "" : target.slice(q + 1));
    const ep = this.#endpoints.get(path);
    if (!ep) return text(`invalid path. admin commands are:\n${this.#helpText()}`, 404);
    if (path === "/logging" && method === "POST") {
      const level = query.get("level");
      const l = level ? parseLogLevel(level) : undefined;
      if (!l) return text(`usage: POST /logging?level=(trace|debug|info|warning|error|critical|off)\n`, 400);
      configureLogging({ level: l });
      return text(`active loggers:\n  all: ${l}\n`);
    }
    if (ep.mutates && method !== "POST") return text("This endpoint requires POST\n", 405);
    if (!ep.mutates && method !== "GET" && method !== "HEAD") return text("Method Not Allowed\n", 405);
    try {
      return await ep.handler(query);
    } catch (e) {
      return text(`${e instanceof Error ? e.message : String(e)}\n`, 400);
    }
  }

  #helpText(): string {
    return [...this.#endpoints.values()]
      .filter((e) => e.path !== "/")
      .map((e) => `  ${e.mutates ? "POST" : "GET "} ${e.path}: ${e.help}`)
      .join("\n") + "\n";
  }

  #help(): AdminResponse {
    return text(`admin commands are:\n${this.#helpText()}`);
  }

  #stats(q: URLSearchParams): AdminResponse {
    const filter = q.get("filter");
    let re: RegExp | null = null;
    if (filter) {
      try {
        re = new RegExp(filter);
      } catch (e) {
        return text(`Invalid re2 regex: ${filter}\n`, 400);
      }
    }
    const usedOnly = q.has("usedonly");
    const entries = this.ctx.stats.entries().filter((e) => (!usedOnly || e.used) && (!re || re.test(e.name)));
    const histograms = [...this.ctx.stats.histograms()]
      .filter(([name, h]) => (!usedOnly || h.count > 0) && (!re || re.test(name)))
      .sort((a, b) => (a[0] < b[0] ? -1 : 1));
    if (q.get("format") === "json") {
      const computed = histograms.map(([name, h]) => ({
        name,
        values: QUANTILES.map((x) => {
          const v = quantile(h, x);
          return { interval: null, cumulative: Number.isNaN(v) ? null : v };
        }),
      }));
      const stats: unknown[] = entries.map((e) => ({ name: e.name, value: e.value }));
      if (histograms.length) stats.push({ histograms: { supported_quantiles: QUANTILES.map((x) => x * 100), computed_quantiles: computed } });
      return json({ stats });
    }
    if (q.has("format") && q.get("format") !== "text") return text(`usage: /stats?format=(json|text)\n`, 400);
    const lines = entries.map((e) => `${e.name}: ${e.value}`);
    for (const [name, h] of histograms) lines.push(`${name}: ${formatHistogram(h)}`);
    return text(lines.join("\n") + "\n");
  }
}

/** One admin connection: parse requests, answer each in order. */
class AdminConnection implements SocketEvents, Http1ParserHandler {
  readonly #parser: Http1Parser;
  #head: RequestHead | null = null;
  /** No more input is read: the answer in progress (if any) is the last. */
  #close = false;
  /** The endpoint is closing: the next answer carries `connection: close` and is the last
   *  (input is still read, so a request already on its way is answered). */
  #lastAnswer = false;
  /** A request is being answered. */
  #busy = false;
  constructor(readonly sock: TcpSocket, readonly admin: Admin, readonly log: Logger, readonly onGone: (c: AdminConnection) => void) {
    this.#parser = new Http1Parser({ kind: "request", maxHeaderBytes: 60 * 1024, maxHeadersCount: 100 }, this);
    sock.events = this;
  }
  /** The admin endpoint is closing: the next answer (or the current one) is the last. */
  shutdown(): void {
    this.#lastAnswer = true;
  }
  /** Ends the connection if it is not answering a request (one may still be on its way: the
   *  caller waits a grace period first). */
  endIfIdle(): void {
    if (!this.#busy) this.sock.end();
  }
  onOpen(): void {}
  #pending: Uint8Array | null = null;
  onData(chunk: Uint8Array): void {
    if (this.#close) return;
    if (this.#pending) {
      const joined = new Uint8Array(this.#pending.length + chunk.length);
      joined.set(this.#pending);
      joined.set(chunk, this.#pending.length);
      this.#pending = joined;
      return;
    }
    const used = this.#parser.execute(chunk);
    if (used < chunk.length) this.#pending = chunk.subarray(used);
  }
  onDrain(): void {}
  onEnd(): void {
    this.sock.end();
  }
  onClose(_e: RuntimeError | undefined): void {
    this.onGone(this);
  }
  onRequestHead(head: RequestHead): void {
    this.#head = head;
  }
  onBody(): void {}
  onTrailers(): void {}
  onMessageComplete(): void {
    const head = this.#head!;
    this.#head = null;
    if (!head.keepAlive) this.#close = true;
    // Admin requests are answered one at a time, in order: hold parsing until this one is out.
    this.#parser.pause();
    this.#busy = true;
    this.admin.handle(head.method, head.target).catch((e) => {
      this.log.error(`admin handler failed: ${e instanceof Error ? e.stack : e}`);
      return text("internal error\n", 500);
    }).then((res) => {
      this.#busy = false;
      this.#respond(res, head.method === "HEAD");
      this.#parser.resume();
      const rest = this.#pending;
      this.#pending = null;
      if (rest && !this.#close) this.onData(rest);
    });
  }
  onError(err: CodecError): void {
    this.#close = true;
    this.#respond(text(`${err.message}\n`, err.status), false);
  }
  #respond(res: AdminResponse, headOnly: boolean): void {
    const body = encoder.encode(res.body);
    const h = new HeaderMap();
    h.set("content-type", res.contentType);
    h.set("cache-control", "no-cache, max-age=0");
    h.set("x-content-type-options", "nosniff");
    h.set("date", httpDate());
    h.set("server", "legate");
    h.set("content-length", String(body.length));
    if (this.#lastAnswer) this.#close = true;
    if (this.#close) h.set("connection", "close");
    this.sock.write(encodeResponseHead(res.status, h, 1));
    if (!headOnly) this.sock.write(body);
    if (this.#close) this.sock.end();
  }
}

/** The admin listener. Both close() and stopAccepting() stop accepting and make each open
 *  connection's next answer its last (a request already on its way is still answered, e.g. to
 *  a hot restart's old generation); close() also ends, after a grace period, the connections
 *  that stayed idle (keep-alive clients of an embedded server that closed). */
export interface AdminListener extends TcpListener {
  stopAccepting(): Promise<void>;
}

/** How long a closed admin endpoint keeps idle connections for a request still on its way. */
const ADMIN_CLOSE_GRACE_MS = 1000;

/** Starts the admin listener at `host:port`. */
export async function startAdminServer(
  runtime: Runtime,
  admin: Admin,
  host: string,
  port: number,
  log: Logger,
  fd?: number,
): Promise<AdminListener> {
  const open = new Set<AdminConnection>();
  const gone = (c: AdminConnection) => open.delete(c);
  let closing: Promise<void> | null = null;
  const listener = await runtime.listen({ host, port, fd }, (sock) => {
    const c = new AdminConnection(sock, admin, log, gone);
    open.add(c);
    // Accepted as the endpoint closed: answered once, then closed.
    if (closing !== null) c.shutdown();
  });
  // With an adopted fd the caller's port is the truth (Deno reports another for adopted fds).
  log.info(`admin address: ${host}:${fd !== undefined && port ? port : listener.port || port}`);
  const stopAccepting = (): Promise<void> => {
    closing ??= listener.close();
    for (const c of open) c.shutdown();
    return closing;
  };
  const close = async (): Promise<void> => {
    await stopAccepting();
    setTimeout(() => {
      for (const c of open) c.endIfIdle();
    }, ADMIN_CLOSE_GRACE_MS);
  };
  return {
    host: listener.host,
    get port() {
      return listener.port;
    },
    get fd() {
      return listener.fd;
    },
    close,
    stopAccepting,
    [Symbol.asyncDispose]: close,
  };
}
