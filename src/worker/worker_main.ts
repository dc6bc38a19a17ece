/**
 * Entry point of a data-plane Web Worker (worker side). Receives `init` with its stats slab and
 * the first snapshot, binds its listeners, reports `ready`, then applies snapshots as they come.
 * `bun build --compile` needs this file as an extra entrypoint (scripts/build.sh passes it).
 */
import { configureLogging, Logger } from "../core/log.ts";
import { setAccessLogSink } from "../http/conn_manager/access_log.ts";
import { BatchedAccessLogSink } from "../http/conn_manager/access_log_sink.ts";
import { StatSlab, StatsStore } from "../core/stats.ts";
import { loadRuntime } from "../runtime/mod.ts";
import { DataPlane } from "./data_plane.ts";
import { type FromWorker, PROTOCOL_VERSION, type ToWorker } from "./protocol.ts";

interface WorkerScope {
  postMessage(msg: FromWorker): void;
  onmessage: ((ev: MessageEvent<ToWorker>) => void) | null;
  close?(): void;
}
const scope = globalThis as unknown as WorkerScope;
// No top-level await before onmessage is set: a message that arrives while the module is still
// evaluating would otherwise be dropped (Bun dispatches it before the handler exists).
const runtimeReady = loadRuntime();
const log = new Logger("main");
let plane: DataPlane | null = null;
let accessLogSink: BatchedAccessLogSink | null = null;
let index = -1;
// Messages are handled one at a time, in order: a snapshot never overtakes the init.
let queue: Promise<void> = Promise.resolve();

async function handle(msg: ToWorker): Promise<void> {
  const runtime = await runtimeReady;
  switch (msg.type) {
    case "init": {
      index = msg.index;
      configureLogging({ pid: runtime.pid, level: msg.logLevel, sink: (line) => runtime.writeStderr(line + "\n") });
      // Each thread batches and writes its own access-log lines.
      accessLogSink = new BatchedAccessLogSink(runtime);
      setAccessLogSink(accessLogSink);
      if (msg.protocol !== PROTOCOL_VERSION) {
        scope.postMessage({ type: "init_failed", index, message: `worker protocol ${PROTOCOL_VERSION}, main thread speaks ${msg.protocol}` });
        return;
      }
      const stats = new StatsStore(new StatSlab(msg.slab, msg.slabCapacity), (descriptors) => scope.postMessage({ type: "stats", descriptors }));
      stats.adopt(msg.stats);
      plane = new DataPlane(runtime, stats, {
        reusePort: msg.reusePort,
        // Host results go to the main thread's outlier detection.
        sink: { onHostResult: (cluster, hostKey, kind) => scope.postMessage({ type: "host_result", cluster, hostKey, kind }) },
        seed: msg.index * 7919 + 1,
      });
      try {
        await plane.apply(msg.snapshot, msg.ports, msg.fds);
      } catch (e) {
        scope.postMessage({ type: "init_failed", index, message: e instanceof Error ? e.message : String(e) });
        await plane.close();
        return;
      }
      stats.flushNew();
      scope.postMessage({ type: "ready", protocol: PROTOCOL_VERSION, index, ports: plane.ports() });
      return;
    }
    case "snapshot": {
      if (!plane) return;
      try {
        await plane.apply(msg.snapshot);
        plane.stats.flushNew();
        scope.postMessage({ type: "applied", version: msg.snapshot.version });
      } catch (e) {
        log.error(`worker ${index}: snapshot ${msg.snapshot.version} failed: ${e instanceof Error ? e.message : e}`);
        scope.postMessage({ type: "applied", version: msg.snapshot.version, error: e instanceof Error ? e.message : String(e) });
      }
      return;
    }
    case "drain":
      await plane?.drain(msg.stopAccepting);
      return;
    case "shutdown":
      await plane?.close();
      await accessLogSink?.flush();
      plane?.stats.flushNew();
      scope.postMessage({ type: "closed" });
      return;
  }
}

scope.onmessage = (ev) => {
  queue = queue.then(() => handle(ev.data)).catch((e) => log.error(`worker ${index}: ${e instanceof Error ? e.stack : e}`));
};
