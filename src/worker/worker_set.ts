/**
 * The data-plane workers, main thread side (control side): starts N Web Workers, hands each its
 * stats slab and the current snapshot, restarts a worker that crashes (counted and logged; only
 * its connections are lost), broadcasts new snapshots, and exposes every worker's stats.
 */
import { Logger, logLevel } from "../core/log.ts";
import { type Counter, DEFAULT_SLAB_CAPACITY, RemoteStats, StatSlab } from "../core/stats.ts";
import { type FromWorker, PROTOCOL_VERSION, type Snapshot, type ToWorker } from "./protocol.ts";
import type { UpstreamEventSink } from "../upstream/outlier_detection.ts";

const log = new Logger("main");

interface Slot {
  index: number;
  worker: Worker | null;
  stats: RemoteStats;
  ready: boolean;
  /** Resolves the pending start (first init or a restart). */
  onReady: ((ports: Record<string, number>) => void) | null;
  onFail: ((e: Error) => void) | null;
  onClosed: (() => void) | null;
  applied: number;
}

/** N data-plane workers. */
export class WorkerSet {
  readonly #slots: Slot[] = [];
  #snapshot: Snapshot;
  #ports: Record<string, number> = {};
  #closing = false;
  #appliedWaiters: { version: number; resolve: () => void }[] = [];

  constructor(
    readonly count: number,
    readonly workerUrl: URL,
    snapshot: Snapshot,
    readonly crashes: Counter,
    /** Inherited sockets for one more thread (a fresh dup per call), by listener name. */
    readonly fdsForThread: () => Record<string, number> = () => ({}),
    /** Ports already known (inherited sockets), by listener name. */
    knownPorts: Record<string, number> = {},
    /** Where workers' host results go (the control side's outlier detection). */
    readonly hostResults: UpstreamEventSink | null = null,
    /** Bind listeners with SO_REUSEPORT even with one worker (under the hot-restart supervisor,
     *  so that the next generation can bind the listeners it did not inherit, e.g. from LDS). */
    readonly alwaysReusePort = false,
  ) {
    this.#snapshot = snapshot;
    this.#ports = { ...knownPorts };
    for (let i = 0; i < count; i++) {
      this.#slots.push({
        index: i,
        worker: null,
        stats: new RemoteStats(StatSlab.create(DEFAULT_SLAB_CAPACITY, true)),
        ready: false,
        onReady: null,
        onFail: null,
        onClosed: null,
        applied: -1,
      });
    }
  }

  /** Every worker's stats, for the aggregate view. */
  remoteStats(): RemoteStats[] {
    return this.#slots.map((s) => s.stats);
  }

  /** Real ports of the listeners (port 0 resolved by worker 0). */
  get ports(): Record<string, number> {
    return this.#ports;
  }

  /** Starts worker 0 (which binds port-0 listeners), then the rest on the same ports. */
  async start(): Promise<void> {
    this.#ports = { ...(await this.#startOne(this.#slots[0]!)), ...this.#ports };
    await Promise.all(this.#slots.slice(1).map((s) => this.#startOne(s)));
  }

  #startOne(slot: Slot): Promise<Record<string, number>> {
    return new Promise((resolve, reject) => {
      slot.ready = false;
      slot.onReady = resolve;
      slot.onFail = reject;
      const w = new Worker(this.workerUrl.href, { type: "module" });
      slot.worker = w;
      w.onmessage = (ev: MessageEvent<FromWorker>) => this.#onMessage(slot, ev.data);
      w.onerror = (ev: ErrorEvent) => {
        ev.preventDefault?.();
        this.#onCrash(slot, ev.message || "worker error");
      };
      const init: ToWorker = {
        type: "init",
        protocol: PROTOCOL_VERSION,
        index: slot.index,
        slab: slot.stats.slab.buffer as SharedArrayBuffer,
        slabCapacity: slot.stats.slab.capacity,
        stats: [...slot.stats.descriptors.values()],
        snapshot: this.#snapshot,
        ports: this.#ports,
        logLevel: logLevel(),
        reusePort: this.count > 1 || this.alwaysReusePort,
        fds: this.fdsForThread(),
      };
      w.postMessage(init);
    });
  }

  #onMessage(slot: Slot, msg: FromWorker): void {
    switch (msg.type) {
      case "ready":
        slot.ready = true;
        slot.applied = this.#snapshot.version;
        slot.onReady?.(msg.ports);
        slot.onReady = slot.onFail = null;
        this.#checkApplied();
        return;
      case "init_failed":
        slot.onFail?.(new Error(msg.message));
        slot.onReady = slot.onFail = null;
        slot.worker?.terminate();
        slot.worker = null;
        return;
      case "stats":
        slot.stats.add(msg.descriptors);
        return;
      case "applied":
        if (msg.error) log.error(`worker ${slot.index} could not apply config version ${msg.version}: ${msg.error}`);
        slot.applied = msg.version;
        this.#checkApplied();
        return;
      case "closed":
        slot.onClosed?.();
        return;
      case "host_result":
        this.hostResults?.onHostResult(msg.cluster, msg.hostKey, msg.kind);
        return;
    }
  }

  #onCrash(slot: Slot, why: string): void {
    if (this.#closing) return;
    this.crashes.inc();
    log.error(`worker ${slot.index} crashed (${why}); restarting it`);
    slot.worker?.terminate();
    slot.worker = null;
    // Its connections died with it: its gauges (cx_active, rq_active, …) go back to zero.
    slot.stats.zeroGauges();
    if (slot.onFail) {
      slot.onFail(new Error(`worker ${slot.index} crashed during start: ${why}`));
      slot.onReady = slot.onFail = null;
      return;
    }
    this.#startOne(slot).catch((e) => log.error(`worker ${slot.index} failed to restart: ${e instanceof Error ? e.message : e}`));
  }

  /** Sends a new snapshot to every worker; resolves when all have applied it. */
  publish(snapshot: Snapshot): Promise<void> {
    this.#snapshot = snapshot;
    const done = new Promise<void>((resolve) => this.#appliedWaiters.push({ version: snapshot.version, resolve }));
    for (const s of this.#slots) if (s.worker && s.ready) s.worker.postMessage({ type: "snapshot", snapshot } satisfies ToWorker);
    this.#checkApplied();
    return done;
  }

  #checkApplied(): void {
    const min = Math.min(...this.#slots.map((s) => (s.worker ? s.applied : Infinity)));
    this.#appliedWaiters = this.#appliedWaiters.filter((w) => {
      if (w.version <= min) {
        w.resolve();
        return false;
      }
      return true;
    });
  }

  /** Tells every worker to drain (HTTP answers `connection: close`), optionally to stop accepting. */
  drain(stopAccepting = false): void {
    for (const s of this.#slots) s.worker?.postMessage({ type: "drain", stopAccepting } satisfies ToWorker);
  }

  /** Terminates a worker as if it had crashed (tests, fault injection). */
  crashForTest(index: number): void {
    const slot = this.#slots[index]!;
    this.#onCrash(slot, "terminated by test");
  }

  /** Closes every worker's listeners and connections, then terminates it (bounded wait). */
  async close(timeoutMs = 2000): Promise<void> {
    this.#closing = true;
    await Promise.all(this.#slots.map((s) => {
      const w = s.worker;
      if (!w) return Promise.resolve();
      return new Promise<void>((resolve) => {
        const t = setTimeout(resolve, timeoutMs);
        s.onClosed = () => {
          clearTimeout(t);
          resolve();
        };
        w.postMessage({ type: "shutdown" } satisfies ToWorker);
      }).then(() => {
        w.terminate();
        s.worker = null;
      });
    }));
  }
}
