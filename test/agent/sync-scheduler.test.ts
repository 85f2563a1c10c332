import { suite } from "uvu";
import * as assert from "uvu/assert";
import { SyncScheduler, type Timers } from "../../runtime/agent/sync-scheduler.ts";

const test = suite("sync scheduler");

/** A manual clock: timers fire only when the test advances time. */
function fakeTimers() {
  let now = 0;
  let nextId = 0;
  const timers = new Map<number, { at: number; fn: () => void }>();
  const api: Timers = {
    now: () => now,
    setTimeout: (fn, ms) => {
      timers.set(++nextId, { at: now + ms, fn });
      return nextId;
    },
    clearTimeout: (id) => timers.delete(id as number),
  };
  async function advance(ms: number): Promise<void> {
    const end = now + ms;
    await new Promise((r) => setImmediate(r));
    for (;;) {
      const due = [...timers.entries()].filter(([, t]) => t.at <= end).sort((a, b) => a[1].at - b[1].at)[0];
      if (!due) break;
      timers.delete(due[0]);
      now = due[1].at;
      due[1].fn();
      await new Promise((r) => setImmediate(r));
    }
    now = end;
    await new Promise((r) => setImmediate(r));
  }
  return { api, advance, now: () => now };
}

test("a burst of changes inside the minimum interval becomes one more sync", async () => {
  const clock = fakeTimers();
  const runs: [number, boolean][] = [];
  const s = new SyncScheduler(
    async (full) => {
      runs.push([clock.now(), full]);
      return true;
    },
    { minIntervalMs: 1000, resyncIntervalMs: 0 },
    clock.api,
  );
  s.start();
  s.request();
  await clock.advance(0);
  assert.equal(runs, [[0, false]]);
  for (let i = 0; i < 10; i++) {
    s.request();
    await clock.advance(50);
  }
  await clock.advance(2000);
  assert.equal(runs, [
    [0, false],
    [1000, false],
  ]);
});

test("periodic resync asks for a full sync", async () => {
  const clock = fakeTimers();
  const runs: [number, boolean][] = [];
  const s = new SyncScheduler(
    async (full) => {
      runs.push([clock.now(), full]);
      return true;
    },
    { minIntervalMs: 100, resyncIntervalMs: 5000 },
    clock.api,
  );
  s.start();
  await clock.advance(10_500);
  assert.equal(runs, [
    [5000, true],
    [10_000, true],
  ]);
  await s.stop();
});

test("failures retry with doubling backoff as full syncs; success resets", async () => {
  const clock = fakeTimers();
  const runs: [number, boolean][] = [];
  let failuresLeft = 3;
  const s = new SyncScheduler(
    async (full) => {
      runs.push([clock.now(), full]);
      return failuresLeft-- <= 0;
    },
    { minIntervalMs: 100, resyncIntervalMs: 0, initialBackoffMs: 1000, maxBackoffMs: 3000 },
    clock.api,
  );
  s.request();
  await clock.advance(10_000);
  assert.equal(runs, [
    [0, false],
    [1000, true],
    [3000, true],
    [6000, true],
  ]);
  assert.is(s.consecutiveFailures, 0);
});

test("a change during a running sync runs once more afterwards", async () => {
  const clock = fakeTimers();
  let release: () => void = () => {};
  let count = 0;
  const s = new SyncScheduler(
    () => {
      count++;
      return new Promise<boolean>((r) => {
        release = () => r(true);
      });
    },
    { minIntervalMs: 0, resyncIntervalMs: 0 },
    clock.api,
  );
  s.request();
  await clock.advance(0);
  s.request();
  s.request();
  await clock.advance(100);
  assert.is(count, 1);
  release();
  await clock.advance(100);
  assert.is(count, 2);
  release();
  await clock.advance(100);
  assert.is(count, 2);
});

test("an urgent request skips the minimum interval but not the failure backoff", async () => {
  const clock = fakeTimers();
  const runs: number[] = [];
  let fail = false;
  const s = new SyncScheduler(
    async () => {
      runs.push(clock.now());
      return !fail;
    },
    { minIntervalMs: 1000, resyncIntervalMs: 0, initialBackoffMs: 5000 },
    clock.api,
  );
  s.request();
  await clock.advance(0);
  s.request();
  await clock.advance(100);
  s.request(false, true);
  await clock.advance(0);
  assert.equal(runs, [0, 100]);
  fail = true;
  s.request(false, true);
  await clock.advance(0);
  s.request(false, true);
  await clock.advance(100);
  assert.equal(runs, [0, 100, 100], "an urgent request ran during the backoff");
  fail = false;
  await clock.advance(5000);
  assert.equal(runs, [0, 100, 100, 5100]);
});

test.run();
