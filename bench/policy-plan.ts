// Wasm policy planning against the TypeScript reference, both measured in this run: the shipped
// networkpolicy plugin through the policy planner (encode the world, worker call, decode and check
// the answer) vs runtime/policy/reference.ts on the same snapshot. The target: ≤ 1.5×.
//   1. 1,000 policies (900 NetworkPolicies, 100 ClusterNetworkPolicies) over 5,000 pods, 100 local,
//      in 50 namespaces (a seeded random world: runtime/plugins/policy-vectors.ts);
//   2. the same with 250 namespaces (smaller namespaces, so podSelector peers pick fewer pods);
//   3. a local pod relabelled, the incremental way: memberships (op 1) before and after, a decision
//      (op 0) for the pod and the local pods naming a changed set, merged into the held decision; and
//      one local pod re-asked alone. Against the reference's whole run (it cannot decide for fewer).
// Each case: a warm-up, then POLICY_BENCH_RUNS (default 5) runs per side, alternating, each after a full
// garbage collection; medians, with the Wasm side's split (encode / plugin call / decode, measured
// separately) in the note. 2 shared cores: read the ratios.
import { join } from "node:path";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { buildPlugins, projectRoot } from "../runtime/plugins/build.ts";
import { ByteWriter, inputHeader } from "../runtime/plugins/envelope.ts";
import { writeLock } from "../runtime/plugins/lock.ts";
import { PluginWorker } from "../runtime/plugins/plugin-worker.ts";
import {
  decodePolicyOutput,
  encodePolicyRequest,
  POLICY_KIND_CODE,
  POLICY_OP_DECIDE,
} from "../runtime/plugins/policy-codec.ts";
import {
  createWasmPolicyPlanner,
  localPolicyPods,
  mergePolicyDecision,
  type WasmPolicyPlanner,
} from "../runtime/plugins/policy-planner.ts";
import { randomPolicyWorld } from "../runtime/plugins/policy-vectors.ts";
import { evaluatePolicies } from "../runtime/policy/reference.ts";
import type { PolicyDecision } from "../runtime/policy/types.ts";
import type { Snapshot } from "../runtime/store/objects.ts";

const NODE = "node-0";
const RUNS = Number(process.env.POLICY_BENCH_RUNS ?? 5);
setFlagsFromString("--expose-gc");
const collectGarbage = runInNewContext("gc") as () => void;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const fmt = (ms: number) => (ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(1)} ms`);
const mib = (bytes: number) => `${(bytes / 1048576).toFixed(1)} MiB`;

const built = join(projectRoot, "build", "plugins");
await buildPlugins({ outDir: built });
const file = join(built, "policy", "networkpolicy.wasm");
const lockFile = join(built, "bench-policy.lock.json");
writeLock(lockFile, [file]);

/**
 * Median times of `a` and `b`, run alternately (so both see the same load) after a warm-up of each,
 * with a full garbage collection before every run (so neither pays for the other's garbage).
 */
async function alternate(a: () => unknown, b: () => unknown, runs = RUNS): Promise<[number, number]> {
  await a();
  await b();
  const times: [number[], number[]] = [[], []];
  for (let i = 0; i < runs; i++) {
    for (const [k, fn] of [a, b].entries()) {
      collectGarbage();
      const t = performance.now();
      await fn();
      times[k].push(performance.now() - t);
    }
  }
  return [median(times[0]), median(times[1])];
}

/** The planner's steps one by one, to say where the Wasm side's time goes. */
async function split(worker: PluginWorker, world: Snapshot, pods: string[]) {
  const steps = { encode: [] as number[], call: [] as number[], decode: [] as number[], input: 0, output: 0 };
  for (let i = 0; i <= RUNS; i++) {
    let t = performance.now();
    const w = new ByteWriter(1 << 20);
    const encoded = encodePolicyRequest(w, world, NODE, pods);
    const encode = performance.now() - t;
    t = performance.now();
    const outcome = await worker.call(
      [inputHeader(POLICY_KIND_CODE, POLICY_OP_DECIDE, pods.length), w.bytes.subarray(0, w.length)],
      120000,
    );
    const call = performance.now() - t;
    if (!outcome.ok) throw new Error(outcome.error);
    t = performance.now();
    decodePolicyOutput(outcome.output, encoded);
    const decode = performance.now() - t;
    if (i === 0) continue;
    steps.encode.push(encode);
    steps.call.push(call);
    steps.decode.push(decode);
    steps.input = w.length;
    steps.output = outcome.output.length;
  }
  return steps;
}

async function compare(
  name: string,
  world: Snapshot,
  planner: WasmPolicyPlanner,
  worker: PluginWorker,
  rows: string[][],
) {
  const pods = localPolicyPods(world, NODE);
  const sets = evaluatePolicies(world, { nodeName: NODE }).addressSets;
  const reference = () => evaluatePolicies(world, { nodeName: NODE });
  const [wasm, ts] = await alternate(() => planner.decide(world, pods), reference);
  const s = await split(worker, world, pods);
  const elements = [...sets.values()].reduce((n, v) => n + v.length, 0);
  rows.push([
    name,
    fmt(wasm),
    fmt(ts),
    (wasm / ts).toFixed(2),
    `encode ${fmt(median(s.encode))}, plugin call ${fmt(median(s.call))}, decode ${fmt(median(s.decode))}; in ${mib(s.input)}, out ${mib(s.output)}; ${sets.size} sets, ${elements} elements`,
  ]);
  const [memberships] = await alternate(
    () => planner.memberships(world, [pods[0]]),
    () => {},
    3,
  );
  rows.push(["… memberships of one pod (op 1)", fmt(memberships), "", "", "what a relabel asks twice"]);
  const relabel = relabelled(world, pods[0]);
  const held = await planner.decide(world, pods);
  const [incremental, after] = await alternate(
    () => labelChange(planner, held, world, relabel, pods[0]),
    () => evaluatePolicies(relabel, { nodeName: NODE }),
    3,
  );
  rows.push([
    "… a local pod relabelled: op 1 before and after, op 0 for the affected pods, merge",
    fmt(incremental),
    fmt(after),
    (incremental / after).toFixed(2),
    `${(await labelChange(planner, held, world, relabel, pods[0])).asked} of ${pods.length} local pods re-asked`,
  ]);
  const [one, all] = await alternate(() => planner.decide(world, [pods[0]]), reference);
  rows.push([
    "… one local pod re-asked (a label change)",
    fmt(one),
    fmt(all),
    (one / all).toFixed(2),
    "reference: the whole evaluation (it cannot decide for fewer pods)",
  ]);
}

function relabelled(world: Snapshot, key: string): Snapshot {
  const pods = new Map(world.pods);
  const pod = pods.get(key)!;
  pods.set(key, { ...pod, labels: { ...pod.labels, app: pod.labels.app === "a" ? "b" : "a" } });
  return { ...world, pods };
}

/** The incremental path for one relabelled pod, from a held decision of the world before. */
async function labelChange(
  planner: WasmPolicyPlanner,
  held: PolicyDecision,
  before: Snapshot,
  after: Snapshot,
  key: string,
) {
  const was = (await planner.memberships(before, [key])).get(key)!;
  const is = (await planner.memberships(after, [key])).get(key)!;
  const changed = new Set([
    ...was.addressSets,
    ...is.addressSets,
    ...was.addressPortSets,
    ...is.addressPortSets,
  ]);
  const naming = held.pods.filter((p) => p.rules.some((r) => changed.has(r.peers ?? r.addressPorts ?? "")));
  const asked = [...new Set([key, ...naming.map((p) => p.pod)])];
  mergePolicyDecision(held, await planner.decide(after, asked), asked);
  return { asked: asked.length };
}

const rows: string[][] = [["case", "wasm", "TypeScript reference", "× reference", "note"]];
const planner = await createWasmPolicyPlanner({ file, lockFile, nodeName: NODE, callBudgetMs: 120000 });
const worker = new PluginWorker(planner.plugin, { callBudgetMs: 120000, randomSeed: 1 });
await worker.start();
try {
  for (const namespaces of [50, 250]) {
    const world = randomPolicyWorld(42, {
      namespaces,
      pods: 5000,
      localPods: 100,
      networkPolicies: 900,
      clusterPolicies: 100,
      nodeName: NODE,
    });
    await compare(
      `1,000 policies, 5,000 pods (100 local), ${namespaces} namespaces`,
      world,
      planner,
      worker,
      rows,
    );
  }
} finally {
  await worker.close();
  await planner.close();
}
const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
for (const r of rows) console.log(r.map((c, i) => c.padEnd(widths[i])).join("  "));
