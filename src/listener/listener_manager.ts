/**
 * Listener manager, control side: binds each configured listener's socket through the runtime
 * and hands accepted connections to the worker-side ActiveListener. Bind failures name the
 * listener and address.
 */
import type { Logger } from "../core/log.ts";
import type { ListenerModel } from "../config/model.ts";
import type { Runtime, TcpListener } from "../runtime/types.ts";
import { RuntimeError } from "../runtime/types.ts";
import type { ActiveListener } from "./active_listener.ts";

/** A bound listener: the socket and where its connections go. */
export interface BoundListener {
  readonly model: ListenerModel;
  readonly socket: TcpListener;
  readonly active: ActiveListener;
}

/** Binds `model`'s address (or adopts `fd`) and routes accepts to `active`. */
export async function bindListener(
  runtime: Runtime,
  model: ListenerModel,
  active: ActiveListener,
  log: Logger,
  fd?: number,
  reusePort = false,
): Promise<BoundListener> {
  const { address, port } = model.address;
  try {
    const socket = await runtime.listen({ host: address, port, fd, reusePort }, (sock) => active.onAccept(sock));
    log.debug(`listener '${model.name}' listening on ${address}:${socket.port}`);
    return { model, socket, active };
  } catch (e) {
    const why = e instanceof RuntimeError ? `${e.code}: ${e.message}` : String(e);
    const hint = e instanceof RuntimeError && e.code === "EADDRINUSE" ? " (address already in use)" : "";
    throw new Error(`listener '${model.name}': cannot bind ${address}:${port}${hint}: ${why}`);
  }
}
