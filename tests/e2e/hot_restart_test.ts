/**
 * Hot restart and binary upgrade of the compiled binary under continuous load: 20 restarts in a
 * row (one to a different build, swapped in by atomic rename), a long request that spans a
 * restart, a broken config on restart, and a new generation killed mid-startup. Not one request
 * may fail, and the counters must equal what the clients sent.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { copyFileSync, mkdtempSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test, waitFor } from "../harness.ts";
import { ensureBinary, ROOT, startBinary } from "../helpers/binary.ts";
import { simpleConfig } from "../helpers/proxy.ts";
import { startUpstream } from "../helpers/upstream.ts";

interface Load {
  ok: number;
  non2xx: number;
  errors: string[];
  stop(): Promise<void>;
}

/** Bounded load: `n` loops of keep-alive requests until stopped; every outcome is counted. */
function startLoad(url: string, n: number): Load {
  const load: Load = { ok: 0, non2xx: 0, errors: [], stop: async () => {} };
  let running = true;
  const loops = Array.from({ length: n }, async () => {
    while (running) {
      try {
        const r = await fetch(url, { signal: AbortSignal.timeout(5000) });
        await r.arrayBuffer();
        if (r.status === 200) load.ok++;
        else load.non2xx++;
      } catch (e) {
        load.errors.push(e instanceof Error ? e.message : String(e));
      }
    }
  });
  load.stop = async () => {
    running = false;
    await Promise.all(loops);
  };
  return load;
}

async function json(url: string): Promise<Record<string, unknown>> {
  // Bounded, so a lost connection fails the test instead of hanging it.
  return await (await fetch(url, { headers: { connection: "close" }, signal: AbortSignal.timeout(5000) })).json() as Record<string, unknown>;
}

test("hot restart: 20 restarts under load, one to a new build, zero failed requests", async () => {
  const dir = mkdtempSync(join(tmpdir(), "legate-hr-"));
  try {
    // The binary users run, and a different build (another version string) to upgrade to.
    const bin = join(dir, "legate");
    copyFileSync(ensureBinary(), bin);
    const upgrade = join(dir, "legate-upgrade");
    const b = spawnSync("bash", [join(ROOT, "scripts/build.sh")], {
      cwd: ROOT,
      env: { ...process.env, LEGATE_VERSION: "9.9.9-upgrade", OUT: upgrade },
      encoding: "utf8",
    });
    assert.equal(b.status, 0, b.stderr);

    let releaseLong!: () => void;
    const long = new Promise<void>((r) => (releaseLong = r));
    await using up = await startUpstream((req, res) => {
      if (req.url === "/long") void long.then(() => res.end("long done"));
      else res.end("ok");
    });
    const cfgPath = join(dir, "legate.json");
    const cfgText = JSON.stringify(simpleConfig({ upstreamPorts: [up.port] }));
    writeFileSync(cfgPath, cfgText);
    await using sup = startBinary(["-c", cfgPath, "--concurrency", "1", "--drain-time-s", "3", "--parent-shutdown-time-s", "10"], bin);
    const adminPort = await sup.adminPort();
    const admin = `http://127.0.0.1:${adminPort}`;
    const listeners = await json(`${admin}/listeners?format=json`) as {
      listener_statuses: { local_address: { socket_address: { port_value: number } } }[];
    };
    const port = listeners.listener_statuses[0]!.local_address.socket_address.port_value;
    const url = `http://127.0.0.1:${port}/`;
    const epoch = async () => ((await json(`${admin}/server_info`)).command_line_options as { restart_epoch: number }).restart_epoch;
    const restartTo = async (want: number) => {
      sup.signal("SIGHUP");
      await waitFor(async () => (await epoch()) === want, `generation ${want} to serve`, 15000, 50);
    };

    const load = startLoad(url, 6);
    await waitFor(() => load.ok > 50, "load to flow");
    // A long request that starts on generation 0 and finishes while generation 1 serves.
    const longRes = fetch(`http://127.0.0.1:${port}/long`);
    await waitFor(() => up.requests.some((r) => r.url === "/long"), "the long request to reach the upstream");

    for (let i = 1; i <= 20; i++) {
      if (i === 1) setTimeout(releaseLong, 500);
      if (i === 10) {
        // The upgrade: replace the file on disk (atomically), then SIGHUP.
        copyFileSync(upgrade, `${bin}.new`);
        renameSync(`${bin}.new`, bin);
      }
      await restartTo(i);
      if (i === 10) assert.equal((await json(`${admin}/server_info`)).version, "9.9.9-upgrade");
    }
    assert.equal(await (await longRes).text(), "long done");

    // A broken config on restart: refused, generation 20 keeps serving.
    writeFileSync(cfgPath, cfgText.replace('"type":"STATIC"', '"type":"STATIC","bogus_field":1'));
    sup.signal("SIGHUP");
    await waitFor(() => sup.stderr().includes("hot restart refused"), "the refusal in the log");
    writeFileSync(cfgPath, cfgText);
    assert.equal(await epoch(), 20);

    // A new generation killed -9 during startup: the supervisor keeps generation 20.
    const before = sup.stderr().length;
    sup.signal("SIGHUP");
    const m = await waitFor(() => /started generation 21 \(pid (\d+)\)/.exec(sup.stderr().slice(before)), "generation 21 to start");
    try {
      process.kill(Number(m![1]), "SIGKILL");
    } catch {
      // it may already be ready and serving; then this is an ordinary restart
    }
    await waitFor(() => /generation 21 (exited|is ready)/.test(sup.stderr()), "generation 21 to end or be ready");
    await new Promise((r) => setTimeout(r, 300));

    await load.stop();
    assert.deepEqual(load.errors, [], "no request failed");
    assert.equal(load.non2xx, 0);
    // Old generations have drained and handed over their counters.
    const sent = load.ok + 1; // + the long request
    await waitFor(async () => {
      const stats = await (await fetch(`${admin}/stats?filter=^http\\.ingress\\.downstream_rq_total$`, { headers: { connection: "close" } })).text();
      return Number(/: (\d+)/.exec(stats)?.[1]) === sent + 0;
    }, `downstream_rq_total to equal the ${sent} requests sent`, 15000, 100).catch(async (e) => {
      const stats = await (await fetch(`${admin}/stats?filter=downstream_rq_total`, { headers: { connection: "close" } })).text();
      const lines = sup.stderr().split("\n").filter((l) => /generation|carry|final|refused|failed/.test(l));
      throw new Error(`${e.message}; stats: ${stats}\nsupervisor log:\n${lines.slice(-30).join("\n")}`);
    });

    sup.signal("SIGTERM");
    assert.equal(await sup.exited(10000), 0);
    const orphans = spawnSync("pgrep", ["-f", bin], { encoding: "utf8" }).stdout.trim();
    assert.equal(orphans, "", "no generation outlives the supervisor");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}, { timeoutMs: 120000 });

for (const [name, cmd, pre] of [
  ["bun", join(ROOT, "node_modules/.bin/bun"), [join(ROOT, "src/main.ts")]],
  ["deno", join(ROOT, "node_modules/.bin/deno"), ["run", "-A", join(ROOT, "src/main.ts")]],
] as const) {
  test(`hot restart from source on ${name}: a SIGHUP moves traffic to a new generation, counters carry over`, async () => {
    await using up = await startUpstream();
    const dir = mkdtempSync(join(tmpdir(), "legate-hrsrc-"));
    try {
      const cfgPath = join(dir, "legate.json");
      writeFileSync(cfgPath, JSON.stringify(simpleConfig({ upstreamPorts: [up.port] })));
      await using sup = startBinary([...pre, "-c", cfgPath, "--concurrency", "1", "--drain-time-s", "1"], cmd);
      const admin = `http://127.0.0.1:${await sup.adminPort()}`;
      const listeners = await json(`${admin}/listeners?format=json`) as {
        listener_statuses: { local_address: { socket_address: { port_value: number } } }[];
      };
      const url = `http://127.0.0.1:${listeners.listener_statuses[0]!.local_address.socket_address.port_value}/src`;
      const get = async () => await (await fetch(url, { headers: { connection: "close" } })).text();
      assert.equal(await get(), "upstream saw GET /src");
      sup.signal("SIGHUP");
      if (name === "deno") {
        // Known gap (docs/hot_restart.md): with Deno generations from source, a connection that
        // arrives while the new generation starts up can stall until another one arrives. Wait
        // for the handoff before talking to it; the compiled binary and Bun have no such gap.
        await waitFor(() => /generation 1 \(pid \d+, legate [^)]+\) is ready/.test(sup.stderr()), "generation 1 to be ready", 20000);
      }
      await waitFor(async () => ((await json(`${admin}/server_info`)).command_line_options as { restart_epoch: number }).restart_epoch === 1, "generation 1", 20000, 50);
      assert.equal(await get(), "upstream saw GET /src");
      await waitFor(async () => /: 2$/m.test(await (await fetch(`${admin}/stats?filter=^http\\.ingress\\.downstream_rq_total$`, { headers: { connection: "close" } })).text()), "both requests counted", 10000, 100);
      sup.signal("SIGTERM");
      assert.equal(await sup.exited(10000), 0);
      // Every generation is gone with the supervisor (the config path names this run's ones).
      await waitFor(() => spawnSync("pgrep", ["-f", cfgPath], { encoding: "utf8" }).stdout.trim() === "", "no generation outlives the supervisor", 5000, 100);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, {
    timeoutMs: 60000,
    skip: name === "deno"
      ? "known gap: an old Deno generation started from source does not exit after the handoff (docs/hot_restart.md)"
      : false,
  });

  test(`supervisor killed -9 (${name} from source): its generation notices and exits`, async () => {
    await using up = await startUpstream();
    const dir = mkdtempSync(join(tmpdir(), "legate-hrkill-"));
    try {
      const cfgPath = join(dir, "legate.json");
      writeFileSync(cfgPath, JSON.stringify(simpleConfig({ upstreamPorts: [up.port] })));
      await using sup = startBinary([...pre, "-c", cfgPath, "--concurrency", "1"], cmd);
      await sup.adminPort();
      const gen = Number(/started generation 0 \(pid (\d+)\)/.exec(sup.stderr())![1]);
      const alive = () => {
        try {
          process.kill(gen, 0);
          return true;
        } catch {
          return false;
        }
      };
      assert.ok(alive());
      sup.signal("SIGKILL");
      await waitFor(() => !alive(), `generation 0 (pid ${gen}) to exit after its supervisor died`, 5000, 50);
    } finally {
      spawnSync("pkill", ["-KILL", "-f", dir]);
      rmSync(dir, { recursive: true, force: true });
    }
  }, { timeoutMs: 20000 });
}
