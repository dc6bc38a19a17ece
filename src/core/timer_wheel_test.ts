import assert from "node:assert/strict";
import { test } from "../../tests/harness.ts";
import { FakeClock } from "./clock.ts";
import { TimerWheel, WheelTimer } from "./timer_wheel.ts";

function recorder() {
  const fired: [number, number][] = [];
  return { fired, target: { onTimer: (kind: number) => void fired.push([kind, -1]) } };
}

test("timer wheel fires at (not before) the deadline, within one step", () => {
  const clock = new FakeClock();
  const wheel = new TimerWheel(clock, 10, 64);
  const fired: number[] = [];
  const t = new WheelTimer({ onTimer: () => void fired.push(clock.now()) }, 1);
  wheel.arm(t, 95);
  clock.advance(90);
  assert.deepEqual(fired, []);
  clock.advance(20);
  assert.equal(fired.length, 1);
  assert.ok(fired[0]! >= 95 && fired[0]! <= 110, `fired at ${fired[0]}`);
  assert.equal(wheel.size, 0);
  assert.equal(clock.pending, 0, "driver timer stops when the wheel is empty");
});

test("timer wheel: disarm cancels, re-arm moves, long delays wrap the wheel", () => {
  const clock = new FakeClock();
  const wheel = new TimerWheel(clock, 10, 8); // one turn = 80 ms
  const r = recorder();
  const a = new WheelTimer(r.target, 1);
  const b = new WheelTimer(r.target, 2);
  const c = new WheelTimer(r.target, 3);
  wheel.arm(a, 30);
  wheel.arm(b, 30);
  wheel.arm(c, 500); // several turns
  wheel.disarm(a);
  wheel.arm(b, 200); // moved later
  clock.advance(100);
  assert.deepEqual(r.fired, []);
  clock.advance(110);
  assert.deepEqual(r.fired.map((x) => x[0]), [2]);
  clock.advance(300);
  assert.deepEqual(r.fired.map((x) => x[0]), [2, 3]);
  assert.equal(wheel.size, 0);
});

test("timer wheel: a callback may arm timers, including itself", () => {
  const clock = new FakeClock();
  const wheel = new TimerWheel(clock, 10, 16);
  let n = 0;
  const t: WheelTimer = new WheelTimer({
    onTimer: () => {
      n++;
      if (n < 3) wheel.arm(t, 10);
    },
  }, 0);
  wheel.arm(t, 10);
  clock.advance(1000);
  assert.equal(n, 3);
  assert.equal(wheel.size, 0);
});
