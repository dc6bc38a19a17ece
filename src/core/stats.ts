/**
 * Stats with Envoy's names. Values live in a slab of Float64 slots — a SharedArrayBuffer when the
 * stats belong to a worker thread, so the main thread can sum every worker's counters on read
 * without a message per request. Control side creates stats once (at config build); the hot
 * path holds the handles and only calls `inc()` / `dec()` / `set()`.
 */

/** How a gauge combines across threads and hot restarts (Envoy's ImportMode). */
export type ImportMode = "accumulate" | "never";

/** Name, kind and slot of one stat (what a worker tells the main thread once per new stat). */
export interface StatDescriptor {
  readonly name: string;
  readonly type: "counter" | "gauge" | "histogram";
  readonly importMode: ImportMode;
  /** First slot; a histogram uses HISTOGRAM_WIDTH consecutive slots. */
  readonly slot: number;
}

/** Envoy's default histogram bucket bounds (ms for time histograms). */
export const HISTOGRAM_BUCKETS: readonly number[] = [
  0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000, 3600000,
];
/** Slots per histogram: count, sum, one per bucket, one for values above the last bound. */
export const HISTOGRAM_WIDTH = 2 + HISTOGRAM_BUCKETS.length + 1;

/** A distribution of values (request times), kept as bucket counts so threads can be summed. */
export class Histogram {
  constructor(readonly name: string, readonly values: Float64Array, readonly flags: Uint8Array, readonly slot: number) {}
  /** Records one value. */
  record(v: number): void {
    const s = this.slot;
    const vals = this.values;
    vals[s]! += 1;
    vals[s + 1]! += v;
    const b = HISTOGRAM_BUCKETS;
    let i = 0;
    while (i < b.length && v > b[i]!) i++;
    vals[s + 2 + i]! += 1;
    this.flags[s] = 1;
  }
}

/** Summary of a histogram: count, sum, per-bucket counts and interpolated quantiles. */
export interface HistogramSummary {
  count: number;
  sum: number;
  /** Counts per bucket (last = above the last bound). */
  buckets: number[];
}

/** The quantiles Envoy's admin prints. */
export const QUANTILES = [0, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.995, 0.999, 1];

/** Estimates quantile `q` from bucket counts (linear within a bucket); NaN when empty. */
export function quantile(h: HistogramSummary, q: number): number {
  if (h.count === 0) return NaN;
  const target = q * h.count;
  let seen = 0;
  for (let i = 0; i < h.buckets.length; i++) {
    const n = h.buckets[i]!;
    if (n === 0) continue;
    if (seen + n >= target) {
      const lo = i === 0 ? 0 : HISTOGRAM_BUCKETS[i - 1]!;
      const hi = i < HISTOGRAM_BUCKETS.length ? HISTOGRAM_BUCKETS[i]! : lo * 2;
      return lo + (hi - lo) * Math.max(0, Math.min(1, (target - seen) / n));
    }
    seen += n;
  }
  return HISTOGRAM_BUCKETS[HISTOGRAM_BUCKETS.length - 1]!;
}

function readHistogram(values: Float64Array, slot: number, into?: HistogramSummary): HistogramSummary {
  const h = into ?? { count: 0, sum: 0, buckets: new Array(HISTOGRAM_BUCKETS.length + 1).fill(0) };
  h.count += values[slot]!;
  h.sum += values[slot + 1]!;
  for (let i = 0; i <= HISTOGRAM_BUCKETS.length; i++) h.buckets[i]! += values[slot + 2 + i]!;
  return h;
}

/** Slots a thread's slab holds (8 bytes + 1 flag byte each). */
export const DEFAULT_SLAB_CAPACITY = 1 << 17;

/** The storage behind a StatsStore: values and "ever used" flags, optionally shared. */
export class StatSlab {
  readonly values: Float64Array;
  readonly used: Uint8Array;
  constructor(readonly buffer: SharedArrayBuffer | ArrayBuffer, readonly capacity: number) {
    this.values = new Float64Array(buffer, 0, capacity);
    this.used = new Uint8Array(buffer, capacity * 8, capacity);
  }
  /** A slab in a new SharedArrayBuffer (falls back to ArrayBuffer where SAB is unavailable). */
  static create(capacity = DEFAULT_SLAB_CAPACITY, shared = true): StatSlab {
    const bytes = capacity * 9;
    const buf = shared && typeof SharedArrayBuffer !== "undefined" ? new SharedArrayBuffer(bytes) : new ArrayBuffer(bytes);
    return new StatSlab(buf, capacity);
  }
}

/** A monotonically increasing counter (hot path calls `inc`). */
export class Counter {
  constructor(readonly name: string, readonly values: Float64Array, readonly flags: Uint8Array, readonly slot: number) {}
  /** Adds `n` (default 1). */
  inc(n = 1): void {
    this.values[this.slot]! += n;
    this.flags[this.slot] = 1;
  }
  /** The current value (this thread's share). */
  get value(): number {
    return this.values[this.slot]!;
  }
  set value(v: number) {
    this.values[this.slot] = v;
  }
  /** True once it was ever updated (for `/stats?usedonly`). */
  get used(): boolean {
    return this.flags[this.slot] === 1;
  }
}

/** A gauge that goes up and down. */
export class Gauge {
  constructor(
    readonly name: string,
    readonly values: Float64Array,
    readonly flags: Uint8Array,
    readonly slot: number,
    readonly importMode: ImportMode,
  ) {}
  /** Adds `n` (default 1). */
  inc(n = 1): void {
    this.values[this.slot]! += n;
    this.flags[this.slot] = 1;
  }
  /** Subtracts `n` (default 1). */
  dec(n = 1): void {
    this.values[this.slot]! -= n;
    this.flags[this.slot] = 1;
  }
  /** Sets the value. */
  set(v: number): void {
    this.values[this.slot] = v;
    this.flags[this.slot] = 1;
  }
  get value(): number {
    return this.values[this.slot]!;
  }
  get used(): boolean {
    return this.flags[this.slot] === 1;
  }
}

/** One stat as the admin shows it. */
export interface StatEntry {
  name: string;
  value: number;
  used: boolean;
  type: "counter" | "gauge";
}

/** Anything that can list stats (one thread's store, or the sum over threads). */
export interface StatsSource {
  entries(): StatEntry[];
  /** Histograms summed over threads, by name. */
  histograms(): Map<string, HistogramSummary>;
  resetCounters(): void;
}

/** One thread's stats (control side builds the names; handles are shared with the hot path). */
export class StatsStore implements StatsSource {
  readonly #byName = new Map<string, Counter | Gauge>();
  readonly #histograms = new Map<string, Histogram>();
  readonly #descriptors: StatDescriptor[] = [];
  #next = 0;
  #pending: StatDescriptor[] = [];
  #flushScheduled = false;

  /**
   * @param slab where values live (a fresh private slab by default)
   * @param onNew told (batched per microtask) about stats created since the last call — the
   *   worker forwards these to the main thread once, never per request.
   */
  constructor(readonly slab: StatSlab = StatSlab.create(1 << 14, false), readonly onNew?: (d: StatDescriptor[]) => void) {}

  /** Re-creates stats a previous incarnation of this thread had, in the same slots (after a
   *  worker restart the main thread keeps its slab and its descriptors). */
  adopt(descriptors: readonly StatDescriptor[]): void {
    for (const d of descriptors) {
      if (d.type === "histogram") {
        this.#histograms.set(d.name, new Histogram(d.name, this.slab.values, this.slab.used, d.slot));
        this.#descriptors.push(d);
        this.#next = Math.max(this.#next, d.slot + HISTOGRAM_WIDTH);
        continue;
      }
      const s = d.type === "counter"
        ? new Counter(d.name, this.slab.values, this.slab.used, d.slot)
        : new Gauge(d.name, this.slab.values, this.slab.used, d.slot, d.importMode);
      this.#byName.set(d.name, s);
      this.#descriptors.push(d);
      this.#next = Math.max(this.#next, d.slot + 1);
    }
  }

  #slot(name: string, type: "counter" | "gauge" | "histogram", importMode: ImportMode): number {
    const width = type === "histogram" ? HISTOGRAM_WIDTH : 1;
    if (this.#next + width > this.slab.capacity) throw new Error(`stats slab full (${this.slab.capacity} slots): cannot add ${name}`);
    const d: StatDescriptor = { name, type, importMode, slot: this.#next };
    this.#next += width;
    this.#descriptors.push(d);
    if (this.onNew) {
      this.#pending.push(d);
      if (!this.#flushScheduled) {
        this.#flushScheduled = true;
        queueMicrotask(() => this.flushNew());
      }
    }
    return d.slot;
  }

  /** Sends pending descriptors to `onNew` now. */
  flushNew(): void {
    this.#flushScheduled = false;
    if (this.#pending.length === 0 || !this.onNew) return;
    const batch = this.#pending;
    this.#pending = [];
    this.onNew(batch);
  }

  /** Finds or creates the counter `name`. */
  counter(name: string): Counter {
    const s = this.#byName.get(name);
    if (s instanceof Counter) return s;
    if (s) throw new Error(`stat ${name} is a gauge, not a counter`);
    const c = new Counter(name, this.slab.values, this.slab.used, this.#slot(name, "counter", "accumulate"));
    this.#byName.set(name, c);
    return c;
  }

  /** Finds or creates the gauge `name`. */
  gauge(name: string, importMode: ImportMode = "accumulate"): Gauge {
    const s = this.#byName.get(name);
    if (s instanceof Gauge) return s;
    if (s) throw new Error(`stat ${name} is a counter, not a gauge`);
    const g = new Gauge(name, this.slab.values, this.slab.used, this.#slot(name, "gauge", importMode), importMode);
    this.#byName.set(name, g);
    return g;
  }

  /** Finds or creates the histogram `name`. */
  histogram(name: string): Histogram {
    let h = this.#histograms.get(name);
    if (!h) {
      h = new Histogram(name, this.slab.values, this.slab.used, this.#slot(name, "histogram", "accumulate"));
      this.#histograms.set(name, h);
    }
    return h;
  }

  /** Every histogram's summary, by name. */
  histograms(): Map<string, HistogramSummary> {
    const out = new Map<string, HistogramSummary>();
    for (const h of this.#histograms.values()) out.set(h.name, readHistogram(this.slab.values, h.slot));
    return out;
  }


  /** Every stat's descriptor, in creation order. */
  descriptors(): readonly StatDescriptor[] {
    return this.#descriptors;
  }

  /** Every counter and gauge, sorted by name. */
  entries(): StatEntry[] {
    const out: StatEntry[] = [];
    for (const s of this.#byName.values()) {
      out.push({ name: s.name, value: s.value, used: s.used, type: s instanceof Counter ? "counter" : "gauge" });
    }
    return sortEntries(out);
  }

  /** Zeroes every counter (admin `/reset_counters`). */
  resetCounters(): void {
    for (const s of this.#byName.values()) if (s instanceof Counter) s.value = 0;
  }
}

function sortEntries(out: StatEntry[]): StatEntry[] {
  return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** Another thread's stats as the main thread sees them: its slab plus the descriptors it sent. */
export class RemoteStats {
  readonly descriptors = new Map<string, StatDescriptor>();
  constructor(readonly slab: StatSlab) {}
  /** Records descriptors a worker announced. */
  add(ds: readonly StatDescriptor[]): void {
    for (const d of ds) this.descriptors.set(d.name, d);
  }
  /** Zeroes this thread's gauges (its connections died with it). */
  zeroGauges(): void {
    for (const d of this.descriptors.values()) if (d.type === "gauge") this.slab.values[d.slot] = 0;
  }
}

/** The sum of the main thread's store and every worker's stats (control side, on read). */
export class AggregateStats implements StatsSource {
  constructor(readonly local: StatsStore, readonly remotes: () => readonly RemoteStats[]) {}

  entries(): StatEntry[] {
    const byName = new Map<string, StatEntry>();
    for (const e of this.local.entries()) byName.set(e.name, e);
    for (const r of this.remotes()) {
      const { values, used } = r.slab;
      for (const d of r.descriptors.values()) {
        if (d.type === "histogram") continue;
        const v = values[d.slot]!;
        const u = used[d.slot] === 1;
        const e = byName.get(d.name);
        if (e === undefined) byName.set(d.name, { name: d.name, value: v, used: u, type: d.type as "counter" | "gauge" });
        else if (d.type === "counter" || d.importMode === "accumulate") {
          e.value += v;
          e.used ||= u;
        }
      }
    }
    return sortEntries([...byName.values()]);
  }

  histograms(): Map<string, HistogramSummary> {
    const out = this.local.histograms();
    for (const r of this.remotes()) {
      for (const d of r.descriptors.values()) {
        if (d.type !== "histogram") continue;
        out.set(d.name, readHistogram(r.slab.values, d.slot, out.get(d.name)));
      }
    }
    return out;
  }

  /** Value of one stat summed over threads (0 when absent). */
  value(name: string): number {
    let v = 0;
    const l = this.local.entries().find((e) => e.name === name);
    if (l) v += l.value;
    for (const r of this.remotes()) {
      const d = r.descriptors.get(name);
      if (d) v += r.slab.values[d.slot]!;
    }
    return v;
  }

  resetCounters(): void {
    this.local.resetCounters();
    for (const r of this.remotes()) {
      for (const d of r.descriptors.values()) if (d.type === "counter") r.slab.values[d.slot] = 0;
    }
  }
}

/** Envoy's text rendering of a histogram for /stats: `P0(nan,v) P25(nan,v) …`. */
export function formatHistogram(h: HistogramSummary): string {
  const q = (x: number) => {
    const v = quantile(h, x);
    return Number.isNaN(v) ? "nan" : String(Math.round(v * 1000) / 1000);
  };
  return QUANTILES.map((x) => `P${x * 100}(nan,${q(x)})`).join(" ");
}
