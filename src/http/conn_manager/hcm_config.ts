/**
 * The HTTP connection manager's per-config-version shared state (built once per worker per
 * snapshot): route table, filter factories, stat handles. Connections only read it.
 */
import type { Counter, Gauge, Histogram } from "../../core/stats.ts";
import type { HcmModel, LocalReplyModel } from "../../config/model.ts";
import { RouteTable } from "../../router/route_table.ts";
import { emptyRouteTable, type RouteTableHolder } from "../../router/route_config_provider.ts";
import type { NetworkFilterFactoryContext } from "../../network/filter.ts";
import { findHttpFilterRuntime, type StreamFilterFactory } from "../filter.ts";
import type { AccessLogger } from "./access_log.ts";
import { compileLogFilter, createAccessLoggers, type LogPredicate } from "./access_log.ts";
import { compileFormat, type CompiledFormat } from "./formatter.ts";
import { type CidrRange, inRanges, parseIp } from "./cidr.ts";
import { ROUTER_TYPE_URL } from "../../filters/http/router/filter.ts";

/** `http.<stat_prefix>.…` handles. */
export class HcmStats {
  readonly downstreamCxTotal: Counter;
  readonly downstreamCxHttp1Total: Counter;
  readonly downstreamCxActive: Gauge;
  readonly downstreamCxHttp1Active: Gauge;
  readonly downstreamCxDestroy: Counter;
  readonly downstreamCxDestroyRemoteActiveRq: Counter;
  readonly downstreamCxProtocolError: Counter;
  readonly downstreamCxIdleTimeout: Counter;
  readonly downstreamCxDrainClose: Counter;
  readonly downstreamCxRxBytesTotal: Counter;
  readonly downstreamCxTxBytesTotal: Counter;
  readonly downstreamRqTotal: Counter;
  readonly downstreamRqHttp1Total: Counter;
  readonly downstreamRqActive: Gauge;
  readonly downstreamRqCompleted: Counter;
  /** downstream_rq_time (ms), from the first request byte to the end of the response. */
  readonly downstreamRqTime: Histogram;
  readonly downstreamRqRxReset: Counter;
  readonly downstreamRqTxReset: Counter;
  readonly downstreamRqTimeout: Counter;
  readonly downstreamRqHeaderTimeout: Counter;
  readonly downstreamRqIdleTimeout: Counter;
  readonly downstreamCxMaxDurationReached: Counter;
  readonly downstreamCxMaxRequestsReached: Counter;
  readonly downstreamRqWsOnNonWsRoute: Counter;
  readonly downstreamRqFailedPathNormalization: Counter;
  readonly downstreamRqRedirectedWithNormalizedPath: Counter;
  readonly downstreamRqNonRelativePath: Counter;
  readonly downstreamCxUpgradesTotal: Counter;
  readonly downstreamRqTooLarge: Counter;
  readonly downstreamRqMaxDurationReached: Counter;
  readonly requestsRejectedWithUnderscoresInHeaders: Counter;
  readonly droppedHeadersWithUnderscores: Counter;
  readonly rsTooLarge: Counter;
  readonly downstreamCxUpgradesActive: Gauge;
  /** downstream_rq_1xx … downstream_rq_5xx by status / 100. */
  readonly downstreamRqByClass: Counter[];
  constructor(ctx: NetworkFilterFactoryContext, prefix: string) {
    const c = (n: string) => ctx.stats.counter(prefix + n);
    const g = (n: string) => ctx.stats.gauge(prefix + n);
    this.downstreamCxTotal = c("downstream_cx_total");
    this.downstreamCxHttp1Total = c("downstream_cx_http1_total");
    this.downstreamCxActive = g("downstream_cx_active");
    this.downstreamCxHttp1Active = g("downstream_cx_http1_active");
    this.downstreamCxDestroy = c("downstream_cx_destroy");
    this.downstreamCxDestroyRemoteActiveRq = c("downstream_cx_destroy_remote_active_rq");
    this.downstreamCxProtocolError = c("downstream_cx_protocol_error");
    this.downstreamCxIdleTimeout = c("downstream_cx_idle_timeout");
    this.downstreamCxDrainClose = c("downstream_cx_drain_close");
    this.downstreamCxRxBytesTotal = c("downstream_cx_rx_bytes_total");
    this.downstreamCxTxBytesTotal = c("downstream_cx_tx_bytes_total");
    this.downstreamRqTotal = c("downstream_rq_total");
    this.downstreamRqHttp1Total = c("downstream_rq_http1_total");
    this.downstreamRqActive = g("downstream_rq_active");
    this.downstreamRqCompleted = c("downstream_rq_completed");
    this.downstreamRqTime = ctx.stats.histogram(prefix + "downstream_rq_time");
    this.downstreamRqRxReset = c("downstream_rq_rx_reset");
    this.downstreamRqTxReset = c("downstream_rq_tx_reset");
    this.downstreamRqTimeout = c("downstream_rq_timeout");
    this.downstreamRqHeaderTimeout = c("downstream_rq_header_timeout");
    this.downstreamRqIdleTimeout = c("downstream_rq_idle_timeout");
    this.downstreamCxMaxDurationReached = c("downstream_cx_max_duration_reached");
    this.downstreamCxMaxRequestsReached = c("downstream_cx_max_requests_reached");
    this.downstreamRqWsOnNonWsRoute = c("downstream_rq_ws_on_non_ws_route");
    this.downstreamRqFailedPathNormalization = c("downstream_rq_failed_path_normalization");
    this.downstreamRqRedirectedWithNormalizedPath = c("downstream_rq_redirected_with_normalized_path");
    this.downstreamRqNonRelativePath = c("downstream_rq_non_relative_path");
    this.downstreamCxUpgradesTotal = c("downstream_cx_upgrades_total");
    this.downstreamRqTooLarge = c("downstream_rq_too_large");
    this.downstreamRqMaxDurationReached = c("downstream_rq_max_duration_reached");
    this.requestsRejectedWithUnderscoresInHeaders = c("requests_rejected_with_underscores_in_headers");
    this.droppedHeadersWithUnderscores = c("dropped_headers_with_underscores");
    this.rsTooLarge = c("rs_too_large");
    this.downstreamCxUpgradesActive = g("downstream_cx_upgrades_active");
    this.downstreamRqByClass = [0, 1, 2, 3, 4, 5].map((k) => c(k === 0 ? "downstream_rq_0xx" : `downstream_rq_${k}xx`));
  }
}

/** One compiled local_reply_config mapper. */
export interface LocalReplyMapper {
  readonly filter: LogPredicate;
  readonly statusCode: number;
  readonly body: string | undefined;
  readonly format: CompiledFormat | null;
  readonly contentType: string;
}

/** local_reply_config, compiled. */
export interface LocalReplyConfig {
  readonly mappers: readonly LocalReplyMapper[];
  readonly format: CompiledFormat | null;
  readonly contentType: string;
}

function compileLocalReply(m: LocalReplyModel | undefined): LocalReplyConfig | null {
  if (m === undefined || (m.mappers.length === 0 && m.bodyFormat === "")) return null;
  return {
    mappers: m.mappers.map((x) => ({
      filter: compileLogFilter(x.filter),
      statusCode: x.statusCode,
      body: x.body,
      format: x.bodyFormat ? compileFormat(x.bodyFormat) : null,
      contentType: x.contentType,
    })),
    format: m.bodyFormat ? compileFormat(m.bodyFormat) : null,
    contentType: m.contentType,
  };
}

/** Loopback, RFC 1918 and RFC 4193 addresses: Envoy's internal addresses when
 *  internal_address_config is not set. */
export const DEFAULT_INTERNAL_RANGES: readonly CidrRange[] = [
  ["127.0.0.0", 8], ["10.0.0.0", 8], ["172.16.0.0", 12], ["192.168.0.0", 16], ["::1", 128], ["fc00::", 7],
].map(([a, n]) => ({ bytes: parseIp(a as string)!, prefixLen: n as number }));

/** Everything an HCM connection needs from config, compiled once. */
export class HcmConfig {
  // Resolved options (the model's optional fields with Envoy's defaults), read on the hot path.
  readonly maxConnectionDurationMs: number;
  readonly maxStreamDurationMs: number;
  readonly headersWithUnderscoresAction: "ALLOW" | "REJECT_REQUEST" | "DROP_HEADER";
  readonly xffNumTrustedHops: number;
  readonly skipXffAppend: boolean;
  readonly via: string;
  readonly serverHeaderTransformation: "OVERWRITE" | "APPEND_IF_ABSENT" | "PASS_THROUGH";
  readonly normalizePath: boolean;
  readonly mergeSlashes: boolean;
  readonly escapedSlashesAction: "KEEP_UNCHANGED" | "REJECT_REQUEST" | "UNESCAPE_AND_REDIRECT" | "UNESCAPE_AND_FORWARD";
  readonly stripHostPort: "none" | "matching" | "any";
  readonly alwaysSetRequestIdInResponse: boolean;
  readonly localReply: LocalReplyConfig | null;
  readonly acceptHttp10: boolean;
  readonly defaultHostForHttp10: string;
  readonly enableTrailers: boolean;
  readonly stripTrailingHostDot: boolean;
  readonly appendXForwardedPort: boolean;
  /** scheme_header_transformation.scheme_to_overwrite, "" = keep. */
  readonly schemeToOverwrite: string;
  /** internal_address_config.cidr_ranges, parsed; null = the default internal ranges. */
  readonly internalRanges: readonly CidrRange[] | null;
  /** upgrade_configs: enabled upgrade types, lower-cased. */
  readonly upgradeTypes: readonly string[];
  /** drain_timeout ms (default 5000): how long an idle connection survives its listener's drain. */
  readonly drainTimeoutMs: number;
  /** delayed_close_timeout ms (default 1000; 0 = close as soon as the writes are flushed). */
  readonly delayedCloseTimeoutMs: number;
  /** proxy_100_continue: Expect: 100-continue goes upstream and the upstream's 100 is relayed. */
  readonly proxy100Continue: boolean;
  /** Whether `ip` is an internal address (internal_address_config, or the default ranges). */
  isInternal(ip: string): boolean {
    return inRanges(ip, this.internalRanges ?? DEFAULT_INTERNAL_RANGES);
  }
  /** Whether any path option needs the path examined per request. */
  readonly pathOptions: boolean;
  readonly statPrefix: string;
  readonly stats: HcmStats;
  /** The route table new streams use: fixed for an inline route_config, the thread's RDS
   *  holder (swapped when a new version arrives) for `rds`. */
  readonly routes: RouteTableHolder;
  readonly filterFactories: readonly StreamFilterFactory[];
  readonly accessLoggers: readonly AccessLogger[];
  constructor(readonly model: HcmModel, readonly ctx: NetworkFilterFactoryContext) {
    this.statPrefix = `http.${model.statPrefix}.`;
    this.stats = new HcmStats(ctx, this.statPrefix);
    if (model.routeConfig) this.routes = { table: new RouteTable(model.routeConfig) };
    else if (ctx.routeConfigs) this.routes = ctx.routeConfigs.get(model.rds!.routeConfigName);
    else this.routes = { table: emptyRouteTable(model.rds!.routeConfigName) };
    const base = {
      clusterManager: ctx.clusterManager,
      wheel: ctx.wheel,
      stats: ctx.stats,
      statPrefix: this.statPrefix,
      healthCheckFailed: ctx.healthCheckFailed,
    };
    // An HCM without HTTP filters routes with a default router, as Envoy does.
    const filters = model.httpFilters.length > 0
      ? model.httpFilters
      : [{ name: "envoy.filters.http.router", typeUrl: ROUTER_TYPE_URL, config: {} }];
    this.filterFactories = filters.map((f) => {
      const ext = findHttpFilterRuntime(f.typeUrl);
      // The config layer refuses unknown types, so a miss here is a registration bug.
      if (!ext) throw new Error(`no runtime registered for HTTP filter ${f.typeUrl}`);
      // The filter's own name keys its typed_per_filter_config entries.
      return ext.createFilterFactory(f.config, { ...base, filterName: f.name });
    });
    this.accessLoggers = createAccessLoggers(model.accessLog);
    this.maxConnectionDurationMs = model.maxConnectionDurationMs ?? 0;
    this.maxStreamDurationMs = model.maxStreamDurationMs ?? 0;
    this.headersWithUnderscoresAction = model.headersWithUnderscoresAction ?? "ALLOW";
    this.xffNumTrustedHops = model.xffNumTrustedHops ?? 0;
    this.skipXffAppend = model.skipXffAppend ?? false;
    this.via = model.via ?? "";
    this.serverHeaderTransformation = model.serverHeaderTransformation ?? "OVERWRITE";
    this.normalizePath = model.normalizePath ?? false;
    this.mergeSlashes = model.mergeSlashes ?? false;
    this.escapedSlashesAction = model.pathWithEscapedSlashesAction ?? "KEEP_UNCHANGED";
    this.stripHostPort = model.stripHostPort ?? "none";
    this.alwaysSetRequestIdInResponse = model.alwaysSetRequestIdInResponse ?? false;
    this.localReply = compileLocalReply(model.localReply);
    this.acceptHttp10 = model.acceptHttp10 ?? false;
    this.defaultHostForHttp10 = model.defaultHostForHttp10 ?? "";
    this.enableTrailers = model.enableTrailers ?? false;
    this.upgradeTypes = model.upgradeTypes ?? [];
    this.drainTimeoutMs = model.drainTimeoutMs ?? 5000;
    this.delayedCloseTimeoutMs = model.delayedCloseTimeoutMs ?? 1000;
    this.proxy100Continue = model.proxy100Continue ?? false;
    this.stripTrailingHostDot = model.stripTrailingHostDot ?? false;
    this.appendXForwardedPort = model.appendXForwardedPort ?? false;
    this.schemeToOverwrite = model.schemeToOverwrite ?? "";
    this.internalRanges = model.internalCidrRanges
      ? model.internalCidrRanges.map((r) => ({ bytes: parseIp(r.addressPrefix)!, prefixLen: r.prefixLen }))
      : null;
    this.pathOptions = this.normalizePath || this.mergeSlashes || this.escapedSlashesAction !== "KEEP_UNCHANGED";
  }
}
