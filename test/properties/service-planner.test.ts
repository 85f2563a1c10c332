// Property: the incremental service planner (one ServiceProxy fed every snapshot in turn) produces
// the same table fragment, problems and counts as a fresh ServiceProxy given only the current
// snapshot, over random sequences of Service and EndpointSlice changes.
import fc from "fast-check";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { tableDifferences } from "../../nft/compare.ts";
import { mergeFragments } from "../../nft/desired.ts";
import { type ServicePlan, ServiceProxy } from "../../runtime/services/proxy.ts";
import type { Snapshot } from "../../runtime/store/objects.ts";
import { baseConfig } from "../services/render.ts";
import { answerLb, type Change, changeSequence, ServiceWorld } from "./service-gen.ts";
import { holds } from "./support.ts";

const test = suite("property: incremental service planner");

const config = { ...baseConfig, nodeZone: "zone-a" };

function planWith(proxy: ServiceProxy, snap: Snapshot): ServicePlan {
  return proxy.plan(snap, answerLb(proxy.lbRequests(snap)));
}

/** Every difference between two plans, one line each. */
export function planDifferences(a: ServicePlan, b: ServicePlan): string[] {
  const out = tableDifferences(
    mergeFragments("inet", "wasmplane", [a.fragment]),
    mergeFragments("inet", "wasmplane", [b.fragment]),
  );
  const problems = (p: ServicePlan) => p.problems.map((x) => JSON.stringify(x)).sort();
  if (JSON.stringify(problems(a)) !== JSON.stringify(problems(b)))
    out.push(`problems: ${problems(a).join(" ")} vs ${problems(b).join(" ")}`);
  if (JSON.stringify(a.stats) !== JSON.stringify(b.stats))
    out.push(`stats: ${JSON.stringify(a.stats)} vs ${JSON.stringify(b.stats)}`);
  return out;
}

/** Runs the steps; returns the first step whose incremental plan differs from a fresh one. */
export function firstDivergence(steps: Change[][]): string | null {
  const world = new ServiceWorld();
  const incremental = new ServiceProxy(config);
  for (const [n, changes] of steps.entries()) {
    const snap = world.apply(changes);
    const got = planWith(incremental, snap);
    const want = planWith(new ServiceProxy(config), snap);
    const diff = planDifferences(got, want);
    if (diff.length > 0) return `step ${n}: incremental vs fresh:\n${diff.join("\n")}`;
  }
  return null;
}

test("an incremental plan equals a fresh plan after every step of random changes", async () => {
  await holds(
    "incremental service planner",
    fc.property(changeSequence(12), (steps) => {
      const divergence = firstDivergence(steps);
      if (divergence) throw new Error(divergence);
    }),
    400,
    5000,
  );
});

test("the generator reaches the interesting cases (the property is not vacuous)", () => {
  // Chains of every kind the planner writes appear in the plans of a fixed sample.
  const seen = new Set<string>();
  for (const steps of fc.sample(changeSequence(12), { numRuns: 40, seed: 7 })) {
    const world = new ServiceWorld();
    const proxy = new ServiceProxy(config);
    for (const changes of steps) {
      const plan = planWith(proxy, world.apply(changes));
      for (const name of [...plan.fragment.chains.keys(), ...plan.fragment.sets.keys()]) {
        const kind = /^svc-([a-z])[46]-/.exec(name)?.[1];
        if (kind) seen.add(kind);
      }
      if (plan.problems.length > 0) seen.add("problem");
      for (const chain of plan.fragment.chains.values())
        for (const rule of chain.rules) {
          const text = JSON.stringify(rule.expr);
          if (text.includes('"jhash"')) seen.add("hash");
          if (text.includes('"inc"')) seen.add("round-robin");
        }
    }
  }
  for (const kind of ["c", "l", "x", "f", "a", "problem", "hash", "round-robin"])
    assert.ok(seen.has(kind), `the sample reaches ${kind} (saw ${[...seen].sort().join(", ")})`);
});

test.run();
