// NetworkPolicy enforcement at scale, against baselines measured in the same run (issue 10, the
// `bench/policy` acceptance). Every sync goes the agent's way (bench/policy-node.ts): store change →
// services plan → policy decision (runtime/policy/reference.ts) → render → node rules → merge →
// planSync → applyTransaction (netlink batch) in a namespace this bench creates.
//
// The world (bench/policy-world.ts): 5,000 pods in 50 namespaces, 100 on this node, 1,000
// NetworkPolicies, and in the same `inet wasmplane` table the rules of 10,000 Services (ClusterIP,
// one TCP port, 3 endpoints each, as bench/service-sync.ts). "dense": every policy selects one of
// this node's pods; "spread": policies select apps across the cluster, about one in ten a local pod.
//
//   1. full syncs: services + node rules without policies (baseline), the same with the dense
//      policies (total), then the policies added to / removed from the synced baseline table (the
//      policy part alone: store change → applied) for the dense world, the dense world with the
//      sets no rule references left out and the dense world with ipBlocks without `except` (two
//      what-ifs, marked as such: the excepts make adjacent CIDRs, which nft/netlink/ leaves to
//      `nft -f`), and the spread world.
//      POLICY_BENCH_ADD_WARMUP untimed add/remove cycles first, then POLICY_BENCH_ADDS timed ones
//      (the median).
//   2. label changes in the dense table: a remote peer pod that takes the labels of another pod of
//      its namespace (it leaves some policies' peer sets and joins others': set elements only),
//      and a local pod that does the same (other policies select it: its chain is rewritten, a
//      batch with verdicts, which makes the kernel revalidate the table's jump graph, docs/nft.md);
//      the local change again with the services in a table of their own in the same namespace (the
//      kernel validates per table). Each: POLICY_BENCH_WARMUP untimed changes, then
//      POLICY_BENCH_REPEAT timed ones (a different pod each time), the median.
//   3. new-connection rate between two pods through a node namespace with the node and policy rules,
//      1,000 policies vs none (bench/policy-traffic.ts).
//   4. the kernel's cost per named set by set count (bench/policy-sets.ts).
// Wall times on a shared machine include waiting for a CPU: the second table gives this process's
// CPU time per step. POLICY_BENCH_SYNC=0 skips 1 and 2, POLICY_BENCH_TRAFFIC=0 3, POLICY_BENCH_SETS=0 4;
// POLICY_BENCH_SERVICES and POLICY_BENCH_PODS change the sizes, POLICY_BENCH_SERVICE_SHAPE the services' rule shape.
// POLICY_BENCH_PROFILE=DIR writes a CPU profile of each case's timed label changes to
// DIR/{remote,local,local-own-table}.cpuprofile (bench/support/cpu-profile.ts).
import { loadavg } from "node:os";
import type { NodeAttachment } from "../runtime/cni/node-rules.ts";
import type { PolicyDecision } from "../runtime/policy/types.ts";
import type { ServiceShape } from "../runtime/services/config.ts";
import type { SourceEvent } from "../runtime/sources/source.ts";
import type { EndpointSlice, Service } from "../runtime/store/objects.ts";
import { service, slice } from "../test/services/fixtures.ts";
import { withNetns } from "../test/support/netns.ts";
import { startProfile } from "./support/cpu-profile.ts";
import { BenchNode, type NodeOptions, STEPS, type SyncResult } from "./support/policy-node.ts";
import { measureSetCosts } from "./support/policy-sets.ts";
import { measureConnectionRates } from "./support/policy-traffic.ts";
import {
  NODE,
  podLabels,
  podObject,
  podPlacement,
  sourceEvents,
  type WorldSize,
  worldObjects,
  worldPolicies,
} from "./support/policy-world.ts";

const SERVICES = Number(process.env.POLICY_BENCH_SERVICES ?? 10000);
const REPEAT = Number(process.env.POLICY_BENCH_REPEAT ?? 7);
const WARMUP = Number(process.env.POLICY_BENCH_WARMUP ?? 3);
const ADDS = Number(process.env.POLICY_BENCH_ADDS ?? 3);
const ADD_WARMUP = Number(process.env.POLICY_BENCH_ADD_WARMUP ?? 2);
const TRAFFIC = process.env.POLICY_BENCH_TRAFFIC !== "0";
const PROFILE = process.env.POLICY_BENCH_PROFILE;
const SERVICE_SHAPE = process.env.POLICY_BENCH_SERVICE_SHAPE as ServiceShape | undefined;
const base: Omit<WorldSize, "dense"> = {
  namespaces: 50,
  pods: Number(process.env.POLICY_BENCH_PODS ?? 5000),
  localPods: 100,
  nodes: 49,
  policies: 1000,
};
const DENSE: WorldSize = { ...base, dense: true };
const SPREAD: WorldSize = { ...base, dense: false };

const clusterIP = (i: number) => `10.${96 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`;
const endpointIP = (i: number, j: number) => `10.${64 + j * 4 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`;

function serviceMaps(n: number) {
  const services = new Map<string, Service>();
  const endpointSlices = new Map<string, EndpointSlice>();
  for (let i = 0; i < n; i++) {
    const svc = service("bench", `svc-${i}`, { clusterIPs: [clusterIP(i)] });
    services.set(`bench/svc-${i}`, svc);
    const eps = [0, 1, 2].map((j) => ({ ip: endpointIP(i, j), node: `node-${j}` }));
    endpointSlices.set(`bench/svc-${i}-abc`, slice(svc, eps));
  }
  return { services, endpointSlices };
}

function localAttachments(size: WorldSize): NodeAttachment[] {
  return Array.from({ length: size.localPods }, (_, i) => ({
    hostInterface: `wp${i.toString(16).padStart(11, "0")}`,
    addresses: [podPlacement(i, size).ip],
  }));
}

function nodeOptions(netns: string, services: number, size: WorldSize): NodeOptions {
  return {
    nodeName: NODE,
    netns,
    services: serviceMaps(services),
    attachments: localAttachments(size),
    podCIDRs: ["10.128.0.0/16"],
    clusterCIDRs: ["10.128.0.0/9"],
    ...(SERVICE_SHAPE ? { serviceShape: SERVICE_SHAPE } : {}),
  };
}

const node = (netns: string, services: number, size: WorldSize) =>
  new BenchNode(nodeOptions(netns, services, size));

const policyEvents = (size: WorldSize, type: "add" | "delete") =>
  sourceEvents(worldPolicies(size)).map((e) => ({ ...e, type }));

/** The address sets each of `addresses` is in, by the decision (only those: this runs between timed syncs). */
function setsByAddress(decision: PolicyDecision, addresses: Set<string>): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  for (const [id, entries] of decision.addressSets)
    for (const entry of entries) {
      if (!addresses.has(entry)) continue;
      const sets = out.get(entry) ?? new Set<string>();
      sets.add(id);
      out.set(entry, sets);
    }
  return out;
}

/**
 * Pod i takes the labels of another pod of its namespace (and of its own kind, remote or local)
 * whose peer-set membership differs both ways, so the change moves it out of some policies' peers
 * and into others'; the first other pod of the namespace when none does.
 */
function relabel(i: number, decision: PolicyDecision | undefined): SourceEvent[] {
  const sizeOf = DENSE;
  const local = i < sizeOf.localPods;
  const sameKind = (j: number) => j !== i && j < sizeOf.pods && j < sizeOf.localPods === local;
  const candidates = Array.from(
    { length: sizeOf.pods / sizeOf.namespaces },
    (_, t) => (i % sizeOf.namespaces) + t * sizeOf.namespaces,
  ).filter(sameKind);
  const addresses = new Set([i, ...candidates].map((j) => podPlacement(j, sizeOf).ip));
  const member = decision ? setsByAddress(decision, addresses) : new Map<string, Set<string>>();
  const setsOf = (j: number) => member.get(podPlacement(j, sizeOf).ip) ?? new Set<string>();
  const mine = setsOf(i);
  const differs = (j: number) => {
    const theirs = setsOf(j);
    return [...theirs].some((id) => !mine.has(id)) && [...mine].some((id) => !theirs.has(id));
  };
  const other = candidates.find(differs) ?? candidates[0];
  return sourceEvents([podObject(i, sizeOf, podLabels(other, sizeOf))], "update");
}

const median = (rs: SyncResult[]) => [...rs].sort((a, b) => a.totalMs - b.totalMs)[Math.floor(rs.length / 2)];

// ---- table output
const fmt = (x: number) => (x >= 1000 ? `${(x / 1000).toFixed(2)} s` : `${x.toFixed(1)} ms`);
const size = (b: number) =>
  b >= 1 << 20 ? `${(b / (1 << 20)).toFixed(1)} MiB` : b >= 1024 ? `${(b / 1024).toFixed(1)} KiB` : `${b} B`;
const HEADER = [
  "case",
  ...STEPS,
  "total",
  "CPU",
  "path",
  "tx bytes",
  "ops",
  "elements +/-",
  "chains +/~",
  "target",
  "vs baseline",
];
const rows: string[][] = [];
const cpuRows: string[][] = [];
function row(name: string, r: SyncResult, target = "", ratio = ""): void {
  cpuRows.push([name, ...STEPS.filter((s) => s !== "kernel").map((s) => fmt(r.cpu[s])), fmt(r.cpuMs)]);
  rows.push([
    name,
    ...STEPS.map((s) => fmt(r.steps[s])),
    fmt(r.totalMs),
    fmt(r.cpuMs),
    r.path,
    size(r.bytes),
    String(r.operations),
    `${r.stats.elementsAdded}/${r.stats.elementsDeleted}`,
    `${r.stats.chainsAdded}/${r.stats.chainsChanged}`,
    target,
    ratio,
  ]);
}
function printTable(table: string[][]): void {
  const widths = table[0].map((_, i) => Math.max(...table.map((r) => (r[i] ?? "").length)));
  for (const r of table) console.log(r.map((c, i) => (c ?? "").padEnd(widths[i])).join("  "));
}
const verdict = (ok: boolean) => (ok ? "met" : "MISSED");

/** Part 1: full syncs, and the policies added to a synced table (the policy part alone). */
async function fullSyncs(): Promise<void> {
  // Untimed: one whole table into a namespace of its own (the kernel's first big batch after a
  // pause costs more, docs/nft.md), and the JIT's first pass over every step.
  await withNetns(["pol-bench-warm"], async ([ns]) => {
    const warm = node(ns, SERVICES, DENSE);
    warm.store.apply(sourceEvents(worldObjects(DENSE)));
    await warm.change(policyEvents(DENSE, "add"));
  });
  await withNetns(["pol-bench-a", "pol-bench-b"], async ([a, b]) => {
    const baseline = node(a, SERVICES, DENSE);
    const full = node(b, SERVICES, DENSE);
    const base0 = await baseline.change(sourceEvents(worldObjects(DENSE)));
    row(`baseline: full sync, ${SERVICES} services + node rules, no policies`, base0);
    full.store.apply(sourceEvents(worldObjects(DENSE)));
    const all = await full.change(policyEvents(DENSE, "add"));
    row(
      "full sync, the same + 1,000 policies (dense)",
      all,
      "",
      `+${fmt(all.totalMs - base0.totalMs)} (${(all.totalMs / base0.totalMs).toFixed(2)}×)`,
    );
    console.log(
      `dense policy part: ${all.policy.chains} chains, ${all.policy.rules} rules, ${all.policy.sets} sets/maps, ${all.policy.elements} elements`,
    );
    await policyAdds(baseline, DENSE, "dense");
    baseline.experiments.pruneUnreferencedSets = true;
    await policyAdds(baseline, DENSE, "dense, what-if: unreferenced sets left out");
    baseline.experiments.pruneUnreferencedSets = false;
    await policyAdds(baseline, { ...DENSE, ipBlockExcept: false }, "dense, what-if: ipBlocks without except");
    await policyAdds(baseline, SPREAD, "spread");
    await labelChanges(full);
  });
}

/** The policies added to a synced table and removed again: WARMUP untimed cycles, ADDS timed ones. */
async function policyAdds(baseline: BenchNode, world: WorldSize, name: string): Promise<void> {
  for (let k = 0; k < ADD_WARMUP; k++) {
    await baseline.change(policyEvents(world, "add"));
    await baseline.change(policyEvents(world, "delete"));
  }
  const adds: SyncResult[] = [];
  const removes: SyncResult[] = [];
  for (let k = 0; k < ADDS; k++) {
    adds.push(await baseline.change(policyEvents(world, "add")));
    removes.push(await baseline.change(policyEvents(world, "delete")));
  }
  const add = median(adds);
  row(`1,000 policies (${name}) added to the synced baseline`, add, `≤ 1 s: ${verdict(add.totalMs <= 1000)}`);
  row("… and removed again", median(removes));
  console.log(
    `policy part (${name}): ${add.policy.chains} chains, ${add.policy.rules} rules, ${add.policy.sets} sets/maps, ${add.policy.elements} elements`,
  );
}

/** WARMUP untimed changes, then REPEAT timed ones (profiled as `name` with POLICY_BENCH_PROFILE). */
async function timedChanges(n: BenchNode, pods: number[], name: string): Promise<SyncResult> {
  for (let k = 0; k < WARMUP; k++) await n.change(relabel(pods[k], n.lastDecision));
  const out: SyncResult[] = [];
  const stop = await startProfile(PROFILE);
  for (let k = WARMUP; k < WARMUP + REPEAT; k++) out.push(await n.change(relabel(pods[k], n.lastDecision)));
  await stop?.(name);
  return median(out);
}

/** Part 2: label changes in the dense table, and the local one with the services in their own table. */
async function labelChanges(full: BenchNode): Promise<void> {
  const noop = await full.change([]);
  row("no change (a sync with nothing to do)", noop);
  // Remote pods spread over namespaces; local pods 0..99.
  const remote = Array.from({ length: WARMUP + REPEAT }, (_, k) => 1000 + 37 * k);
  const local = Array.from({ length: WARMUP + REPEAT }, (_, k) => 3 + 7 * k);
  const r = await timedChanges(full, remote, "remote");
  row(
    "remote peer pod relabelled (set elements only)",
    r,
    `≤ 20 ms: ${verdict(r.totalMs <= 20)}; O(change): ${verdict(r.stats.chainsAdded + r.stats.chainsChanged === 0 && r.bytes < 4096)}`,
    `${(r.totalMs / noop.totalMs).toFixed(1)}× no-change sync`,
  );
  const l = await timedChanges(full, local, "local");
  row(
    "local pod relabelled (its chain rewritten)",
    l,
    `≤ 20 ms: ${verdict(l.totalMs <= 20)} (kernel ${fmt(l.steps.kernel)}, ours ${fmt(l.totalMs - l.steps.kernel)})`,
  );
  // The same local changes with the services in a table of their own in the same namespace: the
  // kernel revalidates jump graphs per table.
  await withNetns(["pol-bench-c"], async ([c]) => {
    const split = new BenchNode({ ...nodeOptions(c, SERVICES, DENSE), servicesInOwnTable: true });
    split.store.apply(sourceEvents(worldObjects(DENSE)));
    await split.change(policyEvents(DENSE, "add"));
    const ls = await timedChanges(split, local, "local-own-table");
    row(
      "local pod relabelled, services in their own table",
      ls,
      `≤ 20 ms: ${verdict(ls.totalMs <= 20)}`,
      `kernel ${fmt(l.steps.kernel)} in one table vs ${fmt(ls.steps.kernel)}`,
    );
  });
}

function printSyncTables(): void {
  printTable([HEADER, ...rows]);
  console.log(
    "\nCPU time of this process per step (the same syncs; wall time above includes waiting for the CPU):",
  );
  printTable([["case", ...STEPS.filter((s) => s !== "kernel"), "total (sync)"], ...cpuRows]);
  console.log(
    "\nsteps: store = store.apply + snapshot; services = lbRequests + built-in LB + ServiceProxy.plan; evaluate = the reference decider as the agent runs it (runtime/policy/incremental.ts: a full evaluation, or only the sets a pod change touches); render = renderPolicy(decision, previous); node rules = planNodeRules + mergeFragments; diff = planSync; encode = netlink batch; kernel = sendmsg to last reply (the sender's measurement) on path netlink, the whole nft -f run on path text (nft/netlink/ leaves a batch to nft when it holds something the encoder does not cover, e.g. adjacent intervals).",
  );
  console.log(
    `medians: policy adds of ${ADDS} after ${ADD_WARMUP} untimed add/remove cycles; label changes of ${REPEAT} pods after ${WARMUP} untimed ones. Before all of it, one untimed full sync of the whole dense table in a namespace of its own.`,
  );
}

if (process.getuid?.() !== 0) {
  console.log("bench/policy needs root (network namespaces, nft); skipped");
} else {
  const started = performance.now();
  if (process.env.POLICY_BENCH_SYNC !== "0") {
    await fullSyncs();
    printSyncTables();
  }
  if (process.env.POLICY_BENCH_SETS !== "0") {
    console.log("\nkernel time of one batch of N empty named sets (fresh namespace each, netlink):");
    printTable(await measureSetCosts());
  }
  if (TRAFFIC) {
    console.log(
      "\nnew-connection rate, client pod → server pod through the node namespace (wrk, Connection: close):",
    );
    const traffic = await measureConnectionRates();
    printTable(traffic.table);
    for (const line of traffic.notes) console.log(line);
  }
  console.log(
    `\nbench/policy took ${fmt(performance.now() - started)}; load average at the end: ${loadavg()
      .map((x) => x.toFixed(1))
      .join(" ")}`,
  );
}
