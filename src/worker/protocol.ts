/**
 * The main ↔ worker protocol: one discriminated union each way, versioned. Everything here is
 * plain data (structured-clonable); the worker builds its own runtime objects from it.
 */
import type { LogLevel } from "../core/log.ts";
import type { StatDescriptor } from "../core/stats.ts";
import type { ListenerModel, RouteConfigModel } from "../config/model.ts";
import type { ClusterSnapshot } from "../upstream/host.ts";
import type { HostResultKind } from "../upstream/outlier_detection.ts";

/** Bumped on any incompatible change to the messages below. */
export const PROTOCOL_VERSION = 3;

/** An immutable config version for the data plane. */
export interface Snapshot {
  readonly version: number;
  readonly listeners: readonly ListenerModel[];
  /** Clusters as the control side's ClusterManager publishes them (hosts with health). */
  readonly clusters: readonly ClusterSnapshot[];
  /** POST /healthcheck/fail state (the health_check filter answers 503 while set). */
  readonly healthCheckFailed: boolean;
  /** Route configurations from RDS, by name (HCMs with `rds` look them up). */
  readonly routeConfigs?: readonly RouteConfigModel[];
}

/** Main → worker. */
export type ToWorker =
  | {
    type: "init";
    protocol: number;
    index: number;
    slab: SharedArrayBuffer;
    slabCapacity: number;
    /** Stats of a previous incarnation of this worker (restart after a crash). */
    stats: StatDescriptor[];
    snapshot: Snapshot;
    /** Real ports for listeners configured with port 0 (bound by worker 0 first). */
    ports: Record<string, number>;
    logLevel: LogLevel;
    /** Bind each listener with SO_REUSEPORT (true whenever there is more than one worker). */
    reusePort: boolean;
    /** Inherited listening sockets to adopt instead of binding (a dup per worker), by name. */
    fds: Record<string, number>;
  }
  | { type: "snapshot"; snapshot: Snapshot }
  | { type: "drain"; stopAccepting: boolean }
  | { type: "shutdown" };

/** Worker → main. */
export type FromWorker =
  | { type: "ready"; protocol: number; index: number; ports: Record<string, number> }
  | { type: "init_failed"; index: number; message: string }
  | { type: "stats"; descriptors: StatDescriptor[] }
  | { type: "applied"; version: number; error?: string }
  /** A host result for outlier detection (failures, and the first success after one). */
  | { type: "host_result"; cluster: string; hostKey: string; kind: HostResultKind }
  | { type: "closed" };
