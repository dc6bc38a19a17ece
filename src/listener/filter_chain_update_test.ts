/**
 * In-place filter-chain update (worker side, fake sockets): a listener update that changes only
 * some filter chains keeps the unchanged chains' compiled objects, and with them the drain state
 * their connections read; only connections on removed or changed chains drain. A listener-level
 * change drains every chain.
 */
import assert from "node:assert/strict";
import { test } from "../../tests/harness.ts";
import { FakeClock } from "../core/clock.ts";
import { Logger } from "../core/log.ts";
import { StatsStore } from "../core/stats.ts";
import { TimerWheel } from "../core/timer_wheel.ts";
import type { FilterChainMatchModel, FilterChainModel, ListenerModel } from "../config/model.ts";
import { type DrainState, registerNetworkFilterRuntime } from "../network/filter.ts";
import type { SocketEvents, TcpSocket } from "../runtime/types.ts";
import { ActiveListener, ListenerConfig } from "./active_listener.ts";

const DRAIN_RECORDER = "type.googleapis.com/legate.test.DrainRecorder";
/** The drain state each new connection's filter was given, with the tag of its chain. */
const seen: { tag: string; drain: DrainState }[] = [];
registerNetworkFilterRuntime({
  name: "legate.test.drain_recorder",
  typeUrls: [DRAIN_RECORDER],
  createFilterFactory: (config, ctx) => () => {
    seen.push({ tag: (config as { tag: string }).tag, drain: ctx.drain });
    return { onData: () => "continue" };
  },
});

class FakeSocket implements TcpSocket {
  events: SocketEvents = { onOpen() {}, onData() {}, onDrain() {}, onEnd() {}, onClose() {} };
  readonly remoteAddress = "127.0.0.9";
  readonly remotePort = 5555;
  readonly localAddress = "127.0.0.1";
  bufferedAmount = 0;
  constructor(readonly localPort: number) {}
  write(): boolean {
    return true;
  }
  end(): void {}
  destroy(): void {}
  pause(): void {}
  resume(): void {}
  setNoDelay(): void {}
}

const match = (destinationPort: number): FilterChainMatchModel => ({
  destinationPort,
  prefixRanges: [],
  serverNames: [],
  transportProtocol: "",
  applicationProtocols: [],
  directSourcePrefixRanges: [],
  sourceType: "ANY",
  sourcePrefixRanges: [],
  sourcePorts: [],
});
const chain = (name: string, port: number, tag: string): FilterChainModel => ({
  name,
  match: match(port),
  filters: [{ name: "rec", typeUrl: DRAIN_RECORDER, config: { tag } }],
});

function setup() {
  seen.length = 0;
  const wheel = new TimerWheel(new FakeClock());
  const stats = new StatsStore();
  const ctx = { clusterManager: {} as never, wheel, stats };
  const model = (chains: FilterChainModel[], extra: Partial<ListenerModel> = {}): ListenerModel => ({
    name: "l",
    address: { address: "127.0.0.1", port: 10000 },
    filterChains: chains,
    perConnectionBufferLimitBytes: 1 << 20,
    ...extra,
  });
  const v1 = new ListenerConfig(model([chain("a", 1001, "a1"), chain("b", 1002, "b1")]), ctx);
  const active = new ActiveListener(v1, wheel, new Logger("test"));
  const next = (chains: FilterChainModel[], extra: Partial<ListenerModel> = {}) => new ListenerConfig(model(chains, extra), ctx, active.config);
  const connect = (port: number) => {
    active.onAccept(new FakeSocket(port));
    return seen[seen.length - 1]!;
  };
  return { v1, active, next, connect };
}

test("in-place update: an unchanged chain is taken over (same object, same drain state); a changed one drains", () => {
  const { v1, active, next, connect } = setup();
  const onA = connect(1001);
  const onB = connect(1002);
  assert.equal(onA.tag, "a1");
  assert.equal(onB.tag, "b1");

  const v2 = next([chain("a", 1001, "a1"), chain("b", 1002, "b2")]);
  assert.equal(v2.compiledChains[0], v1.compiledChains[0], "chain a is unchanged: reused");
  assert.notEqual(v2.compiledChains[1], v1.compiledChains[1], "chain b changed: compiled anew");
  active.update(v2);
  assert.equal(onA.drain.draining, false, "a connection on the unchanged chain keeps running");
  assert.equal(onB.drain.draining, true, "a connection on the changed chain drains");

  // New connections get the new chain b; chain a's new connections share the old ones' state.
  const onA2 = connect(1001);
  const onB2 = connect(1002);
  assert.equal(onB2.tag, "b2");
  assert.equal(onB2.drain.draining, false);
  assert.equal(onA2.drain, onA.drain);

  // Removing chain b drains its connections; a stays.
  active.update(next([chain("a", 1001, "a1")]));
  assert.equal(onB2.drain.draining, true);
  assert.equal(onA.drain.draining, false);

  // A chain whose match changed is a changed chain.
  active.update(next([chain("a", 1003, "a1")]));
  assert.equal(onA.drain.draining, true);
});

test("in-place update: a listener-level change (buffer limit, listener filters) drains every chain", () => {
  const { active, next, connect } = setup();
  const onA = connect(1001);
  const onB = connect(1002);
  active.update(next([chain("a", 1001, "a1"), chain("b", 1002, "b1")], { perConnectionBufferLimitBytes: 4096 }));
  assert.equal(onA.drain.draining, true);
  assert.equal(onB.drain.draining, true);
  const onA2 = connect(1001);
  assert.equal(onA2.drain.draining, false);
  active.update(next([chain("a", 1001, "a1"), chain("b", 1002, "b1")], { perConnectionBufferLimitBytes: 4096, listenerFiltersTimeoutMs: 1000 }));
  assert.equal(onA2.drain.draining, true);
});

test("in-place update: a draining listener drains every chain, the taken-over ones too", () => {
  const { active, next, connect } = setup();
  const onA = connect(1001);
  active.draining = true;
  assert.equal(onA.drain.draining, true);
  const v2 = next([chain("a", 1001, "a1"), chain("c", 1004, "c1")]);
  active.update(v2);
  assert.ok(v2.compiledChains.every((c) => c.drain.draining), "a new version of a draining listener drains too");
});
