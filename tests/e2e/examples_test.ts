/**
 * The example configs in examples/ run as documented (ports moved to free ones so the test
 * never collides with anything on the machine).
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "../harness.ts";
import { freePort } from "../helpers/ports.ts";
import { ROOT } from "../helpers/binary.ts";
import { startProxy } from "../helpers/proxy.ts";
import { curl, NO_CURL } from "../helpers/tls.ts";

test("examples/edge_tls.yaml: a.test is terminated at the edge, b.test passes through to its backend, other names are closed", async () => {
  const edge = freePort(), backend = freePort();
  const text = readFileSync(join(ROOT, "examples/edge_tls.yaml"), "utf8")
    .replaceAll("port_value: 10443", `port_value: ${edge}`)
    .replaceAll("port_value: 10444", `port_value: ${backend}`)
    .replaceAll("port_value: 9901", "port_value: 0")
    .replaceAll("filename: tests/fixtures/", `filename: ${ROOT}/tests/fixtures/`);
  await using p = await startProxy(text);
  const a = await curl("a.test", edge);
  assert.equal(a.out, "a.test, terminated at the edge\n", a.err);
  const b = await curl("b.test", edge);
  assert.equal(b.out, "b.test, terminated by the backend\n", b.err);
  const c = await curl("c.test", edge);
  assert.notEqual(c.code, 0, "an unknown name gets no chain");
  assert.equal(p.stat(`listener.127.0.0.1_${edge}.no_filter_chain_match`), 1);
}, { timeoutMs: 20_000, skip: NO_CURL });
