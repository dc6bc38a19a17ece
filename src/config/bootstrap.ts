/**
 * `envoy.config.bootstrap.v3.Bootstrap` (control side): schemas for the supported subset of the
 * bootstrap, listeners and clusters, network filters resolved through the registry, and Envoy's
 * semantic checks (unique listener names and addresses, unique cluster names, IP endpoints).
 */
import * as v from "valibot";
import type { ParseContext } from "../registry/registry.ts";
import { addressSchema, DEFAULT_BUFFER_LIMIT_BYTES } from "./address.ts";
import { parseCluster } from "./cluster.ts";
import { isIpLiteral } from "./ip.ts";
import type {
  AdminModel,
  BootstrapModel,
  ClusterModel,
  FilterChainModel,
  ListenerModel,
  NetworkFilterModel,
  NodeModel,
  SocketAddressModel,
} from "./model.ts";
import { any, isMapping, list, message, parseWith, str, uint32 } from "./schema.ts";

const nodeSchema = message(
  { id: v.optional(str(), ""), cluster: v.optional(str(), "") },
  {
    unsupported: [
      "metadata",
      "dynamic_parameters",
      "locality",
      "user_agent_name",
      "user_agent_version",
      "user_agent_build_version",
      "extensions",
      "client_features",
      "listening_addresses",
    ],
  },
);

const adminSchema = message(
  { address: v.optional(addressSchema), access_log_path: v.optional(str()) },
  { unsupported: ["access_log", "profile_path", "socket_options", "ignore_global_conn_limit"] },
);

const staticResourcesSchema = message(
  { listeners: v.optional(list, []), clusters: v.optional(list, []) },
  { unsupported: ["secrets"] },
);

const bootstrapSchema = message(
  { node: v.optional(nodeSchema), admin: v.optional(adminSchema), static_resources: v.optional(staticResourcesSchema) },
  {
    unsupported: [
      "node_context_params",
      "dynamic_resources",
      "cluster_manager",
      "hds_config",
      "flags_path",
      "stats_sinks",
      "deferred_stat_options",
      "stats_config",
      "stats_flush_interval",
      "stats_flush_on_admin",
      "watchdog",
      "watchdogs",
      "tracing",
      "layered_runtime",
      "overload_manager",
      "enable_dispatcher_stats",
      "header_prefix",
      "stats_server_version_override",
      "use_tcp_for_dns_lookups",
      "dns_resolution_config",
      "typed_dns_resolver_config",
      "bootstrap_extensions",
      "fatal_actions",
      "config_sources",
      "default_config_source",
      "default_socket_interface",
      "certificate_provider_instances",
      "inline_headers",
      "perf_tracing_file_path",
      "default_regex_engine",
      "xds_delegate_extension",
      "xds_config_tracker_extension",
      "listener_manager",
      "application_log_config",
      "grpc_async_client_manager_config",
      "memory_allocator_manager",
    ],
  },
);

const listenerSchema = message(
  {
    name: v.optional(str()),
    address: addressSchema,
    filter_chains: v.optional(list, []),
    per_connection_buffer_limit_bytes: v.optional(uint32({ wrapper: true }), DEFAULT_BUFFER_LIMIT_BYTES),
  },
  {
    unsupported: [
      "additional_addresses",
      "stat_prefix",
      "filter_chain_matcher",
      "use_original_dst",
      "default_filter_chain",
      "metadata",
      "drain_type",
      "listener_filters",
      "listener_filters_timeout",
      "continue_on_listener_filters_timeout",
      "transparent",
      "freebind",
      "socket_options",
      "tcp_fast_open_queue_length",
      "traffic_direction",
      "udp_listener_config",
      "api_listener",
      "connection_balance_config",
      "reuse_port",
      "enable_reuse_port",
      "access_log",
      "tcp_backlog_size",
      "max_connections_to_accept_per_socket_event",
      "bind_to_port",
      "internal_listener",
      "enable_mptcp",
      "ignore_global_conn_limit",
      "bypass_overload_manager",
      "fcds_config",
    ],
  },
);

/** Only the empty match is supported: every field of FilterChainMatch is refused. */
const filterChainMatchSchema = message({}, {
  unsupported: [
    "destination_port",
    "prefix_ranges",
    "address_suffix",
    "suffix_len",
    "direct_source_prefix_ranges",
    "source_type",
    "source_prefix_ranges",
    "source_ports",
    "server_names",
    "transport_protocol",
    "application_protocols",
  ],
});

const filterChainSchema = message(
  { name: v.optional(str(), ""), filters: v.optional(list, []), filter_chain_match: v.optional(filterChainMatchSchema) },
  { unsupported: ["use_proxy_proto", "metadata", "transport_socket", "transport_socket_connect_timeout", "on_demand_configuration"] },
);

const networkFilterSchema = message(
  { name: str({ nonEmpty: true }), typed_config: v.optional(any) },
  { unsupported: ["config_discovery"] },
);

/** Control side: names of the clusters in a raw (snake_case) bootstrap, valid or not, so that a
 *  broken cluster does not also make every route naming it "unknown". */
export function rawClusterNames(raw: unknown): Set<string> {
  const names = new Set<string>();
  const sr = isMapping(raw) ? raw.static_resources : undefined;
  const clusters = isMapping(sr) && Array.isArray(sr.clusters) ? sr.clusters : [];
  for (const c of clusters) if (isMapping(c) && typeof c.name === "string") names.add(c.name);
  return names;
}

function checkIpAddress(addr: SocketAddressModel, ctx: ParseContext, relPath: string): boolean {
  if (isIpLiteral(addr.address)) return true;
  ctx.issue(`${relPath}.socket_address.address`, `malformed IP address: ${JSON.stringify(addr.address)}`);
  return false;
}

function parseNetworkFilters(raw: unknown[], ctx: ParseContext): NetworkFilterModel[] | undefined {
  const out: NetworkFilterModel[] = [];
  let ok = true;
  raw.forEach((entry, i) => {
    const c = ctx.child(`[${i}]`);
    const f = parseWith(c, networkFilterSchema, entry);
    const typed = c.parseTypedConfig(isMapping(entry) ? entry.typed_config : undefined, "typed_config", "network_filter");
    if (!f || !typed) {
      ok = false;
      return;
    }
    // Envoy: a terminal filter must be last, and the last filter must be terminal.
    const last = i === raw.length - 1;
    const terminal = typed.extension.terminal === true;
    if (terminal && !last) {
      c.issue("", `terminal filter named ${JSON.stringify(f.name)} of type ${typed.extension.name} must be the last filter in a network filter chain`);
      ok = false;
    } else if (!terminal && last) {
      c.issue("", `non-terminal filter named ${JSON.stringify(f.name)} of type ${typed.extension.name} is the last filter in a network filter chain`);
      ok = false;
    }
    out.push({ name: f.name, typeUrl: typed.typeUrl, config: typed.config });
  });
  return ok ? out : undefined;
}

function parseFilterChain(raw: unknown, ctx: ParseContext): FilterChainModel | undefined {
  const fc = parseWith(ctx, filterChainSchema, raw);
  const rawFilters = isMapping(raw) && Array.isArray(raw.filters) ? raw.filters : [];
  const filters = parseNetworkFilters(rawFilters, ctx.child("filters"));
  if (!fc || !filters) return undefined;
  return { name: fc.name, filters };
}

function parseListener(raw: unknown, index: number, ctx: ParseContext): ListenerModel | undefined {
  const l = parseWith(ctx, listenerSchema, raw);
  const rawChains = isMapping(raw) && Array.isArray(raw.filter_chains) ? raw.filter_chains : [];
  const filterChains: FilterChainModel[] = [];
  let ok = l !== undefined;
  rawChains.forEach((rawChain, j) => {
    const c = ctx.child(`filter_chains[${j}]`);
    const chain = parseFilterChain(rawChain, c);
    if (chain) filterChains.push(chain);
    else ok = false;
    // With filter_chain_match always empty, two chains always have the same matching rules.
    if (j > 0) {
      c.issue("", "multiple filter chains with the same matching rules are defined");
      ok = false;
    }
  });
  if (!l) return undefined;
  if (rawChains.length === 0) {
    ctx.issue("filter_chains", "no filter chains specified");
    ok = false;
  }
  if (!checkIpAddress(l.address, ctx, "address")) ok = false;
  if (!ok) return undefined;
  return {
    // Envoy names an unnamed listener itself; we use its position.
    name: l.name || `listener_${index}`,
    address: l.address,
    filterChains,
    perConnectionBufferLimitBytes: l.per_connection_buffer_limit_bytes,
  };
}

/** Control side: parses a bootstrap (keys already snake_case) into the model; every problem is
 *  reported on `ctx` (whose `clusterNames` should hold `rawClusterNames(raw)`); undefined when
 *  there was any. */
export function parseBootstrap(raw: unknown, ctx: ParseContext): BootstrapModel | undefined {
  const b = parseWith(ctx, bootstrapSchema, raw);
  const sr = isMapping(raw) && isMapping(raw.static_resources) ? raw.static_resources : {};
  const rawListeners = Array.isArray(sr.listeners) ? sr.listeners : [];
  const rawClusters = Array.isArray(sr.clusters) ? sr.clusters : [];
  let ok = b !== undefined;

  const listeners: ListenerModel[] = [];
  const listenerIndex: number[] = [];
  rawListeners.forEach((rl, i) => {
    const l = parseListener(rl, i, ctx.child(`static_resources.listeners[${i}]`));
    if (l) {
      listeners.push(l);
      listenerIndex.push(i);
    } else ok = false;
  });
  const clusters: ClusterModel[] = [];
  const clusterIndex: number[] = [];
  rawClusters.forEach((rc, i) => {
    const c = parseCluster(rc, ctx.child(`static_resources.clusters[${i}]`));
    if (c) {
      clusters.push(c);
      clusterIndex.push(i);
    } else ok = false;
  });

  // Semantic checks across resources, as Envoy's listener and cluster managers make them.
  const names = new Map<string, string>();
  const addresses = new Map<string, string>();
  listeners.forEach((l, k) => {
    const at = `static_resources.listeners[${listenerIndex[k]}]`;
    if (names.has(l.name)) {
      ctx.issue(`${at}.name`, `duplicate listener name ${JSON.stringify(l.name)}`);
      ok = false;
    } else names.set(l.name, at);
    // Port 0 asks the kernel for a fresh port each time, so it never collides.
    if (l.address.port !== 0) {
      const key = `${l.address.address.toLowerCase()}:${l.address.port}`;
      const other = addresses.get(key);
      if (other !== undefined) {
        ctx.issue(`${at}.address`, `listener ${JSON.stringify(l.name)} has duplicate address ${key} as existing listener ${JSON.stringify(other)}`);
        ok = false;
      } else addresses.set(key, l.name);
    }
  });
  const clusterNames = new Set<string>();
  clusters.forEach((c, k) => {
    if (clusterNames.has(c.name)) {
      ctx.issue(`static_resources.clusters[${clusterIndex[k]}].name`, `duplicate cluster name ${JSON.stringify(c.name)}`);
      ok = false;
    }
    clusterNames.add(c.name);
  });

  let admin: AdminModel | undefined;
  if (b?.admin?.address) {
    if (!checkIpAddress(b.admin.address, ctx, "admin.address")) ok = false;
    admin = { address: b.admin.address, accessLogPath: b.admin.access_log_path };
  }
  if (!ok || !b) return undefined;
  const node: NodeModel = { id: b.node?.id ?? "", cluster: b.node?.cluster ?? "" };
  return { node, admin, listeners, clusters };
}
