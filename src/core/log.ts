/**
 * Logging in Envoy's shape: levels trace…critical/off, lines like
 * `[2026-11-25 19:50:00.123][1234][info][main] message`. Control side mostly; the data path
 * logs only at debug/trace behind an `enabled()` check.
 */

/** Envoy's log levels, lowest first. */
export const LOG_LEVELS = ["trace", "debug", "info", "warning", "error", "critical", "off"] as const;
/** One of Envoy's log levels. */
export type LogLevel = (typeof LOG_LEVELS)[number];

/** Parses a level name (Envoy also accepts "warn"); undefined when unknown. */
export function parseLogLevel(s: string): LogLevel | undefined {
  const v = s === "warn" ? "warning" : s;
  return (LOG_LEVELS as readonly string[]).includes(v) ? (v as LogLevel) : undefined;
}

let sink: (line: string) => void = (line) => console.error(line);
let pid = 0;
let threshold = LOG_LEVELS.indexOf("info");

/** Configures where lines go and the process id shown in them (control side, at start). */
export function configureLogging(opts: { sink?: (line: string) => void; pid?: number; level?: LogLevel }): void {
  if (opts.sink) sink = opts.sink;
  if (opts.pid !== undefined) pid = opts.pid;
  if (opts.level) threshold = LOG_LEVELS.indexOf(opts.level);
}

/** The current level. */
export function logLevel(): LogLevel {
  return LOG_LEVELS[threshold]!;
}

function pad(n: number, w = 2): string {
  return String(n).padStart(w, "0");
}

function stamp(d: Date): string {
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${
    pad(d.getSeconds())
  }.${pad(d.getMilliseconds(), 3)}`;
}

/** A named logger (Envoy's "logger ids": main, config, upstream, http, admin, …). */
export class Logger {
  constructor(readonly id: string) {}
  /** True when `level` would be written; check it before building an expensive message. */
  enabled(level: LogLevel): boolean {
    return LOG_LEVELS.indexOf(level) >= threshold;
  }
  /** Writes one line at `level`. */
  log(level: LogLevel, msg: string): void {
    if (LOG_LEVELS.indexOf(level) < threshold || level === "off") return;
    sink(`[${stamp(new Date())}][${pid}][${level}][${this.id}] ${msg}`);
  }
  trace(msg: string): void {
    this.log("trace", msg);
  }
  debug(msg: string): void {
    this.log("debug", msg);
  }
  info(msg: string): void {
    this.log("info", msg);
  }
  warn(msg: string): void {
    this.log("warning", msg);
  }
  error(msg: string): void {
    this.log("error", msg);
  }
}
