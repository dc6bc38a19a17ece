/**
 * The config loader (control side): text (YAML or JSON) ▶ plain values ▶ snake_case keys ▶
 * `--config-yaml` merge ▶ schemas and semantic checks ▶ the frozen BootstrapModel. Reads no
 * files: callers pass text (the CLI reads files through the runtime adapter).
 */
import { isMap, isScalar, LineCounter, parseAllDocuments, visit } from "yaml";
import { ConfigError, type ConfigIssue } from "../core/errors.ts";
import type { ExtensionCategory, TypedConfigResult } from "../registry/registry.ts";
import { parseBootstrap, rawClusterNames } from "./bootstrap.ts";
import { createParseContext } from "./context.ts";
import "./extensions.ts";
import { deepFreeze } from "./freeze.ts";
import { NAME_KEYED_MAP_FIELDS, normalizeKeys, OPAQUE_FIELDS, toSnakeCase } from "./keys.ts";
import type { BootstrapModel } from "./model.ts";
import { describe, isMapping } from "./schema.ts";

/** The source name used for `--config-yaml` text in messages. */
export const OVERLAY_SOURCE_NAME = "--config-yaml";

const IGNORED_KEY_PREFIX = "\u0000ignore:";

function dropIgnoredKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(dropIgnoredKeys);
  if (!isMapping(value)) return value;
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(value)) if (!k.startsWith(IGNORED_KEY_PREFIX)) out[k] = dropIgnoredKeys(x);
  return out;
}

function parseText(text: string, sourceName: string, issues: ConfigIssue[]): unknown {
  const lc = new LineCounter();
  const at = (offset: number) => {
    const { line, col } = lc.linePos(offset);
    return `${sourceName}:${line}:${col}`;
  };
  const before = issues.length;
  const docs = parseAllDocuments(text, { lineCounter: lc, prettyErrors: false, uniqueKeys: true, merge: true });
  if (!Array.isArray(docs) || docs.length === 0) {
    issues.push({ path: "", message: `${sourceName}: the document is empty` });
    return undefined;
  }
  if (docs.length > 1) {
    issues.push({ path: "", message: `${at(docs[1]!.range[0])}: only one YAML document is allowed (found ${docs.length})` });
  }
  const doc = docs[0]!;
  for (const e of doc.errors) issues.push({ path: "", message: `${at(e.pos[0])}: ${e.message}` });
  if (issues.length > before) return undefined;
  // Envoy drops mapping entries whose key is tagged `!ignore` (handy for YAML anchors), and JSON
  // has no use for non-scalar keys.
  visit(doc, {
    Alias(_, alias) {
      if (!alias.resolve(doc)) issues.push({ path: "", message: `${at(alias.range?.[0] ?? 0)}: unknown anchor ${JSON.stringify(alias.source)}` });
    },
    Pair(_, pair) {
      // Renamed rather than removed: anchors defined under the key must still resolve.
      if (isScalar(pair.key) && pair.key.tag === "!ignore") pair.key.value = IGNORED_KEY_PREFIX + String(pair.key.value);
      if (pair.key !== null && !isScalar(pair.key)) {
        const range = (pair.key as { range?: [number, number, number] }).range;
        issues.push({ path: "", message: `${at(range?.[0] ?? 0)}: mapping keys must be plain scalars` });
      }
      return undefined;
    },
  });
  if (issues.length > before) return undefined;
  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: 1000 });
  } catch (e) {
    issues.push({ path: "", message: `${sourceName}: ${e instanceof Error ? e.message : String(e)}` });
    return undefined;
  }
  value = dropIgnoredKeys(value);
  if (value === null || value === undefined) {
    issues.push({ path: "", message: `${sourceName}: the document is empty` });
    return undefined;
  }
  if (!isMapping(value)) {
    const start = isMap(doc.contents) ? 0 : (doc.contents?.range?.[0] ?? 0);
    issues.push({ path: "", message: `${at(start)}: the document must be a mapping, got ${describe(value)}` });
    return undefined;
  }
  return value;
}

/** Control side: parses one YAML (or JSON, which is YAML) document into plain values; throws a
 *  ConfigError whose lines read `<sourceName>:<line>:<col>: <problem>` (duplicate keys and
 *  multiple documents are errors, as for Envoy). */
export function parseConfigText(text: string, sourceName: string): unknown {
  const issues: ConfigIssue[] = [];
  const value = parseText(text, sourceName, issues);
  if (issues.length) throw new ConfigError(issues);
  return value;
}

function mergeInto(base: unknown, overlay: unknown, mode: "message" | "map" | "opaque"): unknown {
  if (overlay === undefined || overlay === null) return base;
  if (Array.isArray(base) && Array.isArray(overlay)) return [...base, ...overlay];
  if (!isMapping(base) || !isMapping(overlay)) return overlay;
  // Map and Struct entries are replaced by key (proto map semantics); messages merge field by
  // field, matching `connect_timeout` with `connectTimeout`.
  if (mode !== "message") return { ...base, ...Object.fromEntries(Object.entries(overlay).filter(([, x]) => x !== null)) };
  const out: Record<string, unknown> = { ...base };
  const keyOf = new Map<string, string>();
  for (const k of Object.keys(base)) keyOf.set(toSnakeCase(k), k);
  for (const [k, x] of Object.entries(overlay)) {
    const name = toSnakeCase(k);
    const existing = keyOf.get(name);
    const childMode = OPAQUE_FIELDS.has(name) ? "opaque" : NAME_KEYED_MAP_FIELDS.has(name) ? "map" : "message";
    if (existing === undefined) {
      if (x === null || x === undefined) continue;
      out[k] = x;
      keyOf.set(name, k);
    } else out[existing] = mergeInto(base[existing], x, childMode);
  }
  return out;
}

/** Control side: Envoy's `--config-yaml` merge (protobuf MergeFrom): messages merge field by
 *  field, repeated fields are appended, scalars are replaced. Returns a new value. */
export function mergeConfig(base: unknown, overlay: unknown): unknown {
  return mergeInto(base, overlay, "message");
}

/** Control side: loads a bootstrap from config text and/or `--config-yaml` text (merged over it);
 *  throws a ConfigError listing every problem found. The model is deeply frozen. */
export function loadBootstrap(input: { text?: string; sourceName?: string; overlayYaml?: string }): BootstrapModel {
  const issues: ConfigIssue[] = [];
  const hasOverlay = input.overlayYaml !== undefined && input.overlayYaml.trim() !== "";
  if (input.text === undefined && !hasOverlay) {
    throw new ConfigError([{ path: "", message: "no configuration: give a config file or --config-yaml" }]);
  }
  const base = input.text === undefined ? {} : parseText(input.text, input.sourceName ?? "<config>", issues);
  const overlay = hasOverlay ? parseText(input.overlayYaml!, OVERLAY_SOURCE_NAME, issues) : undefined;
  if (issues.length) throw new ConfigError(issues);
  const merged = mergeConfig(normalizeKeys(base, issues), normalizeKeys(overlay, issues));
  if (issues.length) throw new ConfigError(issues);
  const ctx = createParseContext({ issues, clusterNames: rawClusterNames(merged) });
  const model = parseBootstrap(merged, ctx);
  if (issues.length || !model) throw new ConfigError(issues.length ? issues : [{ path: "", message: "invalid configuration" }]);
  return deepFreeze(model);
}

/** Control side: validates one typed_config (`{"@type": ..., ...}`, any key spelling) on its own,
 *  e.g. an xDS resource or a test fixture; routes are checked against `clusterNames` when given.
 *  Throws a ConfigError (paths start at `path`); the result is deeply frozen. */
export function loadTypedConfig(
  typedConfig: unknown,
  category: ExtensionCategory,
  opts: { path?: string; clusterNames?: Iterable<string> } = {},
): TypedConfigResult {
  const issues: ConfigIssue[] = [];
  const path = opts.path ?? "typed_config";
  const normalized = normalizeKeys(typedConfig, issues, path);
  if (issues.length) throw new ConfigError(issues);
  const ctx = createParseContext({ issues, clusterNames: opts.clusterNames ? new Set(opts.clusterNames) : undefined });
  const result = ctx.parseTypedConfig(normalized, path, category);
  if (issues.length || !result) throw new ConfigError(issues.length ? issues : [{ path, message: "invalid" }]);
  return Object.freeze({ extension: result.extension, typeUrl: result.typeUrl, config: deepFreeze(result.config) });
}
