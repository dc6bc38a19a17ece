/**
 * `envoy.config.core.v3.ConfigSource` and `ApiConfigSource` (control side): where an xDS
 * resource comes from — the ADS stream, a per-type gRPC/delta/REST API, or a watched file.
 * https://www.envoyproxy.io/docs/envoy/latest/api-v3/config/core/v3/config_source.proto
 */
import * as v from "valibot";
import type { ParseContext } from "../registry/registry.ts";
import type { ApiConfigSourceModel, ConfigSourceModel } from "./model.ts";
import { any, bool, duration, enumOf, isMapping, message, parseWith, str } from "./schema.ts";

/** Envoy's default initial_fetch_timeout (15 s). */
export const DEFAULT_INITIAL_FETCH_TIMEOUT_MS = 15_000;

const API_TYPES = ["REST", "GRPC", "DELTA_GRPC", "AGGREGATED_GRPC", "AGGREGATED_DELTA_GRPC"] as const;

const envoyGrpcSchema = message({ cluster_name: str({ nonEmpty: true }), authority: v.optional(str(), "") }, { unsupported: ["retry_policy", "max_receive_message_length", "skip_envoy_headers"] });

const grpcServiceSchema = message(
  {
    envoy_grpc: v.optional(envoyGrpcSchema),
    // Accepted without effect (docs/xds.md): xDS streams have no deadline; the authority is
    // the endpoint's address.
    timeout: v.optional(duration()),
    initial_metadata: v.optional(v.array(message({ key: str({ nonEmpty: true }), value: v.optional(str(), "") }, { unsupported: ["raw_value"] })), []),
  },
  { unsupported: ["google_grpc", "retry_policy"], oneofs: [{ members: ["envoy_grpc", "google_grpc"], supported: ["envoy_grpc"], required: true }] },
);

const apiVersion = enumOf(["V3", "AUTO"], ["V2"]);

const apiConfigSourceSchema = message(
  {
    api_type: enumOf(API_TYPES, ["DEPRECATED_AND_UNAVAILABLE_DO_NOT_USE"]),
    transport_api_version: v.optional(apiVersion, "V3"),
    cluster_names: v.optional(v.array(str({ nonEmpty: true })), []),
    grpc_services: v.optional(v.array(grpcServiceSchema), []),
    refresh_delay: v.optional(duration({ positive: true })),
    request_timeout: v.optional(duration({ positive: true })),
    set_node_on_first_message_only: v.optional(bool(), false),
  },
  { unsupported: ["rate_limit_settings", "config_validators"] },
);

const configSourceSchema = message(
  {
    ads: v.optional(message({})),
    api_config_source: v.optional(any),
    path_config_source: v.optional(message({ path: str({ nonEmpty: true }), watched_directory: v.optional(message({ path: str({ nonEmpty: true }) })) })),
    path: v.optional(str({ nonEmpty: true })),
    initial_fetch_timeout: v.optional(duration()),
    resource_api_version: v.optional(apiVersion, "V3"),
  },
  {
    unsupported: ["self", "authorities"],
    oneofs: [{ members: ["ads", "api_config_source", "path_config_source", "path", "self"], supported: ["ads", "api_config_source", "path_config_source"], required: true }],
  },
);

/** Control side: an ApiConfigSource (also the shape of dynamic_resources.ads_config). `aggregated`
 *  says it is the ADS config, where GRPC means aggregated SotW and DELTA_GRPC aggregated delta. */
export function parseApiConfigSource(raw: unknown, ctx: ParseContext, aggregated = false): ApiConfigSourceModel | undefined {
  const a = parseWith(ctx, apiConfigSourceSchema, raw);
  if (!a) return undefined;
  let apiType = a.api_type;
  if (aggregated) {
    if (apiType === "REST") {
      ctx.issue("api_type", "ads_config needs a gRPC api_type (GRPC or DELTA_GRPC), not REST");
      return undefined;
    }
    apiType = apiType === "GRPC" || apiType === "AGGREGATED_GRPC" ? "AGGREGATED_GRPC" : "AGGREGATED_DELTA_GRPC";
  } else if (apiType === "AGGREGATED_GRPC" || apiType === "AGGREGATED_DELTA_GRPC") {
    ctx.issue("api_type", `${apiType} belongs in dynamic_resources.ads_config; use "ads: {}" here`);
    return undefined;
  }
  let clusterName: string;
  if (apiType === "REST") {
    if (a.grpc_services.length > 0) {
      ctx.issue("grpc_services", "a REST api_config_source names its server in cluster_names, not grpc_services");
      return undefined;
    }
    if (a.cluster_names.length !== 1) {
      ctx.issue("cluster_names", `a REST api_config_source needs exactly one cluster name (got ${a.cluster_names.length})`);
      return undefined;
    }
    clusterName = a.cluster_names[0]!;
  } else {
    if (a.cluster_names.length > 0) {
      ctx.issue("cluster_names", "a gRPC api_config_source names its server in grpc_services, not cluster_names");
      return undefined;
    }
    if (a.grpc_services.length !== 1) {
      ctx.issue("grpc_services", `exactly one grpc_services entry is supported (got ${a.grpc_services.length})`);
      return undefined;
    }
    clusterName = a.grpc_services[0]!.envoy_grpc!.cluster_name;
  }
  if (ctx.clusterNames !== undefined && !ctx.clusterNames.has(clusterName)) {
    // Envoy: the management server's cluster must be a static one (it cannot come from CDS).
    ctx.issue(apiType === "REST" ? "cluster_names[0]" : "grpc_services[0].envoy_grpc.cluster_name", `unknown cluster ${JSON.stringify(clusterName)}: an xDS server must be a static cluster`);
    return undefined;
  }
  const g = a.grpc_services[0];
  return {
    apiType,
    clusterName,
    refreshDelayMs: a.refresh_delay ?? 1000,
    requestTimeoutMs: a.request_timeout ?? 1000,
    initialMetadata: g?.initial_metadata.map((m) => [m.key.toLowerCase(), m.value] as const) ?? [],
    setNodeOnFirstMessageOnly: a.set_node_on_first_message_only,
  };
}

/** Control side: a ConfigSource; issues are reported on `ctx`; undefined if any. */
export function parseConfigSource(raw: unknown, ctx: ParseContext): ConfigSourceModel | undefined {
  const c = parseWith(ctx, configSourceSchema, raw);
  if (!c) return undefined;
  const initialFetchTimeoutMs = c.initial_fetch_timeout ?? DEFAULT_INITIAL_FETCH_TIMEOUT_MS;
  if (c.ads) return { kind: "ads", initialFetchTimeoutMs };
  if (c.path_config_source || c.path) {
    const path = c.path_config_source?.path ?? c.path!;
    return { kind: "path", path, watchedDirectory: c.path_config_source?.watched_directory?.path, initialFetchTimeoutMs };
  }
  const raw2 = isMapping(raw) ? raw.api_config_source : undefined;
  const api = parseApiConfigSource(raw2, ctx.child("api_config_source"));
  if (!api) return undefined;
  return { kind: "api", api, initialFetchTimeoutMs };
}
