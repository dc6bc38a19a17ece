/**
 * Stats with Envoy's names. Control side creates stats once (at snapshot build); the hot path
 * holds the returned handles and only does `handle.inc()` — never a name lookup per request.
 */

/** A monotonically increasing counter (both sides; hot path calls `inc`). */
export class Counter {
  value = 0;
  /** Set when the value changed since creation (for `/stats?usedonly`). */
  used = false;
  constructor(readonly name: string) {}
  /** Adds `n` (default 1). */
  inc(n = 1): void {
    this.value += n;
    this.used = true;
  }
}

/** A gauge that goes up and down (both sides). */
export class Gauge {
  value = 0;
  used = false;
  constructor(readonly name: string, readonly importMode: "accumulate" | "never" = "accumulate") {}
  /** Adds `n` (default 1). */
  inc(n = 1): void {
    this.value += n;
    this.used = true;
  }
  /** Subtracts `n` (default 1). */
  dec(n = 1): void {
    this.value -= n;
    this.used = true;
  }
  /** Sets the value. */
  set(v: number): void {
    this.value = v;
    this.used = true;
  }
}

/** All stats of one process (control side owns it; handles are shared with the data path). */
export class StatsStore {
  readonly #counters = new Map<string, Counter>();
  readonly #gauges = new Map<string, Gauge>();

  /** Finds or creates the counter `name`. */
  counter(name: string): Counter {
    let c = this.#counters.get(name);
    if (!c) {
      c = new Counter(name);
      this.#counters.set(name, c);
    }
    return c;
  }

  /** Finds or creates the gauge `name`. */
  gauge(name: string, importMode: "accumulate" | "never" = "accumulate"): Gauge {
    let g = this.#gauges.get(name);
    if (!g) {
      g = new Gauge(name, importMode);
      this.#gauges.set(name, g);
    }
    return g;
  }

  /** A view that prefixes every name with `prefix` (which should end with "."). */
  scope(prefix: string): StatsScope {
    return new StatsScope(this, prefix);
  }

  /** Every counter and gauge, sorted by name, for the admin endpoints. */
  entries(): { name: string; value: number; used: boolean; type: "counter" | "gauge" }[] {
    const out: { name: string; value: number; used: boolean; type: "counter" | "gauge" }[] = [];
    for (const c of this.#counters.values()) out.push({ name: c.name, value: c.value, used: c.used, type: "counter" });
    for (const g of this.#gauges.values()) out.push({ name: g.name, value: g.value, used: g.used, type: "gauge" });
    out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    return out;
  }

  /** Zeroes every counter (admin `/reset_counters`). */
  resetCounters(): void {
    for (const c of this.#counters.values()) c.value = 0;
  }
}

/** A name prefix over a StatsStore (control side, at build time). */
export class StatsScope {
  constructor(readonly store: StatsStore, readonly prefix: string) {}
  /** Counter `prefix + name`. */
  counter(name: string): Counter {
    return this.store.counter(this.prefix + name);
  }
  /** Gauge `prefix + name`. */
  gauge(name: string, importMode: "accumulate" | "never" = "accumulate"): Gauge {
    return this.store.gauge(this.prefix + name, importMode);
  }
  /** A nested scope. */
  scope(prefix: string): StatsScope {
    return new StatsScope(this.store, this.prefix + prefix);
  }
}
