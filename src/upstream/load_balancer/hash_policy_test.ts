import assert from "node:assert/strict";
import { test } from "../../../tests/harness.ts";
import { clusterModelDefaults } from "../../config/cluster.ts";
import { Host } from "../host.ts";
import { computeHash, type HashInput, type HashPolicyModel } from "./hash_policy.ts";
import { createLoadBalancer } from "./load_balancer.ts";
import { seededRandom } from "./prng.ts";

function req(headers: Record<string, string>, path = "/", sourceIp = "192.0.2.7"): HashInput {
  return { header: (n) => headers[n], path, sourceIp };
}

test("hash policy: header, query parameter, source IP; absent inputs give no hash", () => {
  const byHeader: HashPolicyModel[] = [{ kind: "header", name: "x-user", terminal: false }];
  const a = computeHash(byHeader, req({ "x-user": "alice" })).hashKey;
  assert.equal(computeHash(byHeader, req({ "x-user": "alice" })).hashKey, a);
  assert.notEqual(computeHash(byHeader, req({ "x-user": "bob" })).hashKey, a);
  assert.equal(computeHash(byHeader, req({})).hashKey, undefined);
  const q: HashPolicyModel[] = [{ kind: "query_parameter", name: "u", terminal: false }];
  assert.equal(computeHash(q, req({}, "/p?x=1&u=alice")).hashKey, computeHash(q, req({}, "/other?u=alice")).hashKey);
  assert.equal(computeHash(q, req({}, "/p?x=1")).hashKey, undefined);
  const ip: HashPolicyModel[] = [{ kind: "source_ip", terminal: false }];
  assert.notEqual(computeHash(ip, req({}, "/", "10.0.0.1")).hashKey, computeHash(ip, req({}, "/", "10.0.0.2")).hashKey);
});

test("hash policy: terminal stops after the first policy that hashed; others combine", () => {
  const h = (terminal: boolean): HashPolicyModel[] => [
    { kind: "header", name: "x-a", terminal },
    { kind: "header", name: "x-b", terminal: false },
  ];
  const both = req({ "x-a": "1", "x-b": "2" });
  const onlyA = req({ "x-a": "1", "x-b": "3" });
  assert.equal(computeHash(h(true), both).hashKey, computeHash(h(true), onlyA).hashKey, "x-b ignored after a terminal hit");
  assert.notEqual(computeHash(h(false), both).hashKey, computeHash(h(false), onlyA).hashKey);
  // A terminal policy that did not apply does not stop the list.
  assert.notEqual(computeHash(h(true), req({ "x-b": "2" })).hashKey, undefined);
});

test("hash policy: cookie; with ttl a missing cookie is generated and set", () => {
  const p: HashPolicyModel[] = [{ kind: "cookie", name: "sticky", ttlMs: 3_600_000, path: "/", terminal: false }];
  const first = computeHash(p, req({}));
  assert.match(first.setCookie!, /^sticky="[0-9a-f]{16}"; Max-Age=3600; Path=\/; HttpOnly$/);
  const value = /"(.*)"/.exec(first.setCookie!)![1]!;
  const again = computeHash(p, req({ cookie: `a=b; sticky="${value}"` }));
  assert.equal(again.setCookie, undefined);
  assert.equal(again.hashKey, first.hashKey, "the generated cookie maps to the same host");
  const noTtl: HashPolicyModel[] = [{ kind: "cookie", name: "sticky", ttlMs: undefined, path: "", terminal: false }];
  assert.deepEqual(computeHash(noTtl, req({})), { hashKey: undefined, setCookie: undefined });
});

test("hash policy + MAGLEV: the same user sticks to one host", () => {
  const hosts = [1, 2, 3].map((i) => new Host(`10.0.0.${i}`, 80, 1));
  const lb = createLoadBalancer(hosts, { ...clusterModelDefaults(), lbPolicy: "MAGLEV" }, seededRandom(1));
  const p: HashPolicyModel[] = [{ kind: "header", name: "x-user", terminal: false }];
  const users = Array.from({ length: 300 }, (_, i) => `user${i}`);
  const hostOf = (u: string) => lb.chooseHost({ hashKey: computeHash(p, req({ "x-user": u })).hashKey })!.address;
  const first = users.map(hostOf);
  assert.deepEqual(users.map(hostOf), first);
  assert.equal(new Set(first).size, 3, "users spread over every host");
});
