/**
 * What an xDS transport (gRPC stream, REST poller, file watcher) asks of the resource state it
 * feeds (control side). The XdsManager implements it once per config source.
 */
import type { DecodedResource, ResourceKind } from "./resources.ts";

/** Interest in one resource type: wildcard (LDS/CDS) or explicit names (RDS/EDS). */
export interface Interest {
  readonly wildcard: boolean;
  readonly names: readonly string[];
}

export interface XdsWatcher {
  /** What to subscribe to for `kind` now; null = nothing. */
  interest(kind: ResourceKind): Interest | null;
  /** A SotW response: every resource of the type (LDS/CDS) or the ones asked for (RDS/EDS).
   *  Returns null to ACK, or the NACK's error_detail message. */
  onSotw(kind: ResourceKind, resources: readonly DecodedResource[], version: string): string | null;
  /** A delta response: added/updated resources and removed names. Returns null or error_detail. */
  onDelta(kind: ResourceKind, added: readonly DecodedResource[], removed: readonly string[], systemVersion: string): string | null;
  /** Delta reconnect: the versions of the resources of `kind` held now (name → version). */
  knownVersions(kind: ResourceKind): Record<string, string>;
  /** The stream is up (a response arrived) or down. */
  onConnectionState(connected: boolean): void;
  /** The stream failed or was closed by the server (counted as update_failure). */
  onStreamFailure(): void;
}
