import assert from "node:assert/strict";
import { test } from "../../tests/harness.ts";
import { HeaderMap } from "./header_map.ts";

function pairs(m: HeaderMap): [string, string][] {
  const out: [string, string][] = [];
  for (let i = 0; i < m.size; i++) out.push([m.nameAt(i), m.valueAt(i)]);
  return out;
}

const base: [string, string][] = [
  ["host", "a"],
  ["set-cookie", "x=1"],
  ["accept", "*/*"],
  ["set-cookie", "y=2"],
  ["via", "1.1 p"],
  ["set-cookie", "z=3"],
];

// Each row applies one mutation to a fresh copy of `base` and states the full result.
const mutations: { name: string; run: (m: HeaderMap) => unknown; result: unknown; after: [string, string][] }[] = [
  {
    name: "set replaces all values in place of the first",
    run: (m) => m.set("set-cookie", "only"),
    result: undefined,
    after: [["host", "a"], ["set-cookie", "only"], ["accept", "*/*"], ["via", "1.1 p"]],
  },
  {
    name: "set of a new name appends",
    run: (m) => m.set("x-new", "1"),
    result: undefined,
    after: [...base, ["x-new", "1"]],
  },
  {
    name: "set of a single existing name keeps the order",
    run: (m) => m.set("host", "b"),
    result: undefined,
    after: [["host", "b"], ...base.slice(1)],
  },
  {
    name: "add appends a repeat",
    run: (m) => m.add("host", "c"),
    result: undefined,
    after: [...base, ["host", "c"]],
  },
  {
    name: "remove drops every line of a name",
    run: (m) => m.remove("set-cookie"),
    result: true,
    after: [["host", "a"], ["accept", "*/*"], ["via", "1.1 p"]],
  },
  {
    name: "remove of the last line",
    run: (m) => m.remove("set-cookie") && m.remove("via") && m.remove("accept") && m.remove("host"),
    result: true,
    after: [],
  },
  {
    name: "remove of a missing name is false and changes nothing",
    run: (m) => m.remove("nope"),
    result: false,
    after: base,
  },
  {
    name: "setValueAt rewrites one line",
    run: (m) => m.setValueAt(3, "y=22"),
    result: undefined,
    after: [...base.slice(0, 3), ["set-cookie", "y=22"], ...base.slice(4)],
  },
];

for (const row of mutations) {
  test(`HeaderMap: ${row.name}`, () => {
    const m = HeaderMap.fromPairs(base);
    assert.equal(row.run(m), row.result);
    assert.deepEqual(pairs(m), row.after);
    assert.equal(m.size, row.after.length);
  });
}

test("HeaderMap: lookups return the first value, all values in order, presence", () => {
  const m = HeaderMap.fromPairs(base);
  const rows: [string, string | undefined, string[], boolean][] = [
    ["host", "a", ["a"], true],
    ["set-cookie", "x=1", ["x=1", "y=2", "z=3"], true],
    ["missing", undefined, [], false],
  ];
  for (const [name, first, all, has] of rows) {
    assert.equal(m.get(name), first, name);
    assert.deepEqual(m.getAll(name), all, name);
    assert.equal(m.has(name), has, name);
  }
});

test("HeaderMap: fromPairs lower-cases names; forEach visits in order", () => {
  const m = HeaderMap.fromPairs([["Content-Type", "text/plain"], ["X-A", "1"], ["x-a", "2"]]);
  const seen: string[] = [];
  m.forEach((n, v) => seen.push(`${n}=${v}`));
  assert.deepEqual(seen, ["content-type=text/plain", "x-a=1", "x-a=2"]);
});

test("HeaderMap: clone is independent", () => {
  const m = HeaderMap.fromPairs(base);
  const c = m.clone();
  c.set("host", "other");
  c.add("x", "y");
  m.remove("via");
  assert.equal(m.get("host"), "a");
  assert.equal(m.has("x"), false);
  assert.equal(c.get("via"), "1.1 p");
  assert.equal(c.size, base.length + 1);
});

test("HeaderMap: byteLength counts `name: value\\r\\n` per line", () => {
  const m = new HeaderMap();
  assert.equal(m.byteLength(), 0);
  m.add("host", "example.com"); // 4 + 2 + 11 + 2
  m.add("a", ""); // 1 + 2 + 0 + 2
  assert.equal(m.byteLength(), 19 + 5);
});

test("HeaderMap: setValueAt out of range throws", () => {
  const m = HeaderMap.fromPairs([["a", "1"]]);
  assert.throws(() => m.setValueAt(1, "x"), RangeError);
  assert.throws(() => m.setValueAt(-1, "x"), RangeError);
});

test("HeaderMap: lookups agree with a plain scan for names sharing a summary bit, across set/remove/clone", () => {
  // Names of every length 1..40 with varied last chars: many share one of the 32 bits.
  const names: string[] = [];
  for (let n = 1; n <= 40; n++) for (const c of ["a", "e", "z", "-", "0"]) names.push("x".repeat(n - 1) + c);
  const m = new HeaderMap();
  const model = new Map<string, string>();
  let k = 0;
  for (const name of names) {
    if (k++ % 3 === 0) continue; // leave some names out, so absent names share bits with present ones
    m.add(name, `v${k}`);
    model.set(name, `v${k}`);
  }
  const check = (map: HeaderMap, label: string) => {
    for (const name of names) {
      assert.equal(map.get(name), model.get(name), `${label} get ${JSON.stringify(name)}`);
      assert.equal(map.has(name), model.has(name), `${label} has ${JSON.stringify(name)}`);
      assert.deepEqual(map.getAll(name), model.has(name) ? [model.get(name)] : [], `${label} getAll`);
    }
  };
  check(m, "after add");
  for (let i = 0; i < names.length; i += 4) {
    assert.equal(m.remove(names[i]), model.delete(names[i]), `remove ${names[i]}`);
  }
  check(m, "after remove");
  for (let i = 1; i < names.length; i += 5) {
    m.set(names[i], "s");
    model.set(names[i], "s");
  }
  check(m, "after set");
  check(m.clone(), "clone");
});
