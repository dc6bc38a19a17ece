/**
 * An xDS v3 management server (control plane) for tests and for trying Legate out: serves
 * versioned snapshots over ADS and the single-type services (SotW and delta), and over REST-JSON.
 *
 *   const cp = await startXdsServer({ port: 0 });
 *   cp.setSnapshot({ version: "1", listeners: [...], routes: [...], clusters: [...], endpoints: [...] });
 *   await cp.waitForAck({ type: "clusters", version: "1" });
 *   cp.setSnapshot({ version: "2", clusters: [bad] });
 *   const nack = await cp.waitForNack({ type: "clusters", errorDetail: /connect_timeout/ });
 *   await cp.close();
 *
 * Every request, ACK, NACK and response is appended to `cp.events` (with a sequence number, so a
 * test can wait for what happens after `cp.mark()`).
 */
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, type ConnectRouter } from "@connectrpc/connect";
import { ClusterDiscoveryService } from "../../gen/envoy/service/cluster/v3/cds_pb.ts";
import { AggregatedDiscoveryService } from "../../gen/envoy/service/discovery/v3/ads_pb.ts";
import type {
  DeltaDiscoveryRequest,
  DeltaDiscoveryResponse,
  DiscoveryRequest,
  DiscoveryResponse,
} from "../../gen/envoy/service/discovery/v3/discovery_pb.ts";
import { DiscoveryResponseSchema } from "../../gen/envoy/service/discovery/v3/discovery_pb.ts";
import { EndpointDiscoveryService } from "../../gen/envoy/service/endpoint/v3/eds_pb.ts";
import { ListenerDiscoveryService } from "../../gen/envoy/service/listener/v3/lds_pb.ts";
import { RouteDiscoveryService } from "../../gen/envoy/service/route/v3/rds_pb.ts";
import { Logger } from "../../core/log.ts";
import { type GrpcServer, type GrpcServerTlsOptions, startGrpcServer } from "../../runtime/grpc.ts";
import { type HttpJsonServer, startHttpJsonServer } from "../../runtime/http_json.ts";
import { type SnapshotWatch, watchSnapshotPath } from "./file_source.ts";
import { AsyncQueue } from "./queue.ts";
import { handleRestHttp, restDiscovery, type RestState } from "./rest.ts";
import {
  buildSnapshot,
  checkConsistency,
  type ConsistencyReport,
  kindOf,
  PUSH_ORDER,
  type ResourceKind,
  type Snapshot,
  type SnapshotInput,
} from "./snapshot.ts";
import {
  type AckRecord,
  DeltaStream,
  type NackRecord,
  type RequestRecord,
  type ResponseRecord,
  SotwStream,
  type StreamApi,
  type StreamHost,
  type StreamInfo,
  type XdsEvent,
  type XdsEventInit,
} from "./streams.ts";

const log = new Logger("xds_server");

/** How to start the server. */
export interface XdsServerOptions {
  /** gRPC listen address (default 127.0.0.1). */
  host?: string;
  /** gRPC port (default 0: any free port; see `port` on the result). */
  port?: number;
  /** Also serve REST-JSON on this port (0 = any free port); absent = no REST server. */
  restPort?: number;
  /** The first snapshot. */
  snapshot?: SnapshotInput;
  /** Serve (and watch) this snapshot file or directory. */
  snapshotPath?: string;
  /** How often the snapshot path is polled (default 200 ms). */
  pollMs?: number;
  /** Log every snapshot (info) and inconsistencies (warning); default: debug level only. */
  logSnapshots?: boolean;
  /** Keep at most this many events in `events` (default 100 000; the oldest are dropped). */
  maxEvents?: number;
  /** Serve gRPC over TLS (PEM text) instead of h2c. */
  tls?: GrpcServerTlsOptions;
}

/** What `setSnapshot` did. */
export interface SetSnapshotResult {
  snapshot: Snapshot;
  /** The types whose version changed (and that connected clients are being sent). */
  changed: ResourceKind[];
  consistency: ConsistencyReport;
}

/** A type name: "listeners" | "routes" | "clusters" | "endpoints", LDS/RDS/CDS/EDS, or a type URL. */
export type TypeName = ResourceKind | "LDS" | "RDS" | "CDS" | "EDS" | string;

/** Filters for the waitFor… helpers; `since` = only events after `cp.mark()` returned it. */
export interface EventQuery {
  type?: TypeName;
  version?: string;
  nodeId?: string;
  streamId?: number;
  protocol?: "sotw" | "delta" | "rest";
  since?: number;
  timeoutMs?: number;
}

/** The running server. */
export interface XdsServer extends AsyncDisposable {
  readonly host: string;
  /** The gRPC port. */
  readonly port: number;
  /** The REST-JSON port, if `restPort` was given. */
  readonly restPort: number | undefined;
  /** The snapshot being served (undefined until the first one). */
  readonly snapshot: Snapshot | undefined;
  /** Replaces the snapshot and pushes what changed to every stream (throws SnapshotError). */
  setSnapshot(input: SnapshotInput): SetSnapshotResult;
  /** The current `version_info` of a type. */
  versionOf(type: TypeName): string | undefined;
  /** go-control-plane's consistency check of the current snapshot. */
  checkConsistency(): ConsistencyReport;
  /** Every event so far, oldest first. */
  readonly events: readonly XdsEvent[];
  readonly requests: readonly RequestRecord[];
  readonly acks: readonly AckRecord[];
  readonly nacks: readonly NackRecord[];
  readonly responses: readonly ResponseRecord[];
  /** The sequence number of the last event (pass as `since` to wait for later ones). */
  mark(): number;
  /** Calls `fn` for every new event; returns an unsubscribe function. */
  onEvent(fn: (e: XdsEvent) => void): () => void;
  /** Resolves with the first (after `since`) event `pred` accepts; rejects after `timeoutMs`. */
  waitForEvent<E extends XdsEvent>(pred: (e: XdsEvent) => e is E, what: string, opts?: { since?: number; timeoutMs?: number }): Promise<E>;
  waitForEvent(pred: (e: XdsEvent) => boolean, what: string, opts?: { since?: number; timeoutMs?: number }): Promise<XdsEvent>;
  /** Waits until a client ACKs (`version` of) `type`. */
  waitForAck(q: EventQuery): Promise<AckRecord>;
  /** Waits until a client NACKs `type` with an error_detail message matching `errorDetail`. */
  waitForNack(q: EventQuery & { errorDetail?: RegExp | string }): Promise<NackRecord>;
  /** Waits until the server sends a response of `type` (at `version`). */
  waitForResponse(q: EventQuery): Promise<ResponseRecord>;
  /** The streams connected now. */
  readonly connectedStreams: readonly StreamInfo[];
  /** Waits until `pred(connectedStreams)` holds. */
  waitForStreams(pred: (s: readonly StreamInfo[]) => boolean, timeoutMs?: number): Promise<void>;
  /** Ends every stream with UNAVAILABLE (clients reconnect); the server keeps listening. */
  dropStreams(): void;
  /** The last error loading the snapshot path (cleared by the next good load). */
  readonly snapshotPathError: Error | undefined;
  close(): Promise<void>;
}

class XdsServerImpl implements XdsServer, StreamHost {
  host = "127.0.0.1";
  port = 0;
  restPort: number | undefined;
  snapshot: Snapshot | undefined;
  snapshotPathError: Error | undefined;
  readonly events: XdsEvent[] = [];
  private seq = 0;
  private nonceSeq = 0;
  private streamSeq = 0;
  private readonly streams = new Set<SotwStream | DeltaStream>();
  private readonly listeners = new Set<(e: XdsEvent) => void>();
  readonly restState: RestState = new Map();
  grpc: GrpcServer | undefined;
  rest: HttpJsonServer | undefined;
  watch: SnapshotWatch | undefined;
  private closing: Promise<void> | undefined;

  get logSnapshotsEnabled(): boolean {
    return this.logSnapshots;
  }

  constructor(private readonly maxEvents: number, private readonly logSnapshots: boolean) {}

  // StreamHost
  currentSnapshot(): Snapshot | undefined {
    return this.snapshot;
  }
  nextNonce(): string {
    return String(++this.nonceSeq);
  }
  record(init: XdsEventInit): void {
    const e = { ...init, seq: ++this.seq, at: Date.now() } as XdsEvent;
    this.events.push(e);
    if (this.events.length > this.maxEvents) this.events.splice(0, this.events.length - this.maxEvents);
    if (e.event === "nack") log.log(this.logSnapshots ? "warning" : "debug", `${e.protocol} stream ${e.streamId} (node ${e.nodeId ?? "?"}) NACKed ${e.type} version ${e.version}: ${e.errorDetail.message}`);
    else if (e.event === "ack") log.debug(`${e.protocol} stream ${e.streamId} (node ${e.nodeId ?? "?"}) ACKed ${e.type} version ${e.version}`);
    for (const fn of [...this.listeners]) {
      try {
        fn(e);
      } catch (err) {
        log.error(`event listener threw: ${err}`);
      }
    }
  }

  setSnapshot(input: SnapshotInput): SetSnapshotResult {
    const prev = this.snapshot;
    const snap = buildSnapshot(input, prev);
    const changed = PUSH_ORDER.filter((k) => prev?.types[k].version !== snap.types[k].version);
    this.snapshot = snap;
    const consistency = checkConsistency(snap);
    log.log(
      this.logSnapshots ? "info" : "debug",
      `snapshot ${snap.version}: ${PUSH_ORDER.map((k) => `${k} ${snap.types[k].resources.size} (v${snap.types[k].version})`).join(", ")}` +
        (changed.length ? `; pushing ${changed.join(", ")}` : "; nothing changed"),
    );
    if (!consistency.consistent) {
      log.log(this.logSnapshots ? "warning" : "debug", `snapshot ${snap.version} is not consistent: ${consistency.issues.map((i) => i.kind === "missing" ? `${i.referencedBy} names ${i.type}/${i.name}, which is missing` : `${i.type}/${i.name} is not referenced`).join("; ")}`);
    }
    for (const s of this.streams) s.onSnapshot();
    return { snapshot: snap, changed, consistency };
  }

  versionOf(type: TypeName): string | undefined {
    const k = kindOf(type);
    return k ? this.snapshot?.types[k].version : undefined;
  }

  checkConsistency(): ConsistencyReport {
    return this.snapshot ? checkConsistency(this.snapshot) : { consistent: true, issues: [] };
  }

  get requests(): RequestRecord[] {
    return this.events.filter((e): e is RequestRecord => e.event === "request");
  }
  get acks(): AckRecord[] {
    return this.events.filter((e): e is AckRecord => e.event === "ack");
  }
  get nacks(): NackRecord[] {
    return this.events.filter((e): e is NackRecord => e.event === "nack");
  }
  get responses(): ResponseRecord[] {
    return this.events.filter((e): e is ResponseRecord => e.event === "response");
  }

  mark(): number {
    return this.seq;
  }

  onEvent(fn: (e: XdsEvent) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  waitForEvent(pred: (e: XdsEvent) => boolean, what: string, opts: { since?: number; timeoutMs?: number } = {}): Promise<XdsEvent> {
    const since = opts.since ?? 0;
    const found = this.events.find((e) => e.seq > since && pred(e));
    if (found) return Promise.resolve(found);
    const timeoutMs = opts.timeoutMs ?? 5000;
    return new Promise((resolve, reject) => {
      const off = this.onEvent((e) => {
        if (e.seq > since && pred(e)) {
          off();
          clearTimeout(timer);
          resolve(e);
        }
      });
      const timer = setTimeout(() => {
        off();
        const recent = this.events.slice(-8).map(describeEvent).join("\n  ");
        reject(new Error(`timed out after ${timeoutMs}ms waiting for ${what}; last events:\n  ${recent || "(none)"}`));
      }, timeoutMs);
    });
  }

  waitForAck(q: EventQuery): Promise<AckRecord> {
    return this.waitForEvent((e): e is AckRecord => e.event === "ack" && matches(e, q), `an ACK ${describeQuery(q)}`, q) as Promise<AckRecord>;
  }

  waitForNack(q: EventQuery & { errorDetail?: RegExp | string }): Promise<NackRecord> {
    const m = q.errorDetail;
    const detailOk = (s: string): boolean => m === undefined || (typeof m === "string" ? s.includes(m) : m.test(s));
    return this.waitForEvent(
      (e): e is NackRecord => e.event === "nack" && matches(e, q) && detailOk(e.errorDetail.message),
      `a NACK ${describeQuery(q)}${m !== undefined ? ` with error_detail ~ ${m}` : ""}`,
      q,
    ) as Promise<NackRecord>;
  }

  waitForResponse(q: EventQuery): Promise<ResponseRecord> {
    return this.waitForEvent((e): e is ResponseRecord => e.event === "response" && matches(e, q), `a response ${describeQuery(q)}`, q) as Promise<ResponseRecord>;
  }

  get connectedStreams(): StreamInfo[] {
    return [...this.streams].map((s) => ({ id: s.id, protocol: s.protocol, api: s.api, nodeId: s.nodeId, node: s.node, types: s.types }));
  }

  async waitForStreams(pred: (s: readonly StreamInfo[]) => boolean, timeoutMs = 5000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!pred(this.connectedStreams)) {
      if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs}ms waiting for streams (now ${this.streams.size})`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  dropStreams(): void {
    for (const s of [...this.streams]) s.abort(new ConnectError("the management server dropped the stream", Code.Unavailable));
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      this.watch?.stop();
      this.dropStreams();
      await Promise.all([this.grpc?.close(), this.rest?.close()]);
    })();
    return this.closing;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /** One bidi stream: requests feed `stream.handle`, `AsyncQueue` carries responses back. */
  async *serve<Req, Res>(
    make: (id: number, send: (r: Res) => void) => SotwStream | DeltaStream,
    reqs: AsyncIterable<Req>,
    signal: AbortSignal,
  ): AsyncGenerator<Res> {
    const out = new AsyncQueue<Res>();
    const stream = make(++this.streamSeq, (r) => out.push(r));
    stream.abort = (err) => out.end(err);
    this.streams.add(stream);
    const onAbort = (): void => out.end();
    signal.addEventListener("abort", onAbort);
    log.debug(`${stream.protocol} ${stream.api} stream ${stream.id} opened`);
    void (async () => {
      try {
        for await (const r of reqs) {
          if (stream.closed) break;
          (stream.handle as (x: Req) => void)(r);
        }
        out.end();
      } catch (e) {
        out.end(e instanceof Error ? e : new Error(String(e)));
      }
    })();
    try {
      yield* out;
    } finally {
      stream.closed = true;
      this.streams.delete(stream);
      signal.removeEventListener("abort", onAbort);
      log.debug(`${stream.protocol} ${stream.api} stream ${stream.id} (node ${stream.nodeId ?? "?"}) closed`);
    }
  }

  routes(router: ConnectRouter): void {
    const sotw = (api: StreamApi) => (reqs: AsyncIterable<DiscoveryRequest>, ctx: { signal: AbortSignal }) =>
      this.serve<DiscoveryRequest, DiscoveryResponse>((id, send) => new SotwStream(id, api, this, send), reqs, ctx.signal);
    const delta = (api: StreamApi) => (reqs: AsyncIterable<DeltaDiscoveryRequest>, ctx: { signal: AbortSignal }) =>
      this.serve<DeltaDiscoveryRequest, DeltaDiscoveryResponse>((id, send) => new DeltaStream(id, api, this, send), reqs, ctx.signal);
    const fetch = (kind: ResourceKind) => (req: DiscoveryRequest): DiscoveryResponse => {
      const out = restDiscovery(this, this.restState, kind, req, false);
      if (out === "no_snapshot") throw new ConnectError("no snapshot yet", Code.Unavailable);
      if (out === "not_modified") return create(DiscoveryResponseSchema, {});
      return out;
    };
    router.service(AggregatedDiscoveryService, {
      streamAggregatedResources: sotw("ads"),
      deltaAggregatedResources: delta("ads"),
    });
    router.service(ListenerDiscoveryService, { streamListeners: sotw("lds"), deltaListeners: delta("lds"), fetchListeners: fetch("listeners") });
    router.service(RouteDiscoveryService, { streamRoutes: sotw("rds"), deltaRoutes: delta("rds"), fetchRoutes: fetch("routes") });
    router.service(ClusterDiscoveryService, { streamClusters: sotw("cds"), deltaClusters: delta("cds"), fetchClusters: fetch("clusters") });
    router.service(EndpointDiscoveryService, { streamEndpoints: sotw("eds"), deltaEndpoints: delta("eds"), fetchEndpoints: fetch("endpoints") });
  }
}

function matches(e: AckRecord | NackRecord | ResponseRecord, q: EventQuery): boolean {
  if (q.type !== undefined && e.type !== kindOf(q.type)) return false;
  if (q.version !== undefined && e.version !== q.version) return false;
  if (q.nodeId !== undefined && e.nodeId !== q.nodeId) return false;
  if (q.streamId !== undefined && e.streamId !== q.streamId) return false;
  if (q.protocol !== undefined && e.protocol !== q.protocol) return false;
  return true;
}

function describeQuery(q: EventQuery): string {
  const parts = [q.type && `of ${q.type}`, q.version !== undefined && `at version '${q.version}'`, q.nodeId && `from node ${q.nodeId}`, q.protocol && `over ${q.protocol}`];
  return parts.filter(Boolean).join(" ");
}

/** One line per event, for timeouts and the CLI's log. */
export function describeEvent(e: XdsEvent): string {
  const who = `#${e.seq} ${e.protocol} stream ${e.streamId}`;
  switch (e.event) {
    case "request":
      return `${who}: ${e.verdict} request ${e.type ?? e.typeUrl} version_info='${e.versionInfo}' nonce='${e.responseNonce}'` +
        (e.resourceNames.length ? ` names=[${e.resourceNames}]` : "") +
        (e.subscribe.length ? ` +[${e.subscribe}]` : "") + (e.unsubscribe.length ? ` -[${e.unsubscribe}]` : "");
    case "ack":
      return `${who}: ACK ${e.type} version '${e.version}' nonce '${e.nonce}'`;
    case "nack":
      return `${who}: NACK ${e.type} version '${e.version}' nonce '${e.nonce}': ${e.errorDetail.message}`;
    case "response":
      return `${who}: sent ${e.type} version '${e.version}' nonce '${e.nonce}' [${e.resourceNames}]` + (e.removed.length ? ` removed [${e.removed}]` : "");
  }
}

/** Starts the management server (gRPC, and REST when `restPort` is given). */
export async function startXdsServer(opts: XdsServerOptions = {}): Promise<XdsServer> {
  const s = new XdsServerImpl(opts.maxEvents ?? 100_000, opts.logSnapshots ?? false);
  s.host = opts.host ?? "127.0.0.1";
  try {
    if (opts.snapshot) s.setSnapshot(opts.snapshot);
    if (opts.snapshotPath !== undefined) {
      s.watch = await watchSnapshotPath({
        path: opts.snapshotPath,
        pollMs: opts.pollMs,
        apply: (input, file) => {
          log.log(s.logSnapshotsEnabled ? "info" : "debug", `loading snapshot ${file}`);
          s.setSnapshot(input);
          s.snapshotPathError = undefined;
        },
        onError: (err) => {
          s.snapshotPathError = err;
          log.error(`snapshot not applied, still serving version ${s.snapshot?.version ?? "(none)"}: ${err.message}`);
        },
      });
    }
    s.grpc = await startGrpcServer(s.host, opts.port ?? 0, (r) => s.routes(r), opts.tls);
    s.port = s.grpc.port;
    if (opts.restPort !== undefined) {
      s.rest = await startHttpJsonServer(s.host, opts.restPort, (req) => handleRestHttp(s, s.restState, req));
      s.restPort = s.rest.port;
    }
  } catch (e) {
    await s.close();
    throw e;
  }
  return s;
}
