/**
 * Access loggers on the HCM (worker side formats; writes are batched per tick, off the hot path).
 * Format strings use Envoy's command operators; see formatter.ts.
 */
import type { AccessLogModel } from "../../config/model.ts";
import type { RequestHeaders, ResponseHeaders } from "../filter.ts";
import type { StreamInfo } from "../stream_info.ts";
import { compileFormat, type CompiledFormat } from "./formatter.ts";

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

class FormatLogger implements AccessLogger {
  readonly #fmt: CompiledFormat;
  constructor(readonly model: AccessLogModel) {
    this.#fmt = compileFormat(model.format);
  }
  log(info: StreamInfo, req: RequestHeaders | null, resp: ResponseHeaders | null): void {
    sink?.write(this.model.kind, this.model.path, this.#fmt(info, req, resp));
  }
}

/** Builds the loggers of one HCM config. */
export function createAccessLoggers(models: readonly AccessLogModel[]): AccessLogger[] {
  return models.map((m) => new FormatLogger(m));
}
