/**
 * RING_HASH (worker side): Karger's consistent hash ring. Each host gets ring entries in
 * proportion to its normalized weight; the ring size is scaled so the lightest host gets at least
 * one entry, between minimum_ring_size and maximum_ring_size (Envoy's construction). A request
 * with a hash takes the first entry at or after it; without one, a random entry.
 * Positions use a 32-bit MurmurHash3 of "<address>_<n>", not Envoy's xxHash64, so the exact ring
 * differs from Envoy's while the properties (consistency, weights) are the same.
 */
import type { Host } from "../host.ts";
import type { HostPicker, LbContext } from "./load_balancer.ts";
import { hashString, type Random } from "./prng.ts";

/** Consistent-hash picker over one host list. */
export class RingHashPicker implements HostPicker {
  readonly hashes: Uint32Array;
  readonly ringHosts: Host[];
  constructor(hosts: readonly Host[], readonly random: Random, minSize: number, maxSize: number) {
    const total = hosts.reduce((s, h) => s + h.weight, 0);
    const entries: { hash: number; host: Host }[] = [];
    if (hosts.length > 0) {
      const norm = hosts.map((h) => h.weight / total);
      const minNorm = Math.min(...norm);
      const scale = Math.min(Math.ceil(minNorm * minSize) / minNorm, maxSize);
      let current = 0, target = 0;
      hosts.forEach((h, i) => {
        target += scale * norm[i]!;
        let n = 0;
        while (current < target) {
          entries.push({ hash: hashString(`${h.addressString}_${n++}`), host: h });
          current++;
        }
      });
    }
    entries.sort((a, b) => a.hash - b.hash);
    this.hashes = Uint32Array.from(entries, (e) => e.hash);
    this.ringHosts = entries.map((e) => e.host);
  }
  pick(ctx: LbContext | undefined): Host | null {
    const n = this.hashes.length;
    if (n === 0) return null;
    const h = ctx?.hashKey ?? Math.floor(this.random() * 4294967296);
    let lo = 0, hi = n;
    const hs = this.hashes;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (hs[mid]! < h) lo = mid + 1;
      else hi = mid;
    }
    return this.ringHosts[lo === n ? 0 : lo]!;
  }
}
