/**
 * Maps native errors (Bun, Deno's node:* layer, node:fs) to portable `RuntimeError` codes.
 * Control and worker side; used by every adapter.
 */
import { RuntimeError, type RuntimeErrorCode } from "./types.ts";

const KNOWN: ReadonlySet<string> = new Set<RuntimeErrorCode>([
  "ECONNREFUSED",
  "ECONNRESET",
  "ETIMEDOUT",
  "EADDRINUSE",
  "EADDRNOTAVAIL",
  "EACCES",
  "EPIPE",
  "ENOENT",
  "EHOSTUNREACH",
  "ENOTFOUND",
  "ETLS",
]);

/** Native codes that mean the same thing as one of ours. */
const ALIASES: Readonly<Record<string, RuntimeErrorCode>> = {
  EPERM: "EACCES",
  ENETUNREACH: "EHOSTUNREACH",
  ECONNABORTED: "ECONNRESET",
  ERR_SOCKET_CONNECTION_TIMEOUT: "ETIMEDOUT",
  ERR_SOCKET_CLOSED: "EPIPE",
  ERR_STREAM_DESTROYED: "EPIPE",
  ERR_STREAM_WRITE_AFTER_END: "EPIPE",
  EAI_NONAME: "ENOTFOUND",
  EAI_NODATA: "ENOTFOUND",
  ENODATA: "ENOTFOUND",
  DNS_ENOTFOUND: "ENOTFOUND",
};

/** Converts anything thrown or reported by a runtime into a RuntimeError (worker and control side);
 *  `fallback` is the code for errors that carry no native code. */
export function toRuntimeError(err: unknown, fallback: RuntimeErrorCode = "UNKNOWN"): RuntimeError {
  if (err instanceof RuntimeError) return err;
  const e = err as { code?: unknown; message?: unknown } | null | undefined;
  const native = typeof e?.code === "string" ? e.code : "";
  const message = typeof e?.message === "string" ? e.message : String(err);
  // `fallback` is for errors without a native code; an unmapped native code (ENOTFOUND, …)
  // is UNKNOWN, with the native text kept in the message.
  const code: RuntimeErrorCode = KNOWN.has(native)
    ? (native as RuntimeErrorCode)
    : (ALIASES[native] ?? (native === "" ? fallback : "UNKNOWN"));
  return new RuntimeError(code, native && !message.includes(native) ? `${native}: ${message}` : message);
}
