/**
 * Access loggers on the HCM (worker side formats; writes are batched per tick, off the hot path).
 * Format strings use Envoy's command operators; see formatter.ts. Filters
 * (config.accesslog.v3.AccessLogFilter) are compiled once into a predicate tree.
 */
import type { AccessLogFilterModel, AccessLogModel } from "../../config/model.ts";
import type { RequestHeaders, ResponseHeaders } from "../filter.ts";
import type { StreamInfo } from "../stream_info.ts";
import { compileFormat, type CompiledFormat, compileJsonFormat, responseFlagBits } from "./formatter.ts";

/** Receives one finished stream. */
export interface AccessLogger {
  log(info: StreamInfo, req: RequestHeaders | null, resp: ResponseHeaders | null): void;
}

/** Where formatted lines go (the server installs a sink that batches and writes them). */
export interface AccessLogSink {
  write(kind: "file" | "stdout" | "stderr", path: string | undefined, line: string): void;
}

let sink: AccessLogSink | null = null;

/** Installs the process-wide access log sink (control side at start, once per worker). */
export function setAccessLogSink(s: AccessLogSink | null): void {
  sink = s;
}

/** A compiled AccessLogFilter (worker side evaluates it per finished stream). */
export type LogPredicate = (info: StreamInfo, req: RequestHeaders | null) => boolean;

function compare(op: "EQ" | "GE" | "LE", a: number, b: number): boolean {
  return op === "EQ" ? a === b : op === "GE" ? a >= b : a <= b;
}

/** Control side: compiles an access log filter model into a predicate. */
export function compileLogFilter(f: AccessLogFilterModel): LogPredicate {
  switch (f.kind) {
    case "status_code": {
      const { op, value } = f;
      return (i) => compare(op, i.responseCode, value);
    }
    case "duration": {
      const { op, value } = f;
      // Envoy: the total stream duration in milliseconds.
      return (i) => compare(op, i.endMono > 0 ? Math.round(i.endMono - i.startMono) : 0, value);
    }
    case "not_health_check":
      // A health-check filter marks its requests with `healthCheck` on the stream info.
      return (i) => (i as { healthCheck?: boolean }).healthCheck !== true;
    case "response_flag": {
      const bits = f.flags.length === 0 ? -1 : responseFlagBits(f.flags);
      return (i) => (i.responseFlags & bits) !== 0;
    }
    case "and": {
      const subs = f.filters.map(compileLogFilter);
      return (i, r) => {
        for (let k = 0; k < subs.length; k++) if (!subs[k]!(i, r)) return false;
        return true;
      };
    }
    case "or": {
      const subs = f.filters.map(compileLogFilter);
      return (i, r) => {
        for (let k = 0; k < subs.length; k++) if (subs[k]!(i, r)) return true;
        return false;
      };
    }
  }
}

class FormatLogger implements AccessLogger {
  readonly #fmt: CompiledFormat;
  readonly #filter: LogPredicate | null;
  constructor(readonly model: AccessLogModel) {
    const omit = model.omitEmpty === true;
    this.#fmt = model.json ? compileJsonFormat(model.json, omit) : compileFormat(model.format, omit);
    this.#filter = model.filter ? compileLogFilter(model.filter) : null;
  }
  log(info: StreamInfo, req: RequestHeaders | null, resp: ResponseHeaders | null): void {
    if (this.#filter !== null && !this.#filter(info, req)) return;
    sink?.write(this.model.kind, this.model.path, this.#fmt(info, req, resp));
  }
}

/** Builds the loggers of one HCM config. */
export function createAccessLoggers(models: readonly AccessLogModel[]): AccessLogger[] {
  return models.map((m) => new FormatLogger(m));
}
