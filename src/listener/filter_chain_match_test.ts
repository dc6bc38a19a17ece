/**
 * Filter-chain match: Envoy's step order, most specific wins per step, no backtracking, the
 * default chain, and duplicate detection.
 */
import assert from "node:assert/strict";
import { test } from "../../tests/harness.ts";
import type { FilterChainMatchModel } from "../config/model.ts";
import { DuplicateFilterChainMatch, type FilterChainMatchInput, FilterChainMatcher, normalizeCidr } from "./filter_chain_match.ts";

const EMPTY: FilterChainMatchModel = {
  destinationPort: 0,
  prefixRanges: [],
  serverNames: [],
  transportProtocol: "",
  applicationProtocols: [],
  directSourcePrefixRanges: [],
  sourceType: "ANY",
  sourcePrefixRanges: [],
  sourcePorts: [],
};

const cidr = (s: string) => {
  const [a, l] = s.split("/");
  const r = normalizeCidr(a!, Number(l));
  if (typeof r === "string") throw new Error(r);
  return r;
};

function m(over: Partial<FilterChainMatchModel>): FilterChainMatchModel {
  return { ...EMPTY, ...over };
}

function input(over: Partial<FilterChainMatchInput> = {}): FilterChainMatchInput {
  return {
    localAddress: "10.0.0.1",
    localPort: 443,
    remoteAddress: "192.168.1.5",
    remotePort: 40000,
    directRemoteAddress: over.remoteAddress ?? "192.168.1.5",
    serverName: "",
    transportProtocol: "raw_buffer",
    applicationProtocols: [],
    ...over,
  };
}

function matcher(chains: Record<string, FilterChainMatchModel | undefined>, dflt?: string): FilterChainMatcher<string> {
  return new FilterChainMatcher(Object.entries(chains).map(([value, match]) => ({ value, ...(match ? { match } : {}) })), dflt);
}

test("filter chain match: a lone unconstrained chain matches everything", () => {
  const fm = matcher({ only: undefined });
  assert.equal(fm.match(input()), "only");
  assert.equal(fm.match(input({ remoteAddress: "::1", localAddress: "::1" })), "only");
});

test("filter chain match: destination port, exact over none", () => {
  const fm = matcher({ p443: m({ destinationPort: 443 }), any: undefined });
  assert.equal(fm.match(input()), "p443");
  assert.equal(fm.match(input({ localPort: 80 })), "any");
});

test("filter chain match: destination IP, longest prefix wins; IPv6 too", () => {
  const fm = matcher({
    wide: m({ prefixRanges: [cidr("10.0.0.0/8")] }),
    narrow: m({ prefixRanges: [cidr("10.0.0.0/24")] }),
    v6: m({ prefixRanges: [cidr("2001:db8::/32")] }),
    none: undefined,
  });
  assert.equal(fm.match(input()), "narrow");
  assert.equal(fm.match(input({ localAddress: "10.9.9.9" })), "wide");
  assert.equal(fm.match(input({ localAddress: "11.0.0.1" })), "none");
  assert.equal(fm.match(input({ localAddress: "2001:db8:0:1::5" })), "v6");
  assert.equal(fm.match(input({ localAddress: "2001:db9::1" })), "none");
});

test("filter chain match: server names exact, then the longest wildcard, then none", () => {
  const fm = matcher({
    exact: m({ serverNames: ["www.example.com"] }),
    star: m({ serverNames: ["*.example.com"] }),
    tld: m({ serverNames: ["*.com"] }),
    none: undefined,
  });
  assert.equal(fm.match(input({ serverName: "www.example.com" })), "exact");
  assert.equal(fm.match(input({ serverName: "api.example.com" })), "star");
  assert.equal(fm.match(input({ serverName: "a.b.example.com" })), "star");
  assert.equal(fm.match(input({ serverName: "example.com" })), "tld");
  assert.equal(fm.match(input({ serverName: "example.org" })), "none");
  // No SNI (plaintext; no TLS inspector yet): only chains without server_names.
  assert.equal(fm.match(input()), "none");
});

test("filter chain match: transport protocol and ALPN", () => {
  const fm = matcher({ tls: m({ transportProtocol: "tls" }), raw: m({ transportProtocol: "raw_buffer" }) });
  assert.equal(fm.match(input()), "raw");
  assert.equal(fm.match(input({ transportProtocol: "tls" })), "tls");
  const alpn = matcher({ h2: m({ applicationProtocols: ["h2"] }), other: undefined });
  assert.equal(alpn.match(input({ applicationProtocols: ["h2", "http/1.1"] })), "h2");
  assert.equal(alpn.match(input({ applicationProtocols: ["http/1.1"] })), "other");
  assert.equal(alpn.match(input()), "other");
});

test("filter chain match: source type, direct source, source IP, source port", () => {
  const st = matcher({ local: m({ sourceType: "SAME_IP_OR_LOOPBACK" }), ext: m({ sourceType: "EXTERNAL" }) });
  assert.equal(st.match(input({ remoteAddress: "127.0.0.9" })), "local");
  assert.equal(st.match(input({ remoteAddress: "10.0.0.1" })), "local", "same IP as the destination");
  assert.equal(st.match(input({ remoteAddress: "::1", localAddress: "::1" })), "local");
  assert.equal(st.match(input()), "ext");
  const src = matcher({
    net: m({ sourcePrefixRanges: [cidr("192.168.0.0/16")] }),
    host: m({ sourcePrefixRanges: [cidr("192.168.1.5/32")], sourcePorts: [40000] }),
    any: undefined,
  });
  assert.equal(src.match(input()), "host");
  assert.equal(src.match(input({ remoteAddress: "192.168.7.7" })), "net");
  // No backtracking: the /32 wins the source-IP step, then its port does not match → no chain.
  assert.equal(src.match(input({ remotePort: 1 })), undefined);
  const direct = matcher({ d: m({ directSourcePrefixRanges: [cidr("172.16.0.0/12")] }), any: undefined });
  assert.equal(direct.match(input({ remoteAddress: "1.1.1.1", directRemoteAddress: "172.16.3.3" })), "d");
  assert.equal(direct.match(input()), "any");
});

test("filter chain match: steps go in Envoy's order without backtracking; the default chain catches misses", () => {
  // Port is decided before source: the port-443 chain wins step 1, then fails on source IP.
  const chains = {
    port: m({ destinationPort: 443, sourcePrefixRanges: [cidr("1.2.3.4/32")] }),
    src: m({ sourcePrefixRanges: [cidr("192.168.0.0/16")] }),
  };
  assert.equal(matcher(chains).match(input()), undefined);
  assert.equal(matcher(chains, "default").match(input()), "default");
  assert.equal(matcher(chains).match(input({ localPort: 80 })), "src");
});

test("filter chain match: overlapping rules are refused, naming both chains", () => {
  assert.throws(() => matcher({ a: undefined, b: undefined }), (e: unknown) => e instanceof DuplicateFilterChainMatch && e.first === 0 && e.second === 1);
  assert.throws(() => matcher({ a: m({ serverNames: ["x.com", "y.com"] }), b: m({ serverNames: ["y.com"] }) }), DuplicateFilterChainMatch);
  // 10.0.0.1/8 and 10.0.0.0/8 are the same range once masked.
  assert.throws(() => matcher({ a: m({ prefixRanges: [cidr("10.0.0.1/8")] }), b: m({ prefixRanges: [cidr("10.0.0.0/8")] }) }), DuplicateFilterChainMatch);
  // Different specificity is fine.
  matcher({ a: m({ serverNames: ["x.com"] }), b: m({ serverNames: ["*.x.com"] }), c: undefined });
});

test("filter chain match: CIDR normalisation and errors", () => {
  assert.deepEqual(normalizeCidr("10.1.2.3", 16), { addressPrefix: "10.1.0.0", prefixLen: 16 });
  assert.deepEqual(normalizeCidr("2001:db8::1", 32), { addressPrefix: "2001:db8:0:0:0:0:0:0", prefixLen: 32 });
  assert.match(normalizeCidr("10.0.0.0", 33) as string, /at most 32/);
  assert.match(normalizeCidr("example.com", 8) as string, /malformed IP address/);
});
