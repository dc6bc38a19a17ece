/**
 * Runtime half of `envoy.filters.network.tcp_proxy` (worker side): one upstream TCP connection
 * per downstream connection, bytes piped both ways as they arrive (no copies, no concatenation,
 * no promise or closure per chunk), Envoy's flow control (a side whose peer's write buffer is
 * above the high watermark stops reading until it drains below half), half-close in both
 * directions, connect retries (`max_connect_attempts`), the idle timeout on the timer wheel,
 * and Envoy's `tcp.<stat_prefix>.` stats and access logs.
 * https://www.envoyproxy.io/docs/envoy/latest/configuration/listeners/network_filters/tcp_proxy_filter
 */
import type { Counter, Gauge, StatsStore } from "../../../core/stats.ts";
import { type TimerTarget, type TimerWheel, WheelTimer } from "../../../core/timer_wheel.ts";
import { type AccessLogger, createAccessLoggers } from "../../../http/conn_manager/access_log.ts";
import { ResponseFlag } from "../../../http/response_flags.ts";
import { StreamInfo } from "../../../http/stream_info.ts";
import type { Connection } from "../../../network/connection.ts";
import { type NetworkFilter, type NetworkFilterStatus, registerNetworkFilterRuntime } from "../../../network/filter.ts";
import { BatchedWriter, type WatermarkListener } from "../../../network/write_batch.ts";
import type { Runtime, RuntimeError, SocketEvents, TcpSocket } from "../../../runtime/types.ts";
import type { ClusterStats } from "../../../upstream/cluster_stats.ts";
import type { PoolSettings } from "../../../upstream/conn_pool/http1_pool.ts";
import type { Host } from "../../../upstream/host.ts";
import type { ThreadLocalCluster, ThreadLocalClusterManager } from "../../../upstream/thread_local_cluster.ts";
import type { TcpProxyModel } from "./config.ts";

/** The TcpProxy @type URL (kept here so the worker does not load the config half). */
export const TCP_PROXY_TYPE_URL = "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy";

const TIMER_IDLE = 1;
/** How long a closed downstream's upstream may take to finish closing (as Connection's delayed close). */
const DELAYED_CLOSE_MS = 1000;
let nextConnectionId = 1;

/** `tcp.<stat_prefix>.…` handles (resolved once per config). */
export class TcpProxyStats {
  readonly downstreamCxTotal: Counter;
  readonly downstreamCxNoRoute: Counter;
  readonly downstreamCxRxBytesTotal: Counter;
  readonly downstreamCxTxBytesTotal: Counter;
  readonly downstreamFlowControlPausedReadingTotal: Counter;
  readonly downstreamFlowControlResumedReadingTotal: Counter;
  readonly idleTimeout: Counter;
  readonly upstreamFlushTotal: Counter;
  readonly upstreamFlushActive: Gauge;
  constructor(store: StatsStore, statPrefix: string) {
    const p = `tcp.${statPrefix}.`;
    this.downstreamCxTotal = store.counter(p + "downstream_cx_total");
    this.downstreamCxNoRoute = store.counter(p + "downstream_cx_no_route");
    this.downstreamCxRxBytesTotal = store.counter(p + "downstream_cx_rx_bytes_total");
    this.downstreamCxTxBytesTotal = store.counter(p + "downstream_cx_tx_bytes_total");
    this.downstreamFlowControlPausedReadingTotal = store.counter(p + "downstream_flow_control_paused_reading_total");
    this.downstreamFlowControlResumedReadingTotal = store.counter(p + "downstream_flow_control_resumed_reading_total");
    this.idleTimeout = store.counter(p + "idle_timeout");
    this.upstreamFlushTotal = store.counter(p + "upstream_flush_total");
    this.upstreamFlushActive = store.gauge(p + "upstream_flush_active");
  }
}

/** Shared, immutable per config version and worker: what every connection of this filter uses. */
export class TcpProxyConfig {
  readonly stats: TcpProxyStats;
  readonly loggers: readonly AccessLogger[];
  readonly runtime: Runtime;
  readonly #totalWeight: number;
  readonly #attemptsExceeded = new Map<string, Counter>();
  constructor(
    readonly model: TcpProxyModel,
    readonly clusterManager: ThreadLocalClusterManager,
    readonly wheel: TimerWheel,
    readonly store: StatsStore,
  ) {
    this.stats = new TcpProxyStats(store, model.statPrefix);
    this.loggers = createAccessLoggers(model.accessLog);
    this.runtime = clusterManager.runtime;
    let w = 0;
    for (const c of model.weightedClusters) w += c.weight;
    this.#totalWeight = w;
  }

  /** The cluster for one connection attempt (weighted_clusters: a weighted random pick). */
  pickCluster(): string {
    const ws = this.model.weightedClusters;
    if (ws.length === 0) return this.model.cluster;
    let r = Math.floor(Math.random() * this.#totalWeight);
    for (let i = 0; i < ws.length; i++) {
      r -= ws[i]!.weight;
      if (r < 0) return ws[i]!.name;
    }
    return ws[ws.length - 1]!.name;
  }

  /** `cluster.<name>.upstream_cx_connect_attempts_exceeded` (resolved on first use). */
  attemptsExceeded(cluster: string): Counter {
    let c = this.#attemptsExceeded.get(cluster);
    if (!c) this.#attemptsExceeded.set(cluster, (c = this.store.counter(`cluster.${cluster}.upstream_cx_connect_attempts_exceeded`)));
    return c;
  }
}

/** The upstream side of one proxied connection. */
class UpstreamConnection implements SocketEvents, WatermarkListener {
  readonly socket: TcpSocket;
  readonly writer: BatchedWriter;
  connected = false;
  closed = false;
  /** We closed it (destroy) rather than the peer. */
  local = false;

  constructor(readonly owner: TcpProxyFilter, readonly host: Host, readonly stats: ClusterStats, runtime: Runtime, settings: PoolSettings) {
    stats.upstreamCxTotal.inc();
    stats.upstreamCxActive.inc();
    // The cluster's transport socket applies here too (UpstreamTlsContext → TLS to the host).
    this.socket = runtime.connect({ host: host.address, port: host.port, timeoutMs: settings.connectTimeoutMs, tls: settings.tls }, this);
    this.writer = new BatchedWriter(this.socket, settings.bufferLimitBytes, this);
  }

  /** Flushes what is queued, then sends FIN (our half-close towards the upstream). */
  end(): void {
    if (this.closed) return;
    this.writer.close();
    this.socket.end();
  }

  destroy(): void {
    if (this.closed) return;
    this.local = true;
    this.socket.destroy();
  }

  onOpen(): void {
    this.connected = true;
    this.owner.onUpstreamConnected(this);
  }

  onData(chunk: Uint8Array): void {
    this.stats.upstreamCxRxBytesTotal.inc(chunk.length);
    this.owner.onUpstreamData(chunk);
  }

  onDrain(): void {
    this.writer.onDrain();
  }

  onEnd(): void {
    this.owner.onUpstreamEnd();
  }

  onClose(error: RuntimeError | undefined): void {
    if (this.closed) return;
    this.closed = true;
    this.writer.closed = true;
    const s = this.stats;
    s.upstreamCxActive.dec();
    s.upstreamCxDestroy.inc();
    s.upstreamCxTxBytesTotal.inc(this.writer.bytesWritten);
    if (!this.connected) {
      if (!this.local) {
        s.upstreamCxConnectFail.inc();
        if (error?.code === "ETIMEDOUT") s.upstreamCxConnectTimeout.inc();
      }
    } else if (this.local) s.upstreamCxDestroyLocal.inc();
    else s.upstreamCxDestroyRemote.inc();
    this.owner.onUpstreamClose(this, error);
  }

  /** The upstream's write buffer is full: stop reading the downstream. */
  onAboveWriteBufferHighWatermark(): void {
    this.owner.pauseDownstream(true);
  }

  onBelowWriteBufferLowWatermark(): void {
    this.owner.pauseDownstream(false);
  }
}

/** tcp_proxy on one downstream connection. */
export class TcpProxyFilter implements NetworkFilter, TimerTarget {
  #upstream: UpstreamConnection | null = null;
  #attempts = 0;
  #cluster = "";
  #lastFailedHost: Host | null = null;
  #host: Host | null = null;
  #flags = 0;
  #failureReason = "";
  #upstreamLocal = "";
  #downstreamClosed = false;
  #downstreamEnded = false;
  #localClose = false;
  /** Downstream reads are off until the upstream connects (Envoy does the same). */
  #pausedForConnect = false;
  /** Downstream reads are off because the upstream's write buffer is full. */
  #pausedForUpstream = false;
  /** Bytes that arrived before the upstream connected (normally none: reads are off). */
  #pending: Uint8Array[] | null = null;
  /** The upstream is finishing its writes after the downstream went away. */
  #flushing = false;
  #rxBytes = 0;
  #lastActivity = 0;
  readonly #idleMs: number;
  readonly #timer: WheelTimer;
  readonly #startMono: number;
  readonly #startTimeMs: number;
  readonly #id = nextConnectionId++;

  constructor(readonly conn: Connection, readonly cfg: TcpProxyConfig) {
    this.#idleMs = cfg.model.idleTimeoutMs;
    this.#timer = new WheelTimer(this, TIMER_IDLE);
    this.#startMono = cfg.wheel.clock.now();
    this.#lastActivity = this.#startMono;
    this.#startTimeMs = cfg.loggers.length > 0 ? Date.now() : 0;
  }

  onNewConnection(): NetworkFilterStatus {
    this.cfg.stats.downstreamCxTotal.inc();
    this.#pausedForConnect = true;
    this.conn.readDisable(true);
    if (this.#idleMs > 0) this.cfg.wheel.arm(this.#timer, this.#idleMs);
    this.#connect();
    return "stop";
  }

  /** One connection attempt: cluster, attempt budget, host, connect. */
  #connect(): void {
    if (this.#downstreamClosed) return;
    const cfg = this.cfg;
    const name = cfg.pickCluster();
    const tlc: ThreadLocalCluster | undefined = cfg.clusterManager.get(name);
    if (tlc === undefined) {
      cfg.stats.downstreamCxNoRoute.inc();
      this.#flags |= ResponseFlag.NoClusterFound;
      this.#initFailure();
      return;
    }
    this.#cluster = tlc.info.name;
    if (this.#attempts >= cfg.model.maxConnectAttempts) {
      this.#flags |= ResponseFlag.UpstreamRetryLimitExceeded;
      cfg.attemptsExceeded(tlc.info.name).inc();
      this.#initFailure();
      return;
    }
    let host = tlc.chooseHost();
    // A retry prefers another host than the one that just failed (when the LB offers one).
    for (let i = 0; i < 3 && host !== null && this.#lastFailedHost !== null && host.key === this.#lastFailedHost.key; i++) {
      host = tlc.chooseHost();
    }
    if (host === null) {
      tlc.info.stats.upstreamCxNoneHealthy.inc();
      this.#flags |= ResponseFlag.NoHealthyUpstream;
      this.#initFailure();
      return;
    }
    this.#attempts++;
    this.#host = host;
    this.#upstream = new UpstreamConnection(this, host, tlc.info.stats, cfg.runtime, tlc.info.poolSettings);
  }

  /** No upstream can be had: close the downstream without flushing (Envoy's onInitFailure). */
  #initFailure(): void {
    this.#localClose = true;
    this.conn.close("now");
  }

  onUpstreamConnected(up: UpstreamConnection): void {
    if (up !== this.#upstream) return;
    const la = up.socket.localAddress;
    this.#upstreamLocal = la === "" ? "" : la.includes(":") ? `[${la}]:${up.socket.localPort}` : `${la}:${up.socket.localPort}`;
    this.#touch();
    const pending = this.#pending;
    this.#pending = null;
    if (pending !== null) for (let i = 0; i < pending.length; i++) up.writer.write(pending[i]!);
    if (this.#downstreamEnded) up.end();
    if (this.#pausedForConnect) {
      this.#pausedForConnect = false;
      this.conn.readDisable(false);
    }
  }

  /** Downstream bytes (or its FIN). */
  onData(data: Uint8Array, endStream: boolean): NetworkFilterStatus {
    const up = this.#upstream;
    if (endStream) {
      if (up !== null && up.connected) up.end();
      return "stop";
    }
    this.#rxBytes += data.length;
    this.cfg.stats.downstreamCxRxBytesTotal.inc(data.length);
    if (this.#idleMs > 0) this.#lastActivity = this.cfg.wheel.clock.now();
    if (up !== null && up.connected) up.writer.write(data);
    else (this.#pending ??= []).push(data);
    return "stop";
  }

  onUpstreamData(chunk: Uint8Array): void {
    if (this.#downstreamClosed) return;
    this.cfg.stats.downstreamCxTxBytesTotal.inc(chunk.length);
    if (this.#idleMs > 0) this.#lastActivity = this.cfg.wheel.clock.now();
    this.conn.write(chunk);
  }

  /** The upstream sent FIN: half-close the downstream (it may keep sending to the upstream). */
  onUpstreamEnd(): void {
    if (this.#downstreamClosed) return;
    this.conn.writer.close();
    this.conn.socket.end();
  }

  onUpstreamClose(up: UpstreamConnection, error: RuntimeError | undefined): void {
    if (up !== this.#upstream) return;
    if (this.#flushing) {
      this.#flushing = false;
      this.cfg.stats.upstreamFlushActive.dec();
      this.cfg.wheel.disarm(this.#timer);
      return;
    }
    if (this.#downstreamClosed) {
      this.cfg.wheel.disarm(this.#timer);
      return;
    }
    if (!up.connected) {
      this.#upstream = null;
      this.#lastFailedHost = up.host;
      this.#flags |= ResponseFlag.UpstreamConnectionFailure;
      this.#failureReason = error ? `${error.code}: ${error.message}` : "connection closed before connect";
      this.#connect();
      return;
    }
    // The upstream is gone: the downstream gets what is already queued for it, then FIN.
    this.conn.close("flush");
  }

  /** Flow control towards the downstream socket (the upstream cannot take more now). */
  pauseDownstream(pause: boolean): void {
    if (pause === this.#pausedForUpstream || this.#downstreamClosed) return;
    this.#pausedForUpstream = pause;
    const s = this.cfg.stats;
    if (pause) s.downstreamFlowControlPausedReadingTotal.inc();
    else s.downstreamFlowControlResumedReadingTotal.inc();
    this.conn.readDisable(pause);
  }

  /** The downstream's write buffer is full: stop reading the upstream. */
  onAboveWriteBufferHighWatermark(): void {
    const up = this.#upstream;
    if (up !== null && !up.closed) up.socket.pause();
  }

  onBelowWriteBufferLowWatermark(): void {
    const up = this.#upstream;
    if (up !== null && !up.closed) up.socket.resume();
  }

  onTimer(_kind: number): void {
    const up = this.#upstream;
    if (this.#downstreamClosed) {
      // The upstream did not finish (flushing) or close within its grace period.
      up?.destroy();
      return;
    }
    const idle = this.cfg.wheel.clock.now() - this.#lastActivity;
    if (idle < this.#idleMs) {
      this.cfg.wheel.arm(this.#timer, this.#idleMs - idle);
      return;
    }
    this.cfg.stats.idleTimeout.inc();
    this.#localClose = true;
    this.conn.close("now");
  }

  #touch(): void {
    if (this.#idleMs > 0) this.#lastActivity = this.cfg.wheel.clock.now();
  }

  /** The downstream connection closed (`local`: we closed it). */
  onClose(local: boolean): void {
    if (this.#downstreamClosed) return;
    this.#downstreamClosed = true;
    this.cfg.wheel.disarm(this.#timer);
    this.#pending = null;
    const up = this.#upstream;
    const remote = !local && !this.#localClose;
    if (up !== null && !up.closed) {
      if (!up.connected || !remote) up.destroy();
      else {
        // Envoy closes the upstream with FlushWrite: what the downstream sent is written first,
        // then FIN; a connection still flushing is counted (upstream_flush_*). A peer that
        // never closes is cut off after the idle timeout (flushing) or DELAYED_CLOSE_MS.
        if (up.writer.buffered > 0) {
          this.#flushing = true;
          this.cfg.stats.upstreamFlushTotal.inc();
          this.cfg.stats.upstreamFlushActive.inc();
        }
        up.end();
        const guard = this.#flushing ? this.#idleMs : DELAYED_CLOSE_MS;
        if (guard > 0) this.cfg.wheel.arm(this.#timer, guard);
      }
    }
    if (this.cfg.loggers.length > 0) this.#log();
  }

  #log(): void {
    const conn = this.conn;
    const info = new StreamInfo(conn.remoteAddressString, conn.localAddressString);
    info.startTimeMs = this.#startTimeMs;
    info.startMono = this.#startMono;
    info.endMono = this.cfg.wheel.clock.now();
    info.bytesReceived = this.#rxBytes;
    info.bytesSent = conn.writer.bytesWritten;
    info.responseFlags = this.#flags;
    info.upstreamCluster = this.#cluster;
    info.upstreamHost = this.#host?.addressString ?? "";
    info.upstreamLocalAddress = this.#upstreamLocal;
    info.upstreamTransportFailureReason = this.#failureReason;
    info.connectionId = this.#id;
    // SNI, TLS version and peer certificate for %REQUESTED_SERVER_NAME%, %DOWNSTREAM_TLS_*%, …
    info.downstreamConnection = conn;
    const ls = this.cfg.loggers;
    for (let i = 0; i < ls.length; i++) ls[i]!.log(info, null, null);
  }
}

registerNetworkFilterRuntime({
  name: "envoy.filters.network.tcp_proxy",
  typeUrls: [TCP_PROXY_TYPE_URL],
  createFilterFactory(config, ctx) {
    const shared = new TcpProxyConfig(config as TcpProxyModel, ctx.clusterManager, ctx.wheel, ctx.stats);
    return (conn) => new TcpProxyFilter(conn, shared);
  },
});
