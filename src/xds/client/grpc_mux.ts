/**
 * xDS over gRPC (control side): one bidirectional stream, aggregated (ADS, every type on it) or
 * per type (LDS/RDS/CDS/EDS services), State-of-the-World or delta. Implements Envoy's
 * xds_protocol rules: `node` on the first request of a stream, per-type version_info and nonce,
 * ACK (the response's version and nonce) and NACK (the last accepted version, the response's
 * nonce, error_detail), subscription updates carrying the last version and nonce, reconnection
 * with exponential backoff and jitter, delta `initial_resource_versions` on reconnect.
 * https://www.envoyproxy.io/docs/envoy/latest/api-docs/xds_protocol
 */
import { create } from "@bufbuild/protobuf";
import { type Client, createClient, type Transport } from "@connectrpc/connect";
import type { Node } from "../../gen/envoy/config/core/v3/base_pb.ts";
import { AggregatedDiscoveryService } from "../../gen/envoy/service/discovery/v3/ads_pb.ts";
import {
  type DeltaDiscoveryRequest,
  DeltaDiscoveryRequestSchema,
  type DeltaDiscoveryResponse,
  type DiscoveryRequest,
  DiscoveryRequestSchema,
  type DiscoveryResponse,
} from "../../gen/envoy/service/discovery/v3/discovery_pb.ts";
import { ClusterDiscoveryService } from "../../gen/envoy/service/cluster/v3/cds_pb.ts";
import { EndpointDiscoveryService } from "../../gen/envoy/service/endpoint/v3/eds_pb.ts";
import { ListenerDiscoveryService } from "../../gen/envoy/service/listener/v3/lds_pb.ts";
import { RouteDiscoveryService } from "../../gen/envoy/service/route/v3/rds_pb.ts";
import { Logger } from "../../core/log.ts";
import { decodeAnyResource, KIND_TYPE_URL, kindOfTypeUrl, type ResourceKind } from "./resources.ts";
import type { XdsWatcher } from "./watcher.ts";

const log = new Logger("config");

/** google.rpc.Code INVALID_ARGUMENT, what Envoy puts in a NACK's error_detail. */
const INVALID_ARGUMENT = 3;
/** Envoy's reconnect backoff: 500 ms base, 30 s cap, full jitter. */
const BACKOFF_BASE_MS = 500;
const BACKOFF_MAX_MS = 30_000;
/** Order in which ADS subscribes (Envoy: CDS before EDS, LDS before RDS, clusters first). */
const ORDER: readonly ResourceKind[] = ["cluster", "endpoint", "listener", "route"];

/** A queue of outgoing requests the stream consumes as an async iterable. */
class Outbox<T> implements AsyncIterable<T> {
  #items: T[] = [];
  #wake: (() => void) | null = null;
  #ended = false;
  push(x: T): void {
    if (this.#ended) return;
    this.#items.push(x);
    this.#wake?.();
  }
  end(): void {
    this.#ended = true;
    this.#wake?.();
  }
  async *[Symbol.asyncIterator](): AsyncIterator<T> {
    while (true) {
      while (this.#items.length) yield this.#items.shift()!;
      if (this.#ended) return;
      await new Promise<void>((r) => (this.#wake = r));
      this.#wake = null;
    }
  }
}

/** Per-type protocol state that survives reconnects. */
interface TypeState {
  /** version_info of the last accepted SotW response ("" = none yet). */
  version: string;
  /** Nonce of the last response on the current stream. */
  nonce: string;
  /** Names (or wildcard) last sent in a request on this stream; null = not yet subscribed. */
  sent: { wildcard: boolean; names: Set<string> } | null;
}

export interface GrpcMuxOptions {
  readonly transport: Transport;
  readonly node: Node;
  /** "ads" for the aggregated service, else the one resource type this stream carries. */
  readonly scope: "ads" | ResourceKind;
  readonly delta: boolean;
  readonly watcher: XdsWatcher;
  /** initial_metadata of the grpc_service, sent as request headers. */
  readonly headers?: readonly (readonly [string, string])[];
  /** A label for logs ("ADS", "CDS on xds_cluster", …). */
  readonly label: string;
  readonly setNodeOnFirstMessageOnly?: boolean;
}

/** One xDS gRPC stream with reconnection (control side). */
export class GrpcMux {
  readonly #o: GrpcMuxOptions;
  readonly #state = new Map<ResourceKind, TypeState>();
  #outbox: Outbox<DiscoveryRequest | DeltaDiscoveryRequest> | null = null;
  #abort: AbortController | null = null;
  #closed = false;
  #connected = false;
  #attempt = 0;
  #retryTimer: ReturnType<typeof setTimeout> | undefined;
  #firstOnStream = true;
  #gotResponse = false;
  readonly #kinds: readonly ResourceKind[];

  constructor(opts: GrpcMuxOptions) {
    this.#o = opts;
    this.#kinds = opts.scope === "ads" ? ORDER : [opts.scope];
    for (const k of this.#kinds) this.#state.set(k, { version: "", nonce: "", sent: null });
  }

  get connected(): boolean {
    return this.#connected;
  }

  /** Opens the stream (and keeps reopening it until close()). */
  start(): void {
    if (this.#closed || this.#abort) return;
    void this.#run();
  }

  /** The watcher's interest in `kind` changed: tell the server (if the stream is up). While a
   *  response is being applied this waits until its ACK/NACK has been queued, so the server
   *  never sees a subscription change carrying a nonce it has not been answered for yet. */
  updateInterest(kind: ResourceKind): void {
    if (!this.#outbox || !this.#state.has(kind)) return;
    if (this.#applying) return; // sent after the ACK (#afterResponse)
    this.#sendInterest(kind, false);
  }
  #applying = false;

  /** After a response's ACK/NACK: any subscription changes it caused. */
  #afterResponse(): void {
    for (const k of this.#kinds) this.#sendInterest(k, false);
  }

  close(): void {
    this.#closed = true;
    clearTimeout(this.#retryTimer);
    this.#outbox?.end();
    this.#abort?.abort();
    this.#setConnected(false);
  }

  #setConnected(on: boolean): void {
    if (this.#connected === on) return;
    this.#connected = on;
    this.#o.watcher.onConnectionState(on);
  }

  async #run(): Promise<void> {
    const o = this.#o;
    const outbox = new Outbox<DiscoveryRequest | DeltaDiscoveryRequest>();
    const abort = new AbortController();
    this.#outbox = outbox;
    this.#abort = abort;
    this.#firstOnStream = true;
    this.#gotResponse = false;
    for (const s of this.#state.values()) {
      s.nonce = "";
      s.sent = null;
    }
    for (const k of this.#kinds) this.#sendInterest(k, true);
    const headers = o.headers?.length ? Object.fromEntries(o.headers) : undefined;
    let failure: unknown;
    try {
      const responses = this.#open(outbox, abort.signal, headers);
      for await (const resp of responses) {
        if (!this.#gotResponse) {
          this.#gotResponse = true;
          this.#attempt = 0;
          this.#setConnected(true);
        }
        if (o.delta) this.#onDelta(resp as DeltaDiscoveryResponse);
        else this.#onSotw(resp as DiscoveryResponse);
      }
    } catch (e) {
      failure = e;
    }
    outbox.end();
    this.#outbox = null;
    this.#abort = null;
    this.#setConnected(false);
    if (this.#closed) return;
    this.#o.watcher.onStreamFailure();
    const delay = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** Math.min(this.#attempt, 16));
    this.#attempt++;
    const wait = Math.floor(Math.random() * delay) + 1;
    log.warn(`${o.label}: xDS stream ${failure ? `failed (${failure instanceof Error ? failure.message : String(failure)})` : "closed by the server"}; reconnecting in ${wait} ms`);
    this.#retryTimer = setTimeout(() => void this.#run(), wait);
  }

  #open(
    outbox: Outbox<DiscoveryRequest | DeltaDiscoveryRequest>,
    signal: AbortSignal,
    headers: Record<string, string> | undefined,
  ): AsyncIterable<DiscoveryResponse | DeltaDiscoveryResponse> {
    const t = this.#o.transport;
    const opts = { signal, headers };
    const sotw = outbox as AsyncIterable<DiscoveryRequest>;
    const delta = outbox as AsyncIterable<DeltaDiscoveryRequest>;
    const d = this.#o.delta;
    switch (this.#o.scope) {
      case "ads": {
        const c: Client<typeof AggregatedDiscoveryService> = createClient(AggregatedDiscoveryService, t);
        return d ? c.deltaAggregatedResources(delta, opts) : c.streamAggregatedResources(sotw, opts);
      }
      case "listener": {
        const c = createClient(ListenerDiscoveryService, t);
        return d ? c.deltaListeners(delta, opts) : c.streamListeners(sotw, opts);
      }
      case "route": {
        const c = createClient(RouteDiscoveryService, t);
        return d ? c.deltaRoutes(delta, opts) : c.streamRoutes(sotw, opts);
      }
      case "cluster": {
        const c = createClient(ClusterDiscoveryService, t);
        return d ? c.deltaClusters(delta, opts) : c.streamClusters(sotw, opts);
      }
      case "endpoint": {
        const c = createClient(EndpointDiscoveryService, t);
        return d ? c.deltaEndpoints(delta, opts) : c.streamEndpoints(sotw, opts);
      }
    }
  }

  /** `node` goes on the first request of a stream (or on every one, Envoy's default). */
  #node(): Node | undefined {
    if (this.#firstOnStream || !this.#o.setNodeOnFirstMessageOnly) {
      this.#firstOnStream = false;
      return this.#o.node;
    }
    return undefined;
  }

  /** Sends the current interest in `kind` when it differs from what the server was told. */
  #sendInterest(kind: ResourceKind, initial: boolean): void {
    const want = this.#o.watcher.interest(kind);
    const s = this.#state.get(kind)!;
    // No interest and never subscribed: nothing to say. No interest any more: unsubscribe
    // everything (SotW: an empty, non-wildcard name list).
    if (!want && s.sent === null) return;
    const wildcard = want?.wildcard ?? false;
    const names = new Set(want?.names ?? []);
    if (s.sent && s.sent.wildcard === wildcard && sameSet(s.sent.names, names)) return;
    const typeUrl = KIND_TYPE_URL[kind];
    if (this.#o.delta) {
      const before = s.sent ?? { wildcard: false, names: new Set<string>() };
      const subscribe = [...names].filter((n) => !before.names.has(n));
      const unsubscribe = [...before.names].filter((n) => !names.has(n));
      if (wildcard && !before.wildcard && s.sent !== null) subscribe.push("*");
      if (!wildcard && before.wildcard) unsubscribe.push("*");
      const req = create(DeltaDiscoveryRequestSchema, {
        node: this.#node(),
        typeUrl,
        resourceNamesSubscribe: subscribe,
        resourceNamesUnsubscribe: unsubscribe,
        initialResourceVersions: initial || s.sent === null ? this.#o.watcher.knownVersions(kind) : {},
      });
      s.sent = { wildcard, names };
      this.#outbox!.push(req);
      return;
    }
    // SotW: a wildcard subscription has no names; an update carries the last version and nonce.
    const req = create(DiscoveryRequestSchema, {
      node: this.#node(),
      typeUrl,
      versionInfo: s.version,
      resourceNames: wildcard ? [] : [...names],
      responseNonce: s.nonce,
    });
    s.sent = { wildcard, names };
    this.#outbox!.push(req);
  }

  #onSotw(resp: DiscoveryResponse): void {
    const kind = kindOfTypeUrl(resp.typeUrl);
    const s = kind ? this.#state.get(kind) : undefined;
    if (!kind || !s) {
      log.warn(`${this.#o.label}: ignoring a response of type ${JSON.stringify(resp.typeUrl)} (not subscribed)`);
      return;
    }
    s.nonce = resp.nonce;
    const decoded = resp.resources.map((a) => decodeAnyResource(kind, a, resp.versionInfo));
    this.#applying = true;
    let error: string | null;
    try {
      error = this.#o.watcher.onSotw(kind, decoded, resp.versionInfo);
    } finally {
      this.#applying = false;
    }
    if (error === null) s.version = resp.versionInfo;
    const sent = s.sent ?? { wildcard: false, names: new Set<string>() };
    this.#outbox?.push(create(DiscoveryRequestSchema, {
      node: this.#node(),
      typeUrl: resp.typeUrl,
      versionInfo: s.version,
      resourceNames: sent.wildcard ? [] : [...sent.names],
      responseNonce: resp.nonce,
      ...(error === null ? {} : { errorDetail: { code: INVALID_ARGUMENT, message: error } }),
    }));
    // The update may have changed what this stream should ask for (RDS/EDS names).
    this.#afterResponse();
  }

  #onDelta(resp: DeltaDiscoveryResponse): void {
    const kind = kindOfTypeUrl(resp.typeUrl);
    const s = kind ? this.#state.get(kind) : undefined;
    if (!kind || !s) {
      log.warn(`${this.#o.label}: ignoring a delta response of type ${JSON.stringify(resp.typeUrl)} (not subscribed)`);
      return;
    }
    s.nonce = resp.nonce;
    const added = resp.resources.map((r) => {
      if (!r.resource) return { name: r.name, version: r.version, raw: undefined, error: "resource without a body" } as const;
      const d = decodeAnyResource(kind, r.resource, r.version, r.name);
      if (d.error === undefined && r.name !== "" && d.name !== r.name) {
        return { name: r.name, version: r.version, raw: d.raw, error: `the resource is named ${JSON.stringify(d.name)} but its Resource wrapper says ${JSON.stringify(r.name)}` } as const;
      }
      return d;
    });
    this.#applying = true;
    let error: string | null;
    try {
      error = this.#o.watcher.onDelta(kind, added, resp.removedResources, resp.systemVersionInfo);
    } finally {
      this.#applying = false;
    }
    this.#outbox?.push(create(DeltaDiscoveryRequestSchema, {
      node: this.#node(),
      typeUrl: resp.typeUrl,
      responseNonce: resp.nonce,
      ...(error === null ? {} : { errorDetail: { code: INVALID_ARGUMENT, message: error } }),
    }));
    this.#afterResponse();
  }
}

function sameSet(a: ReadonlySet<string>, b: ReadonlySet<string>): boolean {
  if (a.size !== b.size) return false;
  for (const x of a) if (!b.has(x)) return false;
  return true;
}
