/**
 * Versioned snapshots for the test/example xDS management server (control side, not Legate's
 * data path). A snapshot holds every Listener, RouteConfiguration, Cluster and
 * ClusterLoadAssignment the server serves, written in Envoy's proto3 JSON/YAML and converted to
 * protobuf once, when the snapshot is built; each resource is packed into its `Any` and given a
 * per-resource version (a hash of its serialized bytes) for the delta protocol.
 *
 * Versions: each resource type has its own `version_info` (Envoy's xds_protocol). A snapshot
 * carries one `version`; a type whose resources did not change since the previous snapshot keeps
 * its previous version, so a client that already has it is not sent it again.
 */
import { fromJson, type JsonValue, type Message } from "@bufbuild/protobuf";
import { type Any, anyPack, anyUnpack } from "@bufbuild/protobuf/wkt";
import type { GenMessage } from "@bufbuild/protobuf/codegenv2";
import { ClusterSchema, Cluster_DiscoveryType } from "../../gen/envoy/config/cluster/v3/cluster_pb.ts";
import { ClusterLoadAssignmentSchema } from "../../gen/envoy/config/endpoint/v3/endpoint_pb.ts";
import { type Listener, ListenerSchema } from "../../gen/envoy/config/listener/v3/listener_pb.ts";
import type { FilterChain } from "../../gen/envoy/config/listener/v3/listener_components_pb.ts";
import { RouteConfigurationSchema } from "../../gen/envoy/config/route/v3/route_pb.ts";
import { HttpConnectionManagerSchema } from "../../gen/envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager_pb.ts";
import { TYPE_URL, xdsTypeRegistry } from "../type_registry.ts";

/** The four resource types, by the name the snapshot file uses. */
export type ResourceKind = "listeners" | "routes" | "clusters" | "endpoints";

/** Envoy's recommended push order (make before break): CDS, EDS, LDS, RDS. */
export const PUSH_ORDER: readonly ResourceKind[] = ["clusters", "endpoints", "listeners", "routes"];

/** `type_url` of each kind. */
export const KIND_TYPE_URL: Readonly<Record<ResourceKind, string>> = {
  listeners: TYPE_URL.listener,
  routes: TYPE_URL.routeConfiguration,
  clusters: TYPE_URL.cluster,
  endpoints: TYPE_URL.clusterLoadAssignment,
};

const SCHEMA: Readonly<Record<ResourceKind, GenMessage<Message>>> = {
  listeners: ListenerSchema as unknown as GenMessage<Message>,
  routes: RouteConfigurationSchema as unknown as GenMessage<Message>,
  clusters: ClusterSchema as unknown as GenMessage<Message>,
  endpoints: ClusterLoadAssignmentSchema as unknown as GenMessage<Message>,
};

/** LDS and CDS are the wildcard types: a SotW response carries all of their resources. */
export function isWildcardKind(kind: ResourceKind): boolean {
  return kind === "listeners" || kind === "clusters";
}

/** The kind for a type URL, a kind name or an xDS acronym (LDS, RDS, CDS, EDS); undefined if none. */
export function kindOf(type: string): ResourceKind | undefined {
  switch (type) {
    case "listeners":
    case "LDS":
    case TYPE_URL.listener:
      return "listeners";
    case "routes":
    case "RDS":
    case TYPE_URL.routeConfiguration:
      return "routes";
    case "clusters":
    case "CDS":
    case TYPE_URL.cluster:
      return "clusters";
    case "endpoints":
    case "EDS":
    case TYPE_URL.clusterLoadAssignment:
      return "endpoints";
    default:
      return undefined;
  }
}

/** What a caller hands to `buildSnapshot` / `setSnapshot`: resources in Envoy's proto3 JSON. */
export interface SnapshotInput {
  version: string;
  listeners?: readonly unknown[];
  routes?: readonly unknown[];
  clusters?: readonly unknown[];
  endpoints?: readonly unknown[];
}

/** One resource of a snapshot. */
export interface SnapshotResource {
  readonly name: string;
  readonly message: Message;
  readonly any: Any;
  /** Per-resource version for delta xDS: a hash of the serialized resource. */
  readonly version: string;
}

/** All resources of one type in a snapshot. */
export interface TypeSnapshot {
  readonly kind: ResourceKind;
  readonly typeUrl: string;
  /** This type's `version_info`. */
  readonly version: string;
  /** By resource name, in the order the input listed them. */
  readonly resources: ReadonlyMap<string, SnapshotResource>;
  /** A hash over every (name, per-resource version): equal hashes mean equal contents. */
  readonly contentHash: string;
}

/** An immutable set of resources of every type. */
export interface Snapshot {
  /** The version the snapshot was published as (the `version` of its input). */
  readonly version: string;
  readonly types: Readonly<Record<ResourceKind, TypeSnapshot>>;
}

/** A snapshot input that could not be converted; `issues` lists every problem with its path. */
export class SnapshotError extends Error {
  constructor(readonly issues: readonly string[]) {
    super(`invalid snapshot:\n  ${issues.join("\n  ")}`);
    this.name = "SnapshotError";
  }
}

/**
 * Converts `input` to a snapshot (throws SnapshotError listing every bad resource). A type whose
 * contents equal those in `previous` keeps `previous`'s version for that type.
 */
export function buildSnapshot(input: SnapshotInput, previous?: Snapshot): Snapshot {
  const issues: string[] = [];
  if (typeof input.version !== "string" || input.version === "") issues.push("version: must be a non-empty string");
  const registry = xdsTypeRegistry();
  const types = {} as Record<ResourceKind, TypeSnapshot>;
  for (const kind of PUSH_ORDER) {
    const list = input[kind] ?? [];
    const resources = new Map<string, SnapshotResource>();
    if (!Array.isArray(list)) {
      issues.push(`${kind}: must be a list`);
    } else {
      list.forEach((raw, i) => {
        const path = `${kind}[${i}]`;
        const json = stripTypeField(raw, KIND_TYPE_URL[kind], path, issues);
        if (json === undefined) return;
        let message: Message;
        try {
          message = fromJson(SCHEMA[kind], json as JsonValue, { registry });
        } catch (e) {
          issues.push(`${path}: ${e instanceof Error ? e.message : String(e)}`);
          return;
        }
        const name = resourceName(kind, message);
        if (name === "") {
          issues.push(`${path}: ${kind === "endpoints" ? "cluster_name" : "name"} is required`);
          return;
        }
        if (resources.has(name)) {
          issues.push(`${path}: duplicate ${kind} name '${name}'`);
          return;
        }
        const any = anyPack(SCHEMA[kind], message);
        resources.set(name, { name, message, any, version: hashBytes(any.value) });
      });
    }
    const contentHash = hashString([...resources.values()].map((r) => `${r.name}\u0000${r.version}`).sort().join("\u0001"));
    const prev = previous?.types[kind];
    const version = prev && prev.contentHash === contentHash ? prev.version : input.version;
    types[kind] = { kind, typeUrl: KIND_TYPE_URL[kind], version, resources, contentHash };
  }
  if (issues.length) throw new SnapshotError(issues);
  return { version: input.version, types };
}

/** An empty snapshot (version ""), what the server serves before the first one is set. */
export function emptySnapshot(): Snapshot {
  const types = {} as Record<ResourceKind, TypeSnapshot>;
  for (const kind of PUSH_ORDER) {
    types[kind] = { kind, typeUrl: KIND_TYPE_URL[kind], version: "", resources: new Map(), contentHash: hashString("") };
  }
  return { version: "", types };
}

/** A resource's name: `name`, or `cluster_name` for a ClusterLoadAssignment. */
function resourceName(kind: ResourceKind, m: Message): string {
  const r = m as unknown as { name?: string; clusterName?: string };
  return (kind === "endpoints" ? r.clusterName : r.name) ?? "";
}

/** Accepts an optional top-level "@type" naming the right type, and drops it. */
function stripTypeField(raw: unknown, typeUrl: string, path: string, issues: string[]): unknown {
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) {
    issues.push(`${path}: must be an object`);
    return undefined;
  }
  const o = raw as Record<string, unknown>;
  if (!("@type" in o)) return o;
  if (o["@type"] !== typeUrl) {
    issues.push(`${path}: @type is '${String(o["@type"])}', expected '${typeUrl}'`);
    return undefined;
  }
  const { ["@type"]: _, ...rest } = o;
  return rest;
}

/**
 * Accepts either `{version, resources: {listeners, routes, clusters, endpoints}}` (the snapshot
 * file shape) or `{version, listeners, …}` (the programmatic shape).
 */
export function snapshotInputFromDocument(doc: unknown, fallbackVersion?: string): SnapshotInput {
  if (doc === null || typeof doc !== "object" || Array.isArray(doc)) throw new SnapshotError(["the document must be a mapping"]);
  const d = doc as Record<string, unknown>;
  const known = new Set(["version", "resources", "listeners", "routes", "clusters", "endpoints"]);
  const unknown = Object.keys(d).filter((k) => !known.has(k));
  if (unknown.length) throw new SnapshotError(unknown.map((k) => `${k}: unknown field (expected version and resources)`));
  const version = d.version === undefined ? fallbackVersion : typeof d.version === "number" ? String(d.version) : d.version;
  if (typeof version !== "string") throw new SnapshotError(["version: must be a string"]);
  let res = d;
  if (d.resources !== undefined) {
    if (d.resources === null || typeof d.resources !== "object" || Array.isArray(d.resources)) {
      throw new SnapshotError(["resources: must be a mapping"]);
    }
    res = d.resources as Record<string, unknown>;
    const bad = Object.keys(res).filter((k) => !(PUSH_ORDER as readonly string[]).includes(k));
    if (bad.length) throw new SnapshotError(bad.map((k) => `resources.${k}: unknown resource type (listeners, routes, clusters, endpoints)`));
  }
  return {
    version,
    listeners: (res.listeners ?? []) as unknown[],
    routes: (res.routes ?? []) as unknown[],
    clusters: (res.clusters ?? []) as unknown[],
    endpoints: (res.endpoints ?? []) as unknown[],
  };
}

/** One reference from a resource to another that the snapshot lacks, or a resource nobody references. */
export interface ConsistencyIssue {
  kind: "missing" | "unreferenced";
  /** The type of the missing or unreferenced resource (routes or endpoints). */
  type: "routes" | "endpoints";
  name: string;
  /** For "missing": who refers to it, e.g. `listeners/listener_0`. */
  referencedBy?: string;
}

/** The result of `checkConsistency`. */
export interface ConsistencyReport {
  /** go-control-plane's rule: every RDS/EDS name referenced exists, and nothing else is there. */
  consistent: boolean;
  issues: ConsistencyIssue[];
}

/**
 * go-control-plane's snapshot consistency: the RouteConfigurations named by listeners
 * (HCM `rds.route_config_name`) and the ClusterLoadAssignments named by EDS clusters
 * (`eds_cluster_config.service_name`, or the cluster name) must be exactly those in the
 * snapshot. Reports dangling references ("missing") and resources no one refers to.
 */
export function checkConsistency(snap: Snapshot): ConsistencyReport {
  const issues: ConsistencyIssue[] = [];
  const routeRefs = new Map<string, string>();
  for (const r of snap.types.listeners.resources.values()) {
    for (const name of listenerRouteNames(r.message as Listener)) if (!routeRefs.has(name)) routeRefs.set(name, `listeners/${r.name}`);
  }
  const edsRefs = new Map<string, string>();
  for (const r of snap.types.clusters.resources.values()) {
    const c = r.message as unknown as { name: string; clusterDiscoveryType: { case?: string; value?: unknown }; edsClusterConfig?: { serviceName: string } };
    if (c.clusterDiscoveryType.case === "type" && c.clusterDiscoveryType.value === Cluster_DiscoveryType.EDS) {
      const name = c.edsClusterConfig?.serviceName || c.name;
      if (!edsRefs.has(name)) edsRefs.set(name, `clusters/${r.name}`);
    }
  }
  const check = (type: "routes" | "endpoints", refs: Map<string, string>): void => {
    const have = snap.types[type].resources;
    for (const [name, by] of refs) if (!have.has(name)) issues.push({ kind: "missing", type, name, referencedBy: by });
    for (const name of have.keys()) if (!refs.has(name)) issues.push({ kind: "unreferenced", type, name });
  };
  check("routes", routeRefs);
  check("endpoints", edsRefs);
  return { consistent: issues.length === 0, issues };
}

/** The RDS names a listener's HTTP connection managers refer to. */
export function listenerRouteNames(l: Listener): string[] {
  const out: string[] = [];
  const chains: FilterChain[] = [...l.filterChains];
  if (l.defaultFilterChain) chains.push(l.defaultFilterChain);
  for (const fc of chains) {
    for (const f of fc.filters) {
      if (f.configType.case !== "typedConfig") continue;
      const any = f.configType.value;
      if (any.typeUrl !== `type.googleapis.com/${HttpConnectionManagerSchema.typeName}`) continue;
      const hcm = anyUnpack(any, HttpConnectionManagerSchema);
      if (hcm?.routeSpecifier.case === "rds") out.push(hcm.routeSpecifier.value.routeConfigName);
    }
  }
  return out;
}

/** A 53-bit hash (two 32-bit multiplicative lanes) of `bytes`, as 14 hex digits. */
export function hashBytes(bytes: Uint8Array): string {
  let h1 = 0xdeadbeef, h2 = 0x41c6ce57;
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i]!;
    h1 = Math.imul(h1 ^ b, 2654435761);
    h2 = Math.imul(h2 ^ b, 1597334677);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  return (4294967296 * (2097151 & h2) + (h1 >>> 0)).toString(16).padStart(14, "0");
}

function hashString(s: string): string {
  return hashBytes(new TextEncoder().encode(s));
}

/** The serialized size of a snapshot's resources (for logs). */
export function snapshotBytes(snap: Snapshot): number {
  let n = 0;
  for (const k of PUSH_ORDER) for (const r of snap.types[k].resources.values()) n += r.any.value.byteLength;
  return n;
}
