/**
 * Write coalescing per I/O event (worker side, hot path). While an inbound socket event is being
 * handled (`beginIo()` … `endIo()`), writes to any `BatchedWriter` are queued; at the end of
 * the event each touched socket gets one write (one syscall) instead of one per head, chunk and
 * trailer. Outside an event (timers) writes go straight through.
 *
 * Allocation per batch is kept near zero (DESIGN §7): heads are encoded straight into a shared
 * staging arena (`reserve()` / `commit()`), small writes that follow are copied next to them,
 * several parts are concatenated in one shared buffer, and the result goes to the socket as a
 * range (`writeRange`) rather than as a new view. A head plus a small body is one range.
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
/** True while the outermost endIo() flushes: staged bytes stay put until it is done. */
let flushing = false;
/** Concatenate batches up to this size into one buffer; beyond, write them one by one. */
const COALESCE_LIMIT = 64 * 1024;
/** The buffer batches are concatenated in, shared by every writer on this thread: a socket's
 *  write() keeps no reference to its argument (runtime/types.ts), so it is free again as soon
 *  as the write returns. `coalesceBusy` covers a write that re-enters another flush. */
let coalesce = new Uint8Array(16 * 1024);
let coalesceBusy = false;

/**
 * The staging arena: small writes made during one I/O event are copied here (and codecs encode
 * heads straight into it, see `reserve()`), so a head and a small body need no array of their
 * own and usually leave as one contiguous range. Shared by every writer on this thread and
 * emptied when the outermost event has flushed; writes larger than STAGE_MAX are queued by
 * reference instead (no copy).
 */
let arena = new Uint8Array(32 * 1024);
let arenaLen = 0;
const STAGE_MAX = 2048;

/** Makes room for `n` more staged bytes; returns where they go. */
function arenaReserve(n: number): number {
  const at = arenaLen;
  if (arena.length < at + n) {
    const grown = new Uint8Array(Math.max(at + n, arena.length * 2));
    grown.set(arena.subarray(0, at));
    arena = grown;
  }
  return at;
}

/** Marks the start of handling one inbound event (nestable). */
export function beginIo(): void {
  if (depth++ === 0) beginLoopTime();
}

/** Marks the end of an inbound event; the outermost one flushes every touched writer. */
export function endIo(): void {
  if (--depth > 0) return;
  depth = 0;
  endLoopTime();
  if (flushing) {
    // An event handled inside a flush's socket call: the outer loop empties the arena.
    for (let i = 0; i < dirty.length; i++) dirty[i]!.flush();
    dirty.length = 0;
    return;
  }
  flushing = true;
  try {
    // A flush can trigger callbacks that write again (and re-dirty writers): loop until clean.
    for (let i = 0; i < dirty.length; i++) dirty[i]!.flush();
    dirty.length = 0;
  } finally {
    flushing = false;
    if (dirty.length === 0) arenaLen = 0;
  }
}

/** An outbound byte stream over a socket with per-event coalescing and watermarks. */
export class BatchedWriter {
  /** Queued parts in order: a chunk kept by reference, or null for staged bytes
   *  arena[#segStart[i], #segEnd[i]). The arrays are reused from batch to batch. */
  #parts: (Uint8Array | null)[] = [];
  #segStart: number[] = [];
  #segEnd: number[] = [];
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

  /** Queues `data`, kept by reference until flushed (do not mutate it afterwards); a small
   *  write that follows others in the same event is copied into the staging arena instead (a
   *  lone write goes out as it is, with no copy). */
  write(data: Uint8Array): void {
    if (this.closed || data.length === 0) return;
    if (depth === 0) {
      this.#send(data);
      return;
    }
    const n = data.length;
    if (n <= STAGE_MAX && this.#parts.length > 0) {
      const at = arenaReserve(n);
      arena.set(data, at);
      arenaLen = at + n;
      this.#queueStaged(at, at + n);
      return;
    }
    if (this.#parts.length === 0) dirty.push(this);
    this.#parts.push(data);
    this.#segStart.push(0);
    this.#segEnd.push(0);
    this.#bytes += n;
  }

  /**
   * Direct encoding, step 1: makes room for up to `n` bytes and returns the offset in `buffer`
   * where the caller may write them. Step 2 is `commit()`, before anything else is written to
   * any writer.
   */
  reserve(n: number): number {
    return arenaReserve(n);
  }

  /** The buffer `reserve()` offsets point into (read it after reserve(): it may have grown). */
  get buffer(): Uint8Array {
    return arena;
  }

  /** Direct encoding, step 2: queues buffer[start, end) as written (start from `reserve()`). */
  commit(start: number, end: number): void {
    if (end <= start) return;
    if (this.closed) return;
    if (depth === 0) {
      // Outside an event: nothing else is staged after these bytes; send and release them.
      arenaLen = end;
      this.#sendRange(arena, start, end);
      arenaLen = start;
      return;
    }
    arenaLen = end;
    this.#queueStaged(start, end);
  }

  #queueStaged(start: number, end: number): void {
    const parts = this.#parts;
    const k = parts.length;
    if (k === 0) dirty.push(this);
    // Contiguous with this writer's last staged range (nothing else was staged since): extend it.
    if (k > 0 && parts[k - 1] === null && this.#segEnd[k - 1] === start) {
      this.#segEnd[k - 1] = end;
    } else {
      parts.push(null);
      this.#segStart.push(start);
      this.#segEnd.push(end);
    }
    this.#bytes += end - start;
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
    const parts = this.#parts;
    const n = parts.length;
    if (n === 0) return;
    const bytes = this.#bytes;
    const starts = this.#segStart;
    const ends = this.#segEnd;
    this.#bytes = 0;
    if (this.closed) {
      parts.length = starts.length = ends.length = 0;
      return;
    }
    // The arrays are emptied before sending: a write made during the send goes straight out
    // (the batch depth is 0 while flushing) and never sees this batch.
    if (n === 1) {
      const p = parts[0];
      const s0 = starts[0]!, e0 = ends[0]!;
      parts.length = starts.length = ends.length = 0;
      if (p !== null && p !== undefined) this.#send(p);
      else this.#sendRange(arena, s0, e0);
    } else if (bytes <= COALESCE_LIMIT) {
      const shared = !coalesceBusy;
      let buf: Uint8Array;
      if (shared) {
        if (coalesce.length < bytes) coalesce = new Uint8Array(Math.max(bytes, coalesce.length * 2));
        buf = coalesce;
      } else {
        buf = new Uint8Array(bytes);
      }
      let off = 0;
      for (let i = 0; i < n; i++) {
        const p = parts[i];
        if (p !== null && p !== undefined) {
          buf.set(p, off);
          off += p.length;
        } else {
          const s = starts[i]!, e = ends[i]!;
          buf.set(arena.subarray(s, e), off);
          off += e - s;
        }
      }
      parts.length = starts.length = ends.length = 0;
      if (!shared) {
        this.#send(buf);
        return;
      }
      coalesceBusy = true;
      try {
        this.#sendRange(buf, 0, bytes);
      } finally {
        coalesceBusy = false;
      }
    } else {
      const out: Uint8Array[] = new Array(n);
      for (let i = 0; i < n; i++) {
        const p = parts[i];
        out[i] = p !== null && p !== undefined ? p : arena.subarray(starts[i]!, ends[i]!);
      }
      parts.length = starts.length = ends.length = 0;
      for (let i = 0; i < n; i++) this.#send(out[i]!);
    }
  }

  #send(data: Uint8Array): void {
    this.bytesWritten += data.length;
    this.socket.write(data);
    this.#checkHigh();
  }

  /** #send(buf.subarray(start, end)), without the view where the socket allows. */
  #sendRange(buf: Uint8Array, start: number, end: number): void {
    this.bytesWritten += end - start;
    const socket = this.socket;
    if (socket.writeRange !== undefined) socket.writeRange(buf, start, end);
    else socket.write(buf.subarray(start, end));
    this.#checkHigh();
  }

  #checkHigh(): void {
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
