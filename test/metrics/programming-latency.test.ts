// kubeproxy_network_programming_duration_seconds: an EndpointSlice change's trigger time is observed
// once, when a sync that started after the change succeeds; fixed times through a fake clock.
import { Registry } from "prom-client";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import {
  programmingBuckets,
  registerProgrammingLatency,
  triggerTimeAnnotation,
} from "../../runtime/metrics/programming-latency.ts";
import { registerSyncMetrics } from "../../runtime/metrics/sync-metrics.ts";
import { sample } from "./prometheus-sample.ts";

const test = suite("network programming latency");

const T0 = Date.parse("2026-01-01T00:00:00Z");
const NAME = "kubeproxy_network_programming_duration_seconds";

function slice(type: "add" | "update" | "delete", name: string, trigger?: number) {
  const annotations =
    trigger === undefined ? {} : { [triggerTimeAnnotation]: new Date(trigger).toISOString() };
  return {
    type,
    kind: "EndpointSlice",
    key: `default/${name}`,
    object: { metadata: { name, namespace: "default", annotations } },
  };
}

function setup() {
  const clock = { now: T0 };
  const registry = new Registry();
  const latency = registerProgrammingLatency(registry, () => clock.now);
  const read = async (suffix: string, labels: Record<string, string> = {}) =>
    sample(await registry.metrics(), `${NAME}_${suffix}`, labels);
  return { clock, latency, read };
}

test("kube-proxy's buckets", () => {
  assert.is(programmingBuckets.length, 2 + 59 + 12 + 7);
  assert.equal(programmingBuckets.slice(0, 4), [0.25, 0.5, 1, 2]);
  assert.equal(programmingBuckets.slice(-8), [115, 120, 150, 180, 210, 240, 270, 300]);
});

test("a change is observed when a sync started after it succeeds, once", async () => {
  const { clock, latency, read } = setup();
  clock.now = T0 + 10_000;
  latency.sourceEvents([slice("update", "web-1", T0 + 8_000)]);
  // A sync that started before the event does not include it.
  latency.syncSucceeded(T0 + 9_000);
  assert.is(await read("count"), 0);
  clock.now = T0 + 11_500;
  latency.syncSucceeded(T0 + 11_000);
  assert.is(await read("count"), 1);
  assert.is(await read("sum"), 3.5);
  assert.is(await read("bucket", { le: "3" }), 0);
  assert.is(await read("bucket", { le: "4" }), 1);
  clock.now = T0 + 20_000;
  latency.syncSucceeded(T0 + 19_000);
  assert.is(await read("count"), 1, "observed twice");
});

test("ignored: no annotation, other kinds, trigger times before the tracker started, deleted slices", async () => {
  const { clock, latency, read } = setup();
  clock.now = T0 + 5_000;
  latency.sourceEvents([
    slice("add", "plain"),
    slice("add", "old", T0 - 60_000),
    { ...slice("add", "svc", T0 + 1_000), kind: "Service" },
    slice("add", "gone", T0 + 2_000),
    slice("update", "kept", T0 + 3_000),
  ]);
  latency.sourceEvents([slice("delete", "gone", T0 + 2_000)]);
  clock.now = T0 + 7_000;
  latency.syncSucceeded(T0 + 6_000);
  assert.is(await read("count"), 1);
  assert.is(await read("sum"), 4);
});

test("a failed sync leaves the changes pending (through the SyncMetrics port)", async () => {
  const clock = { now: T0 };
  const registry = new Registry();
  const sync = registerSyncMetrics(registry, () => clock.now);
  clock.now = T0 + 1_000;
  sync.sourceEvents([slice("add", "web-1", T0 + 500)]);
  const at = (ms: number) => new Date(ms).toISOString();
  clock.now = T0 + 2_000;
  sync.syncFinished({ at: at(T0 + 1_500), full: false, ok: false, durationMs: 500, operations: 0, bytes: 0 });
  assert.is(sample(await registry.metrics(), `${NAME}_count`), 0);
  clock.now = T0 + 3_000;
  sync.syncFinished({ at: at(T0 + 2_500), full: false, ok: true, durationMs: 500, operations: 3, bytes: 90 });
  const text = await registry.metrics();
  assert.is(sample(text, `${NAME}_count`), 1);
  assert.is(sample(text, `${NAME}_sum`), 2.5);
  assert.is(sample(text, "kubeproxy_sync_proxy_rules_endpoint_changes_total"), 1);
});

test.run();
