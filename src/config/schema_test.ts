import assert from "node:assert/strict";
import { test } from "../../tests/harness.ts";
import type { ConfigIssue } from "../core/errors.ts";
import { isIPv4, isIPv6 } from "./ip.ts";
import { normalizeKeys, toSnakeCase } from "./keys.ts";
import { domainProblem } from "./route.ts";
import { decodeBase64Utf8, durationToMs, Problem } from "./schema.ts";

const DURATIONS: [unknown, number][] = [
  ["5s", 5000],
  ["1.5s", 1500],
  ["0.250s", 250],
  ["0.25s", 250],
  ["0s", 0],
  ["0.0005s", 0], // truncated to whole ms, as Envoy's DurationUtil does
  ["1.000999999s", 1000],
  ["86400s", 86_400_000],
  [{ seconds: 2, nanos: 500_000_000 }, 2500],
  [{ seconds: "3" }, 3000],
  [{ nanos: 1_000_000 }, 1],
  [{}, 0],
];

for (const [input, ms] of DURATIONS) {
  test(`duration ${JSON.stringify(input)} is ${ms} ms`, () => {
    assert.equal(durationToMs(input), ms);
  });
}

const BAD_DURATIONS: [unknown, string][] = [
  ["1.5", 'invalid duration "1.5": expected seconds with an "s" suffix, such as "5s" or "0.250s"'],
  ["1,5s", 'invalid duration "1,5s": expected seconds with an "s" suffix, such as "5s" or "0.250s"'],
  ["1e3s", 'invalid duration "1e3s": expected seconds with an "s" suffix, such as "5s" or "0.250s"'],
  ["1.0000000001s", 'invalid duration "1.0000000001s": expected seconds with an "s" suffix, such as "5s" or "0.250s"'],
  ["5ms", 'invalid duration "5ms": expected seconds with an "s" suffix, such as "5s" or "0.250s"'],
  ["-1s", 'must not be negative, got "-1s"'],
  ["315576000001s", "duration is too long (at most 315576000000 seconds)"],
  [5, 'expected a duration such as "5s", got the number 5'],
  [{ seconds: 1.5 }, "invalid duration: seconds must be an integer, got the number 1.5"],
  [{ nanos: -1 }, "invalid duration: nanos must be an integer between 0 and 999999999, got the number -1"],
  [{ minutes: 1 }, 'invalid duration: unknown field "minutes" (expected seconds, nanos)'],
];

for (const [input, message] of BAD_DURATIONS) {
  test(`duration ${JSON.stringify(input)} is refused`, () => {
    const r = durationToMs(input);
    assert.ok(r instanceof Problem);
    assert.equal(r.message, message);
  });
}

test("IP literals", () => {
  for (const ok of ["0.0.0.0", "127.0.0.1", "255.255.255.255"]) assert.ok(isIPv4(ok), ok);
  for (const bad of ["256.0.0.1", "1.2.3", "1.2.3.4.5", "01.2.3.4", "a.b.c.d", "", "localhost"]) assert.ok(!isIPv4(bad), bad);
  for (const ok of ["::", "::1", "fe80::1", "2001:db8::8a2e:370:7334", "1:2:3:4:5:6:7:8", "::ffff:10.0.0.1", "1::"]) assert.ok(isIPv6(ok), ok);
  for (const bad of ["[::1]", "1:2:3:4:5:6:7", "1:2:3:4:5:6:7:8:9", "1::2::3", "12345::", "::g", "fe80::1%eth0", "1:2:3:4:5:6:7::8:9"]) {
    assert.ok(!isIPv6(bad), bad);
  }
});

test("domain forms Envoy accepts", () => {
  for (const ok of ["*", "example.com", "*.example.com", "*example.com", "api.*", "example.com:8080"]) assert.equal(domainProblem(ok), undefined, ok);
  for (const bad of ["", "a.*.com", "*.a.*", "**", "*a*"]) assert.notEqual(domainProblem(bad), undefined, bad);
});

test("toSnakeCase maps proto3 JSON names back to field names", () => {
  assert.equal(toSnakeCase("connectTimeout"), "connect_timeout");
  assert.equal(toSnakeCase("http2ProtocolOptions"), "http2_protocol_options");
  assert.equal(toSnakeCase("connect_timeout"), "connect_timeout");
  assert.equal(toSnakeCase("@type"), "@type");
  assert.equal(toSnakeCase("Name"), "Name");
});

test("normalizeKeys leaves free-form maps and @type alone and drops nulls", () => {
  const issues: ConfigIssue[] = [];
  const out = normalizeKeys({
    typedConfig: { "@type": "t", statPrefix: "x", nothing: null },
    metadata: { filterMetadata: { "envoy.lb": { canaryKey: true } } },
    typedPerFilterConfig: { "envoy.filters.http.fooBar": { "@type": "u", someField: 1 } },
    node: { metadata: { myKey: 1 } },
    list: [{ aB: 1 }],
  }, issues);
  assert.deepStrictEqual(out, {
    typed_config: { "@type": "t", stat_prefix: "x" },
    metadata: { filter_metadata: { "envoy.lb": { canaryKey: true } } },
    typed_per_filter_config: { "envoy.filters.http.fooBar": { "@type": "u", some_field: 1 } },
    node: { metadata: { myKey: 1 } },
    list: [{ a_b: 1 }],
  });
  assert.deepStrictEqual(issues, []);
});

test("inline_bytes must be base64 UTF-8 text", () => {
  assert.equal(decodeBase64Utf8("aGVsbG8="), "hello");
  assert.equal(decodeBase64Utf8("aGVsbG8"), "hello");
  assert.ok(decodeBase64Utf8("!!!") instanceof Problem);
  assert.ok(decodeBase64Utf8("/w==") instanceof Problem); // 0xff is not UTF-8
});
