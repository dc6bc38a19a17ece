/**
 * `listener_filters` of a listener (control side): each entry's typed_config is resolved through
 * the registry as a listener filter. As in Envoy, an entry without typed_config names a
 * built-in by its extension name (`- name: envoy.filters.listener.tls_inspector`).
 */
import * as v from "valibot";
import { findByName, type ParseContext } from "../registry/registry.ts";
import type { ListenerFilterModel } from "./model.ts";
import { any, isMapping, message, parseWith, str } from "./schema.ts";

/** Envoy's listener_filters_timeout default: 15 s. */
export const DEFAULT_LISTENER_FILTERS_TIMEOUT_MS = 15_000;

const listenerFilterSchema = message(
  { name: str({ nonEmpty: true }), typed_config: v.optional(any) },
  { unsupported: ["config_discovery", "filter_disabled"] },
);

/** Control side: parses `raw` (at `ctx`, the listener_filters list); undefined after any issue. */
export function parseListenerFilters(raw: unknown, ctx: ParseContext): ListenerFilterModel[] | undefined {
  if (!Array.isArray(raw)) {
    ctx.issue("", "expected a list");
    return undefined;
  }
  const out: ListenerFilterModel[] = [];
  let ok = true;
  raw.forEach((entry, i) => {
    const c = ctx.child(`[${i}]`);
    const f = parseWith(c, listenerFilterSchema, entry);
    if (!f) {
      ok = false;
      return;
    }
    if (f.typed_config === undefined) {
      const ext = findByName(f.name);
      if (!ext || ext.category !== "listener_filter") {
        c.issue("typed_config", `is required (${JSON.stringify(f.name)} is not a built-in listener filter name)`);
        ok = false;
        return;
      }
      const before = c.child("typed_config");
      const config = ext.parseConfig({}, before);
      if (config === undefined) {
        ok = false;
        return;
      }
      out.push({ name: f.name, typeUrl: ext.typeUrls[0]!, config });
      return;
    }
    const typed = c.parseTypedConfig(isMapping(entry) ? entry.typed_config : undefined, "typed_config", "listener_filter");
    if (!typed) {
      ok = false;
      return;
    }
    out.push({ name: f.name, typeUrl: typed.typeUrl, config: typed.config });
  });
  return ok ? out : undefined;
}
