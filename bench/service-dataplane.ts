// New-connection rate through a ClusterIP against the same server pod reached by its pod IP (issue 15:
// "≥ 0.97× straight to the pod IP with 50,000 Services"), for each service shape.
//
// For each size in SERVICE_DATAPLANE_SERVICES (default 50000; a list such as "1,50000" is allowed)
// and each shape in SERVICE_DATAPLANE_SHAPES (default "chains,maps"), a fresh topology of network
// namespaces (test/services/topology.ts): the node namespace gets the wasmplane table written the
// agent's way (ServiceProxy with that shape → planSync → applyTransaction, a netlink batch). Service
// 0 (10.96.0.10:80) has one endpoint, the server pod pod1 (10.1.1.2:8080, on this node; with
// SERVICE_DATAPLANE_ENDPOINTS=K, K addresses of pod1); every other Service has 3 endpoints on other
// nodes at addresses where nothing answers, so the table is the size a real node has while only
// service 0 carries traffic.
//
// pod1 runs a Node.js HTTP server that answers one response per connection and closes. Two client
// namespaces, so direct and VIP tuples never meet in conntrack: pod2 (10.1.2.2) always connects to
// the pod IP, pod3 (10.1.3.2) always to the ClusterIP. `wrk` (Debian's package) with `Connection:
// close` opens a new connection per request, bounded by time (SERVICE_DATAPLANE_SECONDS per run,
// default 3). Once the machine is quiet after the sync (see settle), one untimed 2 s run of each,
// then SERVICE_DATAPLANE_ROUNDS rounds (default 11) run one of each, adjacent, in the order D V,
// V D, D V, …; the table gives both medians, their ratio and the median of the per-round ratios
// (VIP / direct of the same round). The node namespace's
// conntrack table is flushed before every timed run. SERVICE_DATAPLANE_CALIBRATE=1 sends pod3 to the
// pod IP as well: the ratio then shows what the two client namespaces differ by, not the paths.

import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { mkdirSync, readFileSync } from "node:fs";
import { availableParallelism, loadavg } from "node:os";
import { dirname } from "node:path";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { applyTransaction } from "../nft/apply.ts";
import { mergeFragments } from "../nft/desired.ts";
import { planSync } from "../nft/diff.ts";
import { builtinLbPlanner, type LbResult } from "../runtime/lb/plan.ts";
import type { ServiceShape } from "../runtime/services/config.ts";
import { ServiceProxy } from "../runtime/services/proxy.ts";
import type { Snapshot } from "../runtime/store/objects.ts";
import { service, slice, snapshot } from "../test/services/fixtures.ts";
import { addresses, createTopology, deleteTopology, type Topology } from "../test/services/topology.ts";
import { runWrk, type WrkRun } from "./support/wrk.ts";

setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;

const SIZES = (process.env.SERVICE_DATAPLANE_SERVICES ?? "50000").split(",").filter(Boolean).map(Number);
const SHAPES = (process.env.SERVICE_DATAPLANE_SHAPES ?? "chains,maps").split(",").filter(Boolean);
const ROUNDS = Number(process.env.SERVICE_DATAPLANE_ROUNDS ?? 11);
const SECONDS = Number(process.env.SERVICE_DATAPLANE_SECONDS ?? 3);
const CONNECTIONS = Number(process.env.SERVICE_DATAPLANE_CONNECTIONS ?? 16);
const TARGET = 0.97;
/** SERVICE_DATAPLANE_CALIBRATE=1: pod3 connects to the pod IP too (an A/A check of the two clients). */
const CALIBRATE = process.env.SERVICE_DATAPLANE_CALIBRATE === "1";
/**
 * SERVICE_DATAPLANE_ENDPOINTS (1–16, default 1): service 0's endpoints, all addresses of pod1
 * (10.1.1.2, 10.1.1.3, …), so the maps shape's slot count can be varied with one server.
 */
const ENDPOINTS = Number(process.env.SERVICE_DATAPLANE_ENDPOINTS ?? 1);
/**
 * SERVICE_DATAPLANE_PIN=1 (with 2 or more CPUs): wrk runs on CPU 0 and the server on CPU 1
 * (taskset). Off by default: on this machine's 2 shared cores pinning made the runs vary more.
 */
const PIN = process.env.SERVICE_DATAPLANE_PIN === "1" && availableParallelism() >= 2;
const pinned = (cpu: number) => (PIN ? ["taskset", "-c", String(cpu)] : []);
/**
 * SERVICE_DATAPLANE_PERF_DIR: the last round's runs are also sampled with `perf record -a` (the whole
 * machine, kernel symbols) into DIR/SHAPE-SERVICES-SIDE.data, for `perf report --sort sym`.
 */
const PERF_DIR = process.env.SERVICE_DATAPLANE_PERF_DIR;
const serverAddresses = () => Array.from({ length: ENDPOINTS }, (_, k) => `10.1.1.${2 + k}`);

const VIP = "10.96.0.10";
const VIP_PORT = 80;
const POD_PORT = 8080;
/** Holds the pods (10.1.0.0/16) and, below 65,536 Services, the endpoints that do not exist (10.16–10.18). */
const CLUSTER_CIDRS = ["10.0.0.0/11"];
const SERVICE_CIDRS = ["10.96.0.0/12"];

function checkSettings(): void {
  for (const n of SIZES)
    if (!Number.isInteger(n) || n < 1 || n > 15 * 65536)
      throw new Error(`SERVICE_DATAPLANE_SERVICES: ${n} is not a whole number from 1 to ${15 * 65536}`);
  for (const s of SHAPES)
    if (s !== "chains" && s !== "maps")
      throw new Error(`SERVICE_DATAPLANE_SHAPES: "${s}" is not "chains" or "maps"`);
  if (!Number.isInteger(ROUNDS) || ROUNDS < 1 || ROUNDS > 100)
    throw new Error(`SERVICE_DATAPLANE_ROUNDS: ${ROUNDS} is not a whole number from 1 to 100`);
  if (!(SECONDS >= 1 && SECONDS <= 60))
    throw new Error(`SERVICE_DATAPLANE_SECONDS: ${SECONDS} is not from 1 to 60`);
  if (!Number.isInteger(ENDPOINTS) || ENDPOINTS < 1 || ENDPOINTS > 16)
    throw new Error(`SERVICE_DATAPLANE_ENDPOINTS: ${ENDPOINTS} is not a whole number from 1 to 16`);
  if (!Number.isInteger(CONNECTIONS) || CONNECTIONS < 1 || CONNECTIONS > 1000)
    throw new Error(`SERVICE_DATAPLANE_CONNECTIONS: ${CONNECTIONS} is not a whole number from 1 to 1000`);
}

const SERVER_JS = `
const net = require("net");
const reply = "HTTP/1.1 200 OK\\r\\nContent-Length: 2\\r\\nConnection: close\\r\\n\\r\\nok";
net.createServer((s) => { s.on("error", () => {}); s.once("data", () => s.end(reply)); })
  .listen({ port: ${POD_PORT}, host: "0.0.0.0", backlog: 4096 }, () => process.stdout.write("ready\\n"));
setTimeout(() => process.exit(0), 1800000).unref();
`;

// ---- the Services: service 0 → pod1, the others → 3 endpoints each that do not exist.

/** 10.97.0.1, 10.97.0.2, …: service i ≥ 1 (10.96.0.10 is service 0's). */
const clusterIP = (i: number) => `10.${97 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`;
/** Endpoint j of service i: 10.(16 + j).x.x for i < 65,536. */
const endpointIP = (i: number, j: number) => `10.${16 + j + 3 * (i >> 16)}.${(i >> 8) & 255}.${i & 255}`;

function makeSnapshot(n: number): Snapshot {
  const first = service("bench", "svc-0", { clusterIPs: [VIP] });
  const services = [first];
  const slices = [
    slice(
      first,
      serverAddresses().map((ip) => ({ ip, node: "node-a" })),
    ),
  ];
  for (let i = 1; i < n; i++) {
    const svc = service("bench", `svc-${i}`, { clusterIPs: [clusterIP(i)] });
    services.push(svc);
    slices.push(
      slice(
        svc,
        [0, 1, 2].map((j) => ({ ip: endpointIP(i, j), node: `node-${"bcd"[j]}` })),
      ),
    );
  }
  return snapshot(services, slices);
}

const WARMUP_SECONDS = 2;
const SETTLE_MAX_SECONDS = 30;
const SETTLE_IDLE = 0.7;

/** Idle and total jiffies of all CPUs (/proc/stat). */
function cpuTimes(): { idle: number; total: number } {
  const fields = readFileSync("/proc/stat", "utf8").split("\n")[0].trim().split(/\s+/).slice(1).map(Number);
  return { idle: fields[3] + fields[4], total: fields.reduce((a, b) => a + b, 0) };
}

interface Settled {
  seconds: number;
  idle: number;
}

/**
 * After a large sync the machine is busy for several seconds (this process's garbage collector on
 * its helper threads, the kernel freeing the transaction and the previous topology's namespaces);
 * the first runs after it were up to 40 % slower. So: a full collection, then up to 30 s until a
 * one-second sample of all CPUs is at least 70 % idle.
 */
async function settle(): Promise<Settled> {
  gc();
  gc();
  const t0 = performance.now();
  let idle = 0;
  for (let i = 0; i < SETTLE_MAX_SECONDS; i++) {
    const a = cpuTimes();
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const b = cpuTimes();
    idle = (b.idle - a.idle) / Math.max(1, b.total - a.total);
    if (idle >= SETTLE_IDLE) break;
  }
  return { seconds: (performance.now() - t0) / 1000, idle };
}

interface Programmed {
  seconds: number;
  operations: number;
  chains: number;
  elements: number;
}

/** Writes the services into the node namespace as the agent does (one full sync). */
async function program(netns: string, shape: ServiceShape, snap: Snapshot): Promise<Programmed> {
  const t0 = performance.now();
  const proxy = new ServiceProxy({
    nodeName: "node-a",
    nodeIPs: [addresses.nodeExternal],
    clusterCIDRs: CLUSTER_CIDRS,
    serviceCIDRs: SERVICE_CIDRS,
    masqueradeAll: false,
    shape,
  });
  const requests = proxy.lbRequests(snap);
  const results = await builtinLbPlanner.plan(requests);
  const plan = proxy.plan(snap, new Map<string, LbResult>(requests.map((r, i) => [r.key, results[i]])));
  if (plan.problems.length > 0)
    throw new Error(
      `service plan problems: ${plan.problems
        .slice(0, 3)
        .map((p) => `${p.kind} ${p.namespace}/${p.name}: ${p.field}: ${p.message}`)
        .join("; ")}`,
    );
  const desired = mergeFragments("inet", "wasmplane", [plan.fragment], ["services"]);
  const sync = planSync(null, desired);
  const result = await applyTransaction(sync.tx, { netns });
  let elements = 0;
  for (const set of desired.sets.values()) elements += set.elements.length;
  return {
    seconds: (performance.now() - t0) / 1000,
    operations: result.operations,
    chains: desired.chains.size,
    elements,
  };
}

// ---- traffic

function startServer(ns: string): { child: ChildProcess; ready: Promise<void> } {
  // No `timeout` wrapper (killing it would leave node running); the server exits by itself after 30 min.
  const child = spawn("ip", ["netns", "exec", ns, ...pinned(1), "node", "-e", SERVER_JS], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  const ready = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("the HTTP server in pod1 did not start")), 10_000);
    child.stdout!.on("data", (d: Buffer) => {
      if (!d.toString().includes("ready")) return;
      clearTimeout(timer);
      resolve();
    });
    child.on("exit", () => {
      clearTimeout(timer);
      reject(new Error("the HTTP server in pod1 exited"));
    });
  });
  return { child, ready };
}

function wrk(ns: string, url: string, seconds: number): WrkRun {
  return runWrk({ ns, url, seconds, connections: CONNECTIONS, prefix: pinned(0) });
}

type Side = "direct" | "vip";

interface Client {
  ns: string;
  url: string;
}

const median = (xs: number[]) => {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  return s.length === 0
    ? Number.NaN
    : s.length % 2
      ? s[(s.length - 1) / 2]
      : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const load1 = () => loadavg()[0];
const conntrackCount = (ns: string) =>
  Number(
    execFileSync("ip", ["netns", "exec", ns, "cat", "/proc/sys/net/netfilter/nf_conntrack_count"], {
      encoding: "utf8",
    }),
  );

/**
 * Every run starts from an empty conntrack table in the node namespace: a run leaves tens of
 * thousands of TIME_WAIT entries (120 s each), and over a whole bench they would pass nf_conntrack_max.
 */
function flushConntrack(ns: string): void {
  execFileSync("ip", ["netns", "exec", ns, "conntrack", "-F"], { stdio: "ignore", timeout: 30_000 });
}

/** `perf record -a` for `seconds`, started now; resolves when perf has written the file (at most 60 s). */
function perfRecord(file: string, seconds: number): Promise<void> {
  mkdirSync(dirname(file), { recursive: true });
  const child = spawn("perf", ["record", "-q", "-a", "-o", file, "--", "sleep", String(seconds)], {
    stdio: "ignore",
  });
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
    child.on("error", () => resolve());
    child.on("exit", () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

interface Result {
  shape: ServiceShape;
  services: number;
  runs: Record<Side, WrkRun[]>;
  programmed: Programmed;
  settled: Settled;
  loadStart: number;
  loadEnd: number;
  conntrack: number;
}

async function measure(shape: ServiceShape, services: number, snap: Snapshot): Promise<Result> {
  const topo: Topology = createTopology();
  let server: ChildProcess | undefined;
  try {
    for (const ns of [topo.pods.pod1, topo.pods.pod2, topo.pods.pod3])
      execFileSync("ip", [
        "netns",
        "exec",
        ns,
        "sysctl",
        "-qw",
        "net.ipv4.ip_local_port_range=1024 65000",
        "net.ipv4.tcp_tw_reuse=1",
      ]);
    for (const extra of serverAddresses().slice(1))
      execFileSync("ip", ["-n", topo.pods.pod1, "addr", "add", `${extra}/24`, "dev", "eth0"]);
    const started = startServer(topo.pods.pod1);
    server = started.child;
    await started.ready;
    const programmed = await program(topo.node, shape, snap);
    const settled = await settle();
    const clients: Record<Side, Client> = {
      direct: { ns: topo.pods.pod2, url: `http://${addresses.pod1}:${POD_PORT}/` },
      vip: {
        ns: topo.pods.pod3,
        url: CALIBRATE ? `http://${addresses.pod1}:${POD_PORT}/` : `http://${VIP}:${VIP_PORT}/`,
      },
    };
    // Warm-up, untimed; also the check that both paths carry traffic (nothing listens on the VIP or
    // on port 80, so a VIP answer went through the table's DNAT).
    for (const side of ["direct", "vip"] as const) {
      const w = wrk(clients[side].ns, clients[side].url, WARMUP_SECONDS);
      if (w.failed || w.requests === 0 || w.errors > w.requests / 10)
        throw new Error(
          `${shape}, ${services} services: the ${side} warm-up run carried no traffic (${w.failed ?? `${w.requests} requests, ${w.errors} errors`})`,
        );
    }
    const loadStart = load1();
    const runs: Record<Side, WrkRun[]> = { direct: [], vip: [] };
    let conntrack = 0;
    for (let round = 0; round < ROUNDS; round++) {
      const order: Side[] = round % 2 === 0 ? ["direct", "vip"] : ["vip", "direct"];
      for (const side of order) {
        flushConntrack(topo.node);
        const perf =
          PERF_DIR && round === ROUNDS - 1
            ? perfRecord(`${PERF_DIR}/${shape}-${services}-${side}.data`, SECONDS)
            : undefined;
        runs[side].push(wrk(clients[side].ns, clients[side].url, SECONDS));
        await perf;
        conntrack = Math.max(conntrack, conntrackCount(topo.node));
      }
    }
    return { shape, services, runs, programmed, settled, loadStart, loadEnd: load1(), conntrack };
  } finally {
    if (server && server.exitCode === null) server.kill("SIGKILL");
    deleteTopology(topo);
  }
}

// ---- report

const rates = (rs: WrkRun[]) => rs.map((r) => (r.failed ? Number.NaN : r.rate));
const n0 = (x: number) => (Number.isFinite(x) ? Math.round(x).toLocaleString("en-US") : "–");
const x3 = (x: number) => (Number.isFinite(x) ? `${x.toFixed(3)}×` : "–");

function report(results: Result[]): void {
  const rows = [
    [
      "shape",
      "services",
      "direct conn/s",
      "VIP conn/s",
      "VIP / direct (medians)",
      "median of per-round ratios",
      `≥ ${TARGET}×`,
      "load start → end",
    ],
  ];
  const notes: string[] = [];
  for (const r of results) {
    const direct = median(rates(r.runs.direct));
    const vip = median(rates(r.runs.vip));
    const perRound = r.runs.vip.map((v, i) => v.rate / r.runs.direct[i].rate);
    const perRoundMedian = median(perRound);
    const ratio = vip / direct;
    rows.push([
      r.shape,
      r.services.toLocaleString("en-US"),
      n0(direct),
      n0(vip),
      x3(ratio),
      x3(perRoundMedian),
      Math.min(ratio, perRoundMedian) >= TARGET ? "met" : "MISSED",
      `${r.loadStart.toFixed(1)} → ${r.loadEnd.toFixed(1)}`,
    ]);
    const label = `${r.shape}, ${r.services.toLocaleString("en-US")}`;
    notes.push(
      `${label}: direct per round ${rates(r.runs.direct).map(n0).join(" ")}; VIP ${rates(r.runs.vip).map(n0).join(" ")}; ratios ${perRound.map((x) => (Number.isFinite(x) ? x.toFixed(2) : "–")).join(" ")}`,
      `${label}: errors direct ${r.runs.direct.reduce((n, w) => n + w.errors, 0)}, VIP ${r.runs.vip.reduce((n, w) => n + w.errors, 0)}; table ${r.programmed.chains} chains, ${r.programmed.elements} set/map elements, written in ${r.programmed.seconds.toFixed(1)} s (${r.programmed.operations} operations), then ${r.settled.seconds.toFixed(0)} s until the CPUs were ${(r.settled.idle * 100).toFixed(0)} % idle; at most ${r.conntrack} conntrack entries in the node namespace after a run (flushed before each)`,
      ...[...r.runs.direct, ...r.runs.vip].flatMap((w) =>
        w.failed ? [`${label}: a wrk run failed: ${w.failed}`] : [],
      ),
    );
  }
  const widths = rows[0].map((_, i) => Math.max(...rows.map((row) => row[i].length)));
  for (const row of rows) console.log(row.map((c, i) => c.padEnd(widths[i])).join("  "));
  console.log(
    `\n${PIN ? "taskset -c 0 " : ""}wrk -t1 -c${CONNECTIONS} -d${SECONDS}s -H 'Connection: close' (one connection per request)${PIN ? ", the server on CPU 1" : ""}; direct: pod2 → ${addresses.pod1}:${POD_PORT}, VIP: pod3 → ${CALIBRATE ? `${addresses.pod1}:${POD_PORT} (calibration)` : `${VIP}:${VIP_PORT}`}; ${ROUNDS} rounds (D V, V D, …) after one untimed ${WARMUP_SECONDS} s run of each; service 0 has ${ENDPOINTS} endpoint(s) (${serverAddresses().join(", ")}, all pod1). Load: 1-minute average at the first and after the last timed run.`,
  );
  if (CALIBRATE)
    console.log(
      `SERVICE_DATAPLANE_CALIBRATE=1: the "VIP" client pod3 connected to ${addresses.pod1}:${POD_PORT} too, so the ratios compare the two client namespaces on one path.`,
    );
  for (const line of notes) console.log(line);
}

if (process.getuid?.() !== 0) {
  console.log("bench/service-dataplane needs root (network namespaces, nft); skipped");
} else {
  checkSettings();
  try {
    execFileSync("wrk", ["--version"], { stdio: "ignore" });
  } catch (err) {
    // wrk --version exits 1 after printing its version; only a missing binary is an error.
    if ((err as NodeJS.ErrnoException).code === "ENOENT")
      throw new Error("bench/service-dataplane needs wrk (apt-get install -y wrk)");
  }
  const results: Result[] = [];
  for (const services of SIZES) {
    const snap = makeSnapshot(services);
    for (const shape of SHAPES as ServiceShape[]) {
      results.push(await measure(shape, services, snap));
      console.log(`  ${shape}, ${services} services done (load ${load1().toFixed(1)})`);
    }
  }
  report(results);
}
