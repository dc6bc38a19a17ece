import assert from "node:assert/strict";
import { test } from "../../../tests/harness.ts";
import { HeaderMap } from "../header_map.ts";
import { ResponseFlag } from "../response_flags.ts";
import { StreamInfo } from "../stream_info.ts";
import { compileFormat, compileJsonFormat, RESPONSE_FLAG_NAMES, responseFlagBits, setLocalReplyBody, validateFormat } from "./formatter.ts";

function info(): StreamInfo {
  const i = new StreamInfo("10.0.0.1:5555", "127.0.0.1:8080");
  // 2026-03-04T05:06:07.089Z
  i.startTimeMs = Date.UTC(2026, 2, 4, 5, 6, 7, 89);
  i.startMono = 100;
  i.endMono = 142.4;
  i.responseCode = 503;
  i.responseFlags = ResponseFlag.NoHealthyUpstream | ResponseFlag.UpstreamOverflow;
  i.connectionId = 17;
  return i;
}
const req = { method: "GET", path: "/a/b?c=d", authority: "h.test", scheme: "http", headers: HeaderMap.fromPairs([["user-agent", "ua/1"]]) };

test("START_TIME: default and strftime-style formats in UTC", () => {
  const f = (fmt: string) => compileFormat(fmt)(info(), null, null);
  assert.equal(f("%START_TIME%"), "2026-03-04T05:06:07.089Z");
  assert.equal(f("%START_TIME(%Y/%m/%d %H:%M:%S)%"), "2026/03/04 05:06:07");
  assert.equal(f("%START_TIME(%s)%"), String(Math.floor(Date.UTC(2026, 2, 4, 5, 6, 7) / 1000)));
  assert.equal(f("%START_TIME(%s.%3f)%"), `${Math.floor(Date.UTC(2026, 2, 4, 5, 6, 7) / 1000)}.089`);
  assert.equal(f("%START_TIME(%f)%"), "089000000");
  assert.equal(f("%START_TIME(%E3S|%T|%F|%b %a %j %z %Z %%)%"), "07.089|05:06:07|2026-03-04|Mar Wed 063 +0000 UTC %");
});

test("operators: durations, flags, headers with fallback and truncation, addresses, LOCAL_REPLY_BODY", () => {
  const f = (fmt: string) => compileFormat(fmt)(info(), req, { status: 503, headers: HeaderMap.fromPairs([["x-r", "rv"]]) });
  assert.equal(f("%DURATION% %RESPONSE_FLAGS% %RESPONSE_CODE%"), "42 UH,UO 503");
  assert.equal(f("%REQ(X-MISSING?USER-AGENT)% %REQ(:PATH):4% %REQ_WITHOUT_QUERY(:PATH)% %RESP(X-R)% %RESP(:STATUS)%"), "ua/1 /a/b /a/b rv 503");
  assert.equal(f("%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT% %DOWNSTREAM_REMOTE_PORT% %DOWNSTREAM_LOCAL_PORT% %CONNECTION_ID%"), "10.0.0.1 5555 8080 17");
  assert.equal(f("%DOWNSTREAM_PEER_SUBJECT% %UPSTREAM_LOCAL_ADDRESS% 100%%"), "- - 100%");
  setLocalReplyBody("oops");
  assert.equal(f("[%LOCAL_REPLY_BODY%]"), "[oops]");
  setLocalReplyBody("");
});

test("json format: typed single operators, null for absent, nested objects and literals", () => {
  const line = compileJsonFormat({ code: "%RESPONSE_CODE%", d: "%DURATION%", ua: "%REQ(USER-AGENT)%", none: "%REQ(X-NONE)%", mix: "%RESPONSE_CODE%-%REQ(X-NONE)%", n: { id: "%CONNECTION_ID%" }, lit: true })(info(), req, null);
  assert.ok(line.endsWith("\n"));
  assert.deepEqual(JSON.parse(line), { code: 503, d: 42, ua: "ua/1", none: null, mix: "503--", n: { id: 17 }, lit: true });
});

test("validateFormat names unsupported operators and bad parametrized ones", () => {
  assert.deepEqual(validateFormat("%PROTOCOL% %REQ(:PATH)% %START_TIME(%s)% %%NOT_OP%%"), []);
  assert.deepEqual(validateFormat("%BOGUS% %REQ()% %RESP% %PROTOCOL(x)%"), ["%BOGUS%", "%REQ()%", "%RESP%", "%PROTOCOL(x)%"]);
});

test("response flag names and bits round-trip", () => {
  assert.ok(RESPONSE_FLAG_NAMES.includes("UH") && RESPONSE_FLAG_NAMES.includes("DPE"));
  assert.equal(responseFlagBits(["UH", "NR"]), ResponseFlag.NoHealthyUpstream | ResponseFlag.NoRouteFound);
});

test("omit_empty_values: '-' becomes '' in text, null keys are dropped in JSON; RESPONSE_FLAGS_LONG", () => {
  assert.equal(compileFormat("[%REQ(X-NONE)%] [%UPSTREAM_HOST%] %RESPONSE_CODE%", true)(info(), req, null), "[] [] 503");
  assert.deepEqual(JSON.parse(compileJsonFormat({ a: "%REQ(X-NONE)%", b: "%RESPONSE_CODE%" }, true)(info(), req, null)), { b: 503 });
  assert.equal(compileFormat("%RESPONSE_FLAGS_LONG%")(info(), null, null), "NoHealthyUpstream,UpstreamOverflow");
});
