/**
 * Write coalescing per I/O event (worker side, hot path). While an inbound socket event is being
 * handled (`beginIo()` … `endIo()`), writes to any `BatchedWriter` are queued; at the end of
 * the event each touched socket gets one write (one syscall) instead of one per head, chunk and
 * trailer. Outside an event (timers) writes go straight through.
 *
 * Watermarks follow Envoy's buffer model: above `highWatermark` bytes queued in the socket the
 * owner is told to stop producing; when the socket drains it is told to resume.
 */
import type { TcpSocket } from "../runtime/types.ts";
import { beginLoopTime, endLoopTime } from "../core/clock.ts";

/** Receives watermark transitions for one socket's outbound buffer. */
export interface WatermarkListener {
  onAboveWriteBufferHighWatermark(): void;
  onBelowWriteBufferLowWatermark(): void;
}

let depth = 0;
const dirty: BatchedWriter[] = [];
/** Concatenate batches up to this size into one buffer; beyond, write them one by one. */
const COALESCE_LIMIT = 64 * 1024;

/** Marks the start of handling one inbound event (nestable). */
export function beginIo(): void {
  if (depth++ === 0) beginLoopTime();
}

/** Marks the end of an inbound event; the outermost one flushes every touched writer. */
export function endIo(): void {
  if (--depth > 0) return;
  depth = 0;
  endLoopTime();
  // A flush can trigger callbacks that write again (and re-dirty writers): loop until clean.
  for (let i = 0; i < dirty.length; i++) dirty[i]!.flush();
  dirty.length = 0;
}

/** An outbound byte stream over a socket with per-event coalescing and watermarks. */
export class BatchedWriter {
  #chunks: Uint8Array[] = [];
  #bytes = 0;
  #above = false;
  /** Total bytes handed to the socket (for stats and access logs). */
  bytesWritten = 0;
  closed = false;

  constructor(
    public socket: TcpSocket,
    public highWatermark: number,
    public listener: WatermarkListener | null,
  ) {}

  /** Queues `data` (kept by reference until flushed: do not mutate it afterwards). */
  write(data: Uint8Array): void {
    if (this.closed || data.length === 0) return;
    if (depth === 0) {
      this.#send(data);
      return;
    }
    if (this.#chunks.length === 0) dirty.push(this);
    this.#chunks.push(data);
    this.#bytes += data.length;
  }

  /** Bytes queued here plus bytes the socket has not yet handed to the kernel. */
  get buffered(): number {
    return this.#bytes + this.socket.bufferedAmount;
  }

  /** True while above the high watermark (the producer should pause). */
  get aboveHighWatermark(): boolean {
    return this.#above;
  }

  /** Writes out what is queued now. */
  flush(): void {
    const n = this.#chunks.length;
    if (n === 0) return;
    const chunks = this.#chunks;
    const bytes = this.#bytes;
    this.#chunks = [];
    this.#bytes = 0;
    if (this.closed) return;
    if (n === 1) {
      this.#send(chunks[0]!);
    } else if (bytes <= COALESCE_LIMIT) {
      const buf = new Uint8Array(bytes);
      let off = 0;
      for (let i = 0; i < n; i++) {
        buf.set(chunks[i]!, off);
        off += chunks[i]!.length;
      }
      this.#send(buf);
    } else {
      for (let i = 0; i < n; i++) this.#send(chunks[i]!);
    }
  }

  #send(data: Uint8Array): void {
    this.bytesWritten += data.length;
    this.socket.write(data);
    if (!this.#above && this.socket.bufferedAmount > this.highWatermark) {
      this.#above = true;
      this.listener?.onAboveWriteBufferHighWatermark();
    }
  }

  /** Call from the socket's onDrain: fires the low-watermark transition. */
  onDrain(): void {
    if (this.#above && this.socket.bufferedAmount <= this.highWatermark / 2) {
      this.#above = false;
      this.listener?.onBelowWriteBufferLowWatermark();
    }
  }

  /** Flushes what is queued, then stops accepting writes. */
  close(): void {
    this.flush();
    this.closed = true;
  }
}
