// kube-proxy's pending-change gauges: Services changed (each counted once) and EndpointSlice events
// since the last sync took its snapshot; both drop to 0 when a sync takes it.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { AgentMetrics } from "../../runtime/metrics/metrics.ts";
import type { SourceEvent } from "../../runtime/sources/source.ts";
import { fakeAgent, fakeKernel, ManualSource, service } from "../support/fake-agent.ts";
import { sample } from "./prometheus-sample.ts";

const test = suite("metrics: pending changes");

function slice(name: string, serviceName: string, address: string): SourceEvent {
  return {
    type: "add",
    kind: "EndpointSlice",
    key: `default/${name}`,
    object: {
      kind: "EndpointSlice",
      metadata: { name, namespace: "default", labels: { "kubernetes.io/service-name": serviceName } },
      addressType: "IPv4",
      ports: [{ port: 80 }],
      endpoints: [{ addresses: [address] }],
    },
  };
}

const pending = async (metrics: AgentMetrics) => {
  const text = await metrics.text();
  return {
    services: sample(text, "kubeproxy_sync_proxy_rules_service_changes_pending"),
    endpoints: sample(text, "kubeproxy_sync_proxy_rules_endpoint_changes_pending"),
  };
};

test("changes wait until a sync takes its snapshot", async () => {
  const metrics = new AgentMetrics({ processMetrics: false });
  const { dataplane } = fakeKernel();
  const source = new ManualSource();
  const agent = fakeAgent(source, dataplane, { metrics: metrics.sync });
  metrics.watch(agent.metricsState());
  try {
    await agent.start();
    assert.equal(await pending(metrics), { services: 0, endpoints: 0 });
    source.send([service("a", 80), service("b", 81), slice("a-1", "a", "10.0.0.1")]);
    source.send([{ ...service("a", 8080), type: "update" }, slice("a-1", "a", "10.0.0.2")]);
    // Before the first listing completes nothing syncs: everything is still pending.
    assert.equal(await pending(metrics), { services: 2, endpoints: 2 });
    const first = agent.nextSync();
    source.sink?.synced();
    await first;
    assert.equal(await pending(metrics), { services: 0, endpoints: 0 });
    const second = agent.nextSync();
    source.send([slice("b-1", "b", "10.0.0.3")]);
    assert.equal(await pending(metrics), { services: 0, endpoints: 1 });
    await second;
    assert.equal(await pending(metrics), { services: 0, endpoints: 0 });
  } finally {
    await agent.stop();
  }
});

test.run();
