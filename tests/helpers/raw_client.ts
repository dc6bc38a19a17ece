/**
 * Test helper: a raw TCP client for bytes no well-behaved HTTP client sends (pipelining,
 * malformed requests, half-closes). Collects everything received until the peer closes.
 */
import * as net from "node:net";
import { waitFor } from "../harness.ts";

/** An open raw connection. */
export interface RawClient extends AsyncDisposable {
  socket: net.Socket;
  /** Everything received so far, as latin1 text. */
  received(): string;
  closed(): boolean;
  write(data: string | Uint8Array): void;
  /** Waits until the received text satisfies `pred` (bounded). */
  waitFor(pred: (text: string) => boolean, what: string, timeoutMs?: number): Promise<string>;
  /** Waits for the peer to close (bounded). */
  waitClosed(timeoutMs?: number): Promise<void>;
}

/** Connects to 127.0.0.1:`port`. */
export async function rawConnect(port: number): Promise<RawClient> {
  const socket = net.connect({ host: "127.0.0.1", port });
  const chunks: Buffer[] = [];
  let isClosed = false;
  socket.on("data", (d: Buffer) => chunks.push(d));
  socket.on("close", () => (isClosed = true));
  socket.on("error", () => {});
  await new Promise<void>((resolve, reject) => {
    socket.once("connect", () => resolve());
    socket.once("error", reject);
  });
  const received = () => Buffer.concat(chunks).toString("latin1");
  return {
    socket,
    received,
    closed: () => isClosed,
    write: (d) => void socket.write(d),
    waitFor: (pred, what, timeoutMs = 5000) => waitFor(() => (pred(received()) ? received() : ""), what, timeoutMs),
    waitClosed: async (timeoutMs = 5000) => void (await waitFor(() => isClosed, "the peer to close", timeoutMs)),
    [Symbol.asyncDispose]: async () => void socket.destroy(),
  };
}

/** Splits a text of HTTP/1.1 responses (content-length framed) into status codes and bodies. */
export function parseResponses(text: string): { status: number; headers: Record<string, string>; body: string }[] {
  const out: { status: number; headers: Record<string, string>; body: string }[] = [];
  let rest = text;
  while (rest.length > 0) {
    const end = rest.indexOf("\r\n\r\n");
    if (end < 0) break;
    const lines = rest.slice(0, end).split("\r\n");
    const status = Number(lines[0]!.split(" ")[1]);
    const headers: Record<string, string> = {};
    for (const l of lines.slice(1)) {
      const i = l.indexOf(":");
      headers[l.slice(0, i).toLowerCase()] = l.slice(i + 1).trim();
    }
    const len = Number(headers["content-length"] ?? 0);
    out.push({ status, headers, body: rest.slice(end + 4, end + 4 + len) });
    rest = rest.slice(end + 4 + len);
  }
  return out;
}
