/**
 * MAGLEV (worker side): Google's Maglev lookup table (table_size, a prime, default 65537) with
 * Envoy's weighted fill — a host of weight w/max takes a slot every max/w rounds — so a request
 * hash maps to a host in O(1) and host changes move few keys.
 * https://www.envoyproxy.io/docs/envoy/latest/intro/arch_overview/upstream/load_balancing/load_balancers#maglev
 */
import type { Host } from "../host.ts";
import type { HostPicker, LbContext } from "./load_balancer.ts";
import { hashString, type Random } from "./prng.ts";

/** Maglev picker over one host list. */
export class MaglevPicker implements HostPicker {
  readonly table: Int32Array;
  constructor(readonly hosts: readonly Host[], readonly random: Random, readonly tableSize: number) {
    const m = tableSize;
    const table = new Int32Array(hosts.length ? m : 0).fill(-1);
    this.table = table;
    if (hosts.length === 0) return;
    const total = hosts.reduce((s, h) => s + h.weight, 0);
    const entries = hosts.map((h) => ({
      offset: hashString(h.addressString, 0x9747b28c) % m,
      skip: (hashString(h.addressString, 0x5bd1e995) % (m - 1)) + 1,
      weight: h.weight / total,
      target: 0,
      next: 0,
    }));
    const maxW = Math.max(...entries.map((e) => e.weight));
    let filled = 0;
    for (let iteration = 1; filled < m; iteration++) {
      for (let i = 0; i < entries.length && filled < m; i++) {
        const e = entries[i]!;
        if (iteration * e.weight < e.target) continue;
        e.target += maxW;
        let c = (e.offset + e.skip * e.next) % m;
        while (table[c] !== -1) {
          e.next++;
          c = (e.offset + e.skip * e.next) % m;
        }
        table[c] = i;
        e.next++;
        filled++;
      }
    }
  }
  pick(ctx: LbContext | undefined): Host | null {
    if (this.table.length === 0) return null;
    const h = ctx?.hashKey ?? Math.floor(this.random() * 4294967296);
    return this.hosts[this.table[h % this.table.length]!]!;
  }
}
