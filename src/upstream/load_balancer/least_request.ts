/**
 * LEAST_REQUEST (worker side). Equal weights: power of `choice_count` random choices, the host
 * with fewest active requests wins. Unequal weights: a weighted random pick where each host's
 * weight is `weight / (active_requests + 1) ^ active_request_bias` (Envoy's formula; bias 0 makes
 * it plain weighted random, 1 the default).
 * https://www.envoyproxy.io/docs/envoy/latest/intro/arch_overview/upstream/load_balancing/load_balancers#weighted-least-request
 */
import type { Host } from "../host.ts";
import type { HostPicker } from "./load_balancer.ts";
import type { Random } from "./prng.ts";

/** Least-request picker over one host list. */
export class LeastRequestPicker implements HostPicker {
  readonly #weighted: boolean;
  readonly #eff: Float64Array;
  constructor(readonly hosts: readonly Host[], readonly random: Random, readonly choiceCount: number, readonly bias: number) {
    const w0 = hosts[0]?.weight ?? 1;
    this.#weighted = hosts.some((h) => h.weight !== w0);
    this.#eff = new Float64Array(hosts.length);
  }
  pick(): Host | null {
    const hosts = this.hosts;
    const n = hosts.length;
    if (n === 0) return null;
    if (n === 1) return hosts[0]!;
    const random = this.random;
    if (!this.#weighted) {
      let best = hosts[Math.floor(random() * n)]!;
      for (let i = 1; i < this.choiceCount; i++) {
        const h = hosts[Math.floor(random() * n)]!;
        if (h.activeRequests < best.activeRequests) best = h;
      }
      return best;
    }
    const eff = this.#eff;
    const bias = this.bias;
    let total = 0;
    for (let i = 0; i < n; i++) {
      const h = hosts[i]!;
      const w = bias === 0 ? h.weight : bias === 1 ? h.weight / (h.activeRequests + 1) : h.weight / Math.pow(h.activeRequests + 1, bias);
      total += w;
      eff[i] = total;
    }
    const x = random() * total;
    for (let i = 0; i < n; i++) if (eff[i]! > x) return hosts[i]!;
    return hosts[n - 1]!;
  }
}
