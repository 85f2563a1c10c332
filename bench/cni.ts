// CNI latency and IPAM rate, one run.
//  1. ADD and DEL latency (median, p95) for 50 pods as a runtime sees it (a process per call, run in
//     the node's namespace through nsenter): wasmplane's executable (the static binary built from
//     runtime/cni/shim.c) + in-process CNI server, Debian's bridge + host-local, `true` as the floor
//     of any process started that way, and wasmplane VERSION (the executable alone, no socket),
//     interleaved per pod.
//  2. IPAM per second for the TypeScript range decider and the Wasm range/random plugins: decisions
//     alone, and allocate + journal commit without fsync and durable (every commit fsynced).
import { spawn } from "node:child_process";
import { join } from "node:path";
import { installCni } from "../runtime/cni/install.ts";
import { startCniServer } from "../runtime/cni/server.ts";
import type { IpamDecider } from "../runtime/ipam/decider.ts";
import { rangeDecider } from "../runtime/ipam/range.ts";
import { ipamDeciderFromSpec } from "../runtime/ipam/select.ts";
import { AllocationStore } from "../runtime/ipam/store.ts";
import { invoke, tempDir } from "../test/cni/harness.ts";
import { createNetns, deleteNetns, uniqueNetnsName } from "../test/support/netns.ts";

const PODS = 50;

function stats(samples: number[]): { median: number; p95: number } {
  const s = [...samples].sort((a, b) => a - b);
  return {
    median: s[Math.floor(s.length / 2)],
    p95: s[Math.min(s.length - 1, Math.ceil(s.length * 0.95) - 1)],
  };
}

function timeSpawn(cmd: string, args: string[]): Promise<number> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const c = spawn(cmd, args, { stdio: "ignore" });
    c.on("error", reject);
    c.on("close", () => resolve(performance.now() - started));
  });
}

interface Flavor {
  name: string;
  bin: string;
  config: Record<string, unknown>;
}

function call(flavor: Flavor, node: string, command: "ADD" | "DEL", i: number, pod: string): Promise<number> {
  return invoke({
    bin: flavor.bin,
    command,
    containerId: `bench-${i}`,
    netns: `/run/netns/${pod}`,
    ifName: "eth0",
    cniPath: "/usr/lib/cni",
    config: flavor.config,
    nodeNetns: node,
  }).then((r) => {
    if (r.code !== 0) throw new Error(`${flavor.name} ${command} failed: ${r.stdout}`);
    return r.ms;
  });
}

/** The executable alone: VERSION is answered without the agent. */
function callVersion(flavor: Flavor, node: string): Promise<number> {
  return invoke({ bin: flavor.bin, command: "VERSION", config: flavor.config, nodeNetns: node }).then((r) => {
    if (r.code !== 0) throw new Error(`${flavor.name} VERSION failed: ${r.stdout}`);
    return r.ms;
  });
}

async function latency(): Promise<void> {
  const dir = tempDir("bench");
  const nodes = [uniqueNetnsName("cni-bench-node"), uniqueNetnsName("cni-bench-node")];
  const pods = Array.from({ length: PODS }, () => [
    uniqueNetnsName("cni-bench-pod"),
    uniqueNetnsName("cni-bench-pod"),
  ]);
  try {
    for (const n of nodes) createNetns(n);
    for (const pair of pods) for (const p of pair) createNetns(p);
    const socket = join(dir.dir, "cni.sock");
    await installCni({ binDir: dir.dir, confDir: dir.dir, agentSocket: socket });
    const server = await startCniServer({
      socketPath: socket,
      nodeNetns: nodes[0],
      stateDir: join(dir.dir, "state"),
      podCIDRs: ["10.90.0.0/24", "fd90::/64"],
    });
    const ours: Flavor = {
      name: "wasmplane",
      bin: join(dir.dir, "wasmplane"),
      config: { cniVersion: "1.0.0", name: "wasmplane", type: "wasmplane", agentSocket: socket },
    };
    const reference: Flavor = {
      name: "bridge+host-local",
      bin: "/usr/lib/cni/bridge",
      config: {
        cniVersion: "1.0.0",
        name: "reference",
        type: "bridge",
        bridge: "wpbench0",
        isGateway: true,
        ipam: {
          type: "host-local",
          ranges: [[{ subnet: "10.91.0.0/24" }], [{ subnet: "fd91::/64" }]],
          dataDir: join(dir.dir, "host-local"),
        },
      },
    };
    // Interleaved per pod (floor, ours, reference), so a change in machine load hits all alike.
    const floor: number[] = [];
    const version: number[] = [];
    const add = { ours: [] as number[], ref: [] as number[] };
    const del = { ours: [] as number[], ref: [] as number[] };
    try {
      for (const [i, [podOurs, podRef]] of pods.entries()) {
        floor.push(await timeSpawn("nsenter", [`--net=/run/netns/${nodes[0]}`, "true"]));
        version.push(await callVersion(ours, nodes[0]));
        add.ours.push(await call(ours, nodes[0], "ADD", i, podOurs));
        add.ref.push(await call(reference, nodes[1], "ADD", i, podRef));
      }
      for (const [i, [podOurs, podRef]] of pods.entries()) {
        del.ours.push(await call(ours, nodes[0], "DEL", i, podOurs));
        del.ref.push(await call(reference, nodes[1], "DEL", i, podRef));
      }
    } finally {
      await server.close();
    }
    const f = stats(floor);
    const rows: [string, { median: number; p95: number }, number][] = [
      ["nsenter true (floor)", f, Number.NaN],
      ["wasmplane VERSION", stats(version), Number.NaN],
      ["wasmplane ADD", stats(add.ours), stats(add.ref).median],
      ["bridge+host-local ADD", stats(add.ref), stats(add.ref).median],
      ["wasmplane DEL", stats(del.ours), stats(del.ref).median],
      ["bridge+host-local DEL", stats(del.ref), stats(del.ref).median],
    ];
    console.log(
      `CNI latency, ${PODS} pods, dual-stack, each call through nsenter into the node namespace, interleaved (ms)`,
    );
    console.log(
      `${"case".padEnd(24)}${"median".padStart(9)}${"p95".padStart(9)}${"× reference".padStart(13)}${"− floor".padStart(10)}`,
    );
    for (const [name, s, ref] of rows)
      console.log(
        `${name.padEnd(24)}${s.median.toFixed(1).padStart(9)}${s.p95.toFixed(1).padStart(9)}${(Number.isNaN(ref) ? "" : (s.median / ref).toFixed(2)).padStart(13)}${(s.median - f.median).toFixed(1).padStart(10)}`,
      );
  } finally {
    for (const pair of pods) for (const p of pair) deleteNetns(p);
    for (const n of nodes) deleteNetns(n);
    dir.remove();
  }
}

/** Allocate/release churn at a steady ~100 live allocations in a /16 + /64. */
async function ipamRate(decider: IpamDecider, durable: boolean, count: number): Promise<number> {
  const dir = tempDir("bench-ipam");
  const store = AllocationStore.open(dir.dir, { fsync: durable });
  try {
    const podCIDRs = ["10.92.0.0/16", "fd92::/64"];
    const live: string[][] = [];
    const started = performance.now();
    for (let i = 0; i < count; i++) {
      const d = await decider.allocate({
        podCIDRs,
        allocations: store.list(),
        lastAllocated: store.lastAllocated(),
        request: { containerId: `c${i}`, ifName: "eth0", requestedIPs: [] },
      });
      if (!d.ok) throw new Error(`${decider.name}: ${d.message}`);
      store.commitAllocations(d.addresses.map((a) => ({ ip: a.ip, containerId: `c${i}`, ifName: "eth0" })));
      live.push(d.addresses.map((a) => a.ip));
      if (live.length > 100) store.commitRelease(live.shift()!);
    }
    return count / ((performance.now() - started) / 1000);
  } finally {
    store.close();
    dir.remove();
  }
}

/** Decisions alone: the same request against a fixed set of 100 live allocations. */
async function decisionRate(decider: IpamDecider, count: number): Promise<number> {
  const allocations = Array.from({ length: 100 }, (_, i) => ({
    ip: `10.92.0.${i + 1}`,
    containerId: `c${i}`,
    ifName: "eth0",
  }));
  const input = {
    podCIDRs: ["10.92.0.0/16", "fd92::/64"],
    allocations,
    lastAllocated: { v4: "10.92.0.100" },
    request: { containerId: "new", ifName: "eth0", requestedIPs: [] },
  };
  const started = performance.now();
  for (let i = 0; i < count; i++) {
    const d = await decider.allocate(input);
    if (!d.ok) throw new Error(`${decider.name}: ${d.message}`);
  }
  return count / ((performance.now() - started) / 1000);
}

async function ipam(): Promise<void> {
  const deciders: IpamDecider[] = [rangeDecider];
  for (const spec of ["wasm:range", "wasm:random"]) {
    try {
      deciders.push(await ipamDeciderFromSpec(spec));
    } catch (err) {
      console.log(`(${spec} not available: ${(err as Error).message})`);
    }
  }
  console.log(
    "\nIPAM per second, dual-stack, ~100 live allocations: decisions alone; allocate + journal commit without and with fsync",
  );
  console.log(
    `${"decider".padEnd(14)}${"decisions".padStart(11)}${"+ journal".padStart(11)}${"durable".padStart(10)}${"× TS range".padStart(12)}`,
  );
  let baseline = 0;
  for (const d of deciders) {
    const pure = await decisionRate(d, 10_000);
    const fast = await ipamRate(d, false, 10_000);
    const durable = await ipamRate(d, true, 500);
    if (!baseline) baseline = pure;
    console.log(
      `${d.name.padEnd(14)}${pure.toFixed(0).padStart(11)}${fast.toFixed(0).padStart(11)}${durable.toFixed(0).padStart(10)}${(pure / baseline).toFixed(2).padStart(12)}`,
    );
    await (d as { close?: () => Promise<void> }).close?.();
  }
}

// WASMPLANE_BENCH_CNI=ipam or =latency runs one half.
const only = process.env.WASMPLANE_BENCH_CNI;
if (only !== "ipam") await latency();
if (only !== "latency") await ipam();
