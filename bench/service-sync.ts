// Full and partial service syncs at scale, against kube-proxy's nftables shape measured in the same run.
//   wasmplane: ServiceProxy.plan → mergeFragments → planSync (diff) → applyTransaction (netlink batch,
//              or `nft -f` where the encoder does not cover something) in a fresh netns.
//   baseline:  kube-proxy's current shape (a chain per service with an anonymous `numgen random mod N
//              vmap`, a chain per endpoint, the service-ips map), rendered as knftables does (one
//              command per line) and applied with `nft -f` in a fresh netns.
// Every service is a ClusterIP with one TCP port and 3 endpoints on 3 different nodes (this node is
// node-0). Full syncs run once each, after a full garbage collection; the partial cases run 7 times
// each (a different service every time, after SERVICE_SYNC_WARMUP=3 untimed changes) and the median
// is shown. The CPU time of this process is shown
// next to wall time (other work on the machine inflates wall time more than CPU time).
// SERVICE_SYNC_AGENT_SHAPES=chains,maps (issue 15): instead, for each size of SERVICE_SYNC_SIZES and
// each service shape (runtime/services/config.ts), a fresh agent and namespace: full sync, then the
// median of REPEAT endpoint changes and of REPEAT ClusterIP Services added, each as total, kernel,
// ours (total − kernel) and bytes; the first shape listed is the same-run baseline.

import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { loadavg } from "node:os";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { applyTransaction } from "../nft/apply.ts";
import { type DesiredTable, mergeFragments } from "../nft/desired.ts";
import { planSync } from "../nft/diff.ts";
import { builtinLbPlanner, type LbPlanner, type LbResult } from "../runtime/lb/plan.ts";
import { referenceLbPlanner } from "../runtime/lb/reference.ts";
import type { ServiceShape } from "../runtime/services/config.ts";
import { ServiceProxy } from "../runtime/services/proxy.ts";
import type { EndpointSlice, Service, Snapshot } from "../runtime/store/objects.ts";
import { service, slice } from "../test/services/fixtures.ts";
import { withNetns } from "../test/support/netns.ts";
import { startProfile } from "./support/cpu-profile.ts";

setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;

const SIZES = (process.env.SERVICE_SYNC_SIZES ?? "1000,10000,50000").split(",").filter(Boolean).map(Number);
const PARTIAL_AT = Number(process.env.SERVICE_SYNC_PARTIAL_AT ?? 10000);
const REPEAT = 7;
const WARMUP = Number(process.env.SERVICE_SYNC_WARMUP ?? 3);
const medianOf = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;
/** The result whose total is the median. */
const medianResult = (rs: SyncResult[]) =>
  [...rs].sort((a, b) => a.totalMs - b.totalMs)[Math.floor(rs.length / 2)];
const BASELINE_MAX = Number(process.env.SERVICE_SYNC_BASELINE_MAX ?? 10000);
const clusterIP = (i: number) =>
  `10.96.${(i >> 8) & 255}.${i & 255}`.replace(/^10\.96/, `10.${96 + (i >> 16)}`);
const endpointIP = (i: number, j: number) => `10.${64 + j * 4 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`;

const makeService = (i: number) => service("bench", `svc-${i}`, { clusterIPs: [clusterIP(i)] });
/** `svc`'s slice, endpoint j on node-j. */
const makeSlice = (svc: Service, ips: string[]) =>
  slice(
    svc,
    ips.map((ip, j) => ({ ip, node: `node-${j}` })),
  );

function makeSnapshot(n: number): Snapshot {
  const services = new Map<string, Service>();
  const slices = new Map<string, EndpointSlice>();
  for (let i = 0; i < n; i++) {
    const svc = makeService(i);
    services.set(`bench/svc-${i}`, svc);
    slices.set(
      `bench/svc-${i}-abc`,
      makeSlice(
        svc,
        [0, 1, 2].map((j) => endpointIP(i, j)),
      ),
    );
  }
  return {
    services,
    endpointSlices: slices,
    nodes: new Map(),
    namespaces: new Map(),
    pods: new Map(),
  } as Snapshot;
}

interface Agent {
  proxy: ServiceProxy;
  applied: DesiredTable | null;
}

/** Only the first (full) sync of an agent starts from a collected heap. */
function snapHasAgentState(agent: Agent): boolean {
  return agent.applied !== null;
}

interface SyncResult {
  cpuMs: number;
  planMs: number;
  diffMs: number;
  renderMs: number;
  applyMs: number;
  /** Netlink path: the kernel's part of applyMs. */
  kernelMs?: number;
  path: string;
  totalMs: number;
  bytes: number;
  operations: number;
}

async function sync(agent: Agent, snap: Snapshot, ns: string): Promise<SyncResult> {
  if (!snapHasAgentState(agent)) gc();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const requests = agent.proxy.lbRequests(snap);
  const results = await builtinLbPlanner.plan(requests);
  const lb = new Map<string, LbResult>(requests.map((r, i) => [r.key, results[i]]));
  const plan = agent.proxy.plan(snap, lb);
  const desired = mergeFragments("inet", "wasmplane", [plan.fragment], ["services"]);
  const t1 = performance.now();
  const sp = planSync(agent.applied, desired);
  const t2 = performance.now();
  const result = await applyTransaction(sp.tx, { netns: ns });
  agent.applied = sp.applied;
  const t3 = performance.now();
  const cpu = process.cpuUsage(cpu0);
  return {
    cpuMs: (cpu.user + cpu.system) / 1000,
    planMs: t1 - t0,
    diffMs: t2 - t1,
    renderMs: result.renderMs,
    applyMs: result.durationMs,
    kernelMs: result.kernelMs,
    path: result.format,
    totalMs: t3 - t0,
    bytes: result.bytes,
    operations: result.operations,
  };
}

// ---- kube-proxy's shape (pkg/proxy/nftables/proxier.go), one command per line as knftables writes it.
function baselineScript(n: number): string {
  const t = "ip kube-proxy";
  const lines: string[] = [
    `add table ${t}`,
    `add chain ${t} nat-prerouting { type nat hook prerouting priority -100 ; }`,
    `add chain ${t} nat-output { type nat hook output priority -100 ; }`,
    `add chain ${t} nat-postrouting { type nat hook postrouting priority 100 ; }`,
    `add chain ${t} services`,
    `add chain ${t} mark-for-masquerade`,
    `add chain ${t} masquerading`,
    `add rule ${t} nat-prerouting jump services`,
    `add rule ${t} nat-output jump services`,
    `add rule ${t} nat-postrouting jump masquerading`,
    `add rule ${t} mark-for-masquerade mark set mark or 0x4000`,
    `add rule ${t} masquerading mark and 0x4000 == 0 return`,
    `add rule ${t} masquerading mark set mark xor 0x4000`,
    `add rule ${t} masquerading masquerade fully-random`,
    `add set ${t} cluster-ips { type ipv4_addr ; }`,
    `add map ${t} service-ips { type ipv4_addr . inet_proto . inet_service : verdict ; }`,
    `add rule ${t} services ip daddr . meta l4proto . th dport vmap @service-ips`,
  ];
  for (let i = 0; i < n; i++)
    lines.push(
      ...baselineService(
        t,
        i,
        [0, 1, 2].map((j) => endpointIP(i, j)),
      ),
    );
  return `${lines.join("\n")}\n`;
}

function baselineService(t: string, i: number, eps: string[]): string[] {
  const svc = `service-${i.toString(36).toUpperCase().padStart(8, "X")}-bench/svc-${i}/tcp/http`;
  const lines = [`add chain ${t} ${svc}`, `flush chain ${t} ${svc}`];
  const epChains = eps.map(
    (ip) => `endpoint-${i.toString(36).toUpperCase().padStart(8, "X")}-bench/svc-${i}/tcp/http__${ip}/8080`,
  );
  eps.forEach((ip, j) => {
    lines.push(`add chain ${t} ${epChains[j]}`, `flush chain ${t} ${epChains[j]}`);
    lines.push(`add rule ${t} ${epChains[j]} ip saddr ${ip} jump mark-for-masquerade`);
    lines.push(`add rule ${t} ${epChains[j]} meta l4proto tcp dnat to ${ip}:8080`);
  });
  lines.push(
    `add rule ${t} ${svc} ip daddr ${clusterIP(i)} tcp dport 80 ip saddr != 10.0.0.0/8 jump mark-for-masquerade`,
  );
  lines.push(
    `add rule ${t} ${svc} numgen random mod ${eps.length} vmap { ${epChains.map((c, j) => `${j} : goto ${c}`).join(" , ")} }`,
  );
  lines.push(`add element ${t} cluster-ips { ${clusterIP(i)} }`);
  lines.push(`add element ${t} service-ips { ${clusterIP(i)} . tcp . 80 : goto ${svc} }`);
  return lines;
}

function nftApply(ns: string, script: string): number {
  const t0 = performance.now();
  const r = spawnSync("ip", ["netns", "exec", ns, "nft", "-f", "-"], {
    input: script,
    encoding: "utf8",
    maxBuffer: 1 << 26,
  });
  if (r.status !== 0) throw new Error(`baseline nft failed: ${r.stderr.slice(0, 500)}`);
  return performance.now() - t0;
}

// ---- rule-shape alternatives (SERVICE_SYNC_SHAPES=1): the same N services written four ways, each
// applied with `nft -f` to a fresh namespace. This is the measurement docs/services.md cites.
function shapeScript(
  shape: "anonymous-vmap" | "shared-slot-vmap" | "shared-dnat-map" | "cascade",
  n: number,
): string {
  const t = "inet shapes";
  const out = [
    `add table ${t}`,
    `add map ${t} service-ips { type ipv4_addr . inet_proto . inet_service : verdict; }`,
    `add map ${t} slots { typeof numgen random mod 1 : verdict; }`,
    `add map ${t} backends { typeof numgen random mod 1 : ip daddr . tcp dport; }`,
    `add chain ${t} mark-for-masquerade { meta mark set meta mark or 0x4000; }`,
    `add chain ${t} services { ip daddr . meta l4proto . th dport vmap @service-ips; }`,
    `add chain ${t} nat-prerouting { type nat hook prerouting priority -100; jump services; }`,
  ];
  const elements: string[] = [];
  for (let i = 0; i < n; i++) {
    const svc = `svc-${i}`;
    const eps = [0, 1, 2].map((j) => endpointIP(i, j));
    out.push(`add chain ${t} ${svc}`);
    const epChains = eps.map((_, j) => `ep-${i}-${j}`);
    if (shape === "anonymous-vmap" || shape === "shared-slot-vmap")
      eps.forEach((ip, j) => {
        out.push(`add chain ${t} ${epChains[j]}`);
        out.push(`add rule ${t} ${epChains[j]} ip saddr ${ip} jump mark-for-masquerade`);
        out.push(`add rule ${t} ${epChains[j]} meta l4proto tcp dnat ip to ${ip}:8080`);
      });
    if (shape === "anonymous-vmap")
      out.push(
        `add rule ${t} ${svc} numgen random mod 3 vmap { ${epChains.map((c, j) => `${j} : goto ${c}`).join(", ")} }`,
      );
    if (shape === "shared-slot-vmap") {
      out.push(`add rule ${t} ${svc} numgen random mod 3 offset ${i * 4} vmap @slots`);
      out.push(`add element ${t} slots { ${epChains.map((c, j) => `${i * 4 + j} : goto ${c}`).join(", ")} }`);
    }
    if (shape === "shared-dnat-map") {
      out.push(
        `add rule ${t} ${svc} meta l4proto tcp dnat ip to numgen random mod 3 offset ${i * 4} map @backends`,
      );
      out.push(
        `add element ${t} backends { ${eps.map((ip, j) => `${i * 4 + j} : ${ip} . 8080`).join(", ")} }`,
      );
    }
    if (shape === "cascade") {
      out.push(`add rule ${t} ${svc} numgen random mod 3 < 1 meta l4proto tcp dnat ip to ${eps[0]}:8080`);
      out.push(`add rule ${t} ${svc} numgen random mod 2 < 1 meta l4proto tcp dnat ip to ${eps[1]}:8080`);
      out.push(`add rule ${t} ${svc} meta l4proto tcp dnat ip to ${eps[2]}:8080`);
    }
    elements.push(`${clusterIP(i)} . tcp . 80 : goto ${svc}`);
  }
  out.push(`add element ${t} service-ips { ${elements.join(", ")} }`);
  return `${out.join("\n")}\n`;
}

async function measureShapes(n: number): Promise<void> {
  const shapes = ["anonymous-vmap", "shared-slot-vmap", "shared-dnat-map", "cascade"] as const;
  const results: string[][] = [["shape", `nft -f, ${n} services × 3 endpoints`, "bytes"]];
  for (const shape of shapes) {
    const script = shapeScript(shape, n);
    const ms = await withNetns(["svc-bench"], async ([ns]) => nftApply(ns, script));
    results.push([shape, fmt(ms), size(Buffer.byteLength(script))]);
  }
  const widths = results[0].map((_, i) => Math.max(...results.map((r) => r[i].length)));
  console.log("\nRule shapes (anonymous-vmap is kube-proxy's; cascade is wasmplane's):");
  for (const r of results) console.log(r.map((c, i) => c.padEnd(widths[i])).join("  "));
}

// ---- Maglev at scale (SERVICE_SYNC_MAGLEV=K[,K…]): K services × 40 endpoints with the Maglev plan of
// runtime/lb/reference.ts (the plugin's table: 32,749 slots, or SERVICE_SYNC_MAGLEV_MAX_TABLE), so each
// selection chain is one rule with an anonymous map. One full sync into a fresh namespace through the
// nft executable (nft/'s netlink path cannot send maps of more than 64 KiB of elements yet), with the
// kernel memory it took (Slab + VmallocUsed before and after, machine-wide: other work adds noise).
const kernelMiB = () => {
  const info = readFileSync("/proc/meminfo", "utf8");
  const kib = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+)`, "m").exec(info)?.[1] ?? 0);
  return (kib("Slab") + kib("VmallocUsed")) / 1024;
};

async function measureMaglev(k: number, maxTable: string | undefined): Promise<string[]> {
  const planner: LbPlanner = referenceLbPlanner("maglev");
  const services = new Map<string, Service>();
  const slices = new Map<string, EndpointSlice>();
  for (let i = 0; i < k; i++) {
    const svc = service("bench", `mg-${i}`, {
      clusterIPs: [clusterIP(i)],
      annotations: maxTable ? { "lb.wasmplane.io/max-table-size": maxTable } : {},
    });
    services.set(`bench/mg-${i}`, svc);
    const ips = Array.from(
      { length: 40 },
      (_, j) => `10.${64 + (j >> 3)}.${i & 255}.${(i >> 8) * 8 + (j & 7) + 1}`,
    );
    slices.set(`bench/mg-${i}-abc`, makeSlice(svc, ips));
  }
  const proxy = new ServiceProxy({
    nodeName: "node-0",
    nodeIPs: ["192.168.1.1"],
    clusterCIDRs: ["10.0.0.0/8"],
    serviceCIDRs: ["10.96.0.0/12"],
    masqueradeAll: false,
    defaultLbAlgorithm: "maglev",
  });
  gc();
  const heap0 = process.memoryUsage().heapUsed;
  const t0 = performance.now();
  const snap: Snapshot = { ...makeSnapshot(0), services, endpointSlices: slices };
  const requests = proxy.lbRequests(snap);
  const results = await planner.plan(requests);
  const t1 = performance.now();
  const plan = proxy.plan(snap, new Map<string, LbResult>(requests.map((r, i) => [r.key, results[i]])));
  const desired = mergeFragments("inet", "wasmplane", [plan.fragment], ["services"]);
  const t2 = performance.now();
  const sp = planSync(null, desired);
  const t3 = performance.now();
  const slots = results[0]?.ok ? results[0].plan.slots.length : 0;
  const before = process.env.WASMPLANE_NFT_PATH;
  process.env.WASMPLANE_NFT_PATH = "nft";
  try {
    return await withNetns(["svc-bench-mg"], async ([ns]) => {
      const kernel0 = kernelMiB();
      const result = await applyTransaction(sp.tx, { netns: ns });
      const kernel = kernelMiB() - kernel0;
      gc();
      const heap = (process.memoryUsage().heapUsed - heap0) / (1 << 20);
      return [
        `${k}`,
        `${slots}`,
        fmt(t1 - t0),
        fmt(t2 - t1),
        fmt(t3 - t2),
        fmt(result.renderMs),
        fmt(result.durationMs),
        size(result.bytes),
        `${kernel.toFixed(0)} MiB`,
        `${heap.toFixed(0)} MiB`,
      ];
    });
  } finally {
    if (before === undefined) delete process.env.WASMPLANE_NFT_PATH;
    else process.env.WASMPLANE_NFT_PATH = before;
  }
}

// ---- table output
const rows: string[][] = [];
const fmt = (ms: number) => (ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(1)} ms`);
const size = (b: number) =>
  b >= 1 << 20 ? `${(b / (1 << 20)).toFixed(1)} MiB` : b >= 1024 ? `${(b / 1024).toFixed(1)} KiB` : `${b} B`;
const mib = () => `${(process.memoryUsage().rss / (1 << 20)).toFixed(0)} MiB`;
function cells(r: SyncResult): string[] {
  return [
    fmt(r.planMs),
    fmt(r.diffMs),
    fmt(r.renderMs),
    r.path,
    r.kernelMs === undefined ? fmt(r.applyMs) : `${fmt(r.applyMs)} (kernel ${fmt(r.kernelMs)})`,
    fmt(r.totalMs),
    fmt(r.cpuMs),
    size(r.bytes),
  ];
}
function baselineCells(ran: boolean, ms: number, script: string, ours: SyncResult): string[] {
  if (!ran) return ["not run", "", ""];
  return [fmt(ms), size(Buffer.byteLength(script)), `${(ms / ours.totalMs).toFixed(1)}×`];
}
function row(...cells: string[]) {
  rows.push(cells);
}
function printTable() {
  const header = [
    "case",
    "plan",
    "diff",
    "render",
    "path",
    "apply",
    "total",
    "agent CPU",
    "tx bytes",
    "RSS",
    "baseline total",
    "baseline bytes",
    "speed-up",
  ];
  const all = [header, ...rows];
  const widths = header.map((_, i) => Math.max(...all.map((r) => (r[i] ?? "").length)));
  for (const r of all) console.log(r.map((c, i) => (c ?? "").padEnd(widths[i])).join("  "));
}

// ---- service shapes in the agent (SERVICE_SYNC_AGENT_SHAPES=chains,maps), see the header.

interface ShapeCase {
  full: SyncResult;
  change: SyncResult;
  add: SyncResult;
  rss: string;
}

/** One endpoint of service `i` replaced by `extra`. */
function withEndpointChange(snap: Snapshot, i: number, extra: string): Snapshot {
  const slices = new Map(snap.endpointSlices);
  const eps = [endpointIP(i, 0), endpointIP(i, 1), extra];
  slices.set(`bench/svc-${i}-abc`, makeSlice(snap.services.get(`bench/svc-${i}`)!, eps));
  return { ...snap, endpointSlices: slices };
}

/** Service `j` (a ClusterIP with 3 endpoints) added. */
function withServiceAdded(snap: Snapshot, j: number): Snapshot {
  const services = new Map(snap.services);
  const slices = new Map(snap.endpointSlices);
  const svc = makeService(j);
  services.set(`bench/svc-${j}`, svc);
  slices.set(
    `bench/svc-${j}-abc`,
    makeSlice(
      svc,
      [0, 1, 2].map((e) => endpointIP(j, e)),
    ),
  );
  return { ...snap, services, endpointSlices: slices };
}

// With SERVICE_SYNC_PROFILE=DIR, a CPU profile of the full sync and of the timed changes is written to
// DIR/SIZE-SHAPE-CASE.cpuprofile (CASE: full, change, add).
const PROFILE_DIR = process.env.SERVICE_SYNC_PROFILE;

async function measureShape(n: number, shape: ServiceShape, snap: Snapshot): Promise<ShapeCase> {
  const agent: Agent = {
    proxy: new ServiceProxy({
      nodeName: "node-a",
      nodeIPs: ["192.168.1.1"],
      clusterCIDRs: ["10.0.0.0/8"],
      serviceCIDRs: ["10.96.0.0/12"],
      masqueradeAll: false,
      shape,
    }),
    applied: null,
  };
  return withNetns(["s15-bench"], async ([ns]) => {
    const profileFull = await startProfile(PROFILE_DIR);
    const full = await sync(agent, snap, ns);
    await profileFull?.(`${n}-${shape}-full`);
    let current = snap;
    for (let k = 0; k < WARMUP; k++) {
      current = withEndpointChange(current, Math.floor(n * 0.3) + k, `10.98.9.${k}`);
      await sync(agent, current, ns);
    }
    const changes: SyncResult[] = [];
    const profileChanges = await startProfile(PROFILE_DIR);
    for (let k = 0; k < REPEAT; k++) {
      current = withEndpointChange(current, Math.floor(n * 0.4242) + k, `10.99.9.${k}`);
      changes.push(await sync(agent, current, ns));
    }
    await profileChanges?.(`${n}-${shape}-change`);
    const adds: SyncResult[] = [];
    const profile = await startProfile(PROFILE_DIR);
    for (let k = 0; k < REPEAT; k++) {
      current = withServiceAdded(current, n + k);
      adds.push(await sync(agent, current, ns));
    }
    await profile?.(`${n}-${shape}-add`);
    return { full, change: medianResult(changes), add: medianResult(adds), rss: mib() };
  });
}

async function measureAgentShapes(sizes: number[], shapes: ServiceShape[]): Promise<void> {
  const out: string[][] = [
    ["services", "shape", "case", "total", "kernel", "ours", "bytes", "ops", "total vs " + shapes[0], "RSS"],
  ];
  const load = () =>
    loadavg()
      .map((x) => x.toFixed(1))
      .join(" / ");
  console.log(`load average at the start: ${load()}`);
  for (const n of sizes) {
    const snap = makeSnapshot(n);
    const base: Partial<Record<string, SyncResult>> = {};
    for (const shape of shapes) {
      const r = await measureShape(n, shape, snap);
      for (const [name, x] of [
        ["full sync", r.full],
        ["one endpoint change", r.change],
        ["one ClusterIP Service added", r.add],
      ] as const) {
        const kernel = x.kernelMs ?? 0;
        base[name] ??= x;
        out.push([
          n.toLocaleString("en"),
          shape,
          name,
          fmt(x.totalMs),
          x.kernelMs === undefined ? `(${x.path})` : kernel < 1 ? `${kernel.toFixed(2)} ms` : fmt(kernel),
          `${fmt(x.totalMs - kernel)} (plan ${fmt(x.planMs)}, diff ${fmt(x.diffMs)}, encode ${fmt(x.renderMs)})`,
          size(x.bytes),
          String(x.operations),
          `${(x.totalMs / base[name]!.totalMs).toFixed(2)}×`,
          r.rss,
        ]);
      }
      console.log(`  ${n} ${shape} done (load ${load()})`);
    }
  }
  const widths = out[0].map((_, i) => Math.max(...out.map((r) => r[i].length)));
  for (const r of out) console.log(r.map((c, i) => c.padEnd(widths[i])).join("  "));
  console.log(`load average at the end: ${load()}`);
  console.log(
    "kernel = the netlink batch's time in the kernel (sender); ours = total − kernel; medians of 7 changes.",
  );
}

if (process.getuid?.() !== 0) {
  console.log("bench/service-sync needs root (network namespaces, nft); skipped");
} else if (process.env.SERVICE_SYNC_AGENT_SHAPES) {
  const shapes = process.env.SERVICE_SYNC_AGENT_SHAPES.split(",").filter(Boolean) as ServiceShape[];
  await measureAgentShapes(SIZES, shapes);
} else {
  for (const n of SIZES) {
    const snap = makeSnapshot(n);
    const agent: Agent = {
      proxy: new ServiceProxy({
        nodeName: "node-a",
        nodeIPs: ["192.168.1.1"],
        clusterCIDRs: ["10.0.0.0/8"],
        serviceCIDRs: ["10.96.0.0/12"],
        masqueradeAll: false,
      }),
      applied: null,
    };
    const runBaseline = n <= BASELINE_MAX;
    await withNetns(["svc-bench"], async ([ns]) => {
      await withNetns(["svc-bench"], async ([bns]) => {
        const full = await sync(agent, snap, ns);
        const rss = mib();
        const script = runBaseline ? baselineScript(n) : "";
        const baseMs = runBaseline ? nftApply(bns, script) : 0;
        row(
          `full sync ${n}`,
          ...cells(full),
          rss,
          runBaseline ? fmt(baseMs) : "not run",
          runBaseline ? size(Buffer.byteLength(script)) : "",
          runBaseline ? `${(baseMs / full.totalMs).toFixed(1)}×` : "",
        );
        if (n !== PARTIAL_AT) return;

        // Steady state: REPEAT syncs of each kind (a different service each time), the median one is
        // shown (garbage collection is left to run as it would in the agent).
        const t = "ip kube-proxy";
        let current: Snapshot = snap;
        const changes: SyncResult[] = [];
        const baseChanges: number[] = [];
        let baseChange = "";
        // A running agent has synced many times; its first few syncs after start-up are slower
        // while V8 compiles the partial-sync paths. WARMUP untimed endpoint changes first (on other
        // services); the first timed change is then what a long-running agent sees.
        for (let k = 0; k < WARMUP; k++) {
          const i = Math.floor(n * 0.3) + k;
          const slices = new Map(current.endpointSlices);
          const eps = [endpointIP(i, 0), endpointIP(i, 1), `10.98.9.${k}`];
          slices.set(`bench/svc-${i}-abc`, makeSlice(current.services.get(`bench/svc-${i}`)!, eps));
          current = { ...current, endpointSlices: slices };
          await sync(agent, current, ns);
        }
        for (let k = 0; k < REPEAT; k++) {
          // One endpoint of one service replaced. Baseline: kube-proxy's partial sync rewrites the
          // service's chains (and adds the new endpoint's chain).
          const i = Math.floor(n * 0.4242) + k;
          const eps = [endpointIP(i, 0), endpointIP(i, 1), `10.99.9.${k}`];
          const slices = new Map(current.endpointSlices);
          slices.set(`bench/svc-${i}-abc`, makeSlice(current.services.get(`bench/svc-${i}`)!, eps));
          current = { ...current, endpointSlices: slices };
          changes.push(await sync(agent, current, ns));
          baseChange = `${baselineService(t, i, eps)
            .filter((l) => !l.startsWith("add element"))
            .join("\n")}\n`;
          if (runBaseline) baseChanges.push(nftApply(bns, baseChange));
        }
        const one = medianResult(changes);
        row(
          `one endpoint change @${n}`,
          ...cells(one),
          mib(),
          ...baselineCells(runBaseline, medianOf(baseChanges), baseChange, one),
        );

        const adds: SyncResult[] = [];
        const baseAdds: number[] = [];
        let baseAdd = "";
        for (let k = 0; k < REPEAT; k++) {
          const j = n + k;
          const services = new Map(current.services);
          const slices = new Map(current.endpointSlices);
          const newEps = [0, 1, 2].map((e) => endpointIP(j, e));
          const svc = makeService(j);
          services.set(`bench/svc-${j}`, svc);
          slices.set(`bench/svc-${j}-abc`, makeSlice(svc, newEps));
          current = { ...current, services, endpointSlices: slices };
          adds.push(await sync(agent, current, ns));
          baseAdd = `${baselineService(t, j, newEps).join("\n")}\n`;
          if (runBaseline) baseAdds.push(nftApply(bns, baseAdd));
        }
        const added = medianResult(adds);
        row(
          `one service add @${n}`,
          ...cells(added),
          mib(),
          ...baselineCells(runBaseline, medianOf(baseAdds), baseAdd, added),
        );

        const noops: SyncResult[] = [];
        for (let k = 0; k < REPEAT; k++) noops.push(await sync(agent, current, ns));
        row(`no change @${n}`, ...cells(medianResult(noops)), mib(), "", "", "");
      });
    });
  }
  printTable();
  console.log(
    "\nplan = lbRequests + built-in LB + ServiceProxy.plan + mergeFragments; diff = nft planSync; render = nft script or netlink batch; path = how it reached the kernel (text: nft -f; netlink: nft/netlink/); apply = that run;",
  );
  console.log(
    "total = plan + diff + render + apply (wall); agent CPU = CPU time of this process in the step (nft excluded).",
  );
  console.log(
    "Baseline = kube-proxy's nftables shape applied with nft -f (same services, same namespace kind).",
  );
  if (process.env.SERVICE_SYNC_SHAPES)
    await measureShapes(Number(process.env.SERVICE_SYNC_SHAPES_N ?? 10000));
  if (process.env.SERVICE_SYNC_MAGLEV) {
    const header = [
      "services",
      "slots",
      "requests + LB",
      "plan",
      "diff",
      "render",
      "nft -f",
      "script",
      "kernel mem",
      "agent heap",
    ];
    const table = [header];
    for (const k of process.env.SERVICE_SYNC_MAGLEV.split(",").map(Number))
      table.push(await measureMaglev(k, process.env.SERVICE_SYNC_MAGLEV_MAX_TABLE));
    const widths = header.map((_, i) => Math.max(...table.map((r) => r[i].length)));
    console.log(
      "\nMaglev services × 40 endpoints, full sync through nft -f (selection chains as map lookups):",
    );
    for (const r of table) console.log(r.map((c, i) => c.padEnd(widths[i])).join("  "));
  }
  console.log(
    `load average at the end: ${loadavg()
      .map((x) => x.toFixed(1))
      .join(" ")}`,
  );
}
