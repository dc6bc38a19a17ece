/**
 * xDS resources ▶ the same models as static config (control side). A resource arrives as a
 * protobuf `Any` (gRPC), as proto3 JSON (REST), or as YAML/JSON in a file; every form becomes
 * plain values, then snake_case keys, then the very parsers static config uses (DESIGN.md §5
 * rule 2). A problem is reported as `<type> <name>: <path>: <message>` lines for error_detail.
 */
import { type DescMessage, fromBinary, type Registry, toJson } from "@bufbuild/protobuf";
import type { ConfigIssue } from "../../core/errors.ts";
import { formatConfigIssue } from "../../core/errors.ts";
import { parseListener } from "../../config/bootstrap.ts";
import { type ClusterLoadAssignmentModel, parseCluster, parseClusterLoadAssignment } from "../../config/cluster.ts";
import { createParseContext } from "../../config/context.ts";
import "../../config/extensions.ts";
import { deepFreeze } from "../../config/freeze.ts";
import { normalizeKeys } from "../../config/keys.ts";
import type { ClusterModel, ListenerModel, RouteConfigModel } from "../../config/model.ts";
import { parseRouteConfiguration } from "../../config/route.ts";
import { isMapping } from "../../config/schema.ts";
import { TYPE_URL, xdsTypeRegistry } from "../type_registry.ts";

/** The four resource types, by their short names in stats and logs. */
export type ResourceKind = "listener" | "route" | "cluster" | "endpoint";

/** type_url of each kind. */
export const KIND_TYPE_URL: Record<ResourceKind, string> = {
  listener: TYPE_URL.listener,
  route: TYPE_URL.routeConfiguration,
  cluster: TYPE_URL.cluster,
  endpoint: TYPE_URL.clusterLoadAssignment,
};

/** The kind of a type_url, or undefined for a type Legate does not subscribe to. */
export function kindOfTypeUrl(typeUrl: string): ResourceKind | undefined {
  for (const [k, u] of Object.entries(KIND_TYPE_URL)) if (u === typeUrl) return k as ResourceKind;
  return undefined;
}

/** What each kind parses into. */
export interface KindModel {
  listener: ListenerModel;
  route: RouteConfigModel;
  cluster: ClusterModel;
  endpoint: ClusterLoadAssignmentModel;
}

/** One decoded resource, valid (`model`) or not (`error`). `name` may be "" when even the name
 *  could not be read. `raw` is the snake_case JSON (for /config_dump). */
export type DecodedResource<K extends ResourceKind = ResourceKind> =
  | { readonly name: string; readonly version: string; readonly raw: unknown; readonly model: KindModel[K]; readonly error?: undefined }
  | { readonly name: string; readonly version: string; readonly raw: unknown; readonly model?: undefined; readonly error: string };

function nameOf(kind: ResourceKind, json: unknown): string {
  if (!isMapping(json)) return "";
  const n = kind === "endpoint" ? json.cluster_name : json.name;
  return typeof n === "string" ? n : "";
}

/** Control side: parses one resource given as plain values (any key spelling). */
export function parseResource<K extends ResourceKind>(kind: K, json: unknown, version = ""): DecodedResource<K> {
  const issues: ConfigIssue[] = [];
  const raw = normalizeKeys(json, issues);
  const name = nameOf(kind, raw);
  const fail = (why: string): DecodedResource<K> => ({ name, version, raw, error: why });
  if (issues.length) return fail(issues.map(formatConfigIssue).join("; "));
  if (name === "") return fail(`${kind === "endpoint" ? "cluster_name" : "name"}: a ${kind} resource needs a name`);
  // Routes of an RDS resource are not checked against known clusters (Envoy's validate_clusters
  // is off for RDS): the cluster may arrive later, and until then the route answers 503 NC.
  const ctx = createParseContext({ issues, clusterNames: undefined });
  let model: unknown;
  switch (kind) {
    case "listener":
      model = parseListener(raw, 0, ctx);
      break;
    case "route":
      model = parseRouteConfiguration(raw, ctx);
      break;
    case "cluster":
      model = parseCluster(raw, ctx);
      break;
    case "endpoint":
      model = parseClusterLoadAssignment(raw, ctx);
      break;
  }
  if (issues.length || model === undefined) return fail(issues.length ? issues.map(formatConfigIssue).join("; ") : "invalid");
  return { name, version, raw, model: deepFreeze(model) as KindModel[K] };
}

/** Control side: a resource in a file or a REST/JSON response: `{"@type": url, ...fields}`. */
export function parseJsonResource<K extends ResourceKind>(kind: K, json: unknown, version = ""): DecodedResource<K> {
  if (!isMapping(json)) return { name: "", version, raw: json, error: `expected a ${kind} resource (a mapping)` };
  const { "@type": t, ...fields } = json;
  if (t !== undefined && t !== KIND_TYPE_URL[kind]) {
    const r = parseResource(kind, fields, version);
    return { name: r.name, version, raw: r.raw, error: `@type ${JSON.stringify(t)} where ${KIND_TYPE_URL[kind]} was expected` };
  }
  return parseResource(kind, fields, version);
}

let descs: Map<string, DescMessage> | undefined;

function descFor(registry: Registry, typeUrl: string): DescMessage | undefined {
  descs ??= new Map();
  let d = descs.get(typeUrl);
  if (!d) {
    d = registry.getMessage(typeUrl.slice(typeUrl.lastIndexOf("/") + 1));
    if (d) descs.set(typeUrl, d);
  }
  return d;
}

/** Control side: decodes a protobuf Any (gRPC) of `kind` and parses it. A payload that cannot be
 *  decoded (wrong type, unknown nested typed_config, bad bytes) is an invalid resource. */
export function decodeAnyResource<K extends ResourceKind>(
  kind: K,
  any: { typeUrl: string; value: Uint8Array },
  version = "",
  nameHint = "",
): DecodedResource<K> {
  if (any.typeUrl !== KIND_TYPE_URL[kind]) {
    return { name: nameHint, version, raw: undefined, error: `resource of type ${any.typeUrl} in a ${KIND_TYPE_URL[kind]} response` };
  }
  const registry = xdsTypeRegistry();
  const desc = descFor(registry, any.typeUrl)!;
  let json: unknown;
  try {
    json = toJson(desc, fromBinary(desc, any.value), { registry });
  } catch (e) {
    // protobuf-es names the unknown Any type in its message ("cannot encode message … to JSON: …").
    return { name: nameHint, version, raw: undefined, error: `cannot decode: ${e instanceof Error ? e.message : String(e)}` };
  }
  return parseResource(kind, json, version);
}
