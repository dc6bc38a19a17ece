/**
 * `envoy.config.core.v3.Address` and shared limits (control side), used by listener, admin and
 * cluster schemas.
 */
import * as v from "valibot";
import type { SocketAddressModel } from "./model.ts";
import { enumOf, message, str, uint32 } from "./schema.ts";

/** Envoy's default per-connection buffer limit (1 MiB) for listeners and clusters. */
export const DEFAULT_BUFFER_LIMIT_BYTES = 1024 * 1024;

export const socketAddressSchema = message(
  {
    protocol: v.optional(enumOf(["TCP"], ["UDP"]), "TCP"),
    address: str({ nonEmpty: true }),
    port_value: v.optional(uint32({ max: 65535 }), 0),
  },
  {
    unsupported: ["named_port", "resolver_name", "ipv4_compat", "network_namespace_filepath"],
    oneofs: [{ members: ["port_value", "named_port"], supported: ["port_value"] }],
  },
);

/** `envoy.config.core.v3.Address` (socket_address only) → SocketAddressModel. */
export const addressSchema = v.pipe(
  message(
    { socket_address: v.optional(socketAddressSchema) },
    {
      unsupported: ["pipe", "envoy_internal_address"],
      oneofs: [{ members: ["socket_address", "pipe", "envoy_internal_address"], supported: ["socket_address"], required: true }],
    },
  ),
  v.transform((a): SocketAddressModel => ({ address: a.socket_address!.address, port: a.socket_address!.port_value })),
);

