/**
 * A token bucket shared by every worker (worker side reads and writes, control side allocates):
 * two int32 slots in a SharedArrayBuffer that travels in the config snapshot, updated with
 * Atomics only, so the limit is per Legate process as Envoy's is. Refills are lazy: a caller that
 * finds a newer fill period than the bucket's adds `tokensPerFill` per elapsed period (capped at
 * `maxTokens`), so no timer runs and an idle bucket costs nothing.
 * https://www.envoyproxy.io/docs/envoy/latest/api-v3/type/v3/token_bucket.proto
 */

/** Slot of the tokens left; slot of the fill period they were last topped up in. */
const TOKENS = 0, PERIOD = 1;
/** The period slot before any caller has used the bucket. */
const UNSET = -0x8000_0000;

/** Bytes of a bucket's shared state. */
export const TOKEN_BUCKET_BYTES = 8;

/** Control side: a full bucket's state (a SharedArrayBuffer where the host has one). */
export function allocateTokenBucket(maxTokens: number): SharedArrayBuffer | ArrayBuffer {
  const buf = typeof SharedArrayBuffer === "function" ? new SharedArrayBuffer(TOKEN_BUCKET_BYTES) : new ArrayBuffer(TOKEN_BUCKET_BYTES);
  const a = new Int32Array(buf);
  a[TOKENS] = Math.min(maxTokens, 0x7fff_ffff);
  a[PERIOD] = UNSET;
  return buf;
}

/** Worker side: a view of a shared bucket. `now` gives milliseconds on a clock every worker shares
 *  (wall-clock based: each worker's monotonic clock has its own origin). */
export class SharedTokenBucket {
  readonly #a: Int32Array;
  readonly #max: number;
  readonly #perFill: number;
  readonly #intervalMs: number;
  /** Periods after which the bucket is full again whatever it held. */
  readonly #fullAfter: number;

  constructor(buffer: SharedArrayBuffer | ArrayBuffer, maxTokens: number, tokensPerFill: number, fillIntervalMs: number, readonly now: () => number) {
    this.#a = new Int32Array(buffer);
    this.#max = Math.min(maxTokens, 0x7fff_ffff);
    this.#perFill = Math.min(tokensPerFill, 0x7fff_ffff);
    this.#intervalMs = fillIntervalMs;
    this.#fullAfter = Math.ceil(this.#max / this.#perFill);
  }

  /** Takes one token; false when the bucket is empty. */
  consume(): boolean {
    this.#refill();
    const a = this.#a;
    for (;;) {
      const t = Atomics.load(a, TOKENS);
      if (t <= 0) return false;
      if (Atomics.compareExchange(a, TOKENS, t, t - 1) === t) return true;
    }
  }

  /** Tokens left (after any refill due). */
  remaining(): number {
    this.#refill();
    return Atomics.load(this.#a, TOKENS);
  }

  #refill(): void {
    const a = this.#a;
    // The period number wraps at 2^32; differences stay right for 2^31 periods (years).
    let period = Math.floor(this.now() / this.#intervalMs) | 0;
    if (period === UNSET) period++;
    for (;;) {
      const last = Atomics.load(a, PERIOD);
      if (last === period) return;
      if (last === UNSET) {
        // First use: the bucket starts full (as Envoy's), nothing to add.
        if (Atomics.compareExchange(a, PERIOD, UNSET, period) === UNSET) return;
        continue;
      }
      const elapsed = (period - last) | 0;
      if (elapsed <= 0) return; // another worker already moved it on (or clocks differ by a hair)
      if (Atomics.compareExchange(a, PERIOD, last, period) !== last) continue;
      // This caller owns the refill for `elapsed` periods.
      const add = elapsed >= this.#fullAfter ? this.#max : elapsed * this.#perFill;
      for (;;) {
        const t = Atomics.load(a, TOKENS);
        const next = Math.min(this.#max, t + add);
        if (Atomics.compareExchange(a, TOKENS, t, next) === t) return;
      }
    }
  }
}
