/**
 * HeaderMap: the header (and trailer) container shared by the HTTP/1.1 and HTTP/2 codecs, the
 * HTTP connection manager and HTTP filters. Worker side (data path).
 *
 * Names are always lower-case (RFC 9110 §5.1: field names are case-insensitive; HTTP/2 and 3
 * require lower case on the wire, RFC 9113 §8.2.1), so lookups are plain string compares. The
 * map keeps wire order and repeated fields (RFC 9110 §5.3: order of same-named lines matters,
 * and Set-Cookie cannot be combined). Storage is two flat parallel arrays rather than a Map or
 * an object per entry: a request carries ~5–20 fields, where a linear scan beats hashing and
 * costs two allocations per map instead of one per field.
 */

/** Worker: an ordered multimap of lower-case header names to string values. */
export class HeaderMap {
  private names: string[] = [];
  private values: string[] = [];

  /** Worker: builds a map from `[name, value]` pairs; names are lower-cased here (a convenience, not the hot path). */
  static fromPairs(pairs: [string, string][]): HeaderMap {
    const m = new HeaderMap();
    for (let i = 0; i < pairs.length; i++) m.add(pairs[i][0].toLowerCase(), pairs[i][1]);
    return m;
  }

  /** Worker: number of field lines (repeated names count once per line). */
  get size(): number {
    return this.names.length;
  }

  /** Worker: the first value of `name` (given lower-case), or undefined. */
  get(name: string): string | undefined {
    const names = this.names;
    for (let i = 0; i < names.length; i++) if (names[i] === name) return this.values[i];
    return undefined;
  }

  /** Worker: every value of `name` in wire order (allocates; prefer get() on the hot path). */
  getAll(name: string): string[] {
    const out: string[] = [];
    const names = this.names;
    for (let i = 0; i < names.length; i++) if (names[i] === name) out.push(this.values[i]);
    return out;
  }

  /** Worker: whether at least one line named `name` exists. */
  has(name: string): boolean {
    return this.names.indexOf(name) >= 0;
  }

  /** Worker: replaces all values of `name` by one value, kept at the position of the first line (appended if absent). */
  set(name: string, value: string): void {
    const names = this.names;
    const first = names.indexOf(name);
    if (first < 0) {
      names.push(name);
      this.values.push(value);
      return;
    }
    this.values[first] = value;
    // Drop later duplicates in place (compacting), keeping the relative order of the rest.
    let w = first + 1;
    for (let r = first + 1; r < names.length; r++) {
      if (names[r] === name) continue;
      if (w !== r) {
        names[w] = names[r];
        this.values[w] = this.values[r];
      }
      w++;
    }
    names.length = w;
    this.values.length = w;
  }

  /** Worker: appends one line `name: value` after the existing ones. */
  add(name: string, value: string): void {
    this.names.push(name);
    this.values.push(value);
  }

  /** Worker: removes every line named `name`; returns whether any was removed. */
  remove(name: string): boolean {
    const names = this.names;
    const first = names.indexOf(name);
    if (first < 0) return false;
    let w = first;
    for (let r = first + 1; r < names.length; r++) {
      if (names[r] === name) continue;
      names[w] = names[r];
      this.values[w] = this.values[r];
      w++;
    }
    names.length = w;
    this.values.length = w;
    return true;
  }

  /** Worker: the name of line `i` (0 ≤ i < size). */
  nameAt(i: number): string {
    return this.names[i];
  }

  /** Worker: the value of line `i` (0 ≤ i < size). */
  valueAt(i: number): string {
    return this.values[i];
  }

  /** Worker: replaces the value of line `i` in place (e.g. a filter rewriting one of several lines). */
  setValueAt(i: number, v: string): void {
    if (i < 0 || i >= this.names.length) throw new RangeError(`header index ${i} out of range`);
    this.values[i] = v;
  }

  /** Worker: calls `fn` for each line in wire order (the callback is the caller's allocation; index loops avoid it). */
  forEach(fn: (name: string, value: string) => void): void {
    const names = this.names;
    for (let i = 0; i < names.length; i++) fn(names[i], this.values[i]);
  }

  /** Worker: an independent copy (strings are immutable, so copying the two arrays suffices). */
  clone(): HeaderMap {
    const m = new HeaderMap();
    m.names = this.names.slice();
    m.values = this.values.slice();
    return m;
  }

  /** Worker: approximate HTTP/1 serialized size, `name: value\r\n` per line, for header size limits. */
  byteLength(): number {
    const names = this.names;
    let n = 0;
    for (let i = 0; i < names.length; i++) n += names[i].length + this.values[i].length + 4;
    return n;
  }
}
