/**
 * A list of filters (network filters of a filter chain, HTTP filters of an HCM), control side:
 * each entry's typed_config is resolved through the registry, and Envoy's terminal-filter rule
 * applies — a terminal filter must be last, and the last filter must be terminal.
 */
import type * as v from "valibot";
import type { ExtensionCategory, ParseContext } from "../registry/registry.ts";
import { isMapping, parseWith } from "./schema.ts";

/** One parsed filter entry. */
export interface FilterEntryModel {
  readonly name: string;
  readonly typeUrl: string;
  readonly config: unknown;
}

/** Parses `raw` (at `ctx`); every problem is reported, and undefined returned if there was any.
 *  `chain` names the list in messages ("network" or "http"), as Envoy's do. */
export function parseFilterList(
  raw: unknown[],
  ctx: ParseContext,
  schema: v.GenericSchema<unknown, { name: string }>,
  category: ExtensionCategory,
  chain: "network" | "http",
): FilterEntryModel[] | undefined {
  const out: FilterEntryModel[] = [];
  let ok = true;
  raw.forEach((entry, i) => {
    const c = ctx.child(`[${i}]`);
    const f = parseWith(c, schema, entry);
    const typed = c.parseTypedConfig(isMapping(entry) ? entry.typed_config : undefined, "typed_config", category);
    if (!f || !typed) {
      ok = false;
      return;
    }
    const last = i === raw.length - 1;
    const terminal = typed.extension.terminal === true;
    if (terminal && !last) {
      c.issue("", `terminal filter named ${JSON.stringify(f.name)} of type ${typed.extension.name} must be the last filter in a ${chain} filter chain`);
      ok = false;
    } else if (!terminal && last) {
      c.issue("", `non-terminal filter named ${JSON.stringify(f.name)} of type ${typed.extension.name} is the last filter in a ${chain} filter chain`);
      ok = false;
    }
    out.push({ name: f.name, typeUrl: typed.typeUrl, config: typed.config });
  });
  return ok ? out : undefined;
}
