/**
 * Test fixture for runtime_test.ts: adopts the listening socket inherited as the fd given in
 * argv (through the runtime seam, like a hot-restarted generation would), prints `ready <pid>`,
 * and echoes every chunk back prefixed with `child <pid>: `, so the test knows who answered.
 */
import { loadRuntime } from "../mod.ts";

const rt = await loadRuntime();
const fd = Number(rt.args()[0]);
const enc = new TextEncoder();
const prefix = enc.encode(`child ${rt.pid}: `);
await rt.listen({ host: "127.0.0.1", port: 0, fd }, (sock) => {
  sock.events = {
    onOpen() {},
    onData(chunk) {
      sock.write(prefix);
      sock.write(chunk);
    },
    onDrain() {},
    onEnd() {
      sock.end();
    },
    onClose() {},
  };
});
rt.writeStdout(`ready ${rt.pid}\n`);
