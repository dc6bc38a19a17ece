/**
 * One coarse hashed timer wheel per thread instead of a `setTimeout` per request (DESIGN §7).
 * Arming and disarming are O(1) list operations; a single driver timer runs only while timers
 * are armed. Targets get `onTimer(kind)` — an object and a number, no closure per request.
 * Deadlines are honoured to within one resolution step (default 10 ms), late rather than early.
 */
import { type Clock, realClock } from "./clock.ts";

/** Something that owns timers (a stream, a connection); `kind` tells which timer fired. */
export interface TimerTarget {
  onTimer(kind: number): void;
}

/** A reusable timer handle; create one per (target, kind) at construction, arm it many times. */
export class WheelTimer {
  /** Absolute deadline in clock ms; meaningful while armed. */
  deadline = 0;
  /** @internal list links and slot index (-1 when disarmed). */
  prev: WheelTimer | null = null;
  next: WheelTimer | null = null;
  slot = -1;
  constructor(readonly target: TimerTarget, readonly kind: number) {}
  /** True while scheduled. */
  get armed(): boolean {
    return this.slot >= 0;
  }
}

/** The wheel itself (one per thread; worker side and control side each have their own). */
export class TimerWheel {
  readonly #clock: Clock;
  readonly #res: number;
  readonly #heads: (WheelTimer | null)[];
  #count = 0;
  #driver: unknown = undefined;
  #lastTick = -1;
  readonly #drive = () => this.#tick();

  constructor(clock: Clock = realClock, resolutionMs = 10, slots = 1024) {
    this.#clock = clock;
    this.#res = resolutionMs;
    this.#heads = new Array(slots).fill(null);
  }

  /** Armed timers. */
  get size(): number {
    return this.#count;
  }

  /** The wheel's clock (callers use it to timestamp activity consistently). */
  get clock(): Clock {
    return this.#clock;
  }

  /** Schedules `t` to fire `delayMs` from now (re-arms it if already armed). */
  arm(t: WheelTimer, delayMs: number): void {
    if (t.slot >= 0) this.#unlink(t);
    const now = this.#clock.now();
    t.deadline = now + delayMs;
    if (this.#count === 0 || this.#lastTick < 0) this.#lastTick = Math.floor(now / this.#res);
    // A timer due in the current tick goes to the next slot, so it is never skipped.
    const tick = Math.max(Math.ceil(t.deadline / this.#res), this.#lastTick + 1);
    const slot = tick % this.#heads.length;
    t.slot = slot;
    t.prev = null;
    t.next = this.#heads[slot]!;
    if (t.next) t.next.prev = t;
    this.#heads[slot] = t;
    this.#count++;
    if (this.#driver === undefined) this.#driver = this.#clock.setTimeout(this.#drive, this.#res);
  }

  /** Cancels `t` if armed. */
  disarm(t: WheelTimer): void {
    if (t.slot < 0) return;
    this.#unlink(t);
    if (this.#count === 0 && this.#driver !== undefined) {
      this.#clock.clearTimeout(this.#driver);
      this.#driver = undefined;
    }
  }

  #unlink(t: WheelTimer): void {
    if (t.prev) t.prev.next = t.next;
    else this.#heads[t.slot] = t.next;
    if (t.next) t.next.prev = t.prev;
    t.prev = t.next = null;
    t.slot = -1;
    this.#count--;
  }

  #tick(): void {
    this.#driver = undefined;
    const now = this.#clock.now();
    const cur = Math.floor(now / this.#res);
    const n = this.#heads.length;
    // Visit every slot passed since the last tick (at most one full turn).
    const from = Math.max(this.#lastTick + 1, cur - n + 1);
    for (let tick = from; tick <= cur; tick++) {
      const slot = tick % n;
      let t = this.#heads[slot] ?? null;
      while (t) {
        const next: WheelTimer | null = t.next;
        if (t.deadline <= now + 0.001) {
          this.#unlink(t);
          try {
            t.target.onTimer(t.kind);
          } catch (e) {
            // A timer callback must not kill the wheel; the owner logs its own failures.
            queueMicrotask(() => {
              throw e;
            });
          }
        }
        t = next;
      }
    }
    this.#lastTick = cur;
    if (this.#count > 0 && this.#driver === undefined) this.#driver = this.#clock.setTimeout(this.#drive, this.#res);
  }
}
