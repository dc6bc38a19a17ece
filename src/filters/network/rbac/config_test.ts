/**
 * Network RBAC: config model and refusals with their paths, and the compiled engine's decisions
 * (IPs, ports, SNI matchers, and/or/not, ALLOW vs DENY).
 */
import assert from "node:assert/strict";
import { test } from "../../../../tests/harness.ts";
import { loadNetworkFilter } from "../../../../tests/helpers/network_filter_config.ts";
import type { NetworkRbacModel } from "./config.ts";
import { RbacEngine, RbacInput } from "./engine.ts";

type Json = Record<string, any>; // deno-lint-ignore no-explicit-any
const RBAC = "type.googleapis.com/envoy.extensions.filters.network.rbac.v3.RBAC";
const TC = "static_resources.listeners[0].filter_chains[0].filters[0].typed_config";

function load(rbac: Json): NetworkRbacModel | string[] {
  return loadNetworkFilter<NetworkRbacModel>("envoy.filters.network.rbac", { "@type": RBAC, stat_prefix: "t.", ...rbac });
}

function policy(permissions: Json[], principals: Json[] = [{ any: true }]): Json {
  return { permissions, principals };
}

test("network rbac config: the model, defaults, source_ip as direct_remote_ip", () => {
  const m = load({
    rules: {
      action: "DENY",
      policies: {
        b: policy([{ destination_port: 80 }], [{ source_ip: { address_prefix: "10.1.2.3", prefix_len: 16 } }]),
        a: policy([{ and_rules: { rules: [{ requested_server_name: { suffix: ".Example.com", ignore_case: true } }, { not_rule: { destination_port_range: { start: 1, end: 1024 } } }] } }]),
      },
    },
    shadow_rules: { policies: {} },
    shadow_rules_stat_prefix: "sh.",
  }) as NetworkRbacModel;
  assert.equal(m.statPrefix, "t.");
  assert.equal(m.enforcementType, "ONE_TIME_ON_FIRST_BYTE");
  assert.equal(m.shadowRulesStatPrefix, "sh.");
  assert.equal(m.rules!.action, "DENY");
  assert.deepEqual(m.rules!.policies.map((p) => p.name), ["a", "b"], "policies in name order");
  assert.deepEqual(m.rules!.policies[1]!.principals, [{ kind: "direct_remote_ip", cidr: { addressPrefix: "10.1.0.0", prefixLen: 16 } }]);
  assert.deepEqual(m.rules!.policies[0]!.permissions[0], {
    kind: "and",
    rules: [
      { kind: "requested_server_name", matcher: { kind: "suffix", value: ".example.com", ignoreCase: true } },
      { kind: "not", rule: { kind: "destination_port_range", start: 1, end: 1024 } },
    ],
  });
  assert.deepEqual(m.shadowRules, { action: "ALLOW", policies: [] });
  // No rules at all is valid (everything passes, as in Envoy).
  assert.equal((load({}) as NetworkRbacModel).rules, undefined);
  assert.equal((load({ enforcement_type: "CONTINUOUS" }) as NetworkRbacModel).enforcementType, "CONTINUOUS");
});

test("network rbac config: unsupported permissions and principals are refused with their paths", () => {
  const P = `${TC}.rules.policies.p1`;
  assert.deepEqual(load({ rules: { policies: { p1: policy([{ header: { name: "x", exact_match: "y" } }]) } } }), [`${P}.permissions[0].header: is not supported yet`]);
  assert.deepEqual(load({ rules: { policies: { p1: policy([{ url_path: {} }]) } } }), [`${P}.permissions[0].url_path: is not supported yet`]);
  assert.deepEqual(load({ rules: { policies: { p1: policy([{ metadata: {} }]) } } }), [`${P}.permissions[0].metadata: is not supported yet`]);
  assert.deepEqual(load({ rules: { policies: { p1: policy([{ any: true }], [{ authenticated: { principal_name: { exact: "x" } } }]) } } }), [
    `${P}.principals[0].authenticated: is not supported yet`,
  ]);
  assert.deepEqual(load({ rules: { policies: { p1: policy([{ any: true }], [{ filter_state: {} }]) } } }), [`${P}.principals[0].filter_state: is not supported yet`]);
  assert.deepEqual(load({ rules: { policies: { p1: policy([{ or_rules: { rules: [{ any: true }, { not_rule: { header: {} } }] } }]) } } }), [
    `${P}.permissions[0].or_rules.rules[1].not_rule.header: is not supported yet`,
  ]);
  assert.deepEqual(load({ rules: { policies: { p1: { ...policy([{ any: true }]), condition: {} } } } }), [`${P}.condition: is not supported yet`]);
  assert.deepEqual(load({ rules: { action: "LOG", policies: {} } }), [`${TC}.rules.action: LOG is not supported yet`]);
  assert.deepEqual(load({ rules: { audit_logging_options: {} } }), [`${TC}.rules.audit_logging_options: is not supported yet`]);
  assert.deepEqual(load({ matcher: {} }), [`${TC}.matcher: is not supported yet`]);
});

test("network rbac config: malformed values", () => {
  const P = `${TC}.rules.policies.p`;
  assert.deepEqual(load({ stat_prefix: "" }), [`${TC}.stat_prefix: must not be empty`]);
  assert.deepEqual(load({ rules: { policies: { p: policy([]) } } }), [`${P}.permissions: must have at least one permission`]);
  assert.deepEqual(load({ rules: { policies: { p: policy([{}]) } } }), [
    `${P}.permissions[0]: one of any, and_rules, or_rules, not_rule, destination_ip, destination_port, destination_port_range, requested_server_name is required`,
  ]);
  assert.deepEqual(load({ rules: { policies: { p: policy([{ any: true, destination_port: 1 }]) } } }), [`${P}.permissions[0]: only one of any, destination_port may be set`]);
  assert.deepEqual(load({ rules: { policies: { p: policy([{ any: false }]) } } }), [`${P}.permissions[0].any: must be true, got false`]);
  assert.deepEqual(load({ rules: { policies: { p: policy([{ destination_port: 70000 }]) } } }), [`${P}.permissions[0].destination_port: must be between 0 and 65535, got 70000`]);
  assert.deepEqual(load({ rules: { policies: { p: policy([{ destination_ip: { address_prefix: "nope" } }]) } } }), [
    `${P}.permissions[0].destination_ip.address_prefix: malformed IP address: "nope"`,
  ]);
  assert.deepEqual(load({ rules: { policies: { p: policy([{ any: true }], [{ remote_ip: { address_prefix: "10.0.0.0", prefix_len: 33 } }]) } } }), [
    `${P}.principals[0].remote_ip.prefix_len: prefix_len must be at most 32 for "10.0.0.0", got 33`,
  ]);
  assert.deepEqual(load({ rules: { policies: { p: policy([{ destination_port_range: { start: 10, end: 5 } }]) } } }), [
    `${P}.permissions[0].destination_port_range: invalid port range [10, 5): start and end must be within 0..65536 and start must not exceed end`,
  ]);
  assert.deepEqual(load({ rules: { policies: { p: policy([{ and_rules: { rules: [] } }]) } } }), [`${P}.permissions[0].and_rules.rules: must have at least one item`]);
  // RE2 safety: a pattern JavaScript would read differently (a backreference) is refused.
  const bad = load({ rules: { policies: { p: policy([{ requested_server_name: { safe_regex: { regex: "(a)\\1" } } }]) } } }) as string[];
  assert.equal(bad.length, 1);
  assert.ok(bad[0]!.startsWith(`${P}.permissions[0].requested_server_name.safe_regex.regex: `), bad[0]);
  assert.deepEqual(load({ enforcement_type: "SOMETIMES" }), [`${TC}.enforcement_type: unknown value "SOMETIMES" (accepted: ONE_TIME_ON_FIRST_BYTE, CONTINUOUS)`]);
});

function engine(rbac: Json): RbacEngine {
  const m = load({ rules: rbac });
  assert.ok(!Array.isArray(m), String(m));
  return new RbacEngine((m as NetworkRbacModel).rules!);
}

const conn = (o: { local?: string; port?: number; remote?: string; direct?: string; sni?: string } = {}) =>
  new RbacInput(o.local ?? "127.0.0.1", o.port ?? 8080, o.remote ?? "10.0.0.5", o.direct ?? o.remote ?? "10.0.0.5", o.sni ?? "");

test("network rbac engine: ALLOW and DENY over IPs, ports and SNI", () => {
  const allow = engine({
    action: "ALLOW",
    policies: {
      internal: policy([{ destination_port: 8080 }, { destination_port_range: { start: 9000, end: 9010 } }], [{ remote_ip: { address_prefix: "10.0.0.0", prefix_len: 8 } }]),
      v6: policy([{ destination_ip: { address_prefix: "::1", prefix_len: 128 } }], [{ any: true }]),
    },
  });
  assert.equal(allow.allowed(conn()), true);
  assert.equal(allow.matchedPolicy, "internal");
  assert.equal(allow.allowed(conn({ port: 9009 })), true);
  assert.equal(allow.allowed(conn({ port: 9010 })), false, "the range's end is exclusive");
  assert.equal(allow.allowed(conn({ remote: "11.0.0.5" })), false);
  assert.equal(allow.allowed(conn({ remote: "::ffff:10.0.0.5" })), false, "an IPv6 address never matches an IPv4 range");
  assert.equal(allow.allowed(conn({ local: "::1", port: 1, remote: "::2" })), true);
  assert.equal(allow.matchedPolicy, "v6");

  const deny = engine({ action: "DENY", policies: { bad: policy([{ requested_server_name: { exact: "evil.example.com" } }], [{ not_id: { direct_remote_ip: { address_prefix: "127.0.0.1", prefix_len: 32 } } }]) } });
  assert.equal(deny.allowed(conn({ sni: "evil.example.com" })), false);
  assert.equal(deny.allowed(conn({ sni: "Evil.example.com" })), true, "exact is case-sensitive without ignore_case");
  assert.equal(deny.allowed(conn({ sni: "evil.example.com", remote: "127.0.0.1" })), true, "not_id excludes the loopback peer");
  assert.equal(deny.allowed(conn({ sni: "evil.example.com", remote: "10.9.9.9", direct: "127.0.0.1" })), true, "direct_remote_ip reads the direct peer");
  assert.equal(deny.allowed(conn()), true);
  // Empty policies: ALLOW refuses everything, DENY lets everything through.
  assert.equal(engine({ action: "ALLOW", policies: {} }).allowed(conn()), false);
  assert.equal(engine({ action: "DENY" }).allowed(conn()), true);
});

test("network rbac engine: and/or/not combinations and string matchers", () => {
  const e = engine({
    policies: {
      p: policy(
        [{
          and_rules: {
            rules: [
              { or_rules: { rules: [{ requested_server_name: { prefix: "api." } }, { requested_server_name: { safe_regex: { regex: "w[0-9]+\\.example\\.org" } } }] } },
              { not_rule: { requested_server_name: { contains: "internal" } } },
            ],
          },
        }],
        [{ and_ids: { ids: [{ remote_ip: { address_prefix: "192.168.0.0", prefix_len: 16 } }, { not_id: { remote_ip: { address_prefix: "192.168.1.0", prefix_len: 24 } } }] } }],
      ),
    },
  });
  const from = (sni: string, remote = "192.168.2.1") => e.allowed(conn({ sni, remote }));
  assert.equal(from("api.example.com"), true);
  assert.equal(from("w12.example.org"), true);
  assert.equal(from("w12.example.org.evil"), false, "safe_regex matches the whole name");
  assert.equal(from("api.internal.example.com"), false);
  assert.equal(from(""), false);
  assert.equal(from("api.example.com", "192.168.1.7"), false);
  assert.equal(from("api.example.com", "192.169.0.1"), false);
});
