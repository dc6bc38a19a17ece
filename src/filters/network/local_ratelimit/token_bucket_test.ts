/**
 * The shared token bucket (starts full, lazy refills per period, cap, two views of one buffer
 * sharing the tokens) and the network local_ratelimit config.
 */
import assert from "node:assert/strict";
import { test } from "../../../../tests/harness.ts";
import { loadNetworkFilters } from "../../../../tests/helpers/network_filter_config.ts";
import type { NetworkLocalRateLimitModel } from "./config.ts";
import { allocateTokenBucket, SharedTokenBucket } from "./token_bucket.ts";

test("token bucket: starts full, refills per period up to the cap", () => {
  let now = 1_700_000_000_123;
  const buf = allocateTokenBucket(3);
  const b = new SharedTokenBucket(buf, 3, 2, 1000, () => now);
  assert.equal(b.consume(), true);
  assert.equal(b.consume(), true);
  assert.equal(b.consume(), true);
  assert.equal(b.consume(), false, "empty");
  now += 500;
  assert.equal(b.consume(), b.remaining() > 0 || now % 1000 < 500, "no refill inside the same period");
  now = Math.ceil(now / 1000) * 1000 + 1; // the next period
  assert.equal(b.remaining(), 2, "tokens_per_fill added");
  now += 10 * 1000;
  assert.equal(b.remaining(), 3, "capped at max_tokens");
  // A second view of the same buffer (another worker) shares the tokens.
  const other = new SharedTokenBucket(buf, 3, 2, 1000, () => now);
  assert.equal(other.consume(), true);
  assert.equal(other.consume(), true);
  assert.equal(b.consume(), true);
  assert.equal(b.consume(), false);
  assert.equal(other.consume(), false);
});

test("token bucket: a clock slightly behind does not refill or break the bucket", () => {
  let now = 5_000_000;
  const buf = allocateTokenBucket(1);
  const ahead = new SharedTokenBucket(buf, 1, 1, 100, () => now);
  const behind = new SharedTokenBucket(buf, 1, 1, 100, () => now - 150);
  assert.equal(ahead.consume(), true);
  assert.equal(behind.consume(), false);
  now += 100;
  assert.equal(behind.consume(), false, "the lagging view sees an older period: no refill");
  assert.equal(ahead.consume(), true);
});

type Json = Record<string, any>; // deno-lint-ignore no-explicit-any
const LRL = "type.googleapis.com/envoy.extensions.filters.network.local_ratelimit.v3.LocalRateLimit";
const TC = "static_resources.listeners[0].filter_chains[0].filters[0].typed_config";

function load(filters: Json[]): NetworkLocalRateLimitModel[] | string[] {
  return loadNetworkFilters<NetworkLocalRateLimitModel>(
    filters.map((f) => ({ name: "envoy.filters.network.local_ratelimit", typed_config: { "@type": LRL, stat_prefix: "lr", ...f } })),
  );
}

test("network local_ratelimit config: model, share_key, errors", () => {
  const tb = { max_tokens: 5, tokens_per_fill: 2, fill_interval: "0.5s" };
  const [m] = load([{ token_bucket: tb }]) as NetworkLocalRateLimitModel[];
  assert.equal(m!.statPrefix, "lr");
  assert.equal(m!.maxTokens, 5);
  assert.equal(m!.tokensPerFill, 2);
  assert.equal(m!.fillIntervalMs, 500);
  assert.equal(m!.enabled, true);
  assert.equal(new Int32Array(m!.bucket)[0], 5, "the bucket starts full");
  const [d] = load([{ token_bucket: { max_tokens: 1, fill_interval: "1s" }, runtime_enabled: { default_value: false, runtime_key: "k" } }]) as NetworkLocalRateLimitModel[];
  assert.equal(d!.tokensPerFill, 1);
  assert.equal(d!.enabled, false);
  // share_key: same key and bucket → one bucket; different bucket settings → another.
  const shared = load([{ token_bucket: tb, share_key: "k" }, { token_bucket: tb, share_key: "k" }, { token_bucket: { ...tb, max_tokens: 6 }, share_key: "k" }, { token_bucket: tb }]) as NetworkLocalRateLimitModel[];
  assert.equal(shared[0]!.bucket, shared[1]!.bucket);
  assert.notEqual(shared[0]!.bucket, shared[2]!.bucket);
  assert.notEqual(shared[0]!.bucket, shared[3]!.bucket);

  const TC1 = TC;
  assert.deepEqual(load([{}]), [`${TC1}.token_bucket: is required`]);
  assert.deepEqual(load([{ token_bucket: { ...tb, fill_interval: "0.02s" } }]), [`${TC1}.token_bucket.fill_interval: must be at least 50ms, got 20ms`]);
  assert.deepEqual(load([{ token_bucket: { ...tb, max_tokens: 0 } }]), [`${TC1}.token_bucket.max_tokens: must be at least 1, got 0`]);
  assert.deepEqual(load([{ token_bucket: { max_tokens: 1 } }]), [`${TC1}.token_bucket.fill_interval: is required`]);
  assert.deepEqual(load([{ token_bucket: tb, bogus: 1 }]), [`${TC1}: unknown field "bogus"`]);
  assert.deepEqual(load([{ token_bucket: tb, runtime_enabled: { default_value: true } }]), [`${TC1}.runtime_enabled.runtime_key: is required`]);
});
