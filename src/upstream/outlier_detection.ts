/**
 * Outlier detection (control side): consecutive 5xx, consecutive gateway failure and consecutive
 * local-origin failure ejection, fed with per-host result events from the workers. Pure logic
 * over an injectable clock and random source; it reports ejection changes through `onChange`,
 * and the cluster manager turns them into the FAILED_OUTLIER_CHECK flag in the next snapshot.
 * https://www.envoyproxy.io/docs/envoy/latest/intro/arch_overview/upstream/outlier
 */
import type { OutlierDetectionModel } from "../config/model.ts";
import type { Clock } from "../core/clock.ts";
import type { Counter, Gauge, StatsStore } from "../core/stats.ts";
import type { Random } from "./load_balancer/prng.ts";

/** What one upstream exchange told us about a host. `gateway` = 502/503/504, `5xx` = other 5xx,
 *  `local_origin_failure` = connect failure, timeout or reset, `success` = a non-5xx response. */
export type HostResultKind = "5xx" | "gateway" | "local_origin_failure" | "success";

/** Where workers report host results (the lead routes it across threads; in-process for now). */
export interface UpstreamEventSink {
  onHostResult(cluster: string, hostKey: string, kind: HostResultKind): void;
}

/** `cluster.<name>.outlier_detection.*` stats (control side). */
export class OutlierStats {
  readonly ejectionsActive: Gauge;
  readonly ejectionsTotal: Counter;
  readonly ejectionsEnforcedTotal: Counter;
  readonly ejectionsOverflow: Counter;
  readonly ejectionsConsecutive5xx: Counter;
  readonly detected: Record<EjectKind, Counter>;
  readonly enforced: Record<EjectKind, Counter>;
  constructor(store: StatsStore, cluster: string) {
    const p = `cluster.${cluster}.outlier_detection.`;
    this.ejectionsActive = store.gauge(p + "ejections_active");
    this.ejectionsTotal = store.counter(p + "ejections_total");
    this.ejectionsEnforcedTotal = store.counter(p + "ejections_enforced_total");
    this.ejectionsOverflow = store.counter(p + "ejections_overflow");
    this.ejectionsConsecutive5xx = store.counter(p + "ejections_consecutive_5xx");
    const kinds: EjectKind[] = ["consecutive_5xx", "consecutive_gateway_failure", "consecutive_local_origin_failure"];
    this.detected = Object.fromEntries(kinds.map((k) => [k, store.counter(`${p}ejections_detected_${k}`)])) as Record<EjectKind, Counter>;
    this.enforced = Object.fromEntries(kinds.map((k) => [k, store.counter(`${p}ejections_enforced_${k}`)])) as Record<EjectKind, Counter>;
  }
}

type EjectKind = "consecutive_5xx" | "consecutive_gateway_failure" | "consecutive_local_origin_failure";

/** Per-host state. */
class HostMonitor {
  consecutive5xx = 0;
  consecutiveGateway = 0;
  consecutiveLocalOrigin = 0;
  ejected = false;
  ejectedAt = 0;
  ejectionTimeMs = 0;
  /** Times ejected (the multiplier of base_ejection_time); decays while the host stays in. */
  numEjections = 0;
}

/** The ejection logic for one cluster (control side). */
export class OutlierDetector {
  readonly #hosts = new Map<string, HostMonitor>();
  #timer: unknown = undefined;
  #closed = false;

  constructor(
    readonly config: OutlierDetectionModel,
    readonly clock: Clock,
    readonly stats: OutlierStats,
    readonly random: Random,
    /** Called after any host is ejected or returned. */
    readonly onChange: () => void,
  ) {
    this.#arm();
  }

  /** Sets the current host keys (new hosts start clean; removed hosts are forgotten). */
  setHosts(keys: Iterable<string>): void {
    const next = new Set(keys);
    for (const [k, m] of this.#hosts) {
      if (!next.has(k)) {
        if (m.ejected) this.stats.ejectionsActive.dec();
        this.#hosts.delete(k);
      }
    }
    for (const k of next) if (!this.#hosts.has(k)) this.#hosts.set(k, new HostMonitor());
  }

  /** True when `key` is currently ejected. */
  isEjected(key: string): boolean {
    return this.#hosts.get(key)?.ejected === true;
  }

  /** Number of ejected hosts. */
  get ejectedCount(): number {
    let n = 0;
    for (const m of this.#hosts.values()) if (m.ejected) n++;
    return n;
  }

  /** Feeds one result for host `key`. */
  onResult(key: string, kind: HostResultKind): void {
    const m = this.#hosts.get(key);
    if (!m || this.#closed) return;
    const c = this.config;
    switch (kind) {
      case "success":
        m.consecutive5xx = 0;
        m.consecutiveGateway = 0;
        m.consecutiveLocalOrigin = 0;
        return;
      case "local_origin_failure":
        if (c.splitExternalLocalOriginErrors) {
          if (++m.consecutiveLocalOrigin === c.consecutiveLocalOriginFailure) {
            this.#maybeEject(key, m, "consecutive_local_origin_failure", c.enforcingConsecutiveLocalOriginFailure);
          }
          return;
        }
        // Not split: a local-origin failure counts as a 503 (a gateway error and a 5xx).
        this.#gateway(key, m);
        return;
      case "gateway":
        this.#gateway(key, m);
        return;
      case "5xx":
        m.consecutiveGateway = 0;
        if (++m.consecutive5xx === c.consecutive5xx) this.#maybeEject(key, m, "consecutive_5xx", c.enforcingConsecutive5xx);
        return;
    }
  }

  #gateway(key: string, m: HostMonitor): void {
    const c = this.config;
    if (++m.consecutiveGateway === c.consecutiveGatewayFailure) {
      this.#maybeEject(key, m, "consecutive_gateway_failure", c.enforcingConsecutiveGatewayFailure);
    }
    if (!m.ejected && ++m.consecutive5xx === c.consecutive5xx) this.#maybeEject(key, m, "consecutive_5xx", c.enforcingConsecutive5xx);
  }

  #maybeEject(key: string, m: HostMonitor, kind: EjectKind, enforcing: number): void {
    if (m.ejected) return;
    this.stats.detected[kind].inc();
    if (kind === "consecutive_5xx") this.stats.ejectionsConsecutive5xx.inc();
    if (!(enforcing > 0 && this.random() * 100 < enforcing)) return;
    // max_ejection_percent, checked before this ejection so at least one host can always go.
    const total = this.#hosts.size;
    const active = this.ejectedCount;
    if (total === 0 || (active * 100) / total >= this.config.maxEjectionPercent) {
      this.stats.ejectionsOverflow.inc();
      return;
    }
    m.ejected = true;
    m.numEjections++;
    m.ejectedAt = this.clock.now();
    m.ejectionTimeMs = Math.min(this.config.baseEjectionTimeMs * m.numEjections, this.config.maxEjectionTimeMs);
    m.consecutive5xx = m.consecutiveGateway = m.consecutiveLocalOrigin = 0;
    this.stats.enforced[kind].inc();
    this.stats.ejectionsEnforcedTotal.inc();
    this.stats.ejectionsTotal.inc();
    this.stats.ejectionsActive.inc();
    void key;
    this.onChange();
  }

  /** Returns an ejected host now (a successful active health check does this, as Envoy's
   *  `successful_active_health_check_uneject_host` default does). */
  uneject(key: string): void {
    const m = this.#hosts.get(key);
    if (!m?.ejected) return;
    m.ejected = false;
    this.stats.ejectionsActive.dec();
    this.onChange();
  }

  #arm(): void {
    if (this.#closed) return;
    this.#timer = this.clock.setTimeout(() => this.#sweep(), this.config.intervalMs);
  }

  /** The interval sweep: returns hosts whose ejection time passed; decays the multiplier. */
  #sweep(): void {
    const now = this.clock.now();
    let changed = false;
    for (const m of this.#hosts.values()) {
      if (m.ejected) {
        if (now - m.ejectedAt >= m.ejectionTimeMs) {
          m.ejected = false;
          this.stats.ejectionsActive.dec();
          changed = true;
        }
      } else if (m.numEjections > 0 && now - (m.ejectedAt + m.ejectionTimeMs) >= this.config.baseEjectionTimeMs) {
        // A host that stayed in for a while ejects for less next time (Envoy decrements too).
        m.numEjections--;
        m.ejectedAt = now - m.ejectionTimeMs;
      }
    }
    this.#arm();
    if (changed) this.onChange();
  }

  /** Stops the sweep timer. */
  close(): void {
    this.#closed = true;
    if (this.#timer !== undefined) this.clock.clearTimeout(this.#timer);
    for (const m of this.#hosts.values()) if (m.ejected) this.stats.ejectionsActive.dec();
    this.#hosts.clear();
  }
}
