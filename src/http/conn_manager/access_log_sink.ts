/**
 * The access-log sink of one thread (worker side): formatted lines are queued and written once
 * per tick — stdout/stderr directly, files appended through the runtime — off the request path.
 */
import { Logger } from "../../core/log.ts";
import type { Runtime } from "../../runtime/types.ts";
import type { AccessLogSink } from "./access_log.ts";

const accessLogLog = new Logger("main");

/** Batches access-log lines and writes them once per tick (off the request path). */
export class BatchedAccessLogSink implements AccessLogSink {
  #lines = new Map<string, string[]>();
  #scheduled = false;
  #chain: Promise<void> = Promise.resolve();
  constructor(readonly runtime: Runtime) {}
  write(kind: "file" | "stdout" | "stderr", path: string | undefined, line: string): void {
    const key = kind === "file" ? `file:${path}` : kind;
    let arr = this.#lines.get(key);
    if (!arr) this.#lines.set(key, (arr = []));
    arr.push(line.endsWith("\n") ? line : line + "\n");
    if (!this.#scheduled) {
      this.#scheduled = true;
      setTimeout(() => this.flush(), 0);
    }
  }
  /** Writes everything queued; resolves when file appends are done. */
  flush(): Promise<void> {
    this.#scheduled = false;
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

