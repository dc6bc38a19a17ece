/**
 * Contract tests for the runtime seam. The same bodies run against the current runtime's real
 * adapter (Bun's under Bun, Deno's under Deno) and against the in-memory runtime, so the memory
 * runtime cannot drift from the real ones.
 */
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { type TestContext, test, waitFor } from "../../tests/harness.ts";
import { createMemoryRuntime } from "./memory/runtime.ts";
import { currentRuntimeName, loadRuntime } from "./mod.ts";
import { type Runtime, RuntimeError, type SocketEvents, type TcpListener, type TcpSocket } from "./types.ts";

const real = await loadRuntime();
const enc = new TextEncoder();
const dec = new TextDecoder();
const HOST = "127.0.0.1";

/** Records everything a socket reports. */
class Rec implements SocketEvents {
  opens = 0;
  chunks: Uint8Array[] = [];
  bytes = 0;
  drains = 0;
  ends = 0;
  closes = 0;
  error: RuntimeError | undefined = undefined;
  log: string[] = [];
  /** Optional reactions, so a test can script a peer. */
  constructor(readonly on: Partial<SocketEvents> = {}) {}
  onOpen(): void {
    this.opens++;
    this.log.push("open");
    this.on.onOpen?.();
  }
  onData(chunk: Uint8Array): void {
    this.chunks.push(chunk);
    this.bytes += chunk.byteLength;
    this.log.push("data");
    this.on.onData?.(chunk);
  }
  onDrain(): void {
    this.drains++;
    this.log.push("drain");
    this.on.onDrain?.();
  }
  onEnd(): void {
    this.ends++;
    this.log.push("end");
    this.on.onEnd?.();
  }
  onClose(error: RuntimeError | undefined): void {
    this.closes++;
    this.error = error;
    this.log.push(error ? `close:${error.code}` : "close");
    this.on.onClose?.(error);
  }
  text(): string {
    return this.chunks.map((c) => dec.decode(c)).join("");
  }
}

/** An accepted socket and its recorder. */
interface Accepted {
  sock: TcpSocket;
  rec: Rec;
}

/** Listens on 127.0.0.1:0; each accepted socket gets a Rec built by `make` (echo by default). */
async function server(
  rt: Runtime,
  t: TestContext,
  make: (sock: TcpSocket) => Rec = (sock) => new Rec({ onData: (c) => void sock.write(c), onEnd: () => sock.end() }),
): Promise<{ listener: TcpListener; accepted: Accepted[] }> {
  const accepted: Accepted[] = [];
  const listener = await rt.listen({ host: HOST, port: 0 }, (sock) => {
    const rec = make(sock);
    sock.events = rec;
    accepted.push({ sock, rec });
  });
  t.defer(() => listener.close());
  t.defer(() => {
    for (const a of accepted) a.sock.destroy();
  });
  return { listener, accepted };
}

/** Connects with a Rec and registers its cleanup. */
function client(rt: Runtime, t: TestContext, port: number, rec = new Rec(), timeoutMs?: number): { sock: TcpSocket; rec: Rec } {
  const sock = rt.connect({ host: HOST, port, timeoutMs }, rec);
  t.defer(() => sock.destroy());
  return { sock, rec };
}

const runtimes: [string, () => Runtime][] = [
  [real.name, () => real],
  ["memory", () => createMemoryRuntime()],
];

for (const [label, make] of runtimes) {
  test(`${label}: echo round trip on 127.0.0.1 port 0`, async (t) => {
    const rt = make();
    const { listener, accepted } = await server(rt, t);
    assert.ok(listener.port > 0, "a real port is reported");
    const c = client(rt, t, listener.port);
    await waitFor(() => c.rec.opens === 1, "onOpen");
    assert.equal(c.sock.remotePort, listener.port);
    assert.ok(c.sock.localPort > 0);
    c.sock.write(enc.encode("hello, "));
    c.sock.write(enc.encode("[world]").subarray(1, 6)); // a view: only its bytes are sent
    await waitFor(() => c.rec.text() === "hello, world", "the echo");
    assert.equal(accepted.length, 1);
    assert.equal(accepted[0]!.sock.localPort, listener.port);
    assert.equal(accepted[0]!.sock.remotePort, c.sock.localPort);
    c.sock.end();
    await waitFor(() => c.rec.closes === 1 && accepted[0]!.rec.closes === 1, "both sides closed");
    assert.equal(c.rec.error, undefined);
    assert.equal(accepted[0]!.rec.error, undefined);
    assert.equal(c.rec.opens, 1);
  });

  test(`${label}: a paused reader makes write() return false; onDrain follows; bytes arrive in order`, async (t) => {
    const rt = make();
    const { listener, accepted } = await server(rt, t, (sock) => {
      sock.pause();
      return new Rec();
    });
    const c = client(rt, t, listener.port);
    await waitFor(() => c.rec.opens === 1 && accepted.length === 1, "connected");
    // One buffer, refilled before every write: the adapter must not keep a reference to it.
    const chunk = new Uint8Array(64 * 1024);
    let written = 0, falses = 0, i = 0;
    // 4 MiB, and more if the kernel swallowed all of it (bounded at 64 MiB).
    while (written < 4 * 1024 * 1024 || (falses === 0 && written < 64 * 1024 * 1024)) {
      chunk.fill((i++ * 31 + 7) & 255);
      if (!c.sock.write(chunk)) falses++;
      written += chunk.byteLength;
    }
    assert.ok(falses > 0, `write() returned false at least once (wrote ${written} bytes)`);
    assert.ok(c.sock.bufferedAmount > 0, "bytes wait in the adapter");
    assert.equal(c.rec.drains, 0, "no onDrain while the reader is paused");
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(accepted[0]!.rec.bytes, 0, "a paused socket delivers nothing");
    assert.equal(c.rec.drains, 0, "still no onDrain while the reader is paused");
    accepted[0]!.sock.resume();
    await waitFor(() => accepted[0]!.rec.bytes === written, `all ${written} bytes`, 10_000);
    await waitFor(() => c.rec.drains >= 1, "onDrain");
    assert.equal(c.sock.bufferedAmount, 0);
    let at = 0;
    for (const got of accepted[0]!.rec.chunks) {
      for (let k = 0; k < got.byteLength; k++, at++) {
        const want = (Math.floor(at / chunk.byteLength) * 31 + 7) & 255;
        if (got[k] !== want) assert.fail(`byte ${at}: got ${got[k]}, want ${want}`);
      }
    }
  }, { timeoutMs: 20_000 });

  test(`${label}: half-close: client end() → server onEnd, server still writes, then both close`, async (t) => {
    const rt = make();
    const { listener, accepted } = await server(rt, t, (sock) =>
      new Rec({
        onEnd: () => {
          sock.write(enc.encode("pong"));
          sock.end();
        },
      }));
    const c = client(rt, t, listener.port);
    c.sock.write(enc.encode("ping"));
    c.sock.end();
    await waitFor(() => c.rec.closes === 1 && accepted[0]?.rec.closes === 1, "both sides closed");
    const s = accepted[0]!.rec;
    assert.equal(s.text(), "ping");
    assert.deepEqual(s.log.filter((e) => e !== "data"), ["end", "close"]);
    assert.equal(c.rec.text(), "pong");
    assert.deepEqual(c.rec.log.filter((e) => e !== "data" && e !== "drain"), ["open", "end", "close"]);
    assert.ok(c.rec.log.indexOf("data") < c.rec.log.indexOf("end"), "the data comes before the FIN");
  });

  test(`${label}: destroy() → onClose on both sides (the peer sees a reset)`, async (t) => {
    const rt = make();
    const { listener, accepted } = await server(rt, t);
    const c = client(rt, t, listener.port);
    c.sock.write(enc.encode("x"));
    await waitFor(() => c.rec.text() === "x", "the echo");
    c.sock.destroy();
    c.sock.destroy(); // idempotent
    assert.equal(c.rec.closes, 0, "onClose is not called from inside destroy()");
    await waitFor(() => c.rec.closes === 1 && accepted[0]!.rec.closes === 1, "both sides closed");
    assert.equal(c.rec.error, undefined, "the side that destroyed closes cleanly");
    assert.equal(accepted[0]!.rec.error?.code, "ECONNRESET");
    assert.equal(c.sock.write(enc.encode("late")), false, "writing to a closed socket is refused");
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(c.rec.closes, 1, "onClose exactly once");
    assert.equal(accepted[0]!.rec.closes, 1, "onClose exactly once");
  });

  test(`${label}: an owner callback that throws closes that socket (UNKNOWN), not the process`, async (t) => {
    const rt = make();
    const { listener, accepted } = await server(rt, t, () =>
      new Rec({
        onData: () => {
          throw new Error("owner bug");
        },
      }));
    const c = client(rt, t, listener.port);
    c.sock.write(enc.encode("boom"));
    await waitFor(() => accepted[0]?.rec.closes === 1 && c.rec.closes === 1, "both sides closed");
    assert.equal(accepted[0]!.rec.error?.code, "UNKNOWN");
    assert.match(accepted[0]!.rec.error!.message, /owner bug/);
    assert.equal(c.rec.error?.code, "ECONNRESET");
  });

  test(`${label}: connect to a closed port → onClose(ECONNREFUSED), no onOpen`, async (t) => {
    const rt = make();
    const l = await rt.listen({ host: HOST, port: 0 }, (s) => s.destroy());
    const port = l.port;
    await l.close();
    const c = client(rt, t, port);
    await waitFor(() => c.rec.closes === 1, "onClose");
    assert.ok(c.rec.error instanceof RuntimeError);
    assert.equal(c.rec.error.code, "ECONNREFUSED");
    assert.equal(c.rec.opens, 0);
  });

  test(`${label}: writes before open are queued and sent in order; onDrain follows`, async (t) => {
    const rt = make();
    const { listener, accepted } = await server(rt, t, () => new Rec());
    const c = client(rt, t, listener.port);
    const buf = new Uint8Array(3);
    const results: boolean[] = [];
    for (const word of ["one", "two", "six"]) {
      buf.set(enc.encode(word)); // same buffer every time: the adapter must copy
      results.push(c.sock.write(buf));
    }
    c.sock.end();
    assert.deepEqual(results, [false, false, false], "nothing reaches the kernel before the connection is open");
    assert.ok(c.sock.bufferedAmount >= 9);
    await waitFor(() => accepted[0]?.rec.ends === 1, "the FIN");
    assert.equal(accepted[0]!.rec.text(), "onetwosix");
    assert.equal(c.rec.opens, 1);
    await waitFor(() => c.rec.drains === 1, "onDrain");
    assert.ok(c.rec.log.indexOf("open") < c.rec.log.indexOf("drain"));
  });

  test(`${label}: listening on a port in use → RuntimeError EADDRINUSE`, async (t) => {
    const rt = make();
    const { listener } = await server(rt, t);
    await assert.rejects(rt.listen({ host: HOST, port: listener.port }, (s) => s.destroy()), (e: unknown) => {
      assert.ok(e instanceof RuntimeError, `a RuntimeError, got ${e}`);
      assert.equal(e.code, "EADDRINUSE");
      return true;
    });
  });

  test(`${label}: listener.close() stops accepting; an accepted connection keeps working`, async (t) => {
    const rt = make();
    const { listener, accepted } = await server(rt, t);
    const a = client(rt, t, listener.port);
    a.sock.write(enc.encode("before"));
    await waitFor(() => a.rec.text() === "before", "the first echo");
    await listener.close();
    await listener.close(); // idempotent
    a.sock.write(enc.encode(" after"));
    await waitFor(() => a.rec.text() === "before after", "the echo after close()");
    const b = client(rt, t, listener.port);
    await waitFor(() => b.rec.closes === 1, "the second connect to fail");
    assert.equal(b.rec.error?.code, "ECONNREFUSED");
    assert.equal(b.rec.opens, 0);
    assert.equal(accepted.length, 1);
  });
}

test("memory: listen({fd}) adopts a bound address; connections reach either acceptor", async (t) => {
  const rt = createMemoryRuntime();
  const first = await server(rt, t, (sock) => new Rec({ onData: () => void sock.write(enc.encode("first")) }));
  assert.ok(first.listener.fd !== undefined);
  const second: Accepted[] = [];
  const adopted = await rt.listen({ host: HOST, port: 0, fd: first.listener.fd }, (sock) => {
    const rec = new Rec({ onData: () => void sock.write(enc.encode("second")) });
    sock.events = rec;
    second.push({ sock, rec });
  });
  t.defer(() => adopted.close());
  assert.equal(adopted.port, first.listener.port);
  await first.listener.close(); // the adopter keeps the address bound
  const c = client(rt, t, first.listener.port);
  c.sock.write(enc.encode("?"));
  await waitFor(() => c.rec.text() === "second", "the adopter's answer");
  await assert.rejects(rt.listen({ host: HOST, port: 0, fd: 999_999 }, () => {}), RuntimeError);
});

test("memory: a connect that is never accepted fails with ETIMEDOUT after timeoutMs", async (t) => {
  const rt = createMemoryRuntime();
  const { listener } = await server(rt, t);
  const lift = rt.blackhole(HOST, listener.port);
  t.defer(lift);
  const c = client(rt, t, listener.port, new Rec(), 30);
  await waitFor(() => c.rec.closes === 1, "the timeout");
  assert.equal(c.rec.error?.code, "ETIMEDOUT");
  assert.equal(c.rec.opens, 0);
  assert.equal(rt.openSockets(), 0);
});

test("memory: files, args, env, signals, stdio, exit", async () => {
  const rt = createMemoryRuntime({ args: ["-c", "x.yaml"], env: { A: "1" }, files: { "/a": "alpha" } });
  assert.deepEqual(rt.args(), ["-c", "x.yaml"]);
  assert.equal(rt.env("A"), "1");
  assert.equal(rt.env("B"), undefined);
  assert.equal(await rt.readTextFile("/a"), "alpha");
  await assert.rejects(rt.readTextFile("/missing"), (e: unknown) => e instanceof RuntimeError && e.code === "ENOENT");
  await rt.writeTextFile("/b", "beta");
  await rt.appendFile("/b", enc.encode("+"));
  await rt.appendFile("/c", enc.encode("new"));
  assert.equal(rt.files.get("/b"), "beta+");
  assert.equal(rt.files.get("/c"), "new");
  let hups = 0;
  const off = rt.onSignal("SIGHUP", () => hups++);
  assert.equal(rt.raise("SIGHUP"), 1);
  off();
  assert.equal(rt.raise("SIGHUP"), 0);
  assert.equal(hups, 1);
  rt.writeStdout("out");
  rt.writeStderr("err");
  assert.deepEqual([rt.stdout, rt.stderr], [["out"], ["err"]]);
  assert.throws(() => rt.exit(3), /exit\(3\)/);
  assert.equal(rt.exitCode, 3);
});

test(`${real.name}: host services (files, args, env, memory)`, async () => {
  const dir = await import("node:fs/promises").then((fs) => fs.mkdtemp(`${(process.env.TMPDIR ?? "/tmp")}/legate-rt-`));
  try {
    const p = `${dir}/f.txt`;
    await real.writeTextFile(p, "héllo");
    await real.appendFile(p, enc.encode("!"));
    assert.equal(await real.readTextFile(p), "héllo!");
    await assert.rejects(real.readTextFile(`${dir}/missing`), (e: unknown) => e instanceof RuntimeError && e.code === "ENOENT");
  } finally {
    await import("node:fs/promises").then((fs) => fs.rm(dir, { recursive: true, force: true }));
  }
  assert.equal(real.name, currentRuntimeName());
  assert.ok(real.version.length > 0);
  assert.ok(Array.isArray(real.args()));
  assert.equal(real.env("PATH"), process.env.PATH);
  assert.ok(real.pid > 0 && real.execPath.length > 0 && real.hostname().length > 0);
  const m = real.memoryUsage();
  assert.ok(m.rss > 0 && m.heapUsed > 0);
  assert.equal(await loadRuntime(), real, "loadRuntime() caches");
});

/** A listener whose accept queue is full, so further SYNs go unanswered (python3 holds it). */
const HANG_LISTENER = `
import socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(0)
port = s.getsockname()[1]
fill = []
for _ in range(4):
    c = socket.socket(); c.setblocking(False)
    try: c.connect(("127.0.0.1", port))
    except BlockingIOError: pass
    fill.append(c)
time.sleep(0.2)
print(port, flush=True)
sys.stdin.read()
`;
const python = spawnSync("python3", ["--version"]).status === 0;

test(`${real.name}: connect timeoutMs → onClose(ETIMEDOUT) without onOpen`, async (t) => {
  // A full accept queue on loopback drops the SYN, so the connect neither opens nor fails.
  const hang = spawn("python3", ["-c", HANG_LISTENER], { stdio: ["pipe", "pipe", "inherit"] });
  let exited = false;
  hang.on("exit", () => exited = true);
  t.defer(async () => {
    hang.stdin!.end();
    await waitFor(() => exited, "python3 to exit");
  });
  let out = "";
  hang.stdout!.on("data", (d: Uint8Array) => out += dec.decode(d));
  await waitFor(() => out.includes("\n"), "the listener's port");
  const rec = new Rec();
  const started = Date.now();
  const sock = real.connect({ host: HOST, port: Number(out.trim()), timeoutMs: 200 }, rec);
  t.defer(() => sock.destroy());
  sock.write(enc.encode("queued")); // dropped with the socket
  await waitFor(() => rec.closes === 1, "onClose", 5000);
  assert.equal(rec.opens, 0);
  assert.equal(rec.error?.code, "ETIMEDOUT", `got ${rec.error?.code}: ${rec.error?.message}`);
  assert.ok(Date.now() - started >= 190, "not before timeoutMs");
}, { skip: python ? false : "python3 is not installed (it holds a listener with a full accept queue)" });

test(`${real.name}: listen({fd}) in a child process adopts an inherited listening socket`, async (t) => {
  const parent = await real.listen({ host: HOST, port: 0 }, (s) => s.destroy());
  t.defer(() => parent.close());
  assert.equal(typeof parent.fd, "number", "the listener exposes its fd");
  const fixture = fileURLToPath(new URL("./testdata/fd_echo_child.ts", import.meta.url));
  const argv = currentRuntimeName() === "bun" ? [fixture, "3"] : ["run", "-A", fixture, "3"];
  const child = spawn(process.execPath, argv, { stdio: ["ignore", "pipe", "inherit", parent.fd!] });
  let exited = false;
  child.on("exit", () => exited = true);
  t.defer(async () => {
    if (!exited) child.kill("SIGKILL");
    await waitFor(() => exited, "the child to exit");
  });
  let out = "";
  child.stdout!.on("data", (d: Uint8Array) => out += dec.decode(d));
  await waitFor(() => out.includes("ready") || exited, "the child to be ready", 10_000);
  assert.ok(!exited, "the child is running");
  // Only the child accepts from now on.
  await parent.close();
  const c = client(real, t, parent.port);
  c.sock.write(enc.encode("hi"));
  await waitFor(() => c.rec.text().endsWith("hi"), "the child's echo");
  assert.equal(c.rec.text(), `child ${child.pid}: hi`);
}, { timeoutMs: 20_000 });
