/**
 * A stand-in for a scratch container image: the compiled binary in a chroot that holds only the
 * binary, the shared libraries ldd names, a config and /proc. It must start, proxy and
 * hot-restart there. Needs root (chroot, mount); skipped with the reason otherwise.
 */
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { test, waitFor } from "../harness.ts";
import { ensureBinary, startBinary } from "../helpers/binary.ts";
import { simpleConfig } from "../helpers/proxy.ts";
import { startUpstream } from "../helpers/upstream.ts";

const isRoot = typeof process.getuid === "function" && process.getuid() === 0;
const hasTools = spawnSync("sh", ["-c", "command -v chroot && command -v mount && command -v ldd"]).status === 0;

test("container: the binary starts, proxies and hot-restarts with only its libraries and /proc", async () => {
  const jail = mkdtempSync(join(tmpdir(), "legate-jail-"));
  let mounted = false;
  try {
    const bin = ensureBinary();
    mkdirSync(join(jail, "bin"));
    mkdirSync(join(jail, "etc"));
    mkdirSync(join(jail, "proc"));
    copyFileSync(bin, join(jail, "bin/legate"));
    const libs = execFileSync("ldd", [bin], { encoding: "utf8" }).match(/\/\S+/g) ?? [];
    for (const lib of libs) {
      mkdirSync(join(jail, dirname(lib)), { recursive: true });
      copyFileSync(lib, join(jail, lib));
    }
    execFileSync("mount", ["-t", "proc", "proc", join(jail, "proc")]);
    mounted = true;
    await using up = await startUpstream();
    writeFileSync(join(jail, "etc/legate.json"), JSON.stringify(simpleConfig({ upstreamPorts: [up.port] })));
    await using sup = startBinary([jail, "/bin/legate", "-c", "/etc/legate.json", "--concurrency", "1", "--drain-time-s", "1"], "chroot");
    const admin = `http://127.0.0.1:${await sup.adminPort()}`;
    const listeners = await (await fetch(`${admin}/listeners?format=json`)).json() as {
      listener_statuses: { local_address: { socket_address: { port_value: number } } }[];
    };
    const url = `http://127.0.0.1:${listeners.listener_statuses[0]!.local_address.socket_address.port_value}/in-jail`;
    assert.equal(await (await fetch(url, { headers: { connection: "close" } })).text(), "upstream saw GET /in-jail");
    sup.signal("SIGHUP");
    await waitFor(async () => {
      const info = await (await fetch(`${admin}/server_info`, { headers: { connection: "close" } })).json() as { command_line_options: { restart_epoch: number } };
      return info.command_line_options.restart_epoch === 1;
    }, "generation 1 to serve", 15000, 50);
    assert.equal(await (await fetch(url, { headers: { connection: "close" } })).text(), "upstream saw GET /in-jail");
    sup.signal("SIGTERM");
    assert.equal(await sup.exited(10000), 0);
  } finally {
    if (mounted) spawnSync("umount", [join(jail, "proc")]);
    rmSync(jail, { recursive: true, force: true });
  }
}, {
  timeoutMs: 60000,
  skip: !isRoot ? "needs root for chroot and mount" : !hasTools ? "chroot, mount or ldd is missing" : false,
});
