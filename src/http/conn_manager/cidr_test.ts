import assert from "node:assert/strict";
import { test } from "../../../tests/harness.ts";
import { type CidrRange, inRanges, parseIp } from "./cidr.ts";

const r = (a: string, n: number): CidrRange => ({ bytes: parseIp(a)!, prefixLen: n });

test("parseIp: IPv4, IPv6 (compressed, full, with a dotted tail), v4-mapped; rejects junk", () => {
  assert.deepEqual([...parseIp("10.1.2.3")!], [10, 1, 2, 3]);
  assert.deepEqual([...parseIp("::ffff:192.168.0.1")!], [192, 168, 0, 1]);
  assert.equal(parseIp("::1")![15], 1);
  assert.equal(parseIp("fd00::")![0], 0xfd);
  assert.deepEqual([...parseIp("1:2:3:4:5:6:7:8")!].slice(0, 4), [0, 1, 0, 2]);
  assert.deepEqual([...parseIp("64:ff9b::1.2.3.4")!].slice(12), [1, 2, 3, 4]);
  for (const bad of ["", "1.2.3", "256.1.1.1", "1::2::3", "1:2:3:4:5:6:7:8:9", "g::1", "a.b.c.d"]) assert.equal(parseIp(bad), null, bad);
});

test("inRanges: prefix lengths on byte and bit boundaries, families never mix", () => {
  const ranges = [r("10.0.0.0", 8), r("172.16.0.0", 12), r("fd00::", 8), r("192.0.2.128", 25)];
  assert.equal(inRanges("10.200.1.1", ranges), true);
  assert.equal(inRanges("11.0.0.1", ranges), false);
  assert.equal(inRanges("172.31.255.255", ranges), true);
  assert.equal(inRanges("172.32.0.1", ranges), false);
  assert.equal(inRanges("192.0.2.200", ranges), true);
  assert.equal(inRanges("192.0.2.100", ranges), false);
  assert.equal(inRanges("fdab::1", ranges), true);
  assert.equal(inRanges("fe80::1", ranges), false);
  assert.equal(inRanges("::ffff:10.1.1.1", ranges), true);
  assert.equal(inRanges("0.0.0.1", [r("0.0.0.0", 0)]), true);
  assert.equal(inRanges("not-an-ip", ranges), false);
});
