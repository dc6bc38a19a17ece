/**
 * Hosts and the plain-data cluster snapshot the control side publishes to workers.
 * `ClusterSnapshot` is structured-clonable (no classes, no functions): the main thread builds it
 * (`ClusterManager.snapshot()`), posts it to each worker, and the worker builds its `Host`
 * objects, load balancer and pools from it (`ThreadLocalClusterManager.update`).
 */
import type { ClusterModel, LocalityModel } from "../config/model.ts";

/** Envoy's host health flags (the `/clusters` `health_flags` names), as bits. */
export const HealthFlag = {
  /** /failed_active_hc */
  FailedActiveHc: 1 << 0,
  /** /failed_outlier_check */
  FailedOutlierCheck: 1 << 1,
  /** /failed_eds_health */
  FailedEdsHealth: 1 << 2,
  /** /degraded_eds_health */
  DegradedEdsHealth: 1 << 3,
  /** /pending_active_hc: not checked yet (cluster warming). */
  PendingActiveHc: 1 << 4,
} as const;

/** Flags that make a host unhealthy (not chosen unless the cluster is in panic). */
export const UNHEALTHY_FLAGS = HealthFlag.FailedActiveHc | HealthFlag.FailedOutlierCheck | HealthFlag.FailedEdsHealth;

const FLAG_NAMES: [number, string][] = [
  [HealthFlag.FailedActiveHc, "/failed_active_hc"],
  [HealthFlag.FailedOutlierCheck, "/failed_outlier_check"],
  [HealthFlag.FailedEdsHealth, "/failed_eds_health"],
  [HealthFlag.DegradedEdsHealth, "/degraded_eds_health"],
  [HealthFlag.PendingActiveHc, "/pending_active_hc"],
];

/** Formats health flags as Envoy's `/clusters` does ("healthy" or "/failed_active_hc/…"). */
export function formatHealthFlags(flags: number): string {
  if (flags === 0) return "healthy";
  let s = "";
  for (const [bit, name] of FLAG_NAMES) if (flags & bit) s += name;
  return s;
}

/** One host in a snapshot (plain data). */
export interface HostSnapshot {
  /** Identity across snapshots: "ip:port" (LOGICAL_DNS: "hostname:port", the address may change). */
  readonly key: string;
  readonly address: string;
  readonly port: number;
  readonly weight: number;
  readonly priority: number;
  readonly locality: LocalityModel;
  /** The locality's weight (0 = unset). */
  readonly localityWeight: number;
  /** HealthFlag bits. */
  readonly healthFlags: number;
  /** The DNS name this host came from ("" for STATIC). */
  readonly hostname: string;
}

/** One cluster as published to workers (plain data, structured-clonable). */
export interface ClusterSnapshot {
  readonly name: string;
  /** Bumped whenever `settings` change (workers rebuild pools then); host changes don't bump it. */
  readonly configVersion: number;
  readonly settings: ClusterModel;
  readonly hosts: readonly HostSnapshot[];
  /** Cluster-wide circuit breaker counters shared by every worker (see ResourceManager). */
  readonly resources: SharedArrayBuffer | ArrayBuffer;
  /** False while warming (first DNS resolution / health check round not done). */
  readonly initialized: boolean;
}

/** An upstream host as a worker sees it (immutable; a changed host is a new Host). */
export class Host {
  /** "ip:port" (IPv6 in brackets), as Envoy prints it in stats and logs. */
  readonly addressString: string;
  /** Requests in flight to this host from this worker (least request reads it). */
  activeRequests = 0;
  readonly key: string;
  readonly priority: number;
  readonly locality: LocalityModel;
  readonly localityWeight: number;
  readonly healthFlags: number;
  readonly hostname: string;
  constructor(readonly address: string, readonly port: number, readonly weight: number, snap?: HostSnapshot) {
    this.addressString = address.includes(":") ? `[${address}]:${port}` : `${address}:${port}`;
    this.key = snap?.key ?? this.addressString;
    this.priority = snap?.priority ?? 0;
    this.locality = snap?.locality ?? NO_LOCALITY;
    this.localityWeight = snap?.localityWeight ?? 0;
    this.healthFlags = snap?.healthFlags ?? 0;
    this.hostname = snap?.hostname ?? "";
  }

  /** Builds a worker Host from its snapshot. */
  static fromSnapshot(s: HostSnapshot): Host {
    return new Host(s.address, s.port, s.weight, s);
  }

  /** True when no unhealthy flag is set. */
  get healthy(): boolean {
    return (this.healthFlags & UNHEALTHY_FLAGS) === 0;
  }
}

const NO_LOCALITY: LocalityModel = Object.freeze({ region: "", zone: "", subZone: "" });

/** "region/zone/sub_zone", used to group hosts by locality. */
export function localityKey(l: LocalityModel): string {
  return `${l.region}/${l.zone}/${l.subZone}`;
}
