/**
 * WebSocket through the router, end to end: the runtime's own `WebSocket` client talks through
 * Legate (HCM upgrade_configs + router) to a real RFC 6455 upstream built on node:http's
 * 'upgrade' event. Messages echo both ways, a close from either side ends both connections,
 * an upstream's non-101 answer is an ordinary response, and an upgrade not listed in
 * upgrade_configs is refused with 403.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import * as http from "node:http";
import type * as net from "node:net";
import { test, waitFor } from "../harness.ts";
import { simpleConfig, startProxy } from "../helpers/proxy.ts";
import { rawConnect } from "../helpers/raw_client.ts";
import { startRawServer } from "../helpers/upstream.ts";

const GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
const WS_CONFIG = { upgrade_configs: [{ upgrade_type: "websocket" }] };

/** One unmasked server frame (RFC 6455 §5.2). */
function frame(opcode: number, payload: Uint8Array): Uint8Array {
  const n = payload.length;
  const head = n < 126 ? 2 : n < 65536 ? 4 : 10;
  const out = new Uint8Array(head + n);
  out[0] = 0x80 | opcode;
  if (n < 126) out[1] = n;
  else if (n < 65536) {
    out[1] = 126;
    out[2] = n >> 8;
    out[3] = n & 0xff;
  } else {
    out[1] = 127;
    new DataView(out.buffer).setBigUint64(2, BigInt(n));
  }
  out.set(payload, head);
  return out;
}

const enc = new TextEncoder();
const dec = new TextDecoder();

/** What the WebSocket upstream saw. */
interface WsUpstream extends AsyncDisposable {
  port: number;
  /** Upgrade requests received (their headers). */
  upgrades: http.IncomingHttpHeaders[];
  /** Plain (non-upgrade) requests received. */
  plainRequests: number;
  /** Text messages received. */
  messages: string[];
  /** Tunnel sockets open now. */
  open(): number;
  /** Close frames received from the client. */
  closesReceived: number;
}

/**
 * A small RFC 6455 echo server: answers the handshake (Sec-WebSocket-Accept = base64(sha1(key +
 * GUID))) with a greeting frame in the same write, echoes text as "echo:<text>", answers a close
 * frame with a close frame and a FIN, and on the text "server-close" closes first. A request with
 * `x-refuse` is answered 404 instead of 101.
 */
async function startWsUpstream(): Promise<WsUpstream> {
  const sockets = new Set<net.Socket>();
  const state = { upgrades: [] as http.IncomingHttpHeaders[], plainRequests: 0, messages: [] as string[], closesReceived: 0 };
  const server = http.createServer((_req, res) => {
    state.plainRequests++;
    res.writeHead(200, { "content-length": "5" });
    res.end("plain");
  });
  server.on("upgrade", (req: http.IncomingMessage, socket: net.Socket, head: Uint8Array) => {
    state.upgrades.push(req.headers);
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => {});
    if (req.headers["x-refuse"] !== undefined) {
      socket.end("HTTP/1.1 404 Not Found\r\ncontent-length: 4\r\nconnection: close\r\n\r\nnope");
      return;
    }
    const key = String(req.headers["sec-websocket-key"] ?? "");
    const accept = createHash("sha1").update(key + GUID).digest("base64");
    const hs = enc.encode(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`);
    const hello = frame(1, enc.encode("hello from upstream"));
    // The greeting rides in the same write as the 101 (the proxy must pass the rest of the read on).
    const first = new Uint8Array(hs.length + hello.length);
    first.set(hs);
    first.set(hello, hs.length);
    socket.write(first);
    let buf = new Uint8Array(head ?? new Uint8Array(0));
    let closed = false;
    const onBytes = (chunk: Uint8Array) => {
      const next = new Uint8Array(buf.length + chunk.length);
      next.set(buf);
      next.set(chunk, buf.length);
      buf = next;
      for (;;) {
        if (buf.length < 2) return;
        const opcode = buf[0]! & 0x0f;
        const masked = (buf[1]! & 0x80) !== 0;
        let len = buf[1]! & 0x7f;
        let off = 2;
        if (len === 126) {
          if (buf.length < 4) return;
          len = (buf[2]! << 8) | buf[3]!;
          off = 4;
        } else if (len === 127) {
          if (buf.length < 10) return;
          len = Number(new DataView(buf.buffer, buf.byteOffset).getBigUint64(2));
          off = 10;
        }
        const maskOff = off;
        if (masked) off += 4;
        if (buf.length < off + len) return;
        const payload = buf.slice(off, off + len);
        if (masked) for (let i = 0; i < len; i++) payload[i]! ^= buf[maskOff + (i & 3)]!;
        buf = buf.slice(off + len);
        if (opcode === 8) {
          state.closesReceived++;
          if (!closed) {
            closed = true;
            socket.write(frame(8, payload.slice(0, 2)));
          }
          socket.end();
          return;
        }
        if (opcode === 1) {
          const text = dec.decode(payload);
          state.messages.push(text);
          if (text === "server-close") {
            closed = true;
            const code = new Uint8Array([0x03, 0xe8]); // 1000
            socket.write(frame(8, code));
            socket.end();
            return;
          }
          socket.write(frame(1, enc.encode("echo:" + text)));
        }
      }
    };
    socket.on("data", onBytes);
    if (buf.length > 0) {
      const b = buf;
      buf = new Uint8Array(0);
      onBytes(b);
    }
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    port: (server.address() as net.AddressInfo).port,
    get upgrades() {
      return state.upgrades;
    },
    get plainRequests() {
      return state.plainRequests;
    },
    get messages() {
      return state.messages;
    },
    get closesReceived() {
      return state.closesReceived;
    },
    open: () => sockets.size,
    [Symbol.asyncDispose]: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

/** The runtime's WebSocket client with its events recorded. */
function connectWs(url: string) {
  const ws = new WebSocket(url);
  const got: string[] = [];
  const st = { opened: false, closed: false, errored: false, closeCode: 0 };
  ws.onopen = () => (st.opened = true);
  ws.onmessage = (e) => got.push(typeof e.data === "string" ? e.data : "<binary>");
  ws.onerror = () => (st.errored = true);
  ws.onclose = (e) => {
    st.closed = true;
    st.closeCode = e.code;
  };
  return { ws, got, st };
}

test("websocket: the runtime's WebSocket echoes through the router both ways; a client close ends both", async () => {
  await using up = await startWsUpstream();
  await using proxy = await startProxy(simpleConfig({ upstreamPorts: [up.port], hcm: WS_CONFIG }));
  const { ws, got, st } = connectWs(`ws://127.0.0.1:${proxy.port()}/ws`);
  try {
    await waitFor(() => st.opened || st.closed, "the WebSocket handshake through the proxy");
    assert.ok(st.opened, "handshake accepted (the client checked Sec-WebSocket-Accept)");
    // The upstream saw the Upgrade request, without body framing added by the proxy.
    assert.equal(up.upgrades.length, 1);
    const h = up.upgrades[0]!;
    assert.equal(String(h.upgrade).toLowerCase(), "websocket");
    assert.match(String(h.connection), /upgrade/i);
    assert.equal(h["transfer-encoding"], undefined);
    assert.equal(h["content-length"], undefined);
    assert.ok(h["sec-websocket-key"], "Sec-WebSocket-Key forwarded");
    // The greeting came in the same upstream read as the 101.
    await waitFor(() => got.includes("hello from upstream"), "the upstream's greeting");
    ws.send("one");
    ws.send("two");
    const big = "x".repeat(70_000); // a 64-bit length frame, several reads long
    ws.send(big);
    await waitFor(() => got.length >= 4, "three echoes");
    assert.deepEqual(got.slice(0, 3), ["hello from upstream", "echo:one", "echo:two"]);
    assert.equal(got[3], "echo:" + big);
    assert.deepEqual(up.messages, ["one", "two", big]);
    assert.equal(proxy.stat("http.ingress.downstream_cx_upgrades_active"), 1);
    assert.equal(proxy.stat("cluster.backend.upstream_rq_active"), 1);
    ws.close(1000, "done");
    await waitFor(() => st.closed, "the client's close to complete");
    assert.equal(st.closeCode, 1000);
    assert.equal(up.closesReceived, 1, "the close frame went through to the upstream");
    await waitFor(() => up.open() === 0, "the upstream tunnel socket to close");
    await waitFor(() => proxy.stat("http.ingress.downstream_cx_active") === 0, "the downstream connection to close");
    assert.equal(proxy.stat("http.ingress.downstream_cx_upgrades_active"), 0);
    await waitFor(() => proxy.stat("cluster.backend.upstream_cx_active") === 0, "the upstream connection to close");
    assert.equal(proxy.stat("cluster.backend.upstream_rq_active"), 0);
    assert.equal(proxy.stat("http.ingress.downstream_cx_upgrades_total"), 1);
  } finally {
    ws.close();
  }
});

test("websocket: a close from the upstream ends the client's WebSocket and both connections", async () => {
  await using up = await startWsUpstream();
  await using proxy = await startProxy(simpleConfig({ upstreamPorts: [up.port], hcm: WS_CONFIG }));
  const { ws, got, st } = connectWs(`ws://127.0.0.1:${proxy.port()}/ws`);
  try {
    await waitFor(() => st.opened || st.closed, "the WebSocket handshake");
    assert.ok(st.opened);
    ws.send("ping-1");
    await waitFor(() => got.includes("echo:ping-1"), "an echo");
    ws.send("server-close");
    await waitFor(() => st.closed, "the upstream's close to reach the client");
    assert.equal(st.closeCode, 1000);
    await waitFor(() => up.open() === 0, "the upstream socket to close");
    await waitFor(() => proxy.stat("http.ingress.downstream_cx_active") === 0, "the downstream connection to close");
    await waitFor(() => proxy.stat("cluster.backend.upstream_cx_active") === 0, "the upstream connection to close");
    assert.equal(proxy.stat("http.ingress.downstream_cx_upgrades_active"), 0);
  } finally {
    ws.close();
  }
});

test("websocket: a second WebSocket gets its own upstream connection (a tunnel is never pooled)", async () => {
  await using up = await startWsUpstream();
  await using proxy = await startProxy(simpleConfig({ upstreamPorts: [up.port], hcm: WS_CONFIG }));
  const a = connectWs(`ws://127.0.0.1:${proxy.port()}/a`);
  const b = connectWs(`ws://127.0.0.1:${proxy.port()}/b`);
  try {
    await waitFor(() => (a.st.opened || a.st.closed) && (b.st.opened || b.st.closed), "both handshakes");
    assert.ok(a.st.opened && b.st.opened);
    a.ws.send("from-a");
    b.ws.send("from-b");
    await waitFor(() => a.got.includes("echo:from-a") && b.got.includes("echo:from-b"), "each echo on its own tunnel");
    assert.ok(!a.got.includes("echo:from-b") && !b.got.includes("echo:from-a"));
    assert.equal(up.open(), 2);
    // A plain request after the tunnels still works (on a fresh pooled connection).
    const r = await fetch(proxy.url("/plain"));
    assert.equal(r.status, 200);
    assert.equal(await r.text(), "plain");
  } finally {
    a.ws.close();
    b.ws.close();
  }
  await waitFor(() => a.st.closed && b.st.closed, "both closes");
  await waitFor(() => up.open() === 0, "the tunnels to close upstream");
});

test("websocket: an upstream's non-101 answer to the upgrade is an ordinary response", async () => {
  await using up = await startWsUpstream();
  await using proxy = await startProxy(simpleConfig({ upstreamPorts: [up.port], hcm: WS_CONFIG }));
  await using c = await rawConnect(proxy.port());
  c.write("GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nX-Refuse: 1\r\n\r\n");
  await c.waitClosed();
  assert.match(c.received(), /^HTTP\/1\.1 404 Not Found\r\n/);
  assert.ok(c.received().endsWith("nope"));
  assert.equal(up.upgrades.length, 1);
  assert.equal(proxy.stat("http.ingress.downstream_cx_upgrades_total"), 0);
});

test("websocket: without upgrade_configs the upgrade is refused with 403 and never reaches the upstream", async () => {
  await using up = await startWsUpstream();
  await using proxy = await startProxy(simpleConfig({ upstreamPorts: [up.port] }));
  const { st } = connectWs(`ws://127.0.0.1:${proxy.port()}/ws`);
  await waitFor(() => st.closed, "the client WebSocket to fail");
  assert.ok(!st.opened);
  assert.ok(st.errored, "the client saw an error");
  await using c = await rawConnect(proxy.port());
  c.write("GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n");
  await c.waitClosed();
  assert.match(c.received(), /^HTTP\/1\.1 403 Forbidden\r\n/);
  assert.equal(up.upgrades.length, 0);
  assert.equal(up.plainRequests, 0);
});

const RAW_UPGRADE = "GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";

test("upgrade tunnel: a downstream half-close reaches the upstream as a FIN; the upstream's FIN then ends the downstream", async () => {
  let upstreamSaw = "";
  let upstreamGotFin = false;
  await using up = await startRawServer((s) => {
    s.on("data", (d: Uint8Array) => {
      const first = upstreamSaw === "";
      upstreamSaw += Buffer.from(d).toString("latin1");
      if (first) s.write("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\nfrom-upstream");
    });
    s.on("end", () => {
      upstreamGotFin = true;
      s.end("last-words"); // still writable after the peer's FIN
    });
  });
  await using proxy = await startProxy(simpleConfig({ upstreamPorts: [up.port], hcm: WS_CONFIG }));
  await using c = await rawConnect(proxy.port());
  c.write(RAW_UPGRADE);
  await c.waitFor((t) => t.endsWith("from-upstream"), "the 101 and the upstream's first tunnel bytes");
  assert.match(c.received(), /^HTTP\/1\.1 101 /);
  c.write("raw tunnel bytes, GET / HTTP/1.1\r\n\r\n");
  await waitFor(() => upstreamSaw.endsWith("raw tunnel bytes, GET / HTTP/1.1\r\n\r\n"), "the tunnel bytes upstream, unparsed");
  assert.doesNotMatch(upstreamSaw, /transfer-encoding|content-length/i);
  c.socket.end(); // half-close
  await waitFor(() => upstreamGotFin, "the upstream to see the FIN");
  await c.waitClosed();
  assert.ok(c.received().endsWith("from-upstreamlast-words"), "bytes after the downstream's FIN still arrive");
  await waitFor(() => up.openConnections() === 0, "the upstream connection to close");
  await waitFor(() => proxy.stat("cluster.backend.upstream_cx_active") === 0, "the proxy's upstream connection to close");
});

test("upgrade: a 101 to a request that did not ask for an upgrade is still a protocol error (502)", async () => {
  await using up = await startRawServer((s) => {
    s.once("data", () => s.write("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"));
  });
  await using proxy = await startProxy(simpleConfig({ upstreamPorts: [up.port], hcm: WS_CONFIG }));
  const r = await fetch(proxy.url("/plain"));
  assert.equal(r.status, 502);
  await r.text();
  assert.equal(proxy.stat("cluster.backend.upstream_cx_protocol_error"), 1);
});
