import assert from "node:assert/strict";
import { test } from "../../tests/harness.ts";
import { AggregateStats, formatHistogram, quantile, RemoteStats, StatSlab, StatsStore } from "./stats.ts";

test("stats: a worker's slab is summed by the main thread without messages per update", () => {
  const main = new StatsStore();
  main.counter("a").inc(2);
  const sent: string[] = [];
  const slab = StatSlab.create(1024, true);
  const worker = new StatsStore(slab, (ds) => sent.push(...ds.map((d) => d.name)));
  const remote = new RemoteStats(slab);
  const agg = new AggregateStats(main, () => [remote]);
  const c = worker.counter("a");
  const g = worker.gauge("g");
  worker.flushNew();
  remote.add(worker.descriptors());
  assert.deepEqual(sent, ["a", "g"]);
  for (let i = 0; i < 5; i++) c.inc();
  g.inc(3);
  assert.equal(agg.value("a"), 7, "main 2 + worker 5");
  assert.equal(agg.value("g"), 3);
  remote.zeroGauges();
  assert.equal(agg.value("g"), 0, "a dead worker's gauges are zeroed");
  agg.resetCounters();
  assert.equal(agg.value("a"), 0);
});

test("stats: a restarted worker adopts its slots and keeps counting where it left off", () => {
  const slab = StatSlab.create(1024, true);
  const first = new StatsStore(slab);
  first.counter("x").inc(4);
  first.histogram("h").record(3);
  const second = new StatsStore(slab);
  second.adopt(first.descriptors());
  second.counter("x").inc();
  second.counter("y").inc();
  assert.equal(second.counter("x").value, 5);
  assert.equal(second.histograms().get("h")!.count, 1);
  assert.notEqual(second.counter("y").slot, second.counter("x").slot);
});

test("stats: histograms merge across threads and give interpolated quantiles", () => {
  const a = new StatsStore(StatSlab.create(1024, true));
  const slab = StatSlab.create(1024, true);
  const b = new StatsStore(slab);
  for (let i = 0; i < 90; i++) a.histogram("t").record(3); // bucket (1,5]
  for (let i = 0; i < 10; i++) b.histogram("t").record(400); // bucket (250,500]
  const remote = new RemoteStats(slab);
  remote.add(b.descriptors());
  const h = new AggregateStats(a, () => [remote]).histograms().get("t")!;
  assert.equal(h.count, 100);
  assert.equal(h.sum, 90 * 3 + 10 * 400);
  const p50 = quantile(h, 0.5);
  assert.ok(p50 > 1 && p50 <= 5, `p50 ${p50}`);
  const p99 = quantile(h, 0.99);
  assert.ok(p99 > 250 && p99 <= 500, `p99 ${p99}`);
  assert.match(formatHistogram(h), /^P0\(nan,[\d.]+\) P25\(nan,[\d.]+\) P50/);
  assert.ok(Number.isNaN(quantile({ count: 0, sum: 0, buckets: [] }, 0.5)));
});
