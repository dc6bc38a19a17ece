/**
 * Circuit breakers (worker side reads and writes, control side allocates): per-priority counters
 * of connections, pending requests, requests and retries, checked against the cluster's
 * thresholds. The counters live in one small SharedArrayBuffer per cluster that the control side
 * puts in the cluster snapshot, so every worker sees the same cluster-wide numbers (Envoy's
 * limits are per cluster across workers, too).
 * https://www.envoyproxy.io/docs/envoy/latest/intro/arch_overview/upstream/circuit_breaking
 */
import type { CircuitBreakerModel } from "../config/model.ts";
import type { Gauge, StatsStore } from "../core/stats.ts";

/** Resource kinds, in their slot order. */
export const ResourceKind = { Connections: 0, PendingRequests: 1, Requests: 2, Retries: 3 } as const;
export type ResourceKind = (typeof ResourceKind)[keyof typeof ResourceKind];

/** Bytes of the shared counters buffer: 4 kinds × 2 priorities × int32. */
export const RESOURCE_BUFFER_BYTES = 4 * 2 * 4;

/** Allocates the cluster-wide counters buffer (control side, once per cluster name). */
export function allocateResources(): SharedArrayBuffer | ArrayBuffer {
  return typeof SharedArrayBuffer === "function" ? new SharedArrayBuffer(RESOURCE_BUFFER_BYTES) : new ArrayBuffer(RESOURCE_BUFFER_BYTES);
}

const OPEN_NAMES = ["cx_open", "rq_pending_open", "rq_open", "rq_retry_open"];

/** One priority's limits over the shared counters (worker side). */
export class ResourceManager {
  readonly #counts: Int32Array;
  readonly #base: number;
  readonly #max: Int32Array;
  readonly #open: Gauge[];
  readonly #shared: boolean;

  constructor(buffer: SharedArrayBuffer | ArrayBuffer, priority: 0 | 1, t: CircuitBreakerModel, store: StatsStore, clusterName: string) {
    this.#counts = new Int32Array(buffer);
    this.#shared = typeof SharedArrayBuffer === "function" && buffer instanceof SharedArrayBuffer;
    this.#base = priority * 4;
    this.#max = Int32Array.from([t.maxConnections, t.maxPendingRequests, t.maxRequests, t.maxRetries].map((x) => Math.min(x, 0x7fffffff)));
    const p = `cluster.${clusterName}.circuit_breakers.${priority === 0 ? "default" : "high"}.`;
    this.#open = OPEN_NAMES.map((n) => store.gauge(p + n, "never"));
  }

  /** True when one more `kind` stays within its threshold. */
  canCreate(kind: ResourceKind): boolean {
    return this.count(kind) < this.#max[kind]!;
  }

  /** Current count of `kind` (cluster-wide). */
  count(kind: ResourceKind): number {
    const i = this.#base + kind;
    return this.#shared ? Atomics.load(this.#counts, i) : this.#counts[i]!;
  }

  /** Threshold for `kind`. */
  max(kind: ResourceKind): number {
    return this.#max[kind]!;
  }

  inc(kind: ResourceKind): void {
    const i = this.#base + kind;
    const v = this.#shared ? Atomics.add(this.#counts, i, 1) + 1 : ++this.#counts[i]!;
    if (v === this.#max[kind]!) this.#open[kind]!.set(1);
  }

  dec(kind: ResourceKind): void {
    const i = this.#base + kind;
    const v = this.#shared ? Atomics.sub(this.#counts, i, 1) - 1 : --this.#counts[i]!;
    // Only on the crossing, so the hot path does not write the gauge per request.
    if (v === this.#max[kind]! - 1) this.#open[kind]!.set(0);
  }
}
