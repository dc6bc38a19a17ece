/**
 * sockaddr_in / sockaddr_in6 encoding for the libc socket calls (Linux layout).
 */
import { RuntimeError } from "./types.ts";

/** Linux constants. */
export const AF_INET = 2, AF_INET6 = 10, SOCK_STREAM = 1, SOL_SOCKET = 1, SO_REUSEADDR = 2;

/** Encodes `host:port` as a sockaddr; throws for a non-IP host. */
export function encodeSockaddr(host: string, port: number): { family: number; buf: Uint8Array<ArrayBuffer> } {
  const h = host.startsWith("[") ? host.slice(1, -1) : host;
  const v4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(h);
  if (v4) {
    const buf = new Uint8Array(16);
    const dv = new DataView(buf.buffer);
    dv.setUint16(0, AF_INET, true);
    dv.setUint16(2, port, false);
    for (let i = 0; i < 4; i++) buf[4 + i] = Number(v4[i + 1]);
    return { family: AF_INET, buf };
  }
  if (h.includes(":")) {
    const buf = new Uint8Array(28);
    const dv = new DataView(buf.buffer);
    dv.setUint16(0, AF_INET6, true);
    dv.setUint16(2, port, false);
    const [head, tail] = h.split("::") as [string, string | undefined];
    const parse = (s: string | undefined) => (s ? s.split(":").map((x) => parseInt(x, 16)) : []);
    const a = parse(head), b = parse(tail);
    const groups = tail === undefined ? a : [...a, ...new Array(8 - a.length - b.length).fill(0), ...b];
    groups.forEach((g, i) => dv.setUint16(8 + i * 2, g, false));
    return { family: AF_INET6, buf };
  }
  throw new RuntimeError("UNKNOWN", `cannot bind '${host}': not an IP address`);
}

/** Reads the port from a sockaddr filled by getsockname. */
export function sockaddrPort(buf: Uint8Array): number {
  return new DataView(buf.buffer, buf.byteOffset).getUint16(2, false);
}

/** errno values we name. */
export function errnoCode(errno: number): "EADDRINUSE" | "EACCES" | "EADDRNOTAVAIL" | "UNKNOWN" {
  return errno === 98 ? "EADDRINUSE" : errno === 13 ? "EACCES" : errno === 99 ? "EADDRNOTAVAIL" : "UNKNOWN";
}
