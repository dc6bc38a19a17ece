/**
 * xDS REST-JSON (Envoy's `api_type: REST` polling) and the single-type `Fetch*` unary RPCs:
 * `POST /v3/discovery:listeners|routes|clusters|endpoints` with a JSON DiscoveryRequest, answered
 * with a JSON DiscoveryResponse. There is no stream, so there is no nonce to correlate: a request
 * whose `version_info` equals the type's current version is answered `304 Not Modified` (as
 * go-control-plane's REST gateway does); `error_detail` is logged as a NACK; a request carrying
 * the version last served to that node is logged as an ACK.
 */
import { create, fromJson, type JsonValue, toJson } from "@bufbuild/protobuf";
import {
  type DiscoveryRequest,
  DiscoveryRequestSchema,
  type DiscoveryResponse,
  DiscoveryResponseSchema,
} from "../../gen/envoy/service/discovery/v3/discovery_pb.ts";
import type { HttpJsonRequest, HttpJsonResponse } from "../../runtime/http_json.ts";
import { xdsTypeRegistry } from "../type_registry.ts";
import { KIND_TYPE_URL, type ResourceKind } from "./snapshot.ts";
import type { StreamHost } from "./streams.ts";

const PATH_KIND: Readonly<Record<string, ResourceKind>> = {
  "/v3/discovery:listeners": "listeners",
  "/v3/discovery:routes": "routes",
  "/v3/discovery:clusters": "clusters",
  "/v3/discovery:endpoints": "endpoints",
};

/** Per (node, type): the version last served, and whether its ACK was logged. */
export type RestState = Map<string, { served: string; acked: boolean }>;

/** Answers one polling request; `unchangedAs304` = REST (gRPC Fetch always answers). */
export function restDiscovery(
  host: StreamHost,
  state: RestState,
  kind: ResourceKind,
  req: DiscoveryRequest,
  unchangedAs304: boolean,
): DiscoveryResponse | "not_modified" | "no_snapshot" {
  const typeUrl = KIND_TYPE_URL[kind];
  const nodeId = req.node?.id;
  const key = `${nodeId ?? ""}\u0000${kind}`;
  const errorDetail = req.errorDetail ? { code: req.errorDetail.code, message: req.errorDetail.message } : undefined;
  const prev = state.get(key);
  let verdict: "initial" | "ack" | "nack" | "update" = prev ? "update" : "initial";
  const ev = { streamId: 0, protocol: "rest" as const, typeUrl, type: kind, nodeId, nonce: req.responseNonce };
  if (errorDetail && prev) {
    verdict = "nack";
    host.record({ ...ev, event: "nack", version: prev.served, versionInfo: req.versionInfo, errorDetail });
  } else if (prev && !prev.acked && req.versionInfo !== "" && req.versionInfo === prev.served) {
    verdict = "ack";
    prev.acked = true;
    host.record({ ...ev, event: "ack", version: req.versionInfo });
  }
  host.record({
    event: "request",
    streamId: 0,
    protocol: "rest",
    api: "rest",
    typeUrl,
    type: kind,
    nodeId,
    verdict,
    versionInfo: req.versionInfo,
    responseNonce: req.responseNonce,
    resourceNames: [...req.resourceNames],
    subscribe: [],
    unsubscribe: [],
    initialResourceVersions: {},
    errorDetail,
  });
  const snap = host.currentSnapshot();
  if (!snap) return "no_snapshot";
  const t = snap.types[kind];
  if (unchangedAs304 && req.versionInfo !== "" && req.versionInfo === t.version) return "not_modified";
  // If the client rejected exactly this version, polling again will not change its mind.
  if (unchangedAs304 && errorDetail && prev?.served === t.version) return "not_modified";
  const names = req.resourceNames.filter((n) => n !== "*");
  const wildcard = names.length === 0 || req.resourceNames.includes("*");
  const resources = wildcard ? [...t.resources.values()] : names.flatMap((n) => {
    const r = t.resources.get(n);
    return r ? [r] : [];
  });
  const nonce = host.nextNonce();
  if (!prev || prev.served !== t.version) state.set(key, { served: t.version, acked: false });
  host.record({
    event: "response",
    streamId: 0,
    protocol: "rest",
    typeUrl,
    type: kind,
    nodeId,
    version: t.version,
    nonce,
    resourceNames: resources.map((r) => r.name),
    removed: [],
  });
  return create(DiscoveryResponseSchema, { versionInfo: t.version, resources: resources.map((r) => r.any), typeUrl, nonce });
}

/** The HTTP side of REST-JSON. */
export function handleRestHttp(host: StreamHost, state: RestState, req: HttpJsonRequest): HttpJsonResponse {
  const path = req.url.split("?")[0]!;
  const kind = PATH_KIND[path];
  const text = (status: number, body: string): HttpJsonResponse => ({ status, body, headers: { "content-type": "text/plain" } });
  if (!kind) return text(404, `unknown path ${path}; POST /v3/discovery:listeners|routes|clusters|endpoints\n`);
  if (req.method !== "POST") return { ...text(405, "use POST\n"), headers: { allow: "POST", "content-type": "text/plain" } };
  const registry = xdsTypeRegistry();
  let dr: DiscoveryRequest;
  try {
    dr = fromJson(DiscoveryRequestSchema, (req.body.trim() === "" ? {} : JSON.parse(req.body)) as JsonValue, { registry, ignoreUnknownFields: true });
  } catch (e) {
    return text(400, `bad DiscoveryRequest: ${e instanceof Error ? e.message : e}\n`);
  }
  if (dr.typeUrl !== "" && dr.typeUrl !== KIND_TYPE_URL[kind]) return text(400, `type_url '${dr.typeUrl}' does not match ${path}\n`);
  const out = restDiscovery(host, state, kind, dr, true);
  if (out === "not_modified") return { status: 304 };
  if (out === "no_snapshot") return text(503, "no snapshot yet\n");
  return {
    status: 200,
    body: JSON.stringify(toJson(DiscoveryResponseSchema, out, { registry })),
    headers: { "content-type": "application/json" },
  };
}
