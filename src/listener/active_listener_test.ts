/**
 * The accept path with listener filters, on fake sockets and a fake clock: restored addresses
 * reach the Connection, peeked bytes are replayed (or handed to the transport socket with what
 * the inspector found), and listener_filters_timeout runs on the thread's timer wheel.
 */
import assert from "node:assert/strict";
import { test } from "../../tests/harness.ts";
import { FakeClock } from "../core/clock.ts";
import { Logger } from "../core/log.ts";
import { StatsStore } from "../core/stats.ts";
import { TimerWheel } from "../core/timer_wheel.ts";
import type { ListenerModel } from "../config/model.ts";
import type { Connection } from "../network/connection.ts";
import { registerNetworkFilterRuntime } from "../network/filter.ts";
import type { AcceptedConnectionInfo, DownstreamTransportSocketFactory } from "../network/transport_socket.ts";
import type { SocketEvents, TcpSocket } from "../runtime/types.ts";
import { PROXY_PROTOCOL_TYPE_URL } from "../filters/listener/proxy_protocol/config.ts";
import { TLS_INSPECTOR_TYPE_URL } from "../filters/listener/tls_inspector/config.ts";
import { ActiveListener, type CompiledFilterChain, ListenerConfig } from "./active_listener.ts";
import { FilterChainMatcher } from "./filter_chain_match.ts";

const RECORDER = "type.googleapis.com/legate.test.ListenerFilterRecorder";
interface Seen {
  conn: Connection;
  data: string[];
}
const seen: Seen[] = [];
registerNetworkFilterRuntime({
  name: "legate.test.recorder",
  typeUrls: [RECORDER],
  createFilterFactory: () => (conn) => {
    const s: Seen = { conn, data: [] };
    seen.push(s);
    return { onData: (d) => (s.data.push(new TextDecoder().decode(d)), "continue") };
  },
});

class FakeSocket implements TcpSocket {
  events: SocketEvents = { onOpen() {}, onData() {}, onDrain() {}, onEnd() {}, onClose() {} };
  readonly remoteAddress = "127.0.0.9";
  readonly remotePort = 5555;
  readonly localAddress = "127.0.0.1";
  readonly localPort = 10000;
  bufferedAmount = 0;
  destroyed = false;
  write(): boolean {
    return true;
  }
  end(): void {}
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.events.onClose(undefined);
  }
  pause(): void {}
  resume(): void {}
  setNoDelay(): void {}
}

const enc = (s: string) => new TextEncoder().encode(s);

function setup(listener: Partial<ListenerModel>) {
  seen.length = 0;
  const clock = new FakeClock();
  const wheel = new TimerWheel(clock);
  const stats = new StatsStore();
  const model: ListenerModel = {
    name: "l",
    address: { address: "127.0.0.1", port: 10000 },
    filterChains: [{ name: "c", filters: [{ name: "rec", typeUrl: RECORDER, config: {} }] }],
    perConnectionBufferLimitBytes: 1 << 20,
    ...listener,
  };
  const cfg = new ListenerConfig(model, { clusterManager: {} as never, wheel, stats });
  const active = new ActiveListener(cfg, wheel, new Logger("test"));
  const stat = (n: string) => stats.counter(n).value;
  return { clock, wheel, stats, cfg, active, stat };
}

const PP = { name: "pp", typeUrl: PROXY_PROTOCOL_TYPE_URL, config: { allowRequestsWithoutProxyProtocol: false, allowV1: true, allowV2: true, statPrefix: "" } };
const TLS = { name: "tls", typeUrl: TLS_INSPECTOR_TYPE_URL, config: { initialReadBufferSize: 65536 } };

/** A minimal ClientHello (one record) with SNI and ALPN. */
function hello(sni: string, alpn: string): Uint8Array {
  const u16 = (n: number) => [n >> 8, n & 255];
  const name = [...enc(sni)];
  const entry = [0, ...u16(name.length), ...name];
  const list = [alpn.length, ...enc(alpn)];
  const exts = [...u16(0), ...u16(entry.length + 2), ...u16(entry.length), ...entry, ...u16(16), ...u16(list.length + 2), ...u16(list.length), ...list];
  const body = [3, 3, ...new Array(32).fill(1), 0, 0, 2, 0x13, 1, 1, 0, ...u16(exts.length), ...exts];
  const hs = [1, 0, ...u16(body.length), ...body];
  return new Uint8Array([22, 3, 1, ...u16(hs.length), ...hs]);
}

test("accept path: PROXY addresses reach the Connection; the header is not replayed, the rest is", () => {
  const { active, stat } = setup({ listenerFilters: [PP], listenerFiltersTimeoutMs: 15000 });
  const sock = new FakeSocket();
  active.onAccept(sock);
  assert.equal(seen.length, 0, "no connection before the filters are done");
  assert.equal(stat("listener.127.0.0.1_10000.downstream_cx_total"), 0);
  sock.events.onData(enc("PROXY TCP4 203.0.113.5 198.51.100.1 4000 443\r\nhel"));
  assert.equal(seen.length, 1);
  const c = seen[0]!.conn;
  assert.deepEqual([c.remoteAddress, c.remotePort, c.localAddress, c.localPort], ["203.0.113.5", 4000, "198.51.100.1", 443]);
  assert.deepEqual([c.directRemoteAddress, c.directRemotePort], ["127.0.0.9", 5555]);
  assert.equal(c.remoteAddressString, "203.0.113.5:4000");
  assert.deepEqual(seen[0]!.data, ["hel"]);
  sock.events.onData(enc("lo"));
  assert.deepEqual(seen[0]!.data, ["hel", "lo"]);
  assert.equal(active.accepting.size, 0);
});

test("accept path: the transport socket gets the peeked ClientHello and what the inspector found", () => {
  const { active, cfg } = setup({ listenerFilters: [TLS], listenerFiltersTimeoutMs: 15000 });
  const calls: { raw: TcpSocket; initial: Uint8Array | null; info: AcceptedConnectionInfo }[] = [];
  const wrapped = new FakeSocket();
  const ts: DownstreamTransportSocketFactory = {
    name: "fake_tls",
    wrap: (raw, initial, info) => (calls.push({ raw, initial, info: { serverName: info.serverName, applicationProtocols: [...info.applicationProtocols] } }), wrapped),
  };
  const base = cfg.chains.match({ localAddress: "", localPort: 0, remoteAddress: "", remotePort: 0, directRemoteAddress: "", serverName: "", transportProtocol: "", applicationProtocols: [] })!;
  const chain: CompiledFilterChain = { ...base, transportSocket: ts };
  (cfg as { chains: FilterChainMatcher<CompiledFilterChain> }).chains = new FilterChainMatcher([{ value: chain }]);
  const sock = new FakeSocket();
  active.onAccept(sock);
  const h = hello("svc.example.com", "h2");
  sock.events.onData(h.subarray(0, 10));
  assert.equal(calls.length, 0);
  sock.events.onData(h.subarray(10));
  assert.equal(calls.length, 1);
  assert.equal(calls[0]!.raw, sock);
  assert.deepEqual(calls[0]!.initial, h);
  assert.deepEqual(calls[0]!.info, { serverName: "svc.example.com", applicationProtocols: ["h2"] });
  const c = seen[0]!.conn;
  assert.equal(c.socket, wrapped);
  assert.equal(c.requestedServerName, "svc.example.com");
  assert.equal(c.transportProtocol, "tls");
  assert.deepEqual(seen[0]!.data, [], "with a transport socket the peeked bytes are not replayed as plaintext");

  // Without listener filters the transport socket gets nothing peeked.
  const plain = setup({});
  (plain.cfg as { chains: FilterChainMatcher<CompiledFilterChain> }).chains = new FilterChainMatcher([{ value: chain }]);
  plain.active.onAccept(new FakeSocket());
  assert.equal(calls.length, 2);
  assert.equal(calls[1]!.initial, null);
  assert.deepEqual(calls[1]!.info, { serverName: "", applicationProtocols: [] });
});

test("accept path: listener_filters_timeout on the wheel closes (or continues), 0 arms nothing", () => {
  const t = setup({ listenerFilters: [TLS], listenerFiltersTimeoutMs: 1000 });
  const sock = new FakeSocket();
  t.active.onAccept(sock);
  assert.equal(t.wheel.size, 1);
  assert.equal(t.stats.gauge("listener.127.0.0.1_10000.downstream_pre_cx_active").value, 1);
  t.clock.advance(900);
  assert.equal(sock.destroyed, false);
  t.clock.advance(200);
  assert.equal(sock.destroyed, true);
  assert.equal(t.stat("listener.127.0.0.1_10000.downstream_pre_cx_timeout"), 1);
  assert.equal(t.stats.gauge("listener.127.0.0.1_10000.downstream_pre_cx_active").value, 0);
  assert.equal(t.wheel.size, 0);
  assert.equal(seen.length, 0);

  const t2 = setup({ listenerFilters: [TLS], listenerFiltersTimeoutMs: 1000, continueOnListenerFiltersTimeout: true });
  const s2 = new FakeSocket();
  t2.active.onAccept(s2);
  s2.events.onData(new Uint8Array([22, 3, 1]));
  t2.clock.advance(1100);
  assert.equal(s2.destroyed, false);
  assert.equal(seen.length, 1);
  assert.deepEqual(seen[0]!.data, ["\x16\x03\x01"]);
  assert.equal(seen[0]!.conn.transportProtocol, "raw_buffer");

  const t3 = setup({ listenerFilters: [TLS], listenerFiltersTimeoutMs: 0 });
  const s3 = new FakeSocket();
  t3.active.onAccept(s3);
  assert.equal(t3.wheel.size, 0);
  t3.active.closeAll();
  assert.equal(s3.destroyed, true);
  assert.equal(t3.active.accepting.size, 0);
});

test("accept path: a peer that closes during listener filters is counted, and nothing leaks", () => {
  const t = setup({ listenerFilters: [TLS], listenerFiltersTimeoutMs: 1000 });
  const sock = new FakeSocket();
  t.active.onAccept(sock);
  sock.events.onData(new Uint8Array([22, 3]));
  sock.events.onEnd();
  assert.equal(sock.destroyed, true);
  assert.equal(t.stat("listener.127.0.0.1_10000.downstream_listener_filter_remote_close"), 1);
  assert.equal(t.wheel.size, 0);
  assert.equal(t.active.accepting.size, 0);
});
