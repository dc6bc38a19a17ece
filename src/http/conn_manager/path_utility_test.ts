import assert from "node:assert/strict";
import { test } from "../../../tests/harness.ts";
import { canonicalPath, mergeSlashes, unescapeSlashes } from "./path_utility.ts";

test("canonicalPath removes dot segments (RFC 3986 §5.2.4 examples) and keeps the query", () => {
  const cases: [string, string][] = [
    ["/a/b/c/./../../g", "/a/g"],
    ["/mid/content=5/../6", "/mid/6"],
    ["/../a", "/a"],
    ["/a/..", "/"],
    ["/a/.", "/a/"],
    ["/a/b/..", "/a/"],
    ["/./a/./b", "/a/b"],
    ["/a/%2e%2E/b", "/b"],
    ["/a\\..\\b", "/b"],
    ["/a/../b?x=/../y", "/b?x=/../y"],
    ["/plain/path", "/plain/path"],
    ["/a/..b/c", "/a/..b/c"],
  ];
  for (const [input, want] of cases) assert.equal(canonicalPath(input), want, input);
  assert.equal(canonicalPath("*"), null);
});

test("mergeSlashes collapses runs of slashes in the path only", () => {
  assert.equal(mergeSlashes("//a///b/"), "/a/b/");
  assert.equal(mergeSlashes("/a/b?x=//y"), "/a/b?x=//y");
  assert.equal(mergeSlashes("/a"), "/a");
});

test("unescapeSlashes finds %2F and %5C in any case, path only", () => {
  assert.equal(unescapeSlashes("/a%2Fb%2fc%5Cd%5ce"), "/a/b/c\\d\\e");
  assert.equal(unescapeSlashes("/a/b?x=%2F"), null);
  assert.equal(unescapeSlashes("/a%252F"), null);
});
