import assert from "node:assert/strict";
import { test } from "../../tests/harness.ts";
import { loadBootstrap } from "./load.ts";

// Every example a user can run must pass the loader (the files are fetched: src/config reads no files).
for (const name of ["quickstart.yaml"]) {
  test(`examples/${name} loads`, async () => {
    const text = await (await fetch(new URL(`../../examples/${name}`, import.meta.url))).text();
    const m = loadBootstrap({ text, sourceName: `examples/${name}` });
    assert.ok(m.listeners.length > 0);
    assert.ok(Object.isFrozen(m));
  });
}
