/**
 * `envoy.config.bootstrap.v3.Bootstrap` (control side): schemas for the supported subset of the
 * bootstrap, listeners and clusters, network filters resolved through the registry, and Envoy's
 * semantic checks (unique listener names and addresses, unique cluster names, IP endpoints).
 */
import * as v from "valibot";
import type { ParseContext } from "../registry/registry.ts";
import { addressSchema, DEFAULT_BUFFER_LIMIT_BYTES } from "./address.ts";
import { parseCluster } from "./cluster.ts";
import { parseFilterList } from "./filter_list.ts";
import { parseDownstreamTransportSocket } from "./downstream_tls.ts";
import { isIpLiteral } from "./ip.ts";
import type {
  AdminModel,
  BootstrapModel,
  CidrRangeModel,
  ClusterModel,
  ConfigSourceModel,
  DynamicResourcesModel,
  FilterChainMatchModel,
  FilterChainModel,
  ListenerModel,
  NodeModel,
  SocketAddressModel,
} from "./model.ts";
import { any, describe, enumOf, isMapping, leaf, list, message, parseWith, Problem, str, uint32 } from "./schema.ts";
import { parseApiConfigSource, parseConfigSource } from "./config_source.ts";
import { DuplicateFilterChainMatch, FilterChainMatcher, normalizeCidr } from "../listener/filter_chain_match.ts";
// [listener filters]
import { DEFAULT_LISTENER_FILTERS_TIMEOUT_MS, parseListenerFilters } from "./listener_filters.ts";
import { bool as lfBool, duration as lfDuration } from "./schema.ts";
// [/listener filters]

const nodeSchema = message(
  {
    id: v.optional(str(), ""),
    cluster: v.optional(str(), ""),
    metadata: v.optional(leaf((x) => isMapping(x) ? x : new Problem(`expected a mapping (google.protobuf.Struct), got ${describe(x)}`))),
    locality: v.optional(message({ region: v.optional(str(), ""), zone: v.optional(str(), ""), sub_zone: v.optional(str(), "") })),
    user_agent_name: v.optional(str()),
  },
  {
    unsupported: [
      "dynamic_parameters",
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

const dynamicResourcesSchema = message(
  { lds_config: v.optional(any), cds_config: v.optional(any), ads_config: v.optional(any) },
  { unsupported: ["lds_resources_locator", "cds_resources_locator"] },
);

const bootstrapSchema = message(
  {
    node: v.optional(nodeSchema),
    admin: v.optional(adminSchema),
    static_resources: v.optional(staticResourcesSchema),
    // Parsed by parseDynamicResources (its own paths).
    dynamic_resources: v.optional(any),
  },
  {
    unsupported: [
      "node_context_params",
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
    default_filter_chain: v.optional(any),
    per_connection_buffer_limit_bytes: v.optional(uint32({ wrapper: true }), DEFAULT_BUFFER_LIMIT_BYTES),
    listener_filters: v.optional(any), // [listener filters] parsed by parseListenerFilters
    listener_filters_timeout: v.optional(lfDuration()),
    continue_on_listener_filters_timeout: v.optional(lfBool(), false),
  },
  {
    unsupported: [
      "additional_addresses",
      "stat_prefix",
      "filter_chain_matcher",
      "use_original_dst",
      "metadata",
      "drain_type",
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

/** `config.core.v3.CidrRange`: an IP literal and a prefix length (unset = 0, as in Envoy). */
const cidrRangeSchema = message({
  address_prefix: str({ nonEmpty: true }),
  prefix_len: v.optional(uint32({ max: 128, wrapper: true }), 0),
});

const portSchema = uint32({ min: 1, max: 65535 });

/** `config.listener.v3.FilterChainMatch`. `address_suffix` / `suffix_len` are not implemented in
 *  Envoy either. */
const filterChainMatchSchema = message(
  {
    destination_port: v.optional(uint32({ min: 1, max: 65535, wrapper: true })),
    prefix_ranges: v.optional(v.array(cidrRangeSchema), []),
    direct_source_prefix_ranges: v.optional(v.array(cidrRangeSchema), []),
    source_type: v.optional(enumOf(["ANY", "SAME_IP_OR_LOOPBACK", "EXTERNAL"] as const), "ANY"),
    source_prefix_ranges: v.optional(v.array(cidrRangeSchema), []),
    source_ports: v.optional(v.array(portSchema), []),
    server_names: v.optional(v.array(str({ nonEmpty: true })), []),
    transport_protocol: v.optional(str(), ""),
    application_protocols: v.optional(v.array(str({ nonEmpty: true })), []),
  },
  { unsupported: ["address_suffix", "suffix_len"] },
);

const filterChainSchema = message(
  { name: v.optional(str(), ""), filters: v.optional(list, []), filter_chain_match: v.optional(any), transport_socket: v.optional(any) },
  { unsupported: ["use_proxy_proto", "metadata", "transport_socket_connect_timeout", "on_demand_configuration"] },
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

/** Control side: the CIDR ranges of one FilterChainMatch field, masked; issues at `field[i]`. */
function cidrRanges(raw: readonly { address_prefix: string; prefix_len: number }[], ctx: ParseContext, field: string): CidrRangeModel[] | undefined {
  const out: CidrRangeModel[] = [];
  let ok = true;
  raw.forEach((r, i) => {
    const c = normalizeCidr(r.address_prefix, r.prefix_len);
    if (typeof c === "string") {
      ctx.issue(`${field}[${i}]${c.startsWith("malformed") ? ".address_prefix" : ".prefix_len"}`, c);
      ok = false;
    } else out.push(c);
  });
  return ok ? out : undefined;
}

/** Control side: a FilterChainMatch; undefined = empty (matches everything); null = invalid. */
function parseFilterChainMatch(raw: unknown, ctx: ParseContext): FilterChainMatchModel | undefined | null {
  const m = parseWith(ctx, filterChainMatchSchema, raw);
  if (!m) return null;
  const prefixRanges = cidrRanges(m.prefix_ranges, ctx, "prefix_ranges");
  const directSourcePrefixRanges = cidrRanges(m.direct_source_prefix_ranges, ctx, "direct_source_prefix_ranges");
  const sourcePrefixRanges = cidrRanges(m.source_prefix_ranges, ctx, "source_prefix_ranges");
  let ok = prefixRanges !== undefined && directSourcePrefixRanges !== undefined && sourcePrefixRanges !== undefined;
  m.server_names.forEach((name, i) => {
    // Envoy: only a leading "*." wildcard (partial wildcards are refused).
    if (name.includes("*") && !(name.startsWith("*.") && !name.slice(1).includes("*"))) {
      ctx.issue(`server_names[${i}]`, `partial wildcards are not supported in "server_names": ${JSON.stringify(name)}`);
      ok = false;
    }
  });
  if (!ok) return null;
  const model: FilterChainMatchModel = {
    destinationPort: m.destination_port ?? 0,
    prefixRanges: prefixRanges!,
    serverNames: m.server_names.map((n) => n.toLowerCase()),
    transportProtocol: m.transport_protocol,
    applicationProtocols: m.application_protocols,
    directSourcePrefixRanges: directSourcePrefixRanges!,
    sourceType: m.source_type,
    sourcePrefixRanges: sourcePrefixRanges!,
    sourcePorts: m.source_ports,
  };
  const empty = model.destinationPort === 0 && model.prefixRanges.length === 0 && model.serverNames.length === 0 &&
    model.transportProtocol === "" && model.applicationProtocols.length === 0 && model.directSourcePrefixRanges.length === 0 &&
    model.sourceType === "ANY" && model.sourcePrefixRanges.length === 0 && model.sourcePorts.length === 0;
  return empty ? undefined : model;
}

function parseFilterChain(raw: unknown, ctx: ParseContext): FilterChainModel | undefined {
  const fc = parseWith(ctx, filterChainSchema, raw);
  const rawFilters = isMapping(raw) && Array.isArray(raw.filters) ? raw.filters : [];
  const filters = parseFilterList(rawFilters, ctx.child("filters"), networkFilterSchema, "network_filter", "network");
  const match = isMapping(raw) && raw.filter_chain_match !== undefined
    ? parseFilterChainMatch(raw.filter_chain_match, ctx.child("filter_chain_match"))
    : undefined;
  const tls = isMapping(raw) && raw.transport_socket !== undefined ? parseDownstreamTransportSocket(ctx, raw.transport_socket, "transport_socket") : null;
  if (!fc || !filters || match === null || tls === undefined) return undefined;
  return { name: fc.name, filters, ...(match ? { match } : {}), ...(tls ? { tls } : {}) };
}

/** Control side: one listener (static_resources.listeners[index], or an LDS resource). */
export function parseListener(raw: unknown, index: number, ctx: ParseContext): ListenerModel | undefined {
  const l = parseWith(ctx, listenerSchema, raw);
  const rawChains = isMapping(raw) && Array.isArray(raw.filter_chains) ? raw.filter_chains : [];
  const filterChains: FilterChainModel[] = [];
  const chainIndex: number[] = [];
  let ok = l !== undefined;
  rawChains.forEach((rawChain, j) => {
    const chain = parseFilterChain(rawChain, ctx.child(`filter_chains[${j}]`));
    if (chain) {
      filterChains.push(chain);
      chainIndex.push(j);
    } else ok = false;
  });
  let defaultFilterChain: FilterChainModel | undefined;
  if (isMapping(raw) && raw.default_filter_chain !== undefined) {
    // Envoy ignores the default chain's filter_chain_match; it is still validated.
    defaultFilterChain = parseFilterChain(raw.default_filter_chain, ctx.child("default_filter_chain"));
    if (!defaultFilterChain) ok = false;
  }
  // [listener filters]
  const listenerFilters = isMapping(raw) && raw.listener_filters !== undefined
    ? parseListenerFilters(raw.listener_filters, ctx.child("listener_filters"))
    : [];
  if (!listenerFilters) ok = false;
  // [/listener filters]
  if (!l) return undefined;
  if (rawChains.length === 0 && !defaultFilterChain) {
    ctx.issue("filter_chains", "no filter chains specified");
    ok = false;
  }
  // Envoy's rule: no two chains may match the same connection with the same specificity.
  if (ok) {
    try {
      new FilterChainMatcher(filterChains.map((c) => ({ match: c.match, value: c })));
    } catch (e) {
      if (!(e instanceof DuplicateFilterChainMatch)) throw e;
      const label = (k: number) => filterChains[k]!.name !== "" ? JSON.stringify(filterChains[k]!.name) : `filter_chains[${chainIndex[k]}]`;
      ctx.issue(`filter_chains[${chainIndex[e.second]}]`, `multiple filter chains with the same matching rules are defined: ${label(e.second)} has the same matching rules as ${label(e.first)}`);
      ok = false;
    }
  }
  if (!checkIpAddress(l.address, ctx, "address")) ok = false;
  if (!ok) return undefined;
  return {
    // Envoy names an unnamed listener itself; we use its position.
    name: l.name || `listener_${index}`,
    address: l.address,
    filterChains,
    perConnectionBufferLimitBytes: l.per_connection_buffer_limit_bytes,
    ...(defaultFilterChain ? { defaultFilterChain } : {}),
    // [listener filters] only when configured, so a listener without them is unchanged
    ...(listenerFilters && listenerFilters.length > 0
      ? {
        listenerFilters,
        listenerFiltersTimeoutMs: l.listener_filters_timeout ?? DEFAULT_LISTENER_FILTERS_TIMEOUT_MS,
        continueOnListenerFiltersTimeout: l.continue_on_listener_filters_timeout,
      }
      : {}),
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
  let dynamicResources: DynamicResourcesModel | undefined;
  if (isMapping(raw) && raw.dynamic_resources !== undefined) {
    // The xDS servers must be static clusters (Envoy: they cannot come from CDS).
    dynamicResources = parseDynamicResources(raw.dynamic_resources, ctx.child("dynamic_resources"), clusterNames);
    if (!dynamicResources) ok = false;
  }
  if (!ok || !b) return undefined;
  const n = b.node;
  const node: NodeModel = {
    id: n?.id ?? "",
    cluster: n?.cluster ?? "",
    ...(n?.metadata ? { metadata: n.metadata } : {}),
    ...(n?.locality ? { locality: { region: n.locality.region, zone: n.locality.zone, subZone: n.locality.sub_zone } } : {}),
    ...(n?.user_agent_name !== undefined ? { userAgentName: n.user_agent_name } : {}),
  };
  return { node, admin, listeners, clusters, ...(dynamicResources ? { dynamicResources } : {}) };
}

/** Control side: `dynamic_resources`; `ads: {}` sources need an ads_config. */
function parseDynamicResources(raw: unknown, parent: ParseContext, staticClusters: ReadonlySet<string>): DynamicResourcesModel | undefined {
  const d = parseWith(parent, dynamicResourcesSchema, raw);
  if (!d) return undefined;
  let ok = true;
  const ads = d.ads_config === undefined ? undefined : parseApiConfigSource(d.ads_config, withClusters(parent.child("ads_config"), staticClusters), true);
  if (d.ads_config !== undefined && !ads) ok = false;
  const src = (field: "lds_config" | "cds_config"): ConfigSourceModel | undefined => {
    if (d[field] === undefined) return undefined;
    const c = parseConfigSource(d[field], withClusters(parent.child(field), staticClusters));
    if (!c) {
      ok = false;
      return undefined;
    }
    if (c.kind === "ads" && d.ads_config === undefined) {
      parent.issue(`${field}.ads`, "an ADS config source needs dynamic_resources.ads_config");
      ok = false;
    }
    return c;
  };
  const lds = src("lds_config");
  const cds = src("cds_config");
  if (!ok) return undefined;
  return { ...(lds ? { lds } : {}), ...(cds ? { cds } : {}), ...(ads ? { ads } : {}) };
}

/** A context whose cluster check uses `names` (the static clusters). */
function withClusters(ctx: ParseContext, names: ReadonlySet<string>): ParseContext {
  return {
    path: ctx.path,
    clusterNames: names,
    issue: (rel, msg) => ctx.issue(rel, msg),
    child: (rel) => withClusters(ctx.child(rel), names),
    parseTypedConfig: (t, rel, cat) => ctx.parseTypedConfig(t, rel, cat),
  };
}
