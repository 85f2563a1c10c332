// Read-back drift: a periodic full resync compares the kernel's table with the one the agent last
// applied, repairs the differences in its transaction, and counts, logs and records them. Elements
// the packet path adds to dynamic sets (session affinity) are not drift.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { accept, chain, rule } from "../../nft/build.ts";
import type { DesiredTable } from "../../nft/desired.ts";
import { tableDrift } from "../../runtime/agent/drift.ts";
import { AgentMetrics } from "../../runtime/metrics/metrics.ts";
import { fakeAgent, fakeKernel, ManualSource, service, startWithListing } from "../support/fake-agent.ts";
import { sample } from "./prometheus-sample.ts";

const test = suite("metrics: read-back drift");

function table(parts: Partial<DesiredTable> = {}): DesiredTable {
  return { family: "inet", name: "wasmplane", chains: new Map(), sets: new Map(), ...parts };
}

test("tableDrift names chains and elements that differ; dynamic set elements and equal tables are not drift", () => {
  const affinity = {
    name: "aff",
    type: "ipv4_addr" as const,
    flags: ["dynamic" as const, "timeout" as const],
    timeout: 10,
    elements: [],
  };
  const applied = table({
    chains: new Map([["a", chain("a", [rule(accept())])]]),
    sets: new Map([["aff", affinity]]),
  });
  const filled = { ...affinity, elements: [{ key: "10.0.0.9" }] };
  assert.equal(tableDrift(applied, table({ chains: applied.chains, sets: new Map([["aff", filled]]) })), []);
  const drift = tableDrift(applied, table({ chains: new Map([["b", chain("b", [])]]), sets: applied.sets }));
  assert.equal(drift, ["chain a: only in the first", "chain b: only in the second"]);
  assert.is(tableDrift(applied, null).length, 2, "a deleted table: every chain and set is drift");
});

test("a resync repairs what was changed behind the agent's back, and counts it", async () => {
  const metrics = new AgentMetrics({ processMetrics: false });
  const { kernel, dataplane } = fakeKernel();
  const source = new ManualSource();
  const lines: string[] = [];
  const agent = fakeAgent(source, dataplane, {
    metrics: metrics.sync,
    resyncIntervalMs: 30,
    log: (line) => lines.push(line),
  });
  metrics.watch(agent.metricsState());
  try {
    await startWithListing(agent, source, [service("a", 80), service("b", 81)]);
    const afterStart = await metrics.text();
    assert.is(
      sample(afterStart, "wasmplane_drift_checks_total"),
      0,
      "the first sync has nothing to compare with",
    );
    const desired = [...(kernel.table?.chains.keys() ?? [])].sort();
    // Someone deletes one of our chains and adds one of theirs (a copy: the agent's record stays).
    const tampered = table({ chains: new Map(kernel.table?.chains), sets: new Map(kernel.table?.sets) });
    tampered.chains.delete("svc-default-a");
    tampered.chains.set("rogue", chain("rogue", [rule(accept())]));
    kernel.table = tampered;
    await agent.nextSync();
    const text = await metrics.text();
    assert.is(sample(text, "wasmplane_drift_repaired_total"), 2);
    assert.ok((sample(text, "wasmplane_drift_checks_total") ?? 0) >= 1);
    assert.equal([...(kernel.table?.chains.keys() ?? [])].sort(), desired, "not repaired");
    assert.is(agent.status().lastSync?.drift, 2);
    assert.match(
      lines.join("\n"),
      /repaired 2 differences between the kernel's table and the last applied one: chain svc-default-a: only in the first/,
    );
    await agent.nextSync();
    assert.is(
      sample(await metrics.text(), "wasmplane_drift_repaired_total"),
      2,
      "a clean resync repairs nothing",
    );
    assert.is(agent.status().lastSync?.drift, 0);
  } finally {
    await agent.stop();
  }
});

test.run();
