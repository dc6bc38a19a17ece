/**
 * xDS over REST-JSON polling (control side): every `refresh_delay`, POST a DiscoveryRequest as
 * proto3 JSON to `/v3/discovery:<type>` and apply the DiscoveryResponse like a SotW one. The
 * request carries the last accepted version; after a rejected response the next request carries
 * error_detail (a NACK), as Envoy's REST subscription does.
 */
import { create, fromJson, type JsonValue, toJson } from "@bufbuild/protobuf";
import type { Node } from "../../gen/envoy/config/core/v3/base_pb.ts";
import { DiscoveryRequestSchema, DiscoveryResponseSchema } from "../../gen/envoy/service/discovery/v3/discovery_pb.ts";
import { Logger } from "../../core/log.ts";
import { xdsTypeRegistry } from "../type_registry.ts";
import { decodeAnyResource, KIND_TYPE_URL, type ResourceKind } from "./resources.ts";
import type { XdsWatcher } from "./watcher.ts";

const log = new Logger("config");

const PATH: Record<ResourceKind, string> = {
  listener: "/v3/discovery:listeners",
  route: "/v3/discovery:routes",
  cluster: "/v3/discovery:clusters",
  endpoint: "/v3/discovery:endpoints",
};

export interface RestPollerOptions {
  readonly baseUrl: string;
  readonly kind: ResourceKind;
  readonly node: Node;
  readonly refreshDelayMs: number;
  readonly requestTimeoutMs: number;
  readonly watcher: XdsWatcher;
}

/** Polls one resource type over REST (control side). */
export class RestPoller {
  #version = "";
  #nonce = "";
  #error: string | null = null;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #closed = false;
  #inFlight: AbortController | null = null;
  #connected = false;

  constructor(readonly o: RestPollerOptions) {}

  start(): void {
    if (this.#closed) return;
    void this.#poll();
  }

  /** Interest changed (RDS/EDS names): poll now. */
  updateInterest(): void {
    if (this.#closed || this.#inFlight) return;
    clearTimeout(this.#timer);
    void this.#poll();
  }

  close(): void {
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#inFlight?.abort();
  }

  async #poll(): Promise<void> {
    const o = this.o;
    const want = o.watcher.interest(o.kind);
    if (want) {
      const req = create(DiscoveryRequestSchema, {
        node: o.node,
        typeUrl: KIND_TYPE_URL[o.kind],
        versionInfo: this.#version,
        resourceNames: want.wildcard ? [] : [...want.names],
        responseNonce: this.#nonce,
        ...(this.#error === null ? {} : { errorDetail: { code: 3, message: this.#error } }),
      });
      const abort = new AbortController();
      this.#inFlight = abort;
      const timer = setTimeout(() => abort.abort(), o.requestTimeoutMs);
      try {
        const res = await fetch(o.baseUrl + PATH[o.kind], {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify(toJson(DiscoveryRequestSchema, req)),
          signal: abort.signal,
        });
        const text = await res.text();
        if (res.status === 304) {
          // Not modified: nothing to apply.
        } else if (res.status !== 200) {
          throw new Error(`HTTP ${res.status}: ${text.slice(0, 200)}`);
        } else {
          const resp = fromJson(DiscoveryResponseSchema, JSON.parse(text) as JsonValue, { registry: xdsTypeRegistry(), ignoreUnknownFields: false });
          this.#setConnected(true);
          const decoded = resp.resources.map((a) => decodeAnyResource(o.kind, a, resp.versionInfo));
          const error = o.watcher.onSotw(o.kind, decoded, resp.versionInfo);
          this.#nonce = resp.nonce;
          this.#error = error;
          if (error === null) this.#version = resp.versionInfo;
        }
        if (res.status === 304) this.#setConnected(true);
      } catch (e) {
        if (this.#closed) return;
        this.#setConnected(false);
        o.watcher.onStreamFailure();
        log.warn(`REST xDS ${PATH[o.kind]} at ${o.baseUrl} failed: ${e instanceof Error ? e.message : String(e)}`);
      } finally {
        clearTimeout(timer);
        this.#inFlight = null;
      }
    }
    if (!this.#closed) this.#timer = setTimeout(() => void this.#poll(), o.refreshDelayMs);
  }

  #setConnected(on: boolean): void {
    if (on === this.#connected) return;
    this.#connected = on;
    this.o.watcher.onConnectionState(on);
  }
}
