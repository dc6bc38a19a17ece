/**
 * `envoy.filters.http.fault` (worker side): injects delays (on the timer wheel) and aborts,
 * by percentage or by request header, when the request headers match.
 * https://www.envoyproxy.io/docs/envoy/latest/configuration/http/http_filters/fault_filter
 */
import type { Counter, Gauge } from "../../../core/stats.ts";
import { type TimerTarget, type TimerWheel, WheelTimer } from "../../../core/timer_wheel.ts";
import {
  type FilterStatus,
  type HttpFilterFactoryContext,
  registerHttpFilterRuntime,
  type RequestHeaders,
  type StreamCallbacks,
  type StreamFilter,
} from "../../../http/filter.ts";
import { ResponseFlag } from "../../../http/response_flags.ts";
import { CompiledHeaderMatcher, perRouteConfig } from "../../../router/route_table.ts";
import { draw } from "../percent.ts";
import { FAULT_TYPE_URL, type FaultModel } from "./config.ts";

const NAME = "envoy.filters.http.fault";

/** A fault config compiled once (filter level or per route). */
class CompiledFault {
  readonly headers: readonly CompiledHeaderMatcher[];
  constructor(readonly m: FaultModel) {
    this.headers = m.headers.map((h) => new CompiledHeaderMatcher(h));
  }
}

/** Per-factory state: stats, the active fault count, compiled configs. */
class FaultShared {
  readonly delays: Counter;
  readonly aborts: Counter;
  readonly overflow: Counter;
  readonly active: Gauge;
  readonly base: CompiledFault;
  readonly wheel: TimerWheel;
  readonly name: string;
  /** Per-route configs compiled on first use (the model objects are per config version). */
  readonly perRoute = new WeakMap<object, CompiledFault>();
  constructor(m: FaultModel, ctx: HttpFilterFactoryContext) {
    const p = ctx.statPrefix + "fault.";
    this.delays = ctx.stats.counter(p + "delays_injected");
    this.aborts = ctx.stats.counter(p + "aborts_injected");
    this.overflow = ctx.stats.counter(p + "faults_overflow");
    this.active = ctx.stats.gauge(p + "active_faults");
    this.base = new CompiledFault(m);
    this.wheel = ctx.wheel;
    this.name = ctx.filterName ?? NAME;
  }
  compiled(model: FaultModel): CompiledFault {
    let c = this.perRoute.get(model);
    if (c === undefined) this.perRoute.set(model, (c = new CompiledFault(model)));
    return c;
  }
}

function headerInt(req: RequestHeaders, name: string): number | undefined {
  const v = req.headers.get(name);
  if (v === undefined || !/^\d+$/.test(v)) return undefined;
  return Number(v);
}

class FaultFilter implements StreamFilter, TimerTarget {
  #timer: WheelTimer | null = null;
  #active = false;
  #fault: CompiledFault | null = null;
  #req: RequestHeaders | null = null;
  constructor(readonly cb: StreamCallbacks, readonly shared: FaultShared) {}

  decodeHeaders(req: RequestHeaders, _endStream: boolean): FilterStatus {
    const shared = this.shared;
    const pr = perRouteConfig(this.cb, shared.name);
    if (pr?.disabled) return "continue";
    const fault = pr?.config ? shared.compiled(pr.config as FaultModel) : shared.base;
    const hs = fault.headers;
    for (let i = 0; i < hs.length; i++) if (!hs[i]!.matches(req)) return "continue";
    const m = fault.m;
    if (m.delayMs === undefined && m.abortStatus === undefined) return "continue";
    if (m.maxActiveFaults !== undefined && shared.active.value >= m.maxActiveFaults) {
      shared.overflow.inc();
      return "continue";
    }
    this.#fault = fault;
    this.#req = req;
    // Delay first, then abort (Envoy's order).
    if (m.delayMs !== undefined) {
      const ms = m.delayMs >= 0 ? m.delayMs : headerInt(req, "x-envoy-fault-delay-request");
      const pct = Math.min(headerInt(req, "x-envoy-fault-delay-request-percentage") ?? m.delayPercent.numerator, m.delayPercent.numerator);
      if (ms !== undefined && ms > 0 && draw(m.delayPercent, pct)) {
        shared.delays.inc();
        this.#begin();
        this.cb.streamInfo.responseFlags |= ResponseFlag.DelayInjected;
        this.#timer = new WheelTimer(this, 1);
        shared.wheel.arm(this.#timer, ms);
        return "stop";
      }
    }
    return this.#maybeAbort() ? "stop" : "continue";
  }

  #begin(): void {
    if (!this.#active) {
      this.#active = true;
      this.shared.active.inc();
    }
  }

  /** Aborts when configured and drawn; true when the stream was answered. */
  #maybeAbort(): boolean {
    const m = this.#fault!.m;
    if (m.abortStatus === undefined) return false;
    const req = this.#req!;
    const status = m.abortStatus >= 0 ? m.abortStatus : headerInt(req, "x-envoy-fault-abort-request");
    if (status === undefined || status < 200 || status > 599) return false;
    const pct = Math.min(headerInt(req, "x-envoy-fault-abort-request-percentage") ?? m.abortPercent.numerator, m.abortPercent.numerator);
    if (!draw(m.abortPercent, pct)) return false;
    this.shared.aborts.inc();
    this.#begin();
    this.cb.sendLocalReply(status, "fault filter abort", ResponseFlag.FaultInjected, "fault_filter_abort");
    return true;
  }

  onTimer(_kind: number): void {
    if (!this.#maybeAbort()) this.cb.continueDecoding();
  }

  onDestroy(): void {
    if (this.#timer !== null) this.shared.wheel.disarm(this.#timer);
    if (this.#active) {
      this.#active = false;
      this.shared.active.dec();
    }
  }
}

registerHttpFilterRuntime({
  name: NAME,
  typeUrls: [FAULT_TYPE_URL],
  createFilterFactory(config, ctx) {
    const shared = new FaultShared(config as FaultModel, ctx);
    return (cb) => new FaultFilter(cb, shared);
  },
});
