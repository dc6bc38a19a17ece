/**
 * Time sources. `Clock` is injectable so unit tests drive time by hand (FakeClock); the HTTP
 * `date` header string is cached per second (DESIGN §7: no Date formatting per request).
 */

/** A monotonic millisecond clock plus timer scheduling (both sides). */
export interface Clock {
  /** Monotonic milliseconds (fractional). */
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

let loopTime = -1;

/** Called at the start of handling one I/O event: `realClock.now()` returns this instant until
 *  `endLoopTime()` (like libuv's cached loop time), so a request reads the clock once per event
 *  instead of several times. */
export function beginLoopTime(): void {
  loopTime = performance.now();
}

/** Called when the I/O event is handled: the clock reads live again. */
export function endLoopTime(): void {
  loopTime = -1;
}

/** The real clock, backed by `performance.now()` (cached per I/O event) and the global timers. */
export const realClock: Clock = {
  now: () => (loopTime >= 0 ? loopTime : performance.now()),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
};

/** A clock moved by hand, for unit tests. */
export class FakeClock implements Clock {
  #now = 0;
  #seq = 0;
  #timers = new Map<number, { at: number; fn: () => void }>();
  now(): number {
    return this.#now;
  }
  setTimeout(fn: () => void, ms: number): unknown {
    const id = ++this.#seq;
    this.#timers.set(id, { at: this.#now + Math.max(0, ms), fn });
    return id;
  }
  clearTimeout(handle: unknown): void {
    this.#timers.delete(handle as number);
  }
  /** Advances time by `ms`, firing due timers in deadline order. */
  advance(ms: number): void {
    const end = this.#now + ms;
    for (;;) {
      let nextId = -1;
      let nextAt = Infinity;
      for (const [id, t] of this.#timers) {
        if (t.at <= end && t.at < nextAt) {
          nextAt = t.at;
          nextId = id;
        }
      }
      if (nextId < 0) break;
      const t = this.#timers.get(nextId)!;
      this.#timers.delete(nextId);
      this.#now = Math.max(this.#now, t.at);
      t.fn();
    }
    this.#now = end;
  }
  /** Number of pending timers. */
  get pending(): number {
    return this.#timers.size;
  }
}

let cachedSecond = -1;
let cachedDate = "";

/** The IMF-fixdate for now (RFC 9110 §5.6.7), recomputed at most once a second. */
export function httpDate(): string {
  const ms = Date.now();
  const s = Math.floor(ms / 1000);
  if (s !== cachedSecond) {
    cachedSecond = s;
    cachedDate = new Date(s * 1000).toUTCString();
  }
  return cachedDate;
}
