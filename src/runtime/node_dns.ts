/**
 * Name resolution for the Bun and Deno adapters (control side: DNS clusters). Uses the system
 * resolver (`getaddrinfo` through node:dns `lookup`, so /etc/hosts applies); it reports no TTL.
 */
import { lookup } from "node:dns/promises";
import { toRuntimeError } from "./errors.ts";
import type { ResolvedAddress } from "./types.ts";

/** Resolves `host` for one family ("v4", "v6") or both ("auto"); rejects with RuntimeError. */
export async function resolveWithNodeDns(host: string, family: "v4" | "v6" | "auto"): Promise<ResolvedAddress[]> {
  try {
    const fam = family === "v4" ? 4 : family === "v6" ? 6 : 0;
    const found = await lookup(host, { all: true, family: fam });
    const out: ResolvedAddress[] = [];
    const seen = new Set<string>();
    for (const a of found) {
      if (fam !== 0 && a.family !== fam) continue;
      if (seen.has(a.address)) continue;
      seen.add(a.address);
      out.push({ address: a.address });
    }
    return out;
  } catch (e) {
    throw toRuntimeError(e, "ENOTFOUND");
  }
}
