/**
 * The access-log sink of one thread (worker side): formatted lines are queued and written in
 * batches — stdout/stderr directly, files appended through the runtime — off the request path.
 */
import { Logger } from "../../core/log.ts";
import type { Runtime } from "../../runtime/types.ts";
import type { AccessLogSink } from "./access_log.ts";

const accessLogLog = new Logger("main");

/** Flush at least this often… */
const FLUSH_INTERVAL_MS = 20;
/** …or as soon as this much is queued. */
const FLUSH_BYTES = 64 * 1024;

/** Batches access-log lines and writes them every FLUSH_INTERVAL_MS or FLUSH_BYTES (one append
 *  per file per batch, off the request path). */
export class BatchedAccessLogSink implements AccessLogSink {
  /** Queued lines by destination: "stdout", "stderr", or "file:" + path. */
  #lines = new Map<string, string[]>();
  /** Destination keys by file path, so a log line costs no string building here. */
  readonly #fileKeys = new Map<string, string>();
  #bytes = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #chain: Promise<void> = Promise.resolve();
  readonly #flushNow = () => void this.flush();
  constructor(readonly runtime: Runtime) {}
  write(kind: "file" | "stdout" | "stderr", path: string | undefined, line: string): void {
    let key: string = kind;
    if (kind === "file") {
      key = this.#fileKeys.get(path!) ?? "";
      if (key === "") this.#fileKeys.set(path!, (key = `file:${path}`));
    }
    let arr = this.#lines.get(key);
    if (!arr) this.#lines.set(key, (arr = []));
    arr.push(line.charCodeAt(line.length - 1) === 10 ? line : line + "\n");
    this.#bytes += line.length + 1;
    if (this.#bytes >= FLUSH_BYTES) this.flush();
    else if (this.#timer === undefined) this.#timer = setTimeout(this.#flushNow, FLUSH_INTERVAL_MS);
  }
  /** Writes everything queued; resolves when file appends are done. */
  flush(): Promise<void> {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#bytes = 0;
    const batches = this.#lines;
    this.#lines = new Map();
    for (const [key, lines] of batches) {
      const text = lines.join("");
      if (key === "stdout") this.runtime.writeStdout(text);
      else if (key === "stderr") this.runtime.writeStderr(text);
      else {
        const path = key.slice(5);
        this.#chain = this.#chain.then(() =>
          this.runtime.appendFile(path, new TextEncoder().encode(text)).catch((e) =>
            accessLogLog.error(`access log ${path}: ${e instanceof Error ? e.message : e}`)
          )
        );
      }
    }
    return this.#chain;
  }
}

