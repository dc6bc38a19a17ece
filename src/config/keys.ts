/**
 * Key normalisation (control side): Envoy accepts proto field names (snake_case) and their proto3
 * JSON names (lowerCamelCase) alike, so `connectTimeout` is `connect_timeout`. Everything is
 * brought to snake_case once, before the schemas, so schemas and error paths speak Envoy's docs.
 */
import type { ConfigIssue } from "../core/errors.ts";
import { isMapping, joinPath } from "./schema.ts";

/** Fields whose values are opaque (google.protobuf.Struct or maps of Structs: metadata namespaces,
 *  log fields, runtime keys): nothing inside is rewritten. */
export const OPAQUE_FIELDS: ReadonlySet<string> = new Set([
  "filter_metadata",
  "json_format",
  "typed_json_format",
  "static_layer",
  "dynamic_parameters",
]);

/** Fields whose values are maps keyed by names (filter names, extension names, RBAC policy
 *  names) with messages as values: the keys are kept, the messages inside are normalised. */
export const NAME_KEYED_MAP_FIELDS: ReadonlySet<string> = new Set([
  "typed_per_filter_config",
  "typed_extension_protocol_options",
  "typed_filter_metadata",
  // config.rbac.v3.RBAC.policies: map<string, Policy> (network and HTTP RBAC, rules and shadow_rules).
  "policies",
]);

/** Control side: the snake_case proto field name for a lowerCamelCase JSON name; other keys
 *  (snake_case already, `@type`, odd spellings) come back unchanged. */
export function toSnakeCase(key: string): string {
  if (!/^[a-z][A-Za-z0-9]*$/.test(key) || !/[A-Z]/.test(key)) return key;
  return key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

function indexPath(path: string, i: number): string {
  return `${path}[${i}]`;
}

/** Control side: a copy of `value` with message keys in snake_case and null fields dropped (proto3
 *  JSON: null means "not set"); a field given in both spellings is reported on `issues`. */
export function normalizeKeys(value: unknown, issues: ConfigIssue[], path = ""): unknown {
  if (Array.isArray(value)) return value.map((item, i) => normalizeKeys(item, issues, indexPath(path, i)));
  if (!isMapping(value)) return value;
  const out: Record<string, unknown> = {};
  const spelledAs = new Map<string, string>();
  for (const [key, child] of Object.entries(value)) {
    if (child === null) continue;
    const name = toSnakeCase(key);
    const childPath = joinPath(path, name);
    const earlier = spelledAs.get(name);
    if (earlier !== undefined) {
      issues.push({ path: childPath, message: `is given twice (as ${JSON.stringify(earlier)} and ${JSON.stringify(key)})` });
      continue;
    }
    spelledAs.set(name, key);
    if (OPAQUE_FIELDS.has(name) || childPath === "node.metadata") out[name] = child;
    else if (NAME_KEYED_MAP_FIELDS.has(name) && isMapping(child)) {
      const map: Record<string, unknown> = {};
      for (const [k, item] of Object.entries(child)) map[k] = normalizeKeys(item, issues, `${childPath}.${k}`);
      out[name] = map;
    } else out[name] = normalizeKeys(child, issues, childPath);
  }
  return out;
}
