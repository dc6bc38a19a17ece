/**
 * Route configurations delivered by RDS (worker side): one holder per route config name per
 * thread. An HCM with `rds` keeps the holder and reads `table` once per stream, so a new route
 * config applies to the next request on every connection, without draining any (Envoy's RDS
 * semantics). Until the first version arrives the table is empty: every request is a 404 NR.
 */
import type { RouteConfigModel } from "../config/model.ts";
import { RouteTable } from "./route_table.ts";

/** The current route table of one route config name. */
export interface RouteTableHolder {
  readonly table: RouteTable;
}

/** A table with no virtual hosts (RDS not arrived yet, or the route config was removed). */
export function emptyRouteTable(name: string): RouteTable {
  return new RouteTable({ name, virtualHosts: [] });
}

/** Per-thread RDS route tables by name (worker side). */
export class RouteConfigProviders {
  readonly #holders = new Map<string, { table: RouteTable; json: string }>();

  /** The holder for `name` (created empty when unknown). */
  get(name: string): RouteTableHolder {
    let h = this.#holders.get(name);
    if (!h) {
      h = { table: emptyRouteTable(name), json: "" };
      this.#holders.set(name, h);
    }
    return h;
  }

  /** Installs the route configs of a snapshot: changed ones are recompiled, missing ones become
   *  empty (holders stay, HCMs keep their reference). */
  update(configs: readonly RouteConfigModel[]): void {
    const seen = new Set<string>();
    for (const m of configs) {
      seen.add(m.name);
      const json = JSON.stringify(m);
      const h = this.get(m.name) as { table: RouteTable; json: string };
      if (h.json === json) continue;
      h.table = new RouteTable(m);
      h.json = json;
    }
    for (const [name, h] of this.#holders) {
      if (!seen.has(name) && h.json !== "") {
        h.table = emptyRouteTable(name);
        h.json = "";
      }
    }
  }
}
