/**
 * Load balancing (worker side): a `LoadBalancer` is built once per host-set snapshot
 * (`createLoadBalancer`) and then only picks. Priority levels, the overprovisioning factor,
 * panic mode and locality weights are handled here for every policy; the per-policy
 * `HostPicker` chooses among the hosts of one priority (or locality).
 * https://www.envoyproxy.io/docs/envoy/latest/intro/arch_overview/upstream/load_balancing/load_balancing
 */
import type { ClusterModel } from "../../config/model.ts";
import { type Host, localityKey } from "../host.ts";
import { LeastRequestPicker } from "./least_request.ts";
import { MaglevPicker } from "./maglev.ts";
import type { Random } from "./prng.ts";
import { RandomPicker } from "./random.ts";
import { RingHashPicker } from "./ring_hash.ts";
import { RoundRobinPicker } from "./round_robin.ts";

/** Per-request input to a pick (the router fills it; absent = no hash). */
export interface LbContext {
  /** A 32-bit hash of the request (route hash_policy); RING_HASH and MAGLEV use it. */
  readonly hashKey?: number;
}

/** Chooses a host for a request (worker side). */
export interface LoadBalancer {
  chooseHost(ctx?: LbContext): Host | null;
}

/** Chooses among one fixed list of hosts. */
export interface HostPicker {
  pick(ctx: LbContext | undefined): Host | null;
}

/** The load-balancer options a picker needs (a subset of ClusterModel). */
export type LbSettings = Pick<
  ClusterModel,
  "lbPolicy" | "overprovisioningFactor" | "healthyPanicThreshold" | "localityWeightedLb" | "leastRequest" | "ringHash" | "maglev"
>;

/** Builds the picker for `policy` over `hosts`. */
export function createPicker(settings: LbSettings, hosts: readonly Host[], random: Random, seed: number): HostPicker {
  switch (settings.lbPolicy) {
    case "ROUND_ROBIN":
      return new RoundRobinPicker(hosts, seed);
    case "LEAST_REQUEST":
      return new LeastRequestPicker(hosts, random, settings.leastRequest.choiceCount, settings.leastRequest.activeRequestBias);
    case "RANDOM":
      return new RandomPicker(hosts, random);
    case "RING_HASH":
      return new RingHashPicker(hosts, random, settings.ringHash.minimumRingSize, settings.ringHash.maximumRingSize);
    case "MAGLEV":
      return new MaglevPicker(hosts, random, settings.maglev.tableSize);
    default:
      throw new Error(`unsupported lb_policy ${String(settings.lbPolicy)}`);
  }
}

const EMPTY: HostPicker = { pick: () => null };

/** One priority level: its hosts, health, and the pickers over healthy and all hosts. */
class PriorityLevel {
  readonly healthy: Host[] = [];
  /** Percent of the level's capacity available: min(100, healthy × OF / total). */
  health = 0;
  panic = false;
  healthyPicker: HostPicker = EMPTY;
  allPicker: HostPicker = EMPTY;
  constructor(readonly all: Host[]) {
    for (const h of all) if (h.healthy) this.healthy.push(h);
  }
}

/** Smooth weighted round robin over localities (by effective weight). */
class LocalityPicker implements HostPicker {
  readonly #credit: Float64Array;
  readonly #total: number;
  constructor(readonly pickers: HostPicker[], readonly weights: number[]) {
    this.#credit = new Float64Array(pickers.length);
    this.#total = weights.reduce((a, b) => a + b, 0);
  }
  pick(ctx: LbContext | undefined): Host | null {
    const w = this.weights, c = this.#credit;
    let best = -1;
    for (let i = 0; i < w.length; i++) {
      if (w[i]! <= 0) continue;
      c[i]! += w[i]!;
      if (best < 0 || c[i]! > c[best]!) best = i;
    }
    if (best < 0) return null;
    c[best]! -= this.#total;
    return this.pickers[best]!.pick(ctx);
  }
}

/**
 * Envoy's priority logic over any picker: each level gets load by its health (scaled by the
 * overprovisioning factor), spilling to lower priorities; when the normalized total health is
 * below the panic threshold every level is in panic and load follows host counts; a level whose
 * own healthy share is below the threshold balances over all its hosts.
 */
export class PriorityLoadBalancer implements LoadBalancer {
  readonly levels: PriorityLevel[] = [];
  /** Cumulative load per level, percent (last = 100). */
  readonly cumulative: number[] = [];
  /** True when the whole cluster is in panic (below healthy_panic_threshold). */
  readonly globalPanic: boolean;
  readonly #random: Random;

  constructor(hosts: readonly Host[], settings: LbSettings, random: Random, seed = 0) {
    this.#random = random;
    const byPrio: Host[][] = [];
    for (const h of hosts) (byPrio[h.priority] ??= []).push(h);
    for (let p = 0; p < byPrio.length; p++) this.levels.push(new PriorityLevel(byPrio[p] ?? []));
    const of = settings.overprovisioningFactor;
    const threshold = settings.healthyPanicThreshold;
    let totalHealth = 0, totalHosts = 0;
    for (const l of this.levels) {
      l.health = l.all.length === 0 ? 0 : Math.min(100, Math.floor((l.healthy.length * of) / l.all.length));
      totalHealth += l.health;
      totalHosts += l.all.length;
    }
    totalHealth = Math.min(100, totalHealth);
    this.globalPanic = totalHosts > 0 && threshold > 0 && totalHealth < threshold;
    const loads: number[] = [];
    if (this.globalPanic || totalHealth === 0) {
      for (const l of this.levels) {
        // healthy_panic_threshold 0 disables panic: nothing healthy means no host (503 UH).
        l.panic = threshold > 0;
        loads.push(totalHosts === 0 ? 0 : (l.all.length * 100) / totalHosts);
      }
    } else {
      let remaining = 100;
      for (const l of this.levels) {
        const share = Math.min(remaining, (l.health * 100) / totalHealth);
        loads.push(share);
        remaining -= share;
        l.panic = threshold > 0 && l.all.length > 0 && (l.healthy.length * 100) / l.all.length < threshold;
      }
    }
    let acc = 0;
    for (const x of loads) this.cumulative.push((acc += x));
    if (this.cumulative.length) this.cumulative[this.cumulative.length - 1] = 100;
    let k = 0;
    for (const l of this.levels) {
      if (l.all.length === 0) continue;
      const build = (list: Host[]): HostPicker =>
        list.length === 0 ? EMPTY : this.#build(list, settings, random, seed + k++, of);
      if (l.panic) l.allPicker = build(l.all);
      else l.healthyPicker = build(l.healthy);
    }
  }

  #build(list: Host[], settings: LbSettings, random: Random, seed: number, of: number): HostPicker {
    const hashing = settings.lbPolicy === "RING_HASH" || settings.lbPolicy === "MAGLEV";
    if (!settings.localityWeightedLb || hashing) return createPicker(settings, list, random, seed);
    // Locality weighted: effective weight = locality weight × min(1, OF × healthy / total).
    const groups = new Map<string, Host[]>();
    for (const h of list) {
      const key = localityKey(h.locality);
      let g = groups.get(key);
      if (!g) groups.set(key, (g = []));
      g.push(h);
    }
    const pickers: HostPicker[] = [];
    const weights: number[] = [];
    for (const g of groups.values()) {
      const healthy = g.filter((h) => h.healthy).length;
      const avail = Math.min(1, (healthy * of) / 100 / g.length);
      pickers.push(createPicker(settings, g, random, seed));
      weights.push(g[0]!.localityWeight * avail);
    }
    return new LocalityPicker(pickers, weights);
  }

  chooseHost(ctx?: LbContext): Host | null {
    const levels = this.levels;
    if (levels.length === 0) return null;
    let p = 0;
    if (levels.length > 1) {
      const hash = ctx?.hashKey;
      const r = hash === undefined ? this.#random() * 100 : (hash % 100);
      const cum = this.cumulative;
      while (p < cum.length - 1 && r >= cum[p]!) p++;
    }
    const l = levels[p]!;
    return (l.panic ? l.allPicker : l.healthyPicker).pick(ctx);
  }
}

/** Builds the cluster's load balancer over `hosts` (worker side, once per host-set snapshot). */
export function createLoadBalancer(hosts: readonly Host[], settings: LbSettings, random: Random, seed = 0): LoadBalancer {
  return new PriorityLoadBalancer(hosts, settings, random, seed);
}
