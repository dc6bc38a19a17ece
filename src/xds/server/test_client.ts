/**
 * A scripted xDS client for tests of the management server (and of anything that wants to play
 * Envoy's side by hand): opens a SotW or delta stream with connect's gRPC client, sends requests
 * when told, and buffers responses so a test can take them one by one or assert that none came.
 */
import type { MessageInitShape } from "@bufbuild/protobuf";
import { createClient } from "@connectrpc/connect";
import { ClusterDiscoveryService } from "../../gen/envoy/service/cluster/v3/cds_pb.ts";
import { AggregatedDiscoveryService } from "../../gen/envoy/service/discovery/v3/ads_pb.ts";
import type {
  DeltaDiscoveryRequestSchema,
  DeltaDiscoveryResponse,
  DiscoveryRequestSchema,
  DiscoveryResponse,
} from "../../gen/envoy/service/discovery/v3/discovery_pb.ts";
import { EndpointDiscoveryService } from "../../gen/envoy/service/endpoint/v3/eds_pb.ts";
import { ListenerDiscoveryService } from "../../gen/envoy/service/listener/v3/lds_pb.ts";
import { RouteDiscoveryService } from "../../gen/envoy/service/route/v3/rds_pb.ts";
import { grpcTransport } from "../../runtime/grpc.ts";
import { AsyncQueue } from "./queue.ts";

export type SotwRequestInit = MessageInitShape<typeof DiscoveryRequestSchema>;
export type DeltaRequestInit = MessageInitShape<typeof DeltaDiscoveryRequestSchema>;

/** One open stream. */
export interface TestStream<Req, Res> {
  send(req: Req): void;
  /** The next response (rejects after `timeoutMs`, or when the stream ended). */
  next(timeoutMs?: number): Promise<Res>;
  /** Rejects if a response arrives within `ms`. */
  expectNone(ms?: number): Promise<void>;
  /** Resolves when the stream has ended (with its error, if any). */
  ended(timeoutMs?: number): Promise<Error | undefined>;
  /** Half-closes and cancels the stream. */
  close(): void;
}

type Api = "ads" | "lds" | "rds" | "cds" | "eds";

function open<Req, Res>(start: (reqs: AsyncIterable<Req>, signal: AbortSignal) => AsyncIterable<Res>): TestStream<Req, Res> {
  const reqs = new AsyncQueue<Req>();
  const ac = new AbortController();
  const buf: Res[] = [];
  let done = false;
  let error: Error | undefined;
  let wake: (() => void) | undefined;
  const notify = (): void => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  void (async () => {
    try {
      for await (const r of start(reqs, ac.signal)) {
        buf.push(r);
        notify();
      }
    } catch (e) {
      error = e instanceof Error ? e : new Error(String(e));
    }
    done = true;
    notify();
  })();
  const waitChange = (deadline: number): Promise<boolean> =>
    new Promise((resolve) => {
      const t = setTimeout(() => resolve(false), Math.max(0, deadline - Date.now()));
      wake = () => {
        clearTimeout(t);
        resolve(true);
      };
    });
  return {
    send: (r) => reqs.push(r),
    async next(timeoutMs = 5000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        if (buf.length) return buf.shift()!;
        if (done) throw new Error(`the stream ended${error ? `: ${error.message}` : ""} before a response came`);
        if (!(await waitChange(deadline))) throw new Error(`no response within ${timeoutMs}ms`);
      }
    },
    async expectNone(ms = 300) {
      const deadline = Date.now() + ms;
      while (!buf.length && !done && Date.now() < deadline) await waitChange(deadline);
      if (buf.length) throw new Error(`expected no response, got ${JSON.stringify(describe(buf[0]))}`);
    },
    async ended(timeoutMs = 5000) {
      const deadline = Date.now() + timeoutMs;
      while (!done) if (!(await waitChange(deadline))) throw new Error(`the stream did not end within ${timeoutMs}ms`);
      return error;
    },
    close() {
      reqs.end();
      ac.abort();
    },
  };
}

function describe(r: unknown): unknown {
  const x = r as { typeUrl?: string; versionInfo?: string; systemVersionInfo?: string; nonce?: string };
  return { typeUrl: x.typeUrl, version: x.versionInfo ?? x.systemVersionInfo, nonce: x.nonce };
}

/** Opens a SotW stream on ADS (default) or on a single-type service. */
export function openSotw(port: number, api: Api = "ads", host = "127.0.0.1"): TestStream<SotwRequestInit, DiscoveryResponse> {
  const t = grpcTransport({ host, port });
  return open<SotwRequestInit, DiscoveryResponse>((reqs, signal) => {
    switch (api) {
      case "ads":
        return createClient(AggregatedDiscoveryService, t).streamAggregatedResources(reqs, { signal });
      case "lds":
        return createClient(ListenerDiscoveryService, t).streamListeners(reqs, { signal });
      case "rds":
        return createClient(RouteDiscoveryService, t).streamRoutes(reqs, { signal });
      case "cds":
        return createClient(ClusterDiscoveryService, t).streamClusters(reqs, { signal });
      case "eds":
        return createClient(EndpointDiscoveryService, t).streamEndpoints(reqs, { signal });
    }
  });
}

/** Opens a delta stream on ADS (default) or on a single-type service. */
export function openDelta(port: number, api: Api = "ads", host = "127.0.0.1"): TestStream<DeltaRequestInit, DeltaDiscoveryResponse> {
  const t = grpcTransport({ host, port });
  return open<DeltaRequestInit, DeltaDiscoveryResponse>((reqs, signal) => {
    switch (api) {
      case "ads":
        return createClient(AggregatedDiscoveryService, t).deltaAggregatedResources(reqs, { signal });
      case "lds":
        return createClient(ListenerDiscoveryService, t).deltaListeners(reqs, { signal });
      case "rds":
        return createClient(RouteDiscoveryService, t).deltaRoutes(reqs, { signal });
      case "cds":
        return createClient(ClusterDiscoveryService, t).deltaClusters(reqs, { signal });
      case "eds":
        return createClient(EndpointDiscoveryService, t).deltaEndpoints(reqs, { signal });
    }
  });
}
