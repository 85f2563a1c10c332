// Wasm LB plugins against their baselines, each measured in this run:
//   1. per-call overhead of an empty plan: worker round trip (SharedArrayBuffer + Atomics.waitAsync)
//      vs calling the same instance in this thread;
//   2. planning 10,000 services × 10 endpoints through the Wasm planner (encode, call, decode,
//      validate; per-key cache off) vs the same algorithm in TypeScript (runtime/lb/reference.ts),
//      as the agent plans (byte-identical items sent once) and with every item sent;
//   3. a Maglev table per service (from 2), and a resync of unchanged services answered by the cache;
//   4. a swap of every one of 10,000 services (random → round-robin by annotation), from decision to
//      rules applied in a fresh network namespace, Wasm planner vs the TypeScript planner, stage by stage;
//   5. with PLUGINS_BENCH_MAGLEV_SHAPES=1: new connections through a 40-endpoint Maglev table drawn as
//      the renderer's rule cascade and as one map lookup.
// Each planning case reports the median of a block of consecutive runs per side after a warm-up
// (each side paying for the garbage collection it causes), with the mean and the fastest run of each
// side in the note (2 shared cores: numbers are noisy; read the ratios). The swap case starts from a full
// garbage collection.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { applyTransaction } from "../nft/apply.ts";
import { type DesiredTable, mergeFragments } from "../nft/desired.ts";
import { planSync } from "../nft/diff.ts";
import type { LbPlanner, LbRequest, LbResult } from "../runtime/lb/plan.ts";
import { maglevTable, referenceLbPlanner } from "../runtime/lb/reference.ts";
import { admitPlugin } from "../runtime/plugins/admission.ts";
import { buildPlugins, projectRoot } from "../runtime/plugins/build.ts";
import { inputEnvelope } from "../runtime/plugins/envelope.ts";
import { LB_KIND_CODE, LB_OP_PLAN } from "../runtime/plugins/lb-codec.ts";
import { createWasmLbPlanner, type WasmLbPlanner } from "../runtime/plugins/lb-planner.ts";
import { findModules, writeLock } from "../runtime/plugins/lock.ts";
import { PluginWorker } from "../runtime/plugins/plugin-worker.ts";
import { ServiceProxy } from "../runtime/services/proxy.ts";
import type { EndpointSlice, Service, Snapshot } from "../runtime/store/objects.ts";
import { snapshot as buildSnapshot, service, slice } from "../test/services/fixtures.ts";
import { createNetns, deleteNetns, inNetns, uniqueNetnsName } from "../test/support/netns.ts";

const SERVICES = 10000;
const ENDPOINTS = 10;
setFlagsFromString("--expose-gc");
const collectGarbage = runInNewContext("gc") as () => void;
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const built = join(projectRoot, "build", "plugins");
await buildPlugins({ outDir: built });
const lbDir = join(built, "lb");
const lockFile = join(built, "bench.lock.json");
writeLock(lockFile, findModules(lbDir));

const rows: string[][] = [["case", "wasm", "baseline", "× baseline", "note"]];
const fmt = (ms: number) =>
  ms >= 1000
    ? `${(ms / 1000).toFixed(2)} s`
    : ms >= 1
      ? `${ms.toFixed(1)} ms`
      : `${(ms * 1000).toFixed(1)} µs`;

// ---- 1. per-call overhead
{
  const file = join(lbDir, "random.wasm");
  const plugin = admitPlugin(readFileSync(file), file, { grants: [], memoryCapBytes: 64 << 20 });
  const worker = new PluginWorker(plugin, { callBudgetMs: 5000, randomSeed: 1 });
  await worker.start();
  const empty = inputEnvelope(LB_KIND_CODE, LB_OP_PLAN, []);
  const calls = 2000;
  for (let i = 0; i < 200; i++) await worker.call(empty);
  let t = performance.now();
  for (let i = 0; i < calls; i++) await worker.call(empty);
  const workerUs = (performance.now() - t) / calls;
  await worker.close();

  const wasm = (
    globalThis as unknown as {
      WebAssembly: {
        Instance: new (m: object, i: object) => { exports: Record<string, (...a: number[]) => number> };
        Memory: new (d: object) => { buffer: ArrayBuffer };
      };
    }
  ).WebAssembly;
  const memory = new wasm.Memory({
    initial: plugin.memory.initialPages,
    maximum: plugin.memory.maximumPages,
  });
  const ex = new wasm.Instance(plugin.module, { env: { memory } }).exports;
  const inThread = () => {
    const p = ex.wasmplane_alloc(empty.length) >>> 0;
    new Uint8Array(memory.buffer, p, empty.length).set(empty);
    const out = ex.wasmplane_call(p, empty.length) >>> 0;
    const len = new DataView(memory.buffer).getUint32(out, true);
    const copy = new Uint8Array(memory.buffer, out, len).slice();
    ex.wasmplane_free(out);
    ex.wasmplane_free(p);
    return copy;
  };
  for (let i = 0; i < 200; i++) inThread();
  t = performance.now();
  for (let i = 0; i < calls; i++) inThread();
  const threadUs = (performance.now() - t) / calls;
  rows.push([
    "empty plan, per call",
    fmt(workerUs),
    fmt(threadUs),
    (workerUs / threadUs).toFixed(1),
    "worker round trip vs same instance in-thread",
  ]);
}

// ---- 2 + 3. 10,000 services × 10 endpoints
function requests(algorithm: string, salt: string): LbRequest[] {
  return Array.from({ length: SERVICES }, (_, i) => ({
    key: `bench/svc-${i}:http${salt}`,
    algorithm,
    params: {},
    endpoints: Array.from({ length: ENDPOINTS }, (_, j) => ({
      address: `10.${64 + j}.${(i >> 8) & 255}.${i & 255}`,
      port: 8080,
      weight: 1,
      zone: `zone-${j % 3}`,
    })),
  }));
}

async function timePlan(planner: LbPlanner, reqs: LbRequest[]): Promise<number> {
  const t = performance.now();
  const results = await planner.plan(reqs);
  const ms = performance.now() - t;
  const bad = results.find((r) => !r.ok);
  if (bad && !bad.ok) throw new Error(bad.error);
  return ms;
}

const planners = {
  /** As the agent plans, minus the per-key cache across syncs: byte-identical items are sent once. */
  wasm: await createWasmLbPlanner({
    defaultAlgorithm: "random",
    pluginDir: lbDir,
    lockFile,
    cache: false,
    callBudgetMs: 30000,
  }),
  /** Every item crosses the boundary: the plain cost of encoding, the call and decoding per service. */
  every: await createWasmLbPlanner({
    defaultAlgorithm: "random",
    pluginDir: lbDir,
    lockFile,
    cache: false,
    dedupe: false,
    callBudgetMs: 30000,
  }),
};
const wasmPlanner = planners.wasm;
const reference = referenceLbPlanner("random");
const callsOf = (planner: WasmLbPlanner, algorithm: string) =>
  planner.status().find((s) => s.algorithm === algorithm)?.stats?.calls ?? 0;
for (const algorithm of ["random", "round-robin", "maglev"]) {
  // The same request objects for every run: neither side caches across calls here (the Wasm planner's
  // per-key cache is off), and reusing them keeps the garbage collector's work about the results.
  const reqs = requests(algorithm, "");
  const runs = algorithm === "maglev" ? 3 : 25;
  const variants = algorithm === "maglev" ? (["wasm"] as const) : (["wasm", "every"] as const);
  for (const variant of variants) {
    const planner = planners[variant];
    // Warm-up: compiled code, and the request objects promoted out of the young generation.
    for (let run = 0; run < (algorithm === "maglev" ? 1 : 5); run++) {
      await timePlan(planner, reqs);
      await timePlan(reference, reqs);
    }
    // Each side runs its block of consecutive plans, so each pays for the garbage collection its own
    // allocations cause (interleaved, a collection every other plan lands on one side only).
    const callsBefore = callsOf(planner, algorithm);
    const wasmRuns: number[] = [];
    for (let run = 0; run < runs; run++) wasmRuns.push(await timePlan(planner, reqs));
    const tsRuns: number[] = [];
    for (let run = 0; run < runs; run++) tsRuns.push(await timePlan(reference, reqs));
    const wasmMs = median(wasmRuns);
    const tsMs = median(tsRuns);
    const calls = (callsOf(planner, algorithm) - callsBefore) / runs;
    rows.push([
      variant === "wasm"
        ? `${SERVICES} services × ${ENDPOINTS} endpoints, ${algorithm}`
        : "  every item sent (dedupe off)",
      fmt(wasmMs),
      fmt(tsMs),
      (wasmMs / tsMs).toFixed(2),
      `${variant === "wasm" ? "target ≤ 1.5×; " : ""}median of ${runs}; mean ${fmt(mean(wasmRuns))} vs ${fmt(mean(tsRuns))}, fastest ${fmt(Math.min(...wasmRuns))} vs ${fmt(Math.min(...tsRuns))}; ${calls} calls per plan`,
    ]);
    if (algorithm === "maglev")
      rows.push([
        "Maglev table per service (2039 slots, 10 endpoints)",
        fmt(wasmMs / SERVICES),
        fmt(tsMs / SERVICES),
        (wasmMs / tsMs).toFixed(2),
        "including encode/decode on the host side",
      ]);
  }
}
await planners.every.close();

// ---- 2b. resync where nothing changed: the per-key cache answers (plugins are pure)
{
  const cached = await createWasmLbPlanner({
    defaultAlgorithm: "random",
    pluginDir: lbDir,
    lockFile,
    callBudgetMs: 30000,
  });
  const reqs = requests("maglev", "");
  await timePlan(cached, reqs);
  const again = requests("maglev", "");
  const ms = await timePlan(cached, again);
  const tsMs = await timePlan(reference, again);
  rows.push([
    `resync of ${SERVICES} unchanged maglev services (cache)`,
    fmt(ms),
    fmt(tsMs),
    (ms / tsMs).toFixed(2),
    "encode + compare only; no call",
  ]);
  await cached.close();
}

// ---- 4. swap at 10,000 services, decision to rules applied
function snapshot(algorithm: string): Snapshot {
  const services: Service[] = [];
  const slices: EndpointSlice[] = [];
  for (let i = 0; i < SERVICES; i++) {
    const svc = service("bench", `svc-${i}`, {
      clusterIPs: [`10.${96 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`],
      annotations: { "lb.wasmplane.io/algorithm": algorithm },
    });
    services.push(svc);
    slices.push(
      slice(
        svc,
        [0, 1, 2].map((j) => `10.${64 + j}.${(i >> 8) & 255}.${i & 255}`),
      ),
    );
  }
  return buildSnapshot(services, slices);
}

/** Where the time of one sync goes, stage by stage (milliseconds). */
interface SyncSplit {
  total: number;
  /** ServiceProxy.lbRequests: which ports need a plan. */
  requests: number;
  /** LbPlanner.plan: the decision itself. */
  decision: number;
  /** ServiceProxy.plan: the services' chains from the plans. */
  servicePlan: number;
  /** mergeFragments + planSync: the desired table and its diff against the applied one. */
  diff: number;
  /** Rendering the transaction into nft's input (reported by applyTransaction). */
  render: number;
  /** Sending it and the kernel's commit (the nft run, or the netlink batch). */
  apply: number;
  bytes: number;
  /** How nft/ applied it: "netlink" (the direct batch) or "text"/"json" (the nft executable). */
  path: string;
}

/** The swap sync (after a first full sync with random), split into its stages. */
async function swapSplit(planner: LbPlanner, label: string): Promise<SyncSplit> {
  const ns = uniqueNetnsName(`plg-bench-${label}`);
  createNetns(ns);
  try {
    const proxy = new ServiceProxy({
      nodeName: "node-a",
      nodeIPs: ["192.168.1.1"],
      clusterCIDRs: ["10.0.0.0/8"],
      serviceCIDRs: ["10.96.0.0/12"],
      masqueradeAll: false,
    });
    let applied: DesiredTable | null = null;
    const sync = async (snap: Snapshot): Promise<SyncSplit> => {
      const t0 = performance.now();
      const reqs = proxy.lbRequests(snap);
      const t1 = performance.now();
      const results = await planner.plan(reqs);
      const t2 = performance.now();
      const lb = new Map<string, LbResult>(reqs.map((r, i) => [r.key, results[i]]));
      const plan = proxy.plan(snap, lb);
      const t3 = performance.now();
      const desired = mergeFragments("inet", "wasmplane", [plan.fragment], ["services"]);
      const sp = planSync(applied, desired);
      const t4 = performance.now();
      const result = await applyTransaction(sp.tx, { netns: ns });
      const t5 = performance.now();
      applied = sp.applied;
      const render = result.renderMs ?? 0;
      return {
        total: t5 - t0,
        requests: t1 - t0,
        decision: t2 - t1,
        servicePlan: t3 - t2,
        diff: t4 - t3,
        render,
        apply: t5 - t4 - render,
        bytes: result.bytes ?? 0,
        path: result.format,
      };
    };
    await sync(snapshot("random"));
    const swapped = snapshot("round-robin");
    collectGarbage();
    return await sync(swapped);
  } finally {
    deleteNetns(ns);
  }
}

if (process.getuid?.() === 0) {
  const wasmCached = await createWasmLbPlanner({
    defaultAlgorithm: "random",
    pluginDir: lbDir,
    lockFile,
    callBudgetMs: 30000,
  });
  const wasmSwap = await swapSplit(wasmCached, "wasm");
  await wasmCached.close();
  const tsSwap = await swapSplit(reference, "ts");
  const row = (label: string, key: Exclude<keyof SyncSplit, "path">, note: string) =>
    rows.push([label, fmt(wasmSwap[key]), fmt(tsSwap[key]), (wasmSwap[key] / tsSwap[key]).toFixed(2), note]);
  row(
    `swap ${SERVICES} services random → round-robin, decision to rules applied`,
    "total",
    `target ≤ 1 s; 3 endpoints each; one transaction, ${(wasmSwap.bytes / 1048576).toFixed(1)} MiB via ${wasmSwap.path}`,
  );
  row("  1. ports to re-plan (ServiceProxy.lbRequests)", "requests", "");
  row("  2. LB decision (LbPlanner.plan)", "decision", "Wasm plugin vs runtime/lb/reference.ts");
  row("  3. service planning (ServiceProxy.plan)", "servicePlan", "chains of every re-planned port");
  row("  4. merge + diff (mergeFragments, planSync)", "diff", "");
  row("  5. render (applyTransaction)", "render", "transaction → netlink batch or nft script");
  row("  6. apply (applyTransaction)", "apply", "sending it and the kernel commit (nft/ owns 5 and 6)");
} else rows.push(["swap at 10,000 services", "-", "-", "-", "needs root (network namespace)"]);
await wasmPlanner.close();

// ---- 5. (PLUGINS_BENCH_MAGLEV_SHAPES=1) a 40-endpoint Maglev table drawn two ways, new connections
// through each: the service renderer's cascade (one rule per run of equal slots) and one rule with a
// map of slot ranges, against a 40-rule random cascade. Written as nft text here because the map shape
// is not one the renderer makes (yet): this measures whether it should.
if (process.env.PLUGINS_BENCH_MAGLEV_SHAPES === "1" && process.getuid?.() === 0) {
  const n = 40;
  const eps = Array.from({ length: n }, (_, i) => ({ address: `10.7.0.${i + 1}`, port: 8080, weight: 1 }));
  // A local server on every endpoint address (veth ends in the namespace), sequential connects to the service IP.
  const client = `
    import net from "node:net";
    const server = net.createServer((s) => s.destroy());
    await new Promise((r) => server.listen(8080, "0.0.0.0", r));
    const once = () => new Promise((resolve, reject) => {
      const c = net.connect({ host: "10.96.0.1", port: 80 }, () => { c.destroy(); resolve(); });
      c.on("error", reject);
    });
    for (let i = 0; i < 200; i++) await once();
    const t = performance.now();
    for (let i = 0; i < 2000; i++) await once();
    console.log(((performance.now() - t) * 1000) / 2000);
    server.close();`;
  for (const m of [4093, 32003]) {
    const table = maglevTable(eps, m);
    const runs: [number, number, number][] = [];
    for (let s = 0; s < m; ) {
      let e = s;
      while (e + 1 < m && table[e + 1] === table[s]) e++;
      runs.push([s, e, table[s]]);
      s = e + 1;
    }
    const span = (a: number, b: number) => (a === b ? `${a}` : `${a}-${b}`);
    const key = `jhash ip saddr . tcp sport mod ${m} seed 0x1234`;
    const to = (i: number) => `meta l4proto tcp dnat to ${eps[i].address}:8080`;
    const head =
      "table ip wasmplane {\n  chain out { type nat hook output priority -100; ip daddr 10.96.0.1 tcp dport 80 jump svc; }\n";
    const shapes: Record<string, { rules: number; text: string }> = {
      "random cascade": {
        rules: n,
        text: `${head}  chain svc {\n${eps.map((_, i) => `    ${i < n - 1 ? `numgen random mod ${n - i} < 1 ` : ""}${to(i)}`).join("\n")}\n  }\n}\n`,
      },
      "Maglev cascade": {
        rules: runs.length,
        text: `${head}  chain svc {\n${runs.map(([a, b, i], k) => `    ${k < runs.length - 1 ? `${key} ${span(a, b)} ` : ""}${to(i)}`).join("\n")}\n  }\n}\n`,
      },
      "Maglev map": {
        rules: 1,
        text: `${head}  chain svc {\n    meta l4proto tcp dnat to ${key} map { ${runs.map(([a, b, i]) => `${span(a, b)} : ${eps[i].address} . 8080`).join(", ")} }\n  }\n}\n`,
      },
    };
    const ns = uniqueNetnsName("plg-bench-shape");
    createNetns(ns);
    try {
      inNetns(ns, ["ip", "link", "add", "ep0", "type", "veth", "peer", "name", "ep1"]);
      inNetns(ns, ["ip", "link", "set", "ep0", "up"]);
      inNetns(ns, ["ip", "link", "set", "ep1", "up"]);
      for (const e of eps) inNetns(ns, ["ip", "addr", "add", `${e.address}/32`, "dev", "ep0"]);
      inNetns(ns, ["ip", "route", "add", "10.96.0.0/12", "dev", "ep0"]);
      let baseline = 0;
      for (const [name, shape] of Object.entries(shapes)) {
        const t = performance.now();
        inNetns(ns, ["nft", "-f", "-"], shape.text);
        const loadMs = performance.now() - t;
        const us = Number(inNetns(ns, ["node", "--input-type=module", "-e", client]));
        inNetns(ns, ["nft", "delete", "table", "ip", "wasmplane"]);
        if (name === "random cascade") baseline = us;
        rows.push([
          `new connection, ${name} (${shape.rules} rules, M = ${m})`,
          fmt(us / 1000),
          fmt(baseline / 1000),
          (us / baseline).toFixed(2),
          `40 endpoints; ${(shape.text.length / 1024).toFixed(0)} KiB of nft text, nft -f ${fmt(loadMs)}; baseline: 40-rule random cascade`,
        ]);
      }
    } finally {
      deleteNetns(ns);
    }
  }
}

const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
for (const r of rows) console.log(r.map((c, i) => c.padEnd(widths[i])).join("  "));
