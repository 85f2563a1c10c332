// The plugin worker's call latency counts: each call lands in the first bucket whose bound it does
// not exceed (Prometheus `le`), above every bound only in the count; the snapshot is cumulative.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { CALL_LATENCY_BOUNDS_SECONDS, CallLatency } from "../../runtime/plugins/call-latency.ts";

const test = suite("plugins: call latency buckets");

const at = (snapshot: ReturnType<CallLatency["snapshot"]>, bound: number) =>
  snapshot.cumulative[CALL_LATENCY_BOUNDS_SECONDS.indexOf(bound)];

test("bounds run from 50 µs to 5 s, increasing", () => {
  assert.is(CALL_LATENCY_BOUNDS_SECONDS[0], 0.00005);
  assert.is(CALL_LATENCY_BOUNDS_SECONDS.at(-1), 5);
  for (let i = 1; i < CALL_LATENCY_BOUNDS_SECONDS.length; i++)
    assert.ok(CALL_LATENCY_BOUNDS_SECONDS[i] > CALL_LATENCY_BOUNDS_SECONDS[i - 1]);
});

test("calls are counted cumulatively per bound; a bound is inclusive; slow calls only in the count", () => {
  const latency = new CallLatency();
  latency.record(0.03); // 30 µs
  latency.record(0.05); // exactly 50 µs
  latency.record(2); // 2 ms
  latency.record(7000); // above 5 s
  const s = latency.snapshot();
  assert.is(at(s, 0.00005), 2);
  assert.is(at(s, 0.001), 2);
  assert.is(at(s, 0.0025), 3);
  assert.is(at(s, 5), 3);
  assert.is(s.count, 4);
  assert.ok(Math.abs(s.sumSeconds - 7.00208) < 1e-9, String(s.sumSeconds));
  assert.equal(JSON.parse(JSON.stringify({ latency })), { latency: { count: 4, sumSeconds: s.sumSeconds } });
});

test.run();
