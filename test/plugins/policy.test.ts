// The shipped policy plugin against the TypeScript reference (runtime/policy/reference.ts) on many
// seeded random worlds, its properties (subset and order independence), and its conformance kit.
import { join } from "node:path";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { runConformance } from "../../runtime/plugins/conformance.ts";
import { decisionText, restrictDecision } from "../../runtime/plugins/conformance-policy.ts";
import {
  createWasmPolicyPlanner,
  localPolicyPods,
  mergePolicyDecision,
  type WasmPolicyPlanner,
} from "../../runtime/plugins/policy-planner.ts";
import { randomPolicyWorld, type WorldShape } from "../../runtime/plugins/policy-vectors.ts";
import { setContains } from "../../runtime/policy/address-sets.ts";
import { evaluatePolicies } from "../../runtime/policy/reference.ts";
import type { PolicyDecision } from "../../runtime/policy/types.ts";
import { builtDir, ensureBuilt, lockAll } from "./fixtures.ts";

await ensureBuilt();
const test = suite("plugins: policy kind, shipped networkpolicy plugin");
const NODE = "node-0";
const file = join(builtDir, "policy", "networkpolicy.wasm");

function shape(over: Partial<WorldShape> = {}): WorldShape {
  return {
    namespaces: 4,
    pods: 30,
    localPods: 8,
    networkPolicies: 6,
    clusterPolicies: 4,
    nodeName: NODE,
    ...over,
  };
}

async function withPlanner(body: (p: WasmPolicyPlanner) => Promise<void>): Promise<void> {
  const planner = await createWasmPolicyPlanner({ file, lockFile: lockAll(), nodeName: NODE, log: () => {} });
  try {
    await body(planner);
  } finally {
    await planner.close();
  }
}

/** The first differing line of two decisions, for a failure message that shows where. */
function firstDifference(a: string, b: string): string {
  const x = a.split("},{");
  const y = b.split("},{");
  for (let i = 0; i < Math.max(x.length, y.length); i++)
    if (x[i] !== y[i]) return `plugin: ${x[i]?.slice(0, 400)}\nreference: ${y[i]?.slice(0, 400)}`;
  return "";
}

test("equals the reference on 300 random worlds (NetworkPolicy, ClusterNetworkPolicy, both)", async () => {
  await withPlanner(async (planner) => {
    let rules = 0;
    const verdicts = new Set<string>();
    for (let seed = 1; seed <= 300; seed++) {
      const over = seed % 3 === 0 ? { clusterPolicies: 0 } : seed % 3 === 1 ? { networkPolicies: 0 } : {};
      const world = randomPolicyWorld(seed, shape(over));
      const want = evaluatePolicies(world, { nodeName: NODE });
      const got = await planner.decide(world);
      const [g, w] = [decisionText(got), decisionText(want)];
      if (g !== w) assert.unreachable(`seed ${seed}:\n${firstDifference(g, w)}`);
      for (const p of want.pods) for (const r of p.rules) verdicts.add(`${r.tier}/${r.verdict}`);
      rules += want.pods.reduce((n, p) => n + p.rules.length, 0);
    }
    // The worlds exercise every tier and verdict, so equality means something.
    assert.ok(rules > 5000, `${rules} rules`);
    for (const v of [
      "admin/allow",
      "admin/deny",
      "admin/pass",
      "networkpolicy/allow",
      "baseline/allow",
      "baseline/deny",
    ])
      assert.ok(verdicts.has(v), `no ${v} rule in any world`);
  });
});

test("equals the reference on bigger worlds (400 pods, 80 local, 60 NetworkPolicies, 12 ClusterNetworkPolicies)", async () => {
  await withPlanner(async (planner) => {
    for (let seed = 1000; seed < 1005; seed++) {
      const world = randomPolicyWorld(
        seed,
        shape({ namespaces: 12, pods: 400, localPods: 80, networkPolicies: 60, clusterPolicies: 12 }),
      );
      const got = decisionText(await planner.decide(world));
      const want = decisionText(evaluatePolicies(world, { nodeName: NODE }));
      if (got !== want) assert.unreachable(`seed ${seed}:\n${firstDifference(got, want)}`);
    }
  });
});

test("asking about some pods gives exactly their part of the full decision (a label change re-asks few)", async () => {
  await withPlanner(async (planner) => {
    for (let seed = 50; seed < 60; seed++) {
      const world = randomPolicyWorld(seed, shape());
      const all = localPolicyPods(world, NODE);
      const full = await planner.decide(world);
      const some = all.filter((_, i) => i % 3 === seed % 3);
      const part = await planner.decide(world, some);
      assert.is(decisionText(part), decisionText(restrictDecision(full, some)), `seed ${seed}`);
      assert.ok(part.pods.every((p) => some.includes(p.pod)));
    }
  });
});

test("a pod label change: the re-asked pods' decision equals the reference's after the change", async () => {
  await withPlanner(async (planner) => {
    const world = randomPolicyWorld(77, shape({ pods: 40, localPods: 12 }));
    const local = localPolicyPods(world, NODE);
    const key = local[0];
    const pod = world.pods.get(key)!;
    world.pods.set(key, { ...pod, labels: { ...pod.labels, app: pod.labels.app === "a" ? "b" : "a" } });
    const part = await planner.decide(world, [key]);
    const want = restrictDecision(evaluatePolicies(world, { nodeName: NODE }), [key]);
    assert.is(decisionText(part), decisionText(want));
  });
});

/** Local pods whose rules name a set holding one of `ips` (peers or named-port targets). */
function podsNamingSetsWith(d: PolicyDecision, ips: string[]): string[] {
  const sets = new Set<string>();
  for (const [id, elements] of d.addressSets) if (ips.some((ip) => setContains(elements, ip))) sets.add(id);
  for (const [id, targets] of d.addressPortSets)
    if (targets.some((t) => ips.includes(t.address))) sets.add(id);
  return d.pods
    .filter((p) => p.rules.some((r) => sets.has(r.peers ?? r.addressPorts ?? "")))
    .map((p) => p.pod);
}

test("merging the answer for the affected pods into the held decision gives the full decision", async () => {
  await withPlanner(async (planner) => {
    for (let seed = 80; seed < 90; seed++) {
      const world = randomPolicyWorld(seed, shape({ pods: 40, localPods: 12 }));
      const held = await planner.decide(world);
      const key = localPolicyPods(world, NODE)[seed % 5];
      const pod = world.pods.get(key)!;
      world.pods.set(key, { ...pod, labels: { ...pod.labels, app: pod.labels.app === "a" ? "b" : "a" } });
      const full = evaluatePolicies(world, { nodeName: NODE });
      // The pod itself, and every local pod whose sets held it before or hold it now.
      const affected = [
        ...new Set([key, ...podsNamingSetsWith(held, pod.podIPs), ...podsNamingSetsWith(full, pod.podIPs)]),
      ];
      const merged = mergePolicyDecision(held, await planner.decide(world, affected), affected);
      assert.is(decisionText(merged), decisionText(full), `seed ${seed}`);
    }
  });
});

test("memberships (op 1): a pod is in exactly the sets of the full decision that hold its address", async () => {
  await withPlanner(async (planner) => {
    let members = 0;
    for (let seed = 60; seed < 66; seed++) {
      const world = randomPolicyWorld(seed, shape());
      const full = evaluatePolicies(world, { nodeName: NODE });
      const pods = [...world.pods.keys()];
      const got = await planner.memberships(world, pods);
      for (const key of pods) {
        const pod = world.pods.get(key)!;
        const m = got.get(key)!;
        for (const [id, elements] of full.addressSets) {
          // A pod address listed as itself is there because a pod peer picked the pod; one inside a
          // block may be there by address alone.
          if (pod.podIPs.some((ip) => elements.includes(ip)))
            assert.ok(m.addressSets.includes(id), `seed ${seed}: ${key} missing from "${id}"`);
          if (m.addressSets.includes(id))
            assert.ok(
              pod.podIPs.some((ip) => setContains(elements, ip)),
              `seed ${seed}: ${key} not in "${id}"`,
            );
        }
        for (const [id, targets] of full.addressPortSets) {
          const holds = targets.some((t) => pod.podIPs.includes(t.address));
          assert.is(m.addressPortSets.includes(id), holds, `seed ${seed}: ${key} and "${id}"`);
        }
        members += m.addressSets.length;
      }
    }
    assert.ok(members > 100, `${members} memberships`);
  });
});

test("a relabelled pod: memberships name the changed sets; re-asking their pods and merging is exact", async () => {
  await withPlanner(async (planner) => {
    for (let seed = 90; seed < 100; seed++) {
      const world = randomPolicyWorld(seed, shape({ pods: 40, localPods: 12 }));
      const held = await planner.decide(world);
      const key = [...world.pods.keys()][seed % 20];
      const pod = world.pods.get(key)!;
      const before = (await planner.memberships(world, [key])).get(key)!;
      world.pods.set(key, { ...pod, labels: { ...pod.labels, app: pod.labels.app === "a" ? "b" : "a" } });
      const after = (await planner.memberships(world, [key])).get(key)!;
      const changed = new Set([
        ...before.addressSets,
        ...after.addressSets,
        ...before.addressPortSets,
        ...after.addressPortSets,
      ]);
      const naming = held.pods.filter((p) =>
        p.rules.some((r) => changed.has(r.peers ?? r.addressPorts ?? "")),
      );
      const local = localPolicyPods(world, NODE).includes(key) ? [key] : [];
      const affected = [...new Set([...local, ...naming.map((p) => p.pod)])];
      const merged = mergePolicyDecision(held, await planner.decide(world, affected), affected);
      assert.is(
        decisionText(merged),
        decisionText(evaluatePolicies(world, { nodeName: NODE })),
        `seed ${seed}`,
      );
    }
  });
});

test("concurrent decisions on different worlds each get their own answer", async () => {
  await withPlanner(async (planner) => {
    const worlds = [31, 32, 33].map((seed) => randomPolicyWorld(seed, shape()));
    const got = await Promise.all(worlds.map((w) => planner.decide(w)));
    for (const [i, w] of worlds.entries())
      assert.is(decisionText(got[i]), decisionText(evaluatePolicies(w, { nodeName: NODE })), `world ${i}`);
  });
});

test("plugin test: the shipped plugin passes the policy conformance kit", async () => {
  const report = await runConformance(file);
  const failed = report.checks.filter((c) => c.status !== "pass");
  assert.equal(failed, [], JSON.stringify(failed));
  assert.is(report.kind, "policy");
  assert.ok(report.checks.length >= 17, `${report.checks.length} checks`);
});

test.run();
