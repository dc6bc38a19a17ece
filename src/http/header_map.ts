/**
 * HeaderMap: the header (and trailer) container shared by the HTTP/1.1 and HTTP/2 codecs, the
 * HTTP connection manager and HTTP filters. Worker side (data path).
 *
 * Names are always lower-case (RFC 9110 §5.1: field names are case-insensitive; HTTP/2 and 3
 * require lower case on the wire, RFC 9113 §8.2.1), so lookups are plain string compares. The
 * map keeps wire order and repeated fields (RFC 9110 §5.3: order of same-named lines matters,
 * and Set-Cookie cannot be combined). Storage is one flat array of alternating names and values
 * rather than a Map or an object per entry: a request carries ~5–20 fields, where a linear scan
 * beats hashing and costs two allocations per map instead of one per field.
 *
 * Most lookups on the hot path are misses (is there a `te`, a `via`, an `x-request-id`?), so the
 * map keeps a 32-bit summary of the names it ever held (one bit per name, from its length and
 * last char): a name whose bit is clear is absent without a scan. Removing never clears bits.
 */

/** The summary bit of a name. The mix was chosen over common request/response header sets so
 *  that the usual absent lookups (connection, te, via, x-request-id, …) rarely share a bit with
 *  the names usually present (host, user-agent, accept, server, date, …). */
function nameBit(name: string): number {
  const n = name.length;
  return 1 << ((n * 5 + (n > 0 ? name.charCodeAt(n - 1) : 0) * 3) & 31);
}

/** Worker: an ordered multimap of lower-case header names to string values. */
export class HeaderMap {
  /** name0, value0, name1, value1, …: one array per map (one allocation, one growth path). */
  private kv: string[] = [];
  /** OR of nameBit() over every name added (a superset of the names present). */
  private bits = 0;

  /** Worker: builds a map from `[name, value]` pairs; names are lower-cased here (a convenience, not the hot path). */
  static fromPairs(pairs: [string, string][]): HeaderMap {
    const m = new HeaderMap();
    for (let i = 0; i < pairs.length; i++) m.add(pairs[i][0].toLowerCase(), pairs[i][1]);
    return m;
  }

  /** Worker: number of field lines (repeated names count once per line). */
  get size(): number {
    return this.kv.length >> 1;
  }

  /** Index in kv of the first line named `name`, or -1. */
  private find(name: string): number {
    if ((this.bits & nameBit(name)) === 0) return -1;
    const kv = this.kv;
    for (let i = 0; i < kv.length; i += 2) if (kv[i] === name) return i;
    return -1;
  }

  /** Worker: the first value of `name` (given lower-case), or undefined. */
  get(name: string): string | undefined {
    const i = this.find(name);
    return i < 0 ? undefined : this.kv[i + 1];
  }

  /** Worker: every value of `name` in wire order (allocates; prefer get() on the hot path). */
  getAll(name: string): string[] {
    const out: string[] = [];
    const first = this.find(name);
    if (first < 0) return out;
    const kv = this.kv;
    for (let i = first; i < kv.length; i += 2) if (kv[i] === name) out.push(kv[i + 1]);
    return out;
  }

  /** Worker: whether at least one line named `name` exists. */
  has(name: string): boolean {
    return this.find(name) >= 0;
  }

  /** Worker: replaces all values of `name` by one value, kept at the position of the first line (appended if absent). */
  set(name: string, value: string): void {
    const kv = this.kv;
    const first = this.find(name);
    if (first < 0) {
      this.bits |= nameBit(name);
      kv.push(name, value);
      return;
    }
    kv[first + 1] = value;
    // Drop later duplicates in place (compacting), keeping the relative order of the rest.
    let w = first + 2;
    for (let r = first + 2; r < kv.length; r += 2) {
      if (kv[r] === name) continue;
      if (w !== r) {
        kv[w] = kv[r];
        kv[w + 1] = kv[r + 1];
      }
      w += 2;
    }
    kv.length = w;
  }

  /** Worker: appends one line `name: value` after the existing ones. */
  add(name: string, value: string): void {
    this.bits |= nameBit(name);
    this.kv.push(name, value);
  }

  /** Worker: removes every line named `name`; returns whether any was removed. */
  remove(name: string): boolean {
    const first = this.find(name);
    if (first < 0) return false;
    const kv = this.kv;
    let w = first;
    for (let r = first + 2; r < kv.length; r += 2) {
      if (kv[r] === name) continue;
      kv[w] = kv[r];
      kv[w + 1] = kv[r + 1];
      w += 2;
    }
    kv.length = w;
    return true;
  }

  /** Worker: the name of line `i` (0 ≤ i < size). */
  nameAt(i: number): string {
    return this.kv[2 * i];
  }

  /** Worker: the value of line `i` (0 ≤ i < size). */
  valueAt(i: number): string {
    return this.kv[2 * i + 1];
  }

  /** Worker: replaces the value of line `i` in place (e.g. a filter rewriting one of several lines). */
  setValueAt(i: number, v: string): void {
    if (i < 0 || i >= this.kv.length >> 1) throw new RangeError(`header index ${i} out of range`);
    this.kv[2 * i + 1] = v;
  }

  /** Worker: calls `fn` for each line in wire order (the callback is the caller's allocation; index loops avoid it). */
  forEach(fn: (name: string, value: string) => void): void {
    const kv = this.kv;
    for (let i = 0; i < kv.length; i += 2) fn(kv[i], kv[i + 1]);
  }

  /** Worker: an independent copy (strings are immutable, so copying the array suffices). */
  clone(): HeaderMap {
    const m = new HeaderMap();
    m.kv = this.kv.slice();
    m.bits = this.bits;
    return m;
  }

  /** Worker: approximate HTTP/1 serialized size, `name: value\r\n` per line, for header size limits. */
  byteLength(): number {
    const kv = this.kv;
    let n = 0;
    for (let i = 0; i < kv.length; i++) n += kv[i].length;
    return n + 2 * kv.length;
  }
}
