/**
 * Config of `envoy.filters.network.connection_limit` (control side): the most connections the
 * filter's chain may hold at once, and how long a refused one is held before it is closed. The
 * active-connection count lives in a SharedArrayBuffer allocated here, once per config version,
 * and sent to every worker inside the model, so the limit holds across workers (Envoy keeps one
 * atomic counter per filter config).
 * https://www.envoyproxy.io/docs/envoy/latest/api-v3/extensions/filters/network/connection_limit/v3/connection_limit.proto
 */
import * as v from "valibot";
import { bool, describe, duration, leaf, message, parseWith, Problem, str } from "../../../config/schema.ts";
import { type ConfigExtension, registerConfigExtension } from "../../../registry/registry.ts";

/** The ConnectionLimit `@type` URL. */
export const CONNECTION_LIMIT_TYPE_URL = "type.googleapis.com/envoy.extensions.filters.network.connection_limit.v3.ConnectionLimit";

/** envoy.extensions.filters.network.connection_limit.v3.ConnectionLimit after validation. */
export interface ConnectionLimitModel {
  /** Stats under `connection_limit.<statPrefix>.`. */
  readonly statPrefix: string;
  /** At least 1; counts above 2^31-1 are treated as 2^31-1 (the shared counter is an int32). */
  readonly maxConnections: number;
  /** How long a refused connection is held (reads off) before it is closed; 0 = at once. */
  readonly delayMs: number;
  /** `runtime_enabled.default_value` (Legate has no runtime layer to override it); default true. */
  readonly enabled: boolean;
  /** One int32: the connections currently admitted, across workers. */
  readonly counter: SharedArrayBuffer | ArrayBuffer;
}

/** `google.protobuf.UInt64Value` (n, "n" or {value: n}), at least 1. */
const uint64AtLeast1 = leaf((x) => {
  let n: unknown = x;
  if (typeof n === "object" && n !== null && !Array.isArray(n)) {
    const o = n as Record<string, unknown>;
    if (Object.keys(o).length !== 1 || !("value" in o)) return new Problem(`expected an integer or {value: <integer>}, got ${describe(x)}`);
    n = o.value;
  }
  if (typeof n === "string" && /^\d+$/.test(n)) n = Number(n);
  if (typeof n !== "number" || !Number.isInteger(n) || n < 0) return new Problem(`expected a non-negative integer, got ${describe(n)}`);
  if (n < 1) return new Problem(`must be at least 1, got ${n}`);
  return n;
});

const runtimeFeatureFlagSchema = message({
  default_value: bool({ wrapper: true }),
  runtime_key: str({ nonEmpty: true }),
});

const schema = message({
  stat_prefix: str({ nonEmpty: true }),
  max_connections: uint64AtLeast1,
  delay: v.optional(duration()),
  runtime_enabled: v.optional(runtimeFeatureFlagSchema),
});

/** Control side: the counter buffer (shared where the host has SharedArrayBuffer). */
export function allocateConnectionCounter(): SharedArrayBuffer | ArrayBuffer {
  return typeof SharedArrayBuffer === "function" ? new SharedArrayBuffer(4) : new ArrayBuffer(4);
}

/** Control side: the connection limit config extension. */
export const connectionLimitExtension: ConfigExtension<ConnectionLimitModel> = {
  name: "envoy.filters.network.connection_limit",
  typeUrls: [CONNECTION_LIMIT_TYPE_URL],
  category: "network_filter",
  parseConfig(json, ctx) {
    const m = parseWith(ctx, schema, json);
    if (!m) return undefined;
    return {
      statPrefix: m.stat_prefix,
      maxConnections: Math.min(m.max_connections, 0x7fff_ffff),
      delayMs: m.delay ?? 0,
      enabled: m.runtime_enabled?.default_value ?? true,
      counter: allocateConnectionCounter(),
    };
  },
};

registerConfigExtension(connectionLimitExtension);
