/**
 * Test helper: validates network filter configs the way a user's bootstrap carries them (one
 * listener, the filters given, then tcp_proxy to cluster "c"), through loadBootstrap.
 */
import { loadBootstrap } from "../../src/config/load.ts";
import { ConfigError } from "../../src/core/errors.ts";

type Json = Record<string, unknown>;

const TCP = "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy";

/** The typed_config path of filter `i` in the config `loadNetworkFilters` builds. */
export const filterPath = (i = 0): string => `static_resources.listeners[0].filter_chains[0].filters[${i}].typed_config`;

/** Each filter's parsed model (tcp_proxy excluded), or the config error lines. */
export function loadNetworkFilters<T>(filters: { name: string; typed_config: Json }[]): T[] | string[] {
  const b = {
    static_resources: {
      listeners: [{
        name: "l",
        address: { socket_address: { address: "127.0.0.1", port_value: 10000 } },
        filter_chains: [{
          filters: [...filters, { name: "envoy.filters.network.tcp_proxy", typed_config: { "@type": TCP, stat_prefix: "s", cluster: "c" } }],
        }],
      }],
      clusters: [{ name: "c", load_assignment: { cluster_name: "c", endpoints: [] } }],
    },
  };
  try {
    const m = loadBootstrap({ text: JSON.stringify(b), sourceName: "x.json" });
    return m.listeners[0]!.filterChains[0]!.filters.slice(0, filters.length).map((f) => f.config as T);
  } catch (e) {
    if (e instanceof ConfigError) return e.message.split("\n");
    throw e;
  }
}

/** One filter's model, or the config error lines. */
export function loadNetworkFilter<T>(name: string, typedConfig: Json): T | string[] {
  const r = loadNetworkFilters<T>([{ name, typed_config: typedConfig }]);
  return r.length === 1 && typeof r[0] !== "string" ? r[0] as T : r as string[];
}
