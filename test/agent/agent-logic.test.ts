// The agent's sync logic with the real store, real nft diff and a fake kernel (no nft process):
// ordering against the source's initial listing, rejection isolation, restart without rewrite,
// and keeping the last good state when an apply fails.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { element, goto, namedMap } from "../../nft/build.ts";
import type { DesiredTable } from "../../nft/desired.ts";
import { Agent } from "../../runtime/agent/agent.ts";
import type { PluginHost, ServicePlanner } from "../../runtime/agent/dependencies.ts";
import { builtinLbPlanner, type LbPlanner, type LbResult } from "../../runtime/lb/plan.ts";

import {
  chainPerServicePlanner,
  fakeAgent,
  fakeKernel,
  ManualSource,
  service,
} from "../support/fake-agent.ts";

const test = suite("agent sync logic");

test("no sync before the initial listing; a bad service is reported and the rest programmed; a fix is picked up", async () => {
  const { kernel, dataplane } = fakeKernel();
  const source = new ManualSource();
  const agent = fakeAgent(source, dataplane);
  await agent.start();
  source.send([service("good", 80), service("bad", 70000)]);
  await new Promise((r) => setTimeout(r, 20));
  assert.is(agent.status().syncs.total, 0, "synced before the source's initial listing");
  const synced = agent.nextSync();
  source.sink?.synced();
  await synced;
  assert.equal([...(kernel.table?.chains.keys() ?? [])], ["svc-default-good"]);
  assert.equal(agent.status().problems, [
    "Service default/bad: spec.ports[0].port: must be 1-65535, got 70000",
  ]);
  const fixed = agent.nextSync();
  source.send([{ ...service("bad", 8080), type: "update" }]);
  await fixed;
  assert.equal([...(kernel.table?.chains.keys() ?? [])].sort(), ["svc-default-bad", "svc-default-good"]);
  assert.equal(agent.status().problems, []);
  await agent.stop();
});

test("the periodic resync never runs before the source's initial listing (an empty store would wipe the table)", async () => {
  const { kernel, dataplane } = fakeKernel();
  kernel.table = { family: "inet", name: "wasmplane", chains: new Map(), sets: new Map() } as DesiredTable;
  const source = new ManualSource();
  const agent = new Agent({
    nodeName: "n1",
    minSyncIntervalMs: 0,
    resyncIntervalMs: 5,
    source,
    planner: chainPerServicePlanner,
    lbPlanner: builtinLbPlanner,
    dataplane,
    log: () => {},
  });
  await agent.start();
  const nudged = agent.syncNow();
  await new Promise((r) => setTimeout(r, 60));
  assert.equal(kernel.applies, [], "applied a transaction before the source synced");
  assert.is(kernel.reads, 0, "read the table back before the source synced");
  assert.is(agent.status().lastSync, null);
  await agent.stop();
  await nudged;
});

/** Like `chainPerServicePlanner`, plus a verdict map that goes to each service's chain (so chains are referenced). */
const mapPlanner: ServicePlanner = {
  ...chainPerServicePlanner,
  plan(snapshot, lb) {
    const out = chainPerServicePlanner.plan(snapshot, lb);
    const elements = [...snapshot.services.values()].map((s) =>
      element(s.ports[0].port, goto(`svc-${s.namespace}-${s.name}`)),
    );
    out.fragment.sets.set("dispatch", namedMap("dispatch", "inet_service", "verdict", elements));
    return out;
  },
};

test("a removed chain still referenced is flushed, then deleted by a follow-up sync nobody else asks for", async () => {
  const { kernel, dataplane } = fakeKernel();
  const source = new ManualSource();
  const agent = new Agent({
    nodeName: "n1",
    minSyncIntervalMs: 0,
    resyncIntervalMs: 0,
    source,
    planner: mapPlanner,
    lbPlanner: builtinLbPlanner,
    dataplane,
    log: () => {},
  });
  await agent.start();
  source.send([service("a", 80), service("b", 81)]);
  let s = agent.nextSync();
  source.sink?.synced();
  await s;
  s = agent.nextSync();
  source.send([{ ...service("b", 81), type: "delete" }]);
  await s;
  assert.ok(kernel.table?.chains.has("svc-default-b"), "deleted in the same transaction as its reference");
  await new Promise((r) => setTimeout(r, 50));
  assert.equal([...(kernel.table?.chains.keys() ?? [])], ["svc-default-a"], "the flushed chain stayed");
  await agent.stop();
});

test("a problem replaced by another about the same object is not logged as resolved", async () => {
  const { dataplane } = fakeKernel();
  const source = new ManualSource();
  const lines: string[] = [];
  const agent = new Agent({
    nodeName: "n1",
    minSyncIntervalMs: 0,
    resyncIntervalMs: 0,
    source,
    planner: chainPerServicePlanner,
    lbPlanner: builtinLbPlanner,
    dataplane,
    log: (line) => lines.push(line),
  });
  await agent.start();
  source.send([service("bad", 70000)]);
  source.send([{ ...service("bad", 0), type: "update" }]);
  assert.equal(
    lines.filter((l) => l.includes("default/bad")),
    [
      "rejected: Service default/bad: spec.ports[0].port: must be 1-65535, got 70000",
      "rejected: Service default/bad: spec.ports[0].port: must be 1-65535, got 0 (replacing: spec.ports[0].port: must be 1-65535, got 70000)",
    ],
  );
  source.send([{ ...service("bad", 80), type: "update" }]);
  assert.equal(lines.at(-1), "resolved: Service default/bad: spec.ports[0].port: must be 1-65535, got 0");
  await agent.stop();
});

test("a restarted agent reads the table back and sends nothing when nothing changed", async () => {
  const { kernel, dataplane } = fakeKernel();
  const first = new ManualSource();
  const a1 = fakeAgent(first, dataplane);
  await a1.start();
  first.send([service("a", 80), service("b", 81)]);
  let s = a1.nextSync();
  first.sink?.synced();
  await s;
  await a1.stop();
  assert.ok(kernel.applies[0] > 0);

  const second = new ManualSource();
  const a2 = fakeAgent(second, dataplane);
  await a2.start();
  second.send([service("a", 80), service("b", 82)]);
  s = a2.nextSync();
  second.sink?.synced();
  await s;
  const st = a2.status();
  assert.is(st.lastSync?.full, true);
  assert.ok(kernel.reads >= 2);
  // Only service b's chain changed: far fewer operations than the first full write.
  assert.ok(
    (st.lastSync?.operations ?? 0) > 0 && (st.lastSync?.operations ?? 0) < kernel.applies[0],
    JSON.stringify(kernel.applies),
  );
  await a2.stop();
});

test("a failed apply keeps the last good state and is retried", async () => {
  const { kernel, dataplane } = fakeKernel();
  const source = new ManualSource();
  const agent = fakeAgent(source, dataplane);
  await agent.start();
  source.send([service("a", 80)]);
  let s = agent.nextSync();
  source.sink?.synced();
  await s;
  const good = kernel.table;
  kernel.fail = true;
  s = agent.nextSync();
  source.send([service("b", 80)]);
  await s;
  assert.is(kernel.table, good);
  assert.is(agent.status().lastSync?.ok, false);
  assert.match(agent.status().problems.join("\n"), "last sync failed: nft: Could not process rule");
  kernel.fail = false;
  s = agent.nextSync();
  await s; // the retry after backoff, a full sync
  assert.is(agent.status().lastSync?.ok, true);
  assert.is(agent.status().lastSync?.full, true);
  assert.equal([...(kernel.table?.chains.keys() ?? [])].sort(), ["svc-default-a", "svc-default-b"]);
  await agent.stop();
});

test("a plugin reload re-plans; one that lands while a sync asks the old module re-plans again", async () => {
  const { dataplane } = fakeKernel();
  const source = new ManualSource();
  // The service planner asks for its one port while its plan is invalid, like ServiceProxy.
  let valid = false;
  let invalidations = 0;
  const used: string[] = [];
  const lbPlanner: ServicePlanner = {
    ...chainPerServicePlanner,
    lbRequests: () => (valid ? [] : [{ key: "default/a:", algorithm: "swap", endpoints: [], params: {} }]),
    plan(snapshot, lb) {
      for (const r of lb.values()) if (r.ok) used.push(r.plan.selection.mode);
      if (lb.size > 0) valid = true;
      return chainPerServicePlanner.plan(snapshot, lb);
    },
    invalidateLbPlans: () => {
      invalidations++;
      valid = false;
    },
  };
  let module = "round-robin";
  let gate: (() => void) | null = null;
  const plugins: LbPlanner = {
    async plan(requests) {
      const answeredBy = module;
      if (gate === null) await new Promise<void>((resolve) => (gate = resolve));
      return requests.map(
        (): LbResult => ({ ok: true, plan: { selection: { mode: answeredBy } as never, slots: [] } }),
      );
    },
  };
  const host: PluginHost = {
    reload: async () => {
      module = "hash";
      return { loaded: [], replaced: ["swap"], unchanged: [], removed: [], refused: [] };
    },
    status: () => [],
    close: async () => {},
  };
  const agent = new Agent({
    nodeName: "n1",
    minSyncIntervalMs: 0,
    resyncIntervalMs: 0,
    source,
    planner: lbPlanner,
    lbPlanner: plugins,
    plugins: host,
    dataplane,
    log: () => {},
  });
  await agent.start();
  source.send([service("a", 80)]);
  const first = agent.nextSync();
  source.sink?.synced();
  await new Promise((r) => setTimeout(r, 20));
  // The first sync waits in the LB call of the old module; the reload lands meanwhile.
  await agent.reloadPlugins();
  assert.is(invalidations, 1);
  const release = gate as (() => void) | null;
  assert.ok(release, "the first sync did not ask the LB planner");
  gate = () => {};
  release?.();
  await first;
  await agent.nextSync();
  assert.is(invalidations, 2, "the overlapping sync did not invalidate again");
  assert.equal(used, ["round-robin", "hash"]);
  await agent.stop();
});

test.run();
