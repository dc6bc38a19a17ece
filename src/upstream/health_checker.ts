/**
 * Active health checking (control side): HTTP and TCP checks per host with Envoy's intervals,
 * jitter, thresholds and no-traffic interval. A host starts as FAILED_ACTIVE_HC|PENDING_ACTIVE_HC;
 * its first result decides at once (Envoy does not wait for healthy_threshold at startup), later
 * ones flip it after `unhealthy_threshold` failures / `healthy_threshold` successes. Each check
 * uses a fresh connection (`reuse_connection` is not supported).
 * https://www.envoyproxy.io/docs/envoy/latest/intro/arch_overview/upstream/health_checking
 */
import type { TlsConnectOptions } from "../runtime/types.ts";
import type { HealthCheckModel } from "../config/model.ts";
import type { Clock } from "../core/clock.ts";
import type { Counter, Gauge, StatsStore } from "../core/stats.ts";
import type { Runtime, RuntimeError, SocketEvents, TcpSocket } from "../runtime/types.ts";
import type { Random } from "./load_balancer/prng.ts";

/** `cluster.<name>.health_check.*` (control side). */
export class HealthCheckStats {
  readonly attempt: Counter;
  readonly success: Counter;
  readonly failure: Counter;
  readonly networkFailure: Counter;
  readonly passiveFailure: Counter;
  readonly verifyCluster: Counter;
  readonly healthy: Gauge;
  readonly degraded: Gauge;
  constructor(store: StatsStore, cluster: string) {
    const p = `cluster.${cluster}.health_check.`;
    this.attempt = store.counter(p + "attempt");
    this.success = store.counter(p + "success");
    this.failure = store.counter(p + "failure");
    this.networkFailure = store.counter(p + "network_failure");
    this.passiveFailure = store.counter(p + "passive_failure");
    this.verifyCluster = store.counter(p + "verify_cluster");
    this.healthy = store.gauge(p + "healthy", "never");
    this.degraded = store.gauge(p + "degraded", "never");
  }
}

/** What a health checker needs to know about one host. */
export interface CheckTarget {
  readonly key: string;
  readonly address: string;
  /** Port to check (health_check_config.port_value, else the endpoint's). */
  readonly port: number;
}

/** One host's health-check state. */
class HostCheck {
  /** Unhealthy per active HC (the FAILED_ACTIVE_HC flag). */
  failed = true;
  /** Not checked yet (PENDING_ACTIVE_HC). */
  pending = true;
  successes = 0;
  failures = 0;
  timer: unknown = undefined;
  socket: TcpSocket | null = null;
  timeout: unknown = undefined;
  removed = false;
  constructor(public target: CheckTarget) {}
}

const enc = new TextEncoder();
const dec = new TextDecoder();

/** Health checks of one cluster (control side). */
export class HealthChecker {
  readonly #hosts = new Map<string, HostCheck>();
  #closed = false;
  readonly #http: Uint8Array | null;

  constructor(
    readonly config: HealthCheckModel,
    readonly clusterName: string,
    readonly runtime: Runtime,
    readonly clock: Clock,
    readonly stats: HealthCheckStats,
    readonly random: Random,
    /** True once the cluster has carried traffic (else no_traffic_interval applies). */
    readonly hasTraffic: () => boolean,
    /** Called when a host's health flags changed, or its first check completed. */
    readonly onChange: () => void,
    /** Called for every successful check (outlier detection unejects the host). */
    readonly onSuccess: (key: string) => void = () => {},
    /** The cluster's transport socket: checks speak TLS to a TLS cluster, as Envoy's do. */
    readonly tls?: TlsConnectOptions,
  ) {
    const h = config.http;
    if (h) {
      const host = h.host || clusterName;
      let head = `GET ${h.path} HTTP/1.1\r\n`;
      const headers: [string, string][] = [["host", host], ["user-agent", "Envoy/HC"], ["connection", "close"]];
      for (const a of h.requestHeadersToAdd) {
        const i = headers.findIndex(([k]) => k === a.key);
        if (!a.append && i >= 0) headers[i] = [a.key, a.value];
        else headers.push([a.key, a.value]);
      }
      for (const [k, val] of headers) if (!h.requestHeadersToRemove.includes(k) || k === "host") head += `${k}: ${val}\r\n`;
      this.#http = enc.encode(head + "\r\n");
    } else this.#http = null;
  }

  /** Sets the hosts to check; new ones are checked now, removed ones stop. */
  setHosts(targets: readonly CheckTarget[]): void {
    const next = new Map(targets.map((t) => [t.key, t]));
    for (const [k, hc] of this.#hosts) {
      if (!next.has(k)) {
        this.#stop(hc);
        this.#hosts.delete(k);
      }
    }
    for (const [k, t] of next) {
      const old = this.#hosts.get(k);
      if (old) {
        old.target = t;
        continue;
      }
      const hc = new HostCheck(t);
      this.#hosts.set(k, hc);
      const j = this.config.initialJitterMs;
      if (j > 0) hc.timer = this.clock.setTimeout(() => this.#check(hc), this.random() * j);
      else this.#check(hc);
    }
    this.#updateGauge();
  }

  /** True when `key` failed active health checking (or has not been checked yet). */
  isFailed(key: string): boolean {
    return this.#hosts.get(key)?.failed ?? false;
  }

  /** True when `key` has not completed its first check. */
  isPending(key: string): boolean {
    return this.#hosts.get(key)?.pending ?? false;
  }

  /** True when every host has completed its first check. */
  get firstRoundDone(): boolean {
    for (const hc of this.#hosts.values()) if (hc.pending) return false;
    return true;
  }

  #updateGauge(): void {
    let n = 0;
    for (const hc of this.#hosts.values()) if (!hc.failed) n++;
    this.stats.healthy.set(n);
  }

  #stop(hc: HostCheck): void {
    hc.removed = true;
    if (hc.timer !== undefined) this.clock.clearTimeout(hc.timer);
    if (hc.timeout !== undefined) this.clock.clearTimeout(hc.timeout);
    hc.timer = hc.timeout = undefined;
    hc.socket?.destroy();
    hc.socket = null;
  }

  #check(hc: HostCheck): void {
    if (this.#closed || hc.removed) return;
    hc.timer = undefined;
    this.stats.attempt.inc();
    const c = this.config;
    let done = false;
    let buf = "";
    let bytes: Uint8Array[] = [];
    const finish = (ok: boolean, network: boolean) => {
      if (done) return;
      done = true;
      if (hc.timeout !== undefined) this.clock.clearTimeout(hc.timeout);
      hc.timeout = undefined;
      const s = hc.socket;
      hc.socket = null;
      s?.destroy();
      if (!hc.removed && !this.#closed) this.#result(hc, ok, network);
    };
    const http = this.#http;
    const tcp = c.tcp;
    const events: SocketEvents = {
      onOpen: () => {
        if (http === null && tcp && tcp.receive.length === 0) finish(true, false);
      },
      onData: (chunk) => {
        if (http !== null) {
          buf += dec.decode(chunk, { stream: true });
          const eol = buf.indexOf("\r\n");
          if (eol < 0) {
            if (buf.length > 8192) finish(false, false);
            return;
          }
          const m = /^HTTP\/1\.[01] (\d{3})(?: |$)/.exec(buf.slice(0, eol));
          if (!m) return finish(false, false);
          const status = Number(m[1]);
          finish(c.http!.expectedStatuses.some(([a, b]) => status >= a && status < b), false);
          return;
        }
        bytes.push(chunk);
        if (tcp && containsInOrder(bytes, tcp.receive)) finish(true, false);
      },
      onDrain: () => {},
      onEnd: () => finish(false, false),
      onClose: (err: RuntimeError | undefined) => finish(false, err !== undefined || http === null),
    };
    hc.timeout = this.clock.setTimeout(() => {
      hc.timeout = undefined;
      finish(false, true);
    }, c.timeoutMs);
    const sock = this.runtime.connect({ host: hc.target.address, port: hc.target.port, timeoutMs: c.timeoutMs, tls: this.tls }, events);
    if (done) {
      sock.destroy();
      return;
    }
    hc.socket = sock;
    if (http !== null) sock.write(http);
    else if (tcp && tcp.send.length > 0) sock.write(tcp.send);
    void bytes;
  }

  #result(hc: HostCheck, ok: boolean, network: boolean): void {
    const c = this.config;
    const wasFailed = hc.failed;
    const wasPending = hc.pending;
    hc.pending = false;
    let changed: "healthy" | "unhealthy" | null = null;
    if (ok) {
      this.stats.success.inc();
      this.onSuccess(hc.target.key);
      hc.failures = 0;
      hc.successes++;
      if (hc.failed && (wasPending || hc.successes >= c.healthyThreshold)) {
        hc.failed = false;
        changed = "healthy";
      }
    } else {
      this.stats.failure.inc();
      if (network) this.stats.networkFailure.inc();
      hc.successes = 0;
      hc.failures++;
      if (!hc.failed && hc.failures >= c.unhealthyThreshold) {
        hc.failed = true;
        changed = "unhealthy";
      }
    }
    if (changed !== null) this.#updateGauge();
    // Envoy's interval choice: no traffic yet → no_traffic_interval; a state change → the edge
    // interval; else interval (healthy) or unhealthy_interval.
    let base: number;
    if (!this.hasTraffic()) base = c.noTrafficIntervalMs;
    else if (changed === "healthy") base = c.healthyEdgeIntervalMs;
    else if (changed === "unhealthy") base = c.unhealthyEdgeIntervalMs;
    else base = hc.failed ? c.unhealthyIntervalMs : c.intervalMs;
    let jitter = 0;
    if (c.intervalJitterPercent > 0) jitter += this.random() * (base * c.intervalJitterPercent / 100);
    if (c.intervalJitterMs > 0) jitter += this.random() * c.intervalJitterMs;
    hc.timer = this.clock.setTimeout(() => this.#check(hc), base + jitter);
    if (changed !== null || wasPending || wasFailed !== hc.failed) this.onChange();
  }

  /** Stops every check and closes check connections. */
  close(): void {
    this.#closed = true;
    for (const hc of this.#hosts.values()) this.#stop(hc);
  }
}

/** True when every `needle` occurs in the concatenated `chunks`, in order. */
function containsInOrder(chunks: Uint8Array[], needles: readonly Uint8Array[]): boolean {
  let total = 0;
  for (const c of chunks) total += c.length;
  const all = new Uint8Array(total);
  let o = 0;
  for (const c of chunks) {
    all.set(c, o);
    o += c.length;
  }
  let from = 0;
  outer: for (const n of needles) {
    for (let i = from; i + n.length <= all.length; i++) {
      let j = 0;
      while (j < n.length && all[i + j] === n[j]) j++;
      if (j === n.length) {
        from = i + n.length;
        continue outer;
      }
    }
    return false;
  }
  return true;
}
