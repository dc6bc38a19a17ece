/**
 * RANDOM (worker side): a uniformly random host, or weighted by load_balancing_weight when the
 * weights differ (binary search over cumulative weights).
 */
import type { Host } from "../host.ts";
import type { HostPicker } from "./load_balancer.ts";
import type { Random } from "./prng.ts";

/** Picks a (weighted) random host. */
export class RandomPicker implements HostPicker {
  readonly #cum: Float64Array | null;
  constructor(readonly hosts: readonly Host[], readonly random: Random) {
    const w0 = hosts[0]?.weight ?? 1;
    if (hosts.some((h) => h.weight !== w0)) {
      this.#cum = new Float64Array(hosts.length);
      let acc = 0;
      hosts.forEach((h, i) => (this.#cum![i] = acc += h.weight));
    } else this.#cum = null;
  }
  pick(): Host | null {
    const hosts = this.hosts;
    if (hosts.length === 0) return null;
    const cum = this.#cum;
    if (cum === null) return hosts[Math.floor(this.random() * hosts.length)]!;
    return hosts[lowerBound(cum, this.random() * cum[cum.length - 1]!)]!;
  }
}

/** First index i with cum[i] > x. */
export function lowerBound(cum: Float64Array, x: number): number {
  let lo = 0, hi = cum.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (cum[mid]! > x) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}
