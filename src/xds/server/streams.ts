/**
 * Per-stream protocol state of the xDS management server: State of the World (SotW) and
 * incremental (delta), for ADS and for the single-type services. Transport-agnostic: a stream
 * gets requests through `handle()` and emits responses through its `send` callback; the
 * server calls `onSnapshot()` when the snapshot changes.
 *
 * Rules (Envoy's xds_protocol doc; go-control-plane's cache behaves the same way):
 * - One response per type in flight: the next is sent only after the client's ACK/NACK (a
 *   request carrying that response's nonce), so updates never overtake each other.
 * - SotW: a request whose response_nonce is not the last one sent for its type is stale and
 *   ignored. An ACK carries the sent version; a NACK carries `error_detail` (and the previous
 *   version). A version the client has (or has NACKed) is not sent again; a new version, or a
 *   newly subscribed name, is. LDS/CDS wildcard responses carry every resource; otherwise the
 *   requested names that exist.
 * - Delta: subscriptions change even when the nonce is stale (the doc says so); resources are
 *   sent when their per-resource version differs from what the client has (including its
 *   `initial_resource_versions` on reconnect); gone or non-existent subscribed ones are listed in
 *   `removed_resources`.
 * - On a snapshot change a stream pushes in Envoy's make-before-break order: CDS, EDS, LDS, RDS.
 */
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import type { Node } from "../../gen/envoy/config/core/v3/base_pb.ts";
import {
  type DeltaDiscoveryRequest,
  type DeltaDiscoveryResponse,
  DeltaDiscoveryResponseSchema,
  type DiscoveryRequest,
  type DiscoveryResponse,
  DiscoveryResponseSchema,
  ResourceSchema,
} from "../../gen/envoy/service/discovery/v3/discovery_pb.ts";
import { KIND_TYPE_URL, kindOf, PUSH_ORDER, type ResourceKind, type Snapshot } from "./snapshot.ts";

/** The RPC a stream came in on: ADS, or one of the single-type services. */
export type StreamApi = "ads" | "lds" | "rds" | "cds" | "eds";

/** What a stream needs from the server. */
export interface StreamHost {
  currentSnapshot(): Snapshot | undefined;
  nextNonce(): string;
  record(e: XdsEventInit): void;
}

/** The outcome of one request, as the server's log records it. */
export type RequestVerdict = "initial" | "ack" | "nack" | "stale" | "update" | "unknown_type";

/** `error_detail` of a NACK. */
export interface ErrorDetail {
  code: number;
  message: string;
}

/** A request as logged (SotW, delta and REST alike). */
export interface RequestRecord {
  event: "request";
  seq: number;
  at: number;
  streamId: number;
  protocol: "sotw" | "delta" | "rest";
  api: StreamApi | "rest";
  typeUrl: string;
  type: ResourceKind | undefined;
  nodeId: string | undefined;
  verdict: RequestVerdict;
  versionInfo: string;
  responseNonce: string;
  resourceNames: string[];
  subscribe: string[];
  unsubscribe: string[];
  initialResourceVersions: Record<string, string>;
  errorDetail: ErrorDetail | undefined;
}

/** An ACK: the client applied `version` of `type` (the response with `nonce`). */
export interface AckRecord {
  event: "ack";
  seq: number;
  at: number;
  streamId: number;
  protocol: "sotw" | "delta" | "rest";
  typeUrl: string;
  type: ResourceKind;
  nodeId: string | undefined;
  /** The version acknowledged (delta: the response's system_version_info). */
  version: string;
  nonce: string;
}

/** A NACK: the client rejected `version` of `type` and still runs `versionInfo`. */
export interface NackRecord {
  event: "nack";
  seq: number;
  at: number;
  streamId: number;
  protocol: "sotw" | "delta" | "rest";
  typeUrl: string;
  type: ResourceKind;
  nodeId: string | undefined;
  /** The version rejected (what the server sent with `nonce`). */
  version: string;
  /** The version the client says it is on (SotW `version_info`; "" for delta). */
  versionInfo: string;
  nonce: string;
  errorDetail: ErrorDetail;
}

/** A response the server sent. */
export interface ResponseRecord {
  event: "response";
  seq: number;
  at: number;
  streamId: number;
  protocol: "sotw" | "delta" | "rest";
  typeUrl: string;
  type: ResourceKind;
  nodeId: string | undefined;
  version: string;
  nonce: string;
  /** Names of the resources carried. */
  resourceNames: string[];
  /** Delta only: removed_resources. */
  removed: string[];
}

/** One entry of the server's observable log. */
export type XdsEvent = RequestRecord | AckRecord | NackRecord | ResponseRecord;
/** An event before the server stamps `seq` and `at`. */
export type XdsEventInit =
  | Omit<RequestRecord, "seq" | "at">
  | Omit<AckRecord, "seq" | "at">
  | Omit<NackRecord, "seq" | "at">
  | Omit<ResponseRecord, "seq" | "at">;

/** A stream, as `connectedStreams` lists it. */
export interface StreamInfo {
  readonly id: number;
  readonly protocol: "sotw" | "delta";
  readonly api: StreamApi;
  readonly nodeId: string | undefined;
  readonly node: Node | undefined;
  /** The types requested so far on this stream. */
  readonly types: readonly ResourceKind[];
}

const API_KIND: Readonly<Record<StreamApi, ResourceKind | undefined>> = {
  ads: undefined,
  lds: "listeners",
  rds: "routes",
  cds: "clusters",
  eds: "endpoints",
};

/** Base: identity, node, the stream's fixed type (single-type services) and abort. */
abstract class StreamBase<TypeState> implements StreamInfo {
  node: Node | undefined;
  closed = false;
  abort: (err: Error) => void = () => {};
  /** Per resource type: what the client asked for and what it was sent. */
  protected readonly state = new Map<ResourceKind, TypeState>();

  constructor(
    readonly id: number,
    readonly api: StreamApi,
    protected readonly host: StreamHost,
  ) {}

  abstract readonly protocol: "sotw" | "delta";

  get types(): ResourceKind[] {
    return [...this.state.keys()];
  }

  get nodeId(): string | undefined {
    return this.node?.id;
  }

  /** The kind a request is for; a single-type stream fills an empty type_url and refuses others. */
  protected kindFor(typeUrl: string): ResourceKind | undefined {
    const fixed = API_KIND[this.api];
    if (fixed === undefined) return kindOf(typeUrl);
    if (typeUrl === "" || typeUrl === KIND_TYPE_URL[fixed]) return fixed;
    throw new ConnectError(`type_url '${typeUrl}' on the ${this.api.toUpperCase()} service (expected ${KIND_TYPE_URL[fixed]})`, Code.InvalidArgument);
  }

  protected noteNode(node: Node | undefined): void {
    if (!this.node && node) this.node = node;
  }

  /** The fields of a request's log record that both stream kinds fill the same way. */
  protected requestRecord<F extends Pick<RequestRecord, "versionInfo" | "resourceNames" | "subscribe" | "unsubscribe" | "initialResourceVersions">>(
    req: { typeUrl: string; responseNonce: string; errorDetail?: { code: number; message: string } },
    kind: ResourceKind | undefined,
    fields: F,
  ) {
    return {
      event: "request" as const,
      streamId: this.id,
      protocol: this.protocol,
      api: this.api,
      typeUrl: req.typeUrl || (kind ? KIND_TYPE_URL[kind] : ""),
      type: kind,
      nodeId: this.nodeId,
      responseNonce: req.responseNonce,
      errorDetail: req.errorDetail ? { code: req.errorDetail.code, message: req.errorDetail.message } : undefined,
      ...fields,
    };
  }

  /** Pushes whatever changed, in CDS, EDS, LDS, RDS order. */
  onSnapshot(): void {
    for (const kind of PUSH_ORDER) this.maybeRespond(kind);
  }

  abstract maybeRespond(kind: ResourceKind): void;
}

interface SotwTypeState {
  requested: boolean;
  /** The client has named resources explicitly at least once (ends the legacy wildcard). */
  explicit: boolean;
  wildcard: boolean;
  names: Set<string>;
  lastNonce: string | undefined;
  inFlight: boolean;
  /** The version last sent (or that the client said it has); undefined = none. */
  sentVersion: string | undefined;
  sentNames: Set<string>;
  sentWildcard: boolean;
}

/** A State-of-the-World stream (StreamAggregatedResources, StreamListeners, …). */
export class SotwStream extends StreamBase<SotwTypeState> {
  readonly protocol = "sotw" as const;

  constructor(id: number, api: StreamApi, host: StreamHost, private readonly send: (r: DiscoveryResponse) => void) {
    super(id, api, host);
  }

  handle(req: DiscoveryRequest): void {
    this.noteNode(req.node);
    const kind = this.kindFor(req.typeUrl);
    const base = this.requestRecord(req, kind, {
      versionInfo: req.versionInfo,
      resourceNames: [...req.resourceNames],
      subscribe: [],
      unsubscribe: [],
      initialResourceVersions: {},
    });
    if (!kind) {
      // A type this server does not serve (e.g. SDS secrets over ADS): never answered.
      this.host.record({ ...base, verdict: "unknown_type" });
      return;
    }
    let st = this.state.get(kind);
    const first = st === undefined;
    st ??= {
      requested: false,
      explicit: false,
      wildcard: false,
      names: new Set(),
      lastNonce: undefined,
      inFlight: false,
      sentVersion: undefined,
      sentNames: new Set(),
      sentWildcard: false,
    };
    this.state.set(kind, st);
    if (req.responseNonce !== "" && st.lastNonce !== undefined && req.responseNonce !== st.lastNonce) {
      // Superseded by a newer response: the client will answer that one.
      this.host.record({ ...base, verdict: "stale" });
      return;
    }
    let verdict: RequestVerdict = first ? "initial" : "update";
    if (req.responseNonce !== "" && req.responseNonce === st.lastNonce) {
      st.inFlight = false;
      const ev = { streamId: this.id, protocol: "sotw" as const, typeUrl: KIND_TYPE_URL[kind], type: kind, nodeId: this.nodeId, nonce: req.responseNonce };
      if (req.errorDetail) {
        verdict = "nack";
        this.host.record({
          ...ev,
          event: "nack",
          version: st.sentVersion ?? "",
          versionInfo: req.versionInfo,
          errorDetail: { code: req.errorDetail.code, message: req.errorDetail.message },
        });
      } else {
        verdict = "ack";
        this.host.record({ ...ev, event: "ack", version: req.versionInfo });
      }
    }
    const names = req.resourceNames;
    if (names.length > 0) st.explicit = true;
    st.wildcard = names.includes("*") || (!st.explicit && names.length === 0);
    st.names = new Set(names.filter((n) => n !== "*"));
    st.requested = true;
    // Reconnect: a client that already has the current version of a pure wildcard
    // subscription is not sent it again (the optimisation the doc allows for LDS/CDS).
    const snap = this.host.currentSnapshot();
    if (verdict === "initial" && req.versionInfo !== "" && st.wildcard && st.names.size === 0 && snap?.types[kind].version === req.versionInfo) {
      st.sentVersion = req.versionInfo;
      st.sentWildcard = true;
      st.sentNames = new Set();
    }
    this.host.record({ ...base, verdict });
    this.maybeRespond(kind);
  }

  maybeRespond(kind: ResourceKind): void {
    const st = this.state.get(kind);
    const snap = this.host.currentSnapshot();
    if (this.closed || !st || !st.requested || st.inFlight || !snap) return;
    const t = snap.types[kind];
    const newlySubscribed = (st.wildcard && !st.sentWildcard) || [...st.names].some((n) => !st.sentNames.has(n));
    if (t.version === st.sentVersion && !newlySubscribed) return;
    // go-control-plane's ADS rule: on an aggregated stream, an explicit-name request (RDS/EDS)
    // is answered only once every name it asks for exists, so a client never applies half of
    // a consistent set (e.g. new clusters whose endpoints are not there yet).
    if (this.api === "ads" && !st.wildcard && [...st.names].some((n) => !t.resources.has(n))) return;
    // Wildcard (LDS/CDS as Envoy asks for them): the whole state of the world of this type.
    const resources = st.wildcard
      ? [...t.resources.values()]
      : [...st.names].flatMap((n) => {
        const r = t.resources.get(n);
        return r ? [r] : [];
      });
    const nonce = this.host.nextNonce();
    st.lastNonce = nonce;
    st.inFlight = true;
    st.sentVersion = t.version;
    st.sentNames = new Set(st.names);
    st.sentWildcard = st.wildcard;
    this.host.record({
      event: "response",
      streamId: this.id,
      protocol: "sotw",
      typeUrl: t.typeUrl,
      type: kind,
      nodeId: this.nodeId,
      version: t.version,
      nonce,
      resourceNames: resources.map((r) => r.name),
      removed: [],
    });
    this.send(create(DiscoveryResponseSchema, { versionInfo: t.version, resources: resources.map((r) => r.any), typeUrl: t.typeUrl, nonce }));
  }
}

interface DeltaTypeState {
  requested: boolean;
  wildcard: boolean;
  names: Set<string>;
  /** What the client has: name ▶ per-resource version, or null = told it does not exist. */
  known: Map<string, string | null>;
  /** Names to list in removed_resources in the next response. */
  pendingRemovals: Set<string>;
  lastNonce: string | undefined;
  sentVersion: string;
  inFlight: boolean;
}

/** An incremental stream (DeltaAggregatedResources, DeltaListeners, …). */
export class DeltaStream extends StreamBase<DeltaTypeState> {
  readonly protocol = "delta" as const;

  constructor(id: number, api: StreamApi, host: StreamHost, private readonly send: (r: DeltaDiscoveryResponse) => void) {
    super(id, api, host);
  }

  handle(req: DeltaDiscoveryRequest): void {
    this.noteNode(req.node);
    const kind = this.kindFor(req.typeUrl);
    const base = this.requestRecord(req, kind, {
      versionInfo: "",
      resourceNames: [],
      subscribe: [...req.resourceNamesSubscribe],
      unsubscribe: [...req.resourceNamesUnsubscribe],
      initialResourceVersions: { ...req.initialResourceVersions },
    });
    if (!kind) {
      this.host.record({ ...base, verdict: "unknown_type" });
      return;
    }
    let st = this.state.get(kind);
    const first = st === undefined;
    st ??= {
      requested: false,
      wildcard: false,
      names: new Set(),
      known: new Map(),
      pendingRemovals: new Set(),
      lastNonce: undefined,
      sentVersion: "",
      inFlight: false,
    };
    this.state.set(kind, st);
    let verdict: RequestVerdict = first ? "initial" : "update";
    if (req.responseNonce !== "") {
      if (req.responseNonce === st.lastNonce) {
        st.inFlight = false;
        const ev = { streamId: this.id, protocol: "delta" as const, typeUrl: KIND_TYPE_URL[kind], type: kind, nodeId: this.nodeId, nonce: req.responseNonce };
        if (req.errorDetail) {
          verdict = "nack";
          this.host.record({
            ...ev,
            event: "nack",
            version: st.sentVersion,
            versionInfo: "",
            errorDetail: { code: req.errorDetail.code, message: req.errorDetail.message },
          });
        } else {
          verdict = "ack";
          this.host.record({ ...ev, event: "ack", version: st.sentVersion });
        }
      } else {
        // Stale nonce: not an ACK of anything current, but subscription changes still count.
        verdict = "stale";
      }
    }
    if (first) {
      for (const [n, v] of Object.entries(req.initialResourceVersions)) st.known.set(n, v);
      // Legacy wildcard: the first request names nothing at all.
      if (req.resourceNamesSubscribe.length === 0 && req.resourceNamesUnsubscribe.length === 0) st.wildcard = true;
    }
    const snap = this.host.currentSnapshot();
    for (const n of req.resourceNamesSubscribe) {
      if (n === "*") {
        st.wildcard = true;
        continue;
      }
      st.names.add(n);
      // A (re)subscribed name is always sent, even at a version the client seems to have.
      if (!first) st.known.delete(n);
    }
    for (const n of req.resourceNamesUnsubscribe) {
      if (n === "*") {
        st.wildcard = false;
        for (const k of [...st.known.keys()]) if (!st.names.has(k)) st.known.delete(k);
        continue;
      }
      st.names.delete(n);
      if (st.wildcard) {
        // Still covered by the wildcard? Then resend it; otherwise say it is gone.
        if (snap?.types[kind].resources.has(n)) st.known.delete(n);
        else {
          st.known.delete(n);
          st.pendingRemovals.add(n);
        }
      } else {
        st.known.delete(n);
      }
    }
    st.requested = true;
    this.host.record({ ...base, verdict });
    this.maybeRespond(kind);
  }

  maybeRespond(kind: ResourceKind): void {
    const st = this.state.get(kind);
    const snap = this.host.currentSnapshot();
    if (this.closed || !st || !st.requested || st.inFlight || !snap) return;
    const t = snap.types[kind];
    const subscribed = new Set(st.names);
    if (st.wildcard) for (const n of t.resources.keys()) subscribed.add(n);
    const toSend = [];
    const removed = new Set(st.pendingRemovals);
    for (const n of subscribed) {
      const r = t.resources.get(n);
      if (r) {
        if (st.known.get(n) !== r.version) toSend.push(r);
      } else if (st.known.get(n) !== null) {
        removed.add(n);
      }
    }
    for (const [n, v] of st.known) if (!subscribed.has(n) && v !== null) removed.add(n);
    if (toSend.length === 0 && removed.size === 0) return;
    for (const r of toSend) st.known.set(r.name, r.version);
    for (const n of removed) {
      if (st.names.has(n)) st.known.set(n, null);
      else st.known.delete(n);
    }
    st.pendingRemovals.clear();
    const nonce = this.host.nextNonce();
    st.lastNonce = nonce;
    st.inFlight = true;
    st.sentVersion = t.version;
    this.host.record({
      event: "response",
      streamId: this.id,
      protocol: "delta",
      typeUrl: t.typeUrl,
      type: kind,
      nodeId: this.nodeId,
      version: t.version,
      nonce,
      resourceNames: toSend.map((r) => r.name),
      removed: [...removed],
    });
    this.send(create(DeltaDiscoveryResponseSchema, {
      systemVersionInfo: t.version,
      typeUrl: t.typeUrl,
      nonce,
      removedResources: [...removed],
      resources: toSend.map((r) => create(ResourceSchema, { name: r.name, version: r.version, resource: r.any })),
    }));
  }
}
