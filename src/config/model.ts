/**
 * The frozen internal config model (control side builds it, workers read it).
 * Produced from Envoy v3 YAML/JSON (or xDS resources) by src/config/; every value here is
 * already validated, defaulted and converted (durations in ms, enums as strings).
 */

/** An IP socket address. */
export interface SocketAddressModel {
  readonly address: string;
  readonly port: number;
}

/** `bootstrap` after validation. */
export interface BootstrapModel {
  readonly node: NodeModel;
  readonly admin: AdminModel | undefined;
  readonly listeners: readonly ListenerModel[];
  readonly clusters: readonly ClusterModel[];
  /** dynamic_resources: where LDS and CDS come from (absent = static config only). */
  readonly dynamicResources?: DynamicResourcesModel;
}

export interface NodeModel {
  readonly id: string;
  readonly cluster: string;
  /** node.metadata (a google.protobuf.Struct, as given). */
  readonly metadata?: Readonly<Record<string, unknown>>;
  readonly locality?: { readonly region: string; readonly zone: string; readonly subZone: string };
  /** node.user_agent_name (Envoy's default "envoy"; ours "legate"). */
  readonly userAgentName?: string;
}

/** `dynamic_resources` of the bootstrap. */
export interface DynamicResourcesModel {
  readonly lds?: ConfigSourceModel;
  readonly cds?: ConfigSourceModel;
  /** ads_config (api_type AGGREGATED_GRPC or AGGREGATED_DELTA_GRPC after parsing). */
  readonly ads?: ApiConfigSourceModel;
}

/** `config.core.v3.ConfigSource`. */
export type ConfigSourceModel =
  & { readonly initialFetchTimeoutMs: number }
  & (
    | { readonly kind: "ads" }
    | { readonly kind: "api"; readonly api: ApiConfigSourceModel }
    | { readonly kind: "path"; readonly path: string; readonly watchedDirectory?: string }
  );

/** `config.core.v3.ApiConfigSource` (one server, by static cluster name). */
export interface ApiConfigSourceModel {
  readonly apiType: "REST" | "GRPC" | "DELTA_GRPC" | "AGGREGATED_GRPC" | "AGGREGATED_DELTA_GRPC";
  readonly clusterName: string;
  /** REST: polling interval (refresh_delay, default 1 s) and per-request timeout (default 1 s). */
  readonly refreshDelayMs: number;
  readonly requestTimeoutMs: number;
  readonly initialMetadata: readonly (readonly [string, string])[];
  readonly setNodeOnFirstMessageOnly: boolean;
}

export interface AdminModel {
  readonly address: SocketAddressModel;
  /** `admin.access_log_path` (deprecated in Envoy, still accepted) — undefined when absent. */
  readonly accessLogPath: string | undefined;
}

export interface ListenerModel {
  readonly name: string;
  readonly address: SocketAddressModel;
  readonly filterChains: readonly FilterChainModel[];
  /** Envoy default 1 MiB. */
  readonly perConnectionBufferLimitBytes: number;
  /** `default_filter_chain`: used when no chain matches; absent when not configured. */
  readonly defaultFilterChain?: FilterChainModel;
  // [listener filters]
  /** `listener_filters`, in order (absent or empty = none: the accept path is unchanged). */
  readonly listenerFilters?: readonly ListenerFilterModel[];
  /** `listener_filters_timeout` in ms (Envoy default 15 s; 0 = none). */
  readonly listenerFiltersTimeoutMs?: number;
  /** `continue_on_listener_filters_timeout` (default false: the socket is closed). */
  readonly continueOnListenerFiltersTimeout?: boolean;
  // [/listener filters]
}

/** A listener filter entry; `config` is the extension's own validated model. */
export interface ListenerFilterModel {
  readonly name: string;
  /** The `@type` URL of typed_config. */
  readonly typeUrl: string;
  readonly config: unknown;
}

export interface FilterChainModel {
  readonly name: string;
  readonly filters: readonly NetworkFilterModel[];
  /** `filter_chain_match`; absent when empty (the chain matches every connection). */
  readonly match?: FilterChainMatchModel;
  /** `transport_socket` envoy.transport_sockets.tls (DownstreamTlsContext); absent = raw_buffer. */
  readonly tls?: DownstreamTlsModel;
}

/** A certificate chain and its private key (`extensions.transport_sockets.tls.v3.TlsCertificate`). */
export interface TlsCertificateModel {
  readonly certificateChain: PemSourceModel;
  readonly privateKey: PemSourceModel;
}

/** `tls_certificate_sds_secret_configs[i]`: a Secret read from a file (`sds_config.path_config_source`). */
export interface SdsSecretRefModel {
  readonly name: string;
  /** The file holding a DiscoveryResponse (YAML or JSON) with the Secret resource. */
  readonly path: string;
  /** Filled by the control side when it reads the file (src/tls/tls_files.ts); absent in a
   *  model fresh from the config parser. */
  readonly certificate?: TlsCertificateModel;
}

/** `extensions.transport_sockets.tls.v3.DownstreamTlsContext`, the supported subset. */
export interface DownstreamTlsModel {
  /** common_tls_context.tls_certificates (several: chosen by SNI). */
  readonly certificates: readonly TlsCertificateModel[];
  /** common_tls_context.tls_certificate_sds_secret_configs (SDS from a file). */
  readonly sdsCertificates: readonly SdsSecretRefModel[];
  /** common_tls_context.validation_context.trusted_ca (client certificates). */
  readonly trustedCa: PemSourceModel | undefined;
  /** require_client_certificate. */
  readonly requireClientCertificate: boolean;
  /** common_tls_context.alpn_protocols, in the server's preference order. */
  readonly alpn: readonly string[];
  /** tls_params versions, node:tls spelling; undefined = TLS_AUTO (Envoy: 1.2 .. 1.3 on a server). */
  readonly minVersion: "TLSv1" | "TLSv1.1" | "TLSv1.2" | "TLSv1.3" | undefined;
  readonly maxVersion: "TLSv1" | "TLSv1.1" | "TLSv1.2" | "TLSv1.3" | undefined;
  /** tls_params.cipher_suites (TLS 1.2 and below; BoringSSL names and `[A|B]` groups), in
   *  preference order; [] = the runtime's default. */
  readonly cipherSuites: readonly string[];
  /** tls_params.ecdh_curves ("X25519", "P-256", …); [] = the runtime's default. */
  readonly ecdhCurves: readonly string[];
}

/** `config.core.v3.CidrRange`, with the address already masked to its prefix. */
export interface CidrRangeModel {
  readonly addressPrefix: string;
  readonly prefixLen: number;
}

/** `config.listener.v3.FilterChainMatch`; empty lists / 0 / "" / "ANY" mean "not constrained". */
export interface FilterChainMatchModel {
  /** 0 = any port. */
  readonly destinationPort: number;
  readonly prefixRanges: readonly CidrRangeModel[];
  /** Lowercased; exact names and `*.suffix` wildcards. */
  readonly serverNames: readonly string[];
  readonly transportProtocol: string;
  readonly applicationProtocols: readonly string[];
  readonly directSourcePrefixRanges: readonly CidrRangeModel[];
  readonly sourceType: "ANY" | "SAME_IP_OR_LOOPBACK" | "EXTERNAL";
  readonly sourcePrefixRanges: readonly CidrRangeModel[];
  readonly sourcePorts: readonly number[];
}

/** A network filter entry; `config` is the extension's own validated model. */
export interface NetworkFilterModel {
  readonly name: string;
  /** The `@type` URL of typed_config. */
  readonly typeUrl: string;
  readonly config: unknown;
}

/** envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager */
export interface HcmModel {
  readonly statPrefix: string;
  readonly codecType: "AUTO" | "HTTP1";
  /** The inline route_config; absent when routes come from RDS (`rds`). */
  readonly routeConfig?: RouteConfigModel;
  /** rds: the RouteConfiguration name to subscribe to, and where it comes from. */
  readonly rds?: { readonly routeConfigName: string; readonly configSource: ConfigSourceModel };
  readonly httpFilters: readonly HttpFilterModel[];
  /** use_remote_address: when true, append the peer address to x-forwarded-for. Envoy default false. */
  readonly useRemoteAddress: boolean;
  /** generate_request_id: Envoy default true. */
  readonly generateRequestId: boolean;
  /** preserve_external_request_id: Envoy default false (we keep an incoming one when present
   *  regardless while use_remote_address is false, as Envoy does for internal requests). */
  readonly preserveExternalRequestId: boolean;
  /** server_name: value of the `server` response header; Envoy default "envoy", ours "legate". */
  readonly serverName: string;
  /** stream_idle_timeout, ms; Envoy default 5 min; 0 disables. */
  readonly streamIdleTimeoutMs: number;
  /** request_timeout, ms; 0 (default) disables. */
  readonly requestTimeoutMs: number;
  /** request_headers_timeout, ms; 0 (default) disables. */
  readonly requestHeadersTimeoutMs: number;
  /** common_http_protocol_options.idle_timeout, ms; Envoy default 1 h; 0 disables. */
  readonly idleTimeoutMs: number;
  /** max_request_headers_kb, Envoy default 60. */
  readonly maxRequestHeadersKb: number;
  /** common_http_protocol_options.max_headers_count, Envoy default 100. */
  readonly maxHeadersCount: number;
  /** common_http_protocol_options.max_requests_per_connection; 0 = unlimited. */
  readonly maxRequestsPerConnection: number;
  readonly accessLog: readonly AccessLogModel[];
  // Fields below are optional so older model literals stay valid; the config layer sets them all.
  /** common_http_protocol_options.max_connection_duration, ms; 0 (default) = none. */
  readonly maxConnectionDurationMs?: number;
  /** xff_num_trusted_hops; Envoy default 0. */
  readonly xffNumTrustedHops?: number;
  /** skip_xff_append; Envoy default false. */
  readonly skipXffAppend?: boolean;
  /** via: appended to `via` request and response headers when not empty. */
  readonly via?: string;
  /** server_header_transformation; Envoy default OVERWRITE. */
  readonly serverHeaderTransformation?: "OVERWRITE" | "APPEND_IF_ABSENT" | "PASS_THROUGH";
  /** normalize_path (RFC 3986 §5.2.4 dot-segment removal); Envoy default false. */
  readonly normalizePath?: boolean;
  /** merge_slashes; Envoy default false. */
  readonly mergeSlashes?: boolean;
  /** path_with_escaped_slashes_action; IMPLEMENTATION_SPECIFIC_DEFAULT means KEEP_UNCHANGED. */
  readonly pathWithEscapedSlashesAction?: "KEEP_UNCHANGED" | "REJECT_REQUEST" | "UNESCAPE_AND_REDIRECT" | "UNESCAPE_AND_FORWARD";
  /** strip_matching_host_port / strip_any_host_port. */
  readonly stripHostPort?: "none" | "matching" | "any";
  /** always_set_request_id_in_response; Envoy default false. */
  readonly alwaysSetRequestIdInResponse?: boolean;
  /** local_reply_config, compiled by the HCM. */
  readonly localReply?: LocalReplyModel;
  /** http_protocol_options.accept_http_10; Envoy default false (HTTP/1.0 gets 426). */
  readonly acceptHttp10?: boolean;
  /** http_protocol_options.default_host_for_http_10 ("" = none). */
  readonly defaultHostForHttp10?: string;
  /** http_protocol_options.enable_trailers; Envoy default false (the HTTP/1 codec drops trailers). */
  readonly enableTrailers?: boolean;
  /** common_http_protocol_options.max_stream_duration, ms; 0 = none. */
  readonly maxStreamDurationMs?: number;
  /** common_http_protocol_options.headers_with_underscores_action; Envoy default ALLOW. */
  readonly headersWithUnderscoresAction?: "ALLOW" | "REJECT_REQUEST" | "DROP_HEADER";
  /** append_x_forwarded_port; Envoy default false. */
  readonly appendXForwardedPort?: boolean;
  /** strip_trailing_host_dot; Envoy default false. */
  readonly stripTrailingHostDot?: boolean;
  /** scheme_header_transformation.scheme_to_overwrite ("" = keep). */
  readonly schemeToOverwrite?: string;
  /** internal_address_config.cidr_ranges; unset = loopback, RFC 1918 and RFC 4193 are internal. */
  readonly internalCidrRanges?: readonly { readonly addressPrefix: string; readonly prefixLen: number }[];
  /** upgrade_configs: the enabled upgrade types, lower-cased (e.g. "websocket"). */
  readonly upgradeTypes?: readonly string[];
  /** drain_timeout, ms; Envoy default 5000: how long an idle connection of a draining listener
   *  stays open (HTTP/1: it closes when idle this long; busy ones close after their response). */
  readonly drainTimeoutMs?: number;
  /** delayed_close_timeout, ms; Envoy default 1000; 0 = no wait for the peer after a local close. */
  readonly delayedCloseTimeoutMs?: number;
  /** proxy_100_continue; Envoy default false (the HCM answers 100-continue itself). */
  readonly proxy100Continue?: boolean;
}

/** HCM local_reply_config: mappers tried in order (first match wins), then the body format. */
export interface LocalReplyModel {
  readonly mappers: readonly LocalReplyMapperModel[];
  /** body_format: a text format applied to every local reply body ("" = keep the body). */
  readonly bodyFormat: string;
  /** body_format.content_type, or text/plain. */
  readonly contentType: string;
}

export interface LocalReplyMapperModel {
  readonly filter: AccessLogFilterModel;
  /** 0 = keep the status. */
  readonly statusCode: number;
  /** undefined = keep the body. */
  readonly body: string | undefined;
  readonly bodyFormat: string;
  readonly contentType: string;
}

/** config.accesslog.v3.AccessLogFilter, the kinds Legate evaluates. */
export type AccessLogFilterModel =
  | { readonly kind: "status_code" | "duration"; readonly op: "EQ" | "GE" | "LE"; readonly value: number }
  | { readonly kind: "not_health_check" }
  | { readonly kind: "response_flag"; readonly flags: readonly string[] }
  | { readonly kind: "and" | "or"; readonly filters: readonly AccessLogFilterModel[] };

export interface HttpFilterModel {
  readonly name: string;
  readonly typeUrl: string;
  readonly config: unknown;
}

/** An access logger on the HCM: file or stdout/stderr, with an optional text format. */
export interface AccessLogModel {
  readonly name: string;
  readonly kind: "file" | "stdout" | "stderr";
  readonly path: string | undefined;
  /** The format string (Envoy default format when the config gives none). */
  readonly format: string;
  /** log_format.json_format: a JSON object whose string leaves are format strings. */
  readonly json?: Readonly<Record<string, unknown>>;
  /** log_format.omit_empty_values. */
  readonly omitEmpty?: boolean;
  /** AccessLog.filter, when set. */
  readonly filter?: AccessLogFilterModel;
}

export interface RouteConfigModel {
  readonly name: string;
  readonly virtualHosts: readonly VirtualHostModel[];
  /** Route-config-level header mutations (present only when configured). */
  readonly headerMutations?: HeaderMutationsModel;
  /** internal_only_headers, lower-cased (present only when configured). */
  readonly internalOnlyHeaders?: readonly string[];
  /** most_specific_header_mutations_wins (present only when true). */
  readonly mostSpecificHeaderMutationsWins?: boolean;
  /** ignore_port_in_host_matching (present only when true). */
  readonly ignorePortInHostMatching?: boolean;
  /** typed_per_filter_config by filter name (present only when configured). */
  readonly typedPerFilterConfig?: PerFilterConfigModel;
}

export interface VirtualHostModel {
  readonly name: string;
  /** As written, lower-cased: exact, "*.suffix", "prefix*", or "*". */
  readonly domains: readonly string[];
  readonly routes: readonly RouteModel[];
  readonly headerMutations?: HeaderMutationsModel;
  readonly typedPerFilterConfig?: PerFilterConfigModel;
  readonly retryPolicy?: RetryPolicyModel;
  /** include_request_attempt_count: x-envoy-attempt-count on upstream requests. */
  readonly includeRequestAttemptCount?: boolean;
  /** include_attempt_count_in_response: x-envoy-attempt-count on downstream responses. */
  readonly includeAttemptCountInResponse?: boolean;
  /** per_request_buffer_limit_bytes (present only when configured). */
  readonly perRequestBufferLimitBytes?: number;
}

/** typed_per_filter_config: filter name → the filter's per-route model, or disabled (FilterConfig). */
export type PerFilterConfigModel = Readonly<Record<string, { readonly disabled: boolean; readonly config: unknown }>>;

/** A `type.matcher.v3.StringMatcher` (safe_regex already checked for RE2 compatibility). */
export interface StringMatcherModel {
  readonly kind: "exact" | "prefix" | "suffix" | "contains" | "safe_regex";
  readonly value: string;
  /** ignore_case (not allowed with safe_regex). */
  readonly ignoreCase: boolean;
}

/** A `config.route.v3.HeaderMatcher`. */
export interface HeaderMatcherModel {
  /** Lower-cased; pseudo-headers (":path", ":method", ":authority", ":scheme") allowed. */
  readonly name: string;
  readonly kind: "string" | "present" | "range";
  readonly string?: StringMatcherModel;
  /** present_match value (kind "present"). */
  readonly present?: boolean;
  /** range_match [start, end) (kind "range"). */
  readonly rangeStart?: number;
  readonly rangeEnd?: number;
  readonly invert: boolean;
  readonly treatMissingAsEmpty: boolean;
}

/** A `config.route.v3.QueryParameterMatcher`; `string` undefined means present_match. */
export interface QueryParameterMatcherModel {
  readonly name: string;
  readonly string: StringMatcherModel | undefined;
}

export interface RouteMatchModel {
  readonly kind: "prefix" | "path" | "safe_regex" | "path_separated_prefix";
  readonly value: string;
  /** case_sensitive, Envoy default true. */
  readonly caseSensitive: boolean;
  /** headers (present only when configured). */
  readonly headers?: readonly HeaderMatcherModel[];
  /** query_parameters (present only when configured). */
  readonly queryParameters?: readonly QueryParameterMatcherModel[];
  /** runtime_fraction.default_value (present only when configured; no runtime layer, so the
   *  default always applies): the route matches when the stream's random value modulo
   *  `denominator` is below `numerator`. */
  readonly runtimeFraction?: { readonly numerator: number; readonly denominator: number };
}

/** A `config.core.v3.HeaderValueOption`. */
export interface HeaderValueOptionModel {
  readonly key: string;
  /** The value, with Envoy's %VARIABLE% syntax (checked at config time). */
  readonly value: string;
  readonly appendAction: "APPEND_IF_EXISTS_OR_ADD" | "ADD_IF_ABSENT" | "OVERWRITE_IF_EXISTS_OR_ADD" | "OVERWRITE_IF_EXISTS";
  readonly keepEmptyValue: boolean;
}

/** request/response_headers_to_add/remove of one level (route, virtual host, route config). */
export interface HeaderMutationsModel {
  readonly requestHeadersToAdd: readonly HeaderValueOptionModel[];
  readonly requestHeadersToRemove: readonly string[];
  readonly responseHeadersToAdd: readonly HeaderValueOptionModel[];
  readonly responseHeadersToRemove: readonly string[];
}

/** regex_rewrite: pattern (RE2, checked) and substitution (RE2 syntax, `\1`). */
export interface RegexRewriteModel {
  readonly pattern: string;
  readonly substitution: string;
}

/** One weighted_clusters entry. */
export interface WeightedClusterModel {
  readonly name: string;
  readonly weight: number;
  /** The cluster's own request/response headers (present only when configured). */
  readonly headerMutations?: HeaderMutationsModel;
  readonly hostRewriteLiteral?: string;
}

/** One `RouteAction.RequestMirrorPolicy`. */
export interface MirrorPolicyModel {
  readonly cluster: string;
  /** runtime_fraction.default_value (100% when unset). */
  readonly numerator: number;
  readonly denominator: number;
  readonly disableShadowHostSuffixAppend: boolean;
}

/** One `RouteAction.HashPolicy`: header, cookie (by name), source IP or query parameter. */
export interface HashPolicyModel {
  readonly kind: "header" | "cookie" | "source_ip" | "query_parameter";
  /** Header name (lower-cased), cookie name or query parameter name; "" for source_ip. */
  readonly name: string;
  readonly terminal: boolean;
  /** cookie.ttl in ms: the cookie is generated when absent (0 = session cookie); unset: never. */
  readonly cookieTtlMs?: number;
  /** cookie.path for a generated cookie. */
  readonly cookiePath?: string;
}

/** A `config.route.v3.RetryPolicy`. */
export interface RetryPolicyModel {
  /** retry_on conditions as given (validated). */
  readonly retryOn: readonly string[];
  /** num_retries, Envoy default 1. */
  readonly numRetries: number;
  /** per_try_timeout ms; 0 = none. */
  readonly perTryTimeoutMs: number;
  readonly baseIntervalMs: number;
  readonly maxIntervalMs: number;
  readonly retriableStatusCodes: readonly number[];
  /** retry_host_predicate previous_hosts configured. */
  readonly previousHosts: boolean;
  readonly hostSelectionRetryMaxAttempts: number;
  /** retriable_headers (present only when configured). */
  readonly retriableHeaders?: readonly HeaderMatcherModel[];
}

export type RouteActionModel =
  | {
    readonly kind: "route";
    /** The cluster name ("" when cluster_header or weighted_clusters is used). */
    readonly cluster: string;
    /** route.timeout in ms; Envoy default 15 s; 0 disables. */
    readonly timeoutMs: number;
    readonly prefixRewrite: string | undefined;
    /** cluster_header (lower-cased; present only when configured). */
    readonly clusterHeader?: string;
    readonly weightedClusters?: readonly WeightedClusterModel[];
    readonly regexRewrite?: RegexRewriteModel;
    readonly hostRewriteLiteral?: string;
    readonly autoHostRewrite?: boolean;
    /** host_rewrite_header (lower-cased). */
    readonly hostRewriteHeader?: string;
    /** append_x_forwarded_host (present only when true). */
    readonly appendXForwardedHost?: boolean;
    /** cluster_not_found_response_code as a status (present only when not 503). */
    readonly clusterNotFoundResponseCode?: number;
    /** idle_timeout in ms (0 disables); present only when configured. */
    readonly idleTimeoutMs?: number;
    readonly retryPolicy?: RetryPolicyModel;
    /** hash_policy (present only when configured). */
    readonly hashPolicy?: readonly HashPolicyModel[];
    /** max_stream_duration.max_stream_duration in ms (present only when configured; 0 disables). */
    readonly maxStreamDurationMs?: number;
    /** request_mirror_policies (present only when configured). */
    readonly mirrorPolicies?: readonly MirrorPolicyModel[];
    /** upgrade_configs: per-route overrides of the HCM's upgrade_configs, types lower-cased
     *  (present only when configured). */
    readonly upgradeConfigs?: readonly { readonly upgradeType: string; readonly enabled: boolean }[];
  }
  | {
    readonly kind: "direct_response";
    readonly status: number;
    /** Body bytes (from inline_string / inline_bytes), undefined for none. */
    readonly body: string | undefined;
  }
  | {
    readonly kind: "redirect";
    /** scheme_redirect, or "https" for https_redirect. */
    readonly schemeRedirect: string | undefined;
    readonly hostRedirect: string | undefined;
    readonly portRedirect: number | undefined;
    readonly pathRedirect: string | undefined;
    readonly prefixRewrite: string | undefined;
    readonly regexRewrite: RegexRewriteModel | undefined;
    /** 301 (default), 302, 303, 307 or 308. */
    readonly responseCode: number;
    readonly stripQuery: boolean;
  };

export interface RouteModel {
  readonly name: string;
  readonly match: RouteMatchModel;
  readonly action: RouteActionModel;
  readonly headerMutations?: HeaderMutationsModel;
  readonly typedPerFilterConfig?: PerFilterConfigModel;
  /** per_request_buffer_limit_bytes (present only when configured). */
  readonly perRequestBufferLimitBytes?: number;
}

export type ClusterType = "STATIC" | "STRICT_DNS" | "LOGICAL_DNS" | "EDS";
export type LbPolicy = "ROUND_ROBIN" | "LEAST_REQUEST" | "RANDOM" | "RING_HASH" | "MAGLEV";
export type DnsLookupFamily = "AUTO" | "V4_ONLY" | "V6_ONLY" | "V4_PREFERRED" | "ALL";
/** config.core.v3.HealthStatus as given in `lb_endpoints[].health_status`. */
export type EdsHealthStatus = "UNKNOWN" | "HEALTHY" | "UNHEALTHY" | "DRAINING" | "TIMEOUT" | "DEGRADED";

export interface ClusterModel {
  readonly name: string;
  readonly type: ClusterType;
  /** EDS clusters: the ClusterLoadAssignment name to subscribe to and where it comes from. */
  readonly eds?: { readonly serviceName: string; readonly configSource: ConfigSourceModel };
  /** The cluster speaks HTTP/2 (http2_protocol_options / HttpProtocolOptions); used by the
   *  xDS gRPC client. */
  readonly http2?: boolean;
  readonly connectTimeoutMs: number;
  readonly lbPolicy: LbPolicy;
  readonly endpoints: readonly EndpointModel[];
  /** per_connection_buffer_limit_bytes, Envoy default 1 MiB. */
  readonly perConnectionBufferLimitBytes: number;
  /** load_assignment.policy.overprovisioning_factor, percent (Envoy default 140). */
  readonly overprovisioningFactor: number;
  /** common_lb_config.healthy_panic_threshold, percent (default 50; 0 disables panic mode). */
  readonly healthyPanicThreshold: number;
  /** common_lb_config.locality_weighted_lb_config present: locality weights are used. */
  readonly localityWeightedLb: boolean;
  readonly leastRequest: { readonly choiceCount: number; readonly activeRequestBias: number };
  readonly ringHash: { readonly minimumRingSize: number; readonly maximumRingSize: number };
  readonly maglev: { readonly tableSize: number };
  /** circuit_breakers.thresholds by priority. */
  readonly circuitBreakers: { readonly default: CircuitBreakerModel; readonly high: CircuitBreakerModel };
  readonly healthChecks: readonly HealthCheckModel[];
  readonly outlierDetection: OutlierDetectionModel | undefined;
  readonly dnsRefreshRateMs: number;
  /** dns_failure_refresh_rate.base_interval (defaults to dns_refresh_rate). */
  readonly dnsFailureRefreshRateMs: number;
  readonly respectDnsTtl: boolean;
  readonly dnsLookupFamily: DnsLookupFamily;
  /** max_requests_per_connection (or common_http_protocol_options's); 0 = unlimited. */
  readonly maxRequestsPerConnection: number;
  /** common_http_protocol_options.idle_timeout for upstream connections, ms (default 1 h; 0 = none). */
  readonly idleTimeoutMs: number;
  /** transport_socket `envoy.transport_sockets.tls` (UpstreamTlsContext); absent = plain TCP. */
  readonly tls?: UpstreamTlsModel;
}

/** A `config.core.v3.DataSource` holding PEM text: inline, or a file the control side reads
 *  when it applies the config (the config layer itself never touches files). */
export type PemSourceModel = { readonly filename: string } | { readonly inline: string };

/** `extensions.transport_sockets.tls.v3.UpstreamTlsContext`, the supported subset. */
export interface UpstreamTlsModel {
  /** `sni` ("" = none sent). */
  readonly sni: string;
  /** common_tls_context.validation_context.trusted_ca; absent = the server certificate is not
   *  verified (Envoy's behaviour without a validation context). */
  readonly trustedCa: PemSourceModel | undefined;
  /** common_tls_context.tls_certificates[0]: the client certificate for mutual TLS. */
  readonly clientCertificate: { readonly certificateChain: PemSourceModel; readonly privateKey: PemSourceModel } | undefined;
  /** common_tls_context.alpn_protocols (only "http/1.1" for now). */
  readonly alpn: readonly string[];
  /** common_tls_context.tls_params.tls_minimum/maximum_protocol_version, node:tls spelling
   *  ("TLSv1.2", "TLSv1.3"); undefined = TLS_AUTO. */
  readonly minVersion: "TLSv1" | "TLSv1.1" | "TLSv1.2" | "TLSv1.3" | undefined;
  readonly maxVersion: "TLSv1" | "TLSv1.1" | "TLSv1.2" | "TLSv1.3" | undefined;
  /** tls_params.cipher_suites (TLS 1.2 and below) and ecdh_curves; [] = the runtime's default. */
  readonly cipherSuites: readonly string[];
  readonly ecdhCurves: readonly string[];
}

/** One priority's circuit breaker thresholds (Envoy defaults 1024/1024/1024/3). */
export interface CircuitBreakerModel {
  readonly maxConnections: number;
  readonly maxPendingRequests: number;
  readonly maxRequests: number;
  readonly maxRetries: number;
}

export interface HealthCheckModel {
  readonly timeoutMs: number;
  readonly intervalMs: number;
  /** initial_jitter: the first check of a host waits a random time up to this. */
  readonly initialJitterMs: number;
  readonly intervalJitterMs: number;
  readonly intervalJitterPercent: number;
  readonly unhealthyThreshold: number;
  readonly healthyThreshold: number;
  /** Default 60 s. */
  readonly noTrafficIntervalMs: number;
  /** Defaults to interval. */
  readonly unhealthyIntervalMs: number;
  readonly unhealthyEdgeIntervalMs: number;
  readonly healthyEdgeIntervalMs: number;
  readonly http: {
    readonly host: string;
    readonly path: string;
    readonly requestHeadersToAdd: readonly { readonly key: string; readonly value: string; readonly append: boolean }[];
    readonly requestHeadersToRemove: readonly string[];
    /** [start, end) ranges; default [[200, 201)]. */
    readonly expectedStatuses: readonly (readonly [number, number])[];
  } | undefined;
  readonly tcp: {
    /** Bytes to send (hex decoded), empty = connect only. */
    readonly send: Uint8Array;
    /** Byte strings that must all be found in the response, in order. */
    readonly receive: readonly Uint8Array[];
  } | undefined;
}

export interface OutlierDetectionModel {
  readonly consecutive5xx: number;
  readonly consecutiveGatewayFailure: number;
  readonly consecutiveLocalOriginFailure: number;
  readonly intervalMs: number;
  readonly baseEjectionTimeMs: number;
  readonly maxEjectionTimeMs: number;
  readonly maxEjectionPercent: number;
  readonly enforcingConsecutive5xx: number;
  readonly enforcingConsecutiveGatewayFailure: number;
  readonly enforcingConsecutiveLocalOriginFailure: number;
  readonly splitExternalLocalOriginErrors: boolean;
}

export interface LocalityModel {
  readonly region: string;
  readonly zone: string;
  readonly subZone: string;
}

export interface EndpointModel {
  /** For DNS clusters `address.address` is the host name to resolve. */
  readonly address: SocketAddressModel;
  /** load_balancing_weight, default 1. */
  readonly weight: number;
  readonly priority: number;
  readonly locality: LocalityModel;
  /** The locality's load_balancing_weight (0 when unset). */
  readonly localityWeight: number;
  readonly healthStatus: EdsHealthStatus;
  /** endpoint.health_check_config.port_value (0 = the endpoint's port). */
  readonly healthCheckPort: number;
  /** endpoint.hostname (for the health check host header when the check sets none). */
  readonly hostname: string;
}
