/**
 * Key normalisation: message fields go to snake_case, but the keys of name-keyed maps (RBAC
 * policy names, per-filter config names) are names, kept as written.
 */
import assert from "node:assert/strict";
import { test } from "../../tests/harness.ts";
import type { ConfigIssue } from "../core/errors.ts";
import { loadBootstrap } from "./load.ts";
import { normalizeKeys } from "./keys.ts";
import type { NetworkRbacModel } from "../filters/network/rbac/config.ts";

test("normalizeKeys: RBAC policy names are kept (camelCase too), the policies inside are normalised", () => {
  const issues: ConfigIssue[] = [];
  const out = normalizeKeys({
    rules: { policies: { allowLocalHosts: { permissions: [{ destinationPort: 80 }], principals: [{ any: true }] } } },
    shadowRules: { policies: { shadowPolicyOne: { permissions: [{ any: true }], principals: [{ any: true }] } } },
  }, issues);
  assert.deepEqual(issues, []);
  assert.deepEqual(out, {
    rules: { policies: { allowLocalHosts: { permissions: [{ destination_port: 80 }], principals: [{ any: true }] } } },
    shadow_rules: { policies: { shadowPolicyOne: { permissions: [{ any: true }], principals: [{ any: true }] } } },
  });
});

test("network rbac from config: a camelCase policy name survives into the model", () => {
  const b = {
    staticResources: {
      listeners: [{
        name: "l",
        address: { socketAddress: { address: "127.0.0.1", portValue: 10000 } },
        filterChains: [{
          filters: [
            {
              name: "envoy.filters.network.rbac",
              typedConfig: {
                "@type": "type.googleapis.com/envoy.extensions.filters.network.rbac.v3.RBAC",
                statPrefix: "t.",
                rules: { action: "ALLOW", policies: { allowLocalHosts: { permissions: [{ destinationPort: 80 }], principals: [{ any: true }] } } },
              },
            },
            { name: "envoy.filters.network.tcp_proxy", typedConfig: { "@type": "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy", statPrefix: "s", cluster: "c" } },
          ],
        }],
      }],
      clusters: [{ name: "c", loadAssignment: { clusterName: "c", endpoints: [] } }],
    },
  };
  const m = loadBootstrap({ text: JSON.stringify(b), sourceName: "x.json" });
  const rbac = m.listeners[0]!.filterChains[0]!.filters[0]!.config as NetworkRbacModel;
  assert.deepEqual(rbac.rules!.policies.map((p) => p.name), ["allowLocalHosts"]);
});
