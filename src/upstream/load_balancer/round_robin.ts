/**
 * ROUND_ROBIN (worker side). Equal weights rotate through the hosts; unequal weights use the
 * smooth weighted round robin (each pick adds every host's weight to its credit and takes the
 * host with most credit, which then pays the total), so picks interleave instead of bursting.
 */
import type { Host } from "../host.ts";
import type { HostPicker } from "./load_balancer.ts";

/** Picks hosts in (weighted) round-robin order. Pure state over a fixed host list. */
export class RoundRobinPicker implements HostPicker {
  readonly #hosts: readonly Host[];
  readonly #weighted: boolean;
  readonly #credit: Float64Array;
  readonly #total: number;
  #next: number;

  constructor(hosts: readonly Host[], seed = 0) {
    this.#hosts = hosts;
    const w0 = hosts[0]?.weight ?? 1;
    this.#weighted = hosts.some((h) => h.weight !== w0);
    this.#credit = new Float64Array(hosts.length);
    this.#total = hosts.reduce((s, h) => s + h.weight, 0);
    // Envoy starts each worker at a random offset so workers do not hit hosts in lock step.
    this.#next = hosts.length ? seed % hosts.length : 0;
  }

  pick(): Host | null {
    return this.chooseHost();
  }

  /** The next host, or null when there are none. */
  chooseHost(): Host | null {
    const hosts = this.#hosts;
    const n = hosts.length;
    if (n === 0) return null;
    if (!this.#weighted) {
      const h = hosts[this.#next]!;
      this.#next = this.#next + 1 === n ? 0 : this.#next + 1;
      return h;
    }
    const credit = this.#credit;
    let best = 0;
    for (let i = 0; i < n; i++) {
      credit[i]! += hosts[i]!.weight;
      if (credit[i]! > credit[best]!) best = i;
    }
    credit[best]! -= this.#total;
    return hosts[best]!;
  }
}

/** @deprecated name kept for existing callers: the picker over one host list. */
export const RoundRobinLoadBalancer = RoundRobinPicker;
