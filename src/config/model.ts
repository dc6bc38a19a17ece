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
}

export interface NodeModel {
  readonly id: string;
  readonly cluster: string;
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
}

export interface FilterChainModel {
  readonly name: string;
  readonly filters: readonly NetworkFilterModel[];
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
  readonly routeConfig: RouteConfigModel;
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
}

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
}

export interface RouteConfigModel {
  readonly name: string;
  readonly virtualHosts: readonly VirtualHostModel[];
}

export interface VirtualHostModel {
  readonly name: string;
  /** As written, lower-cased: exact, "*.suffix", "prefix*", or "*". */
  readonly domains: readonly string[];
  readonly routes: readonly RouteModel[];
}

export interface RouteMatchModel {
  readonly kind: "prefix" | "path";
  readonly value: string;
  /** case_sensitive, Envoy default true. */
  readonly caseSensitive: boolean;
}

export type RouteActionModel =
  | {
    readonly kind: "route";
    readonly cluster: string;
    /** route.timeout in ms; Envoy default 15 s; 0 disables. */
    readonly timeoutMs: number;
    readonly prefixRewrite: string | undefined;
  }
  | {
    readonly kind: "direct_response";
    readonly status: number;
    /** Body bytes (from inline_string / inline_bytes), undefined for none. */
    readonly body: string | undefined;
  };

export interface RouteModel {
  readonly name: string;
  readonly match: RouteMatchModel;
  readonly action: RouteActionModel;
}

export interface ClusterModel {
  readonly name: string;
  readonly type: "STATIC";
  readonly connectTimeoutMs: number;
  readonly lbPolicy: "ROUND_ROBIN";
  readonly endpoints: readonly EndpointModel[];
  /** per_connection_buffer_limit_bytes, Envoy default 1 MiB. */
  readonly perConnectionBufferLimitBytes: number;
}

export interface EndpointModel {
  readonly address: SocketAddressModel;
  /** load_balancing_weight, default 1. */
  readonly weight: number;
}
