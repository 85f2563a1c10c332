// Per-plugin series from the running workers (every kind) and the LB host: counters, the call
// latency histogram in Prometheus' format (cumulative buckets, +Inf, sum, count), invalid answers,
// refused modules, and swaps.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { AgentMetrics } from "../../runtime/metrics/metrics.ts";
import { CallLatency } from "../../runtime/plugins/call-latency.ts";
import type { RunningWorker } from "../../runtime/plugins/plugin-worker.ts";
import type { Snapshot } from "../../runtime/store/objects.ts";
import { sample } from "./prometheus-sample.ts";

const test = suite("metrics: plugins");

function worker(kind: string, name: string, calls: number, millis: number[]): RunningWorker {
  const latency = new CallLatency();
  for (const ms of millis) latency.record(ms);
  return {
    plugin: { name, manifest: { kind, version: "1.0.0" }, inspected: { sha256: `${name}-sha` } },
    stats: { calls, failures: 1, traps: 1, timeouts: 0, restarts: 1, latency },
  };
}

const emptySnapshot = (): Snapshot => ({
  services: new Map(),
  endpointSlices: new Map(),
  nodes: new Map(),
  namespaces: new Map(),
  pods: new Map(),
});

test("every kind's worker counters and latency; LB host counters; swaps", async () => {
  const metrics = new AgentMetrics({ processMetrics: false });
  const workers = [
    worker("lb", "maglev", 3, [0.04, 0.3, 8000]),
    worker("ipam", "range", 1, [1.5]),
    { ...worker("policy", "networkpolicy", 4, [2]), answers: { invalid: 3 } },
  ];
  metrics.watch({
    nodeName: "n1",
    snapshot: emptySnapshot,
    pluginWorkers: () => workers,
    lbPlugins: () => [
      {
        algorithm: "maglev",
        name: "maglev",
        version: "1.0.0",
        sha256: "maglev-sha",
        stats: { invalidPlans: 2 },
      },
      { algorithm: "broken", refused: "sha256 differs from the lock" },
    ],
    pluginSwaps: () => [{ kind: "lb", name: "maglev", version: "1.0.0", sha256: "maglev-sha", swaps: 2 }],
  });
  const text = await metrics.text();
  const maglev = { kind: "lb", name: "maglev", version: "1.0.0", hash: "maglev-sha" };
  const range = { kind: "ipam", name: "range", version: "1.0.0", hash: "range-sha" };
  assert.is(sample(text, "wasmplane_plugin_calls_total", maglev), 3);
  assert.is(sample(text, "wasmplane_plugin_calls_total", range), 1);
  assert.is(sample(text, "wasmplane_plugin_traps_total", maglev), 1);
  assert.is(sample(text, "wasmplane_plugin_restarts_total", range), 1);
  const bucket = (le: string) =>
    sample(text, "wasmplane_plugin_call_duration_seconds_bucket", { ...maglev, le });
  assert.is(bucket("0.00005"), 1);
  assert.is(bucket("0.0005"), 2);
  assert.is(bucket("5"), 2);
  assert.is(bucket("+Inf"), 3);
  assert.is(sample(text, "wasmplane_plugin_call_duration_seconds_count", maglev), 3);
  assert.ok(
    Math.abs((sample(text, "wasmplane_plugin_call_duration_seconds_sum", maglev) ?? 0) - 8.00034) < 1e-9,
  );
  assert.is(sample(text, "wasmplane_plugin_call_duration_seconds_bucket", { ...range, le: "0.0025" }), 1);
  assert.match(text, "# TYPE wasmplane_plugin_call_duration_seconds histogram");
  assert.is(sample(text, "wasmplane_plugin_invalid_answers_total", maglev), 2);
  const policy = { kind: "policy", name: "networkpolicy", version: "1.0.0", hash: "networkpolicy-sha" };
  assert.is(sample(text, "wasmplane_plugin_invalid_answers_total", policy), 3, "the policy host's count");
  assert.is(sample(text, "wasmplane_plugin_invalid_answers_total", range), undefined, "IPAM counts none");
  assert.is(sample(text, "wasmplane_plugin_refused", { kind: "lb", name: "broken" }), 1);
  assert.is(sample(text, "wasmplane_plugin_refused", { kind: "lb", name: "maglev" }), 0);
  assert.is(sample(text, "wasmplane_plugin_swaps_total", maglev), 2);
  // JSON export (getMetricsAsJSON) carries the same series.
  const json = await metrics.registry.getMetricsAsJSON();
  const histogram = json.find((m) => m.name === "wasmplane_plugin_call_duration_seconds");
  assert.is(histogram?.values.length, 3 * 19, "17 buckets, sum and count per module");
});

test("a worker that leaves (closed, swapped out) leaves the exposition", async () => {
  const metrics = new AgentMetrics({ processMetrics: false });
  let workers = [worker("policy", "networkpolicy", 2, [10, 20])];
  metrics.watch({ nodeName: "n1", snapshot: emptySnapshot, pluginWorkers: () => workers });
  assert.is(
    sample(await metrics.text(), "wasmplane_plugin_call_duration_seconds_count", { kind: "policy" }),
    2,
  );
  workers = [];
  const text = await metrics.text();
  assert.is(sample(text, "wasmplane_plugin_call_duration_seconds_count", { kind: "policy" }), undefined);
  assert.is(sample(text, "wasmplane_plugin_calls_total", { kind: "policy" }), undefined);
});

test.run();
