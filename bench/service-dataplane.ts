// New-connection rate through the dataplane, in namespaces this bench creates (see
// test/services/topology.ts): a client pod opens TCP connections (bounded in count and time) to a
// server pod, either straight to the pod IP or through a ClusterIP, with 1 service installed and with
// 10,000. Cases alternate over several rounds and the median rate of each is reported.
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { loadavg } from "node:os";
import { applyTransaction } from "../nft/apply.ts";
import { type DesiredTable, mergeFragments } from "../nft/desired.ts";
import { planSync } from "../nft/diff.ts";
import { builtinLbPlanner, type LbResult } from "../runtime/lb/plan.ts";
import { ServiceProxy } from "../runtime/services/proxy.ts";
import type { Snapshot } from "../runtime/store/objects.ts";
import { service, slice, snapshot } from "../test/services/fixtures.ts";
import { addresses, createTopology, deleteTopology, type Topology } from "../test/services/topology.ts";

const SERVICES = Number(process.env.SERVICE_DATAPLANE_SERVICES ?? 10000);
const ROUNDS = Number(process.env.SERVICE_DATAPLANE_ROUNDS ?? 15);
const SECONDS = Number(process.env.SERVICE_DATAPLANE_SECONDS ?? 0.8);
const MAX_CONNECTIONS = 40000;
const CONCURRENCY = 16;

const SERVER = `
const net = require("net");
net.createServer((s) => { s.on("error", () => {}); s.end("x"); })
  .listen({ port: 8080, host: "0.0.0.0", backlog: 4096 }, () => process.stdout.write("ready\\n"));
setTimeout(() => process.exit(0), 600000).unref();
`;

// Opens connections with a few in flight until the time or count bound; prints "connections seconds errors".
const CLIENT = `
const net = require("net");
const [host, port, seconds, max, conc] = process.argv.slice(1);
const deadline = performance.now() + Number(seconds) * 1000;
let done = 0, errors = 0, started = 0;
const t0 = performance.now();
function one() {
  if (performance.now() > deadline || started >= Number(max)) return Promise.resolve();
  started++;
  return new Promise((resolve) => {
    const s = net.connect({ host, port: Number(port) });
    s.setTimeout(2000, () => { errors++; s.destroy(); resolve(); });
    s.on("data", () => {});
    s.on("end", () => { done++; s.destroy(); resolve(); });
    s.on("error", () => { errors++; resolve(); });
  }).then(one);
}
Promise.all(Array.from({ length: Number(conc) }, one)).then(() => {
  process.stdout.write(done + " " + ((performance.now() - t0) / 1000) + " " + errors);
});
`;

/** Service 0 (10.96.0.10) points at pod1; the others at addresses that do not exist. */
function snapshotOf(count: number): Snapshot {
  const first = service("bench", "svc-0", { clusterIPs: ["10.96.0.10"] });
  const services = [first];
  const slices = [slice(first, [addresses.pod1])];
  for (let i = 1; i < count; i++) {
    const svc = service("bench", `svc-${i}`, { clusterIPs: [`10.97.${(i >> 8) & 255}.${i & 255}`] });
    services.push(svc);
    slices.push(
      slice(
        svc,
        [0, 1, 2].map((j) => `10.${200 + j}.${(i >> 8) & 255}.${i & 255}`),
      ),
    );
  }
  return snapshot(services, slices);
}

async function install(topo: Topology, count: number, applied: DesiredTable | null): Promise<DesiredTable> {
  const proxy = new ServiceProxy({
    nodeName: "node-a",
    nodeIPs: [addresses.nodeExternal],
    clusterCIDRs: ["10.1.0.0/16"],
    serviceCIDRs: ["10.96.0.0/15"],
    masqueradeAll: false,
  });
  const snap = snapshotOf(count);
  const requests = proxy.lbRequests(snap);
  const results = await builtinLbPlanner.plan(requests);
  const plan = proxy.plan(snap, new Map<string, LbResult>(requests.map((r, i) => [r.key, results[i]])));
  const desired = mergeFragments("inet", "wasmplane", [plan.fragment], ["services"]);
  const sync = planSync(applied, desired);
  await applyTransaction(sync.tx, { netns: topo.node });
  return sync.applied;
}

function measure(topo: Topology, host: string, port: number): { rate: number; errors: number } {
  const out = execFileSync(
    "ip",
    [
      "netns",
      "exec",
      topo.pods.pod3,
      "node",
      "-e",
      CLIENT,
      host,
      String(port),
      String(SECONDS),
      String(MAX_CONNECTIONS),
      String(CONCURRENCY),
    ],
    { encoding: "utf8", timeout: (SECONDS + 30) * 1000 },
  );
  const [done, secs, errors] = out.split(" ").map(Number);
  return { rate: done / secs, errors };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

interface Side {
  topo: Topology;
  server: ChildProcess;
}

async function side(services: number): Promise<Side> {
  const topo = createTopology();
  const server = spawn("ip", ["netns", "exec", topo.pods.pod1, "node", "-e", SERVER], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  try {
    await new Promise<void>((resolve, reject) => {
      server.stdout!.on("data", (d: Buffer) => d.toString().includes("ready") && resolve());
      server.on("exit", () => reject(new Error("server exited")));
    });
    for (const ns of [topo.pods.pod3, topo.pods.pod1])
      execFileSync("ip", [
        "netns",
        "exec",
        ns,
        "sysctl",
        "-qw",
        "net.ipv4.ip_local_port_range=1024 65000",
        "net.ipv4.tcp_tw_reuse=1",
      ]);
    await install(topo, services, null);
    return { topo, server };
  } catch (err) {
    stopSide({ topo, server });
    throw err;
  }
}

function stopSide(s: Side | undefined): void {
  if (!s) return;
  if (s.server.exitCode === null) s.server.kill("SIGKILL");
  deleteTopology(s.topo);
}

if (process.getuid?.() !== 0) {
  console.log("bench/service-dataplane needs root (network namespaces, nft); skipped");
} else {
  // Two node namespaces, one with 1 service and one with SERVICES, so cases alternate without
  // reprogramming; the order of the cases rotates every round.
  let one: Side | undefined;
  let many: Side | undefined;
  try {
    one = await side(1);
    many = await side(SERVICES);
    const cases = [
      { name: "pod IP directly (1 service installed)", side: one, host: addresses.pod1, port: 8080 },
      { name: "ClusterIP, 1 service installed", side: one, host: "10.96.0.10", port: 80 },
      { name: `ClusterIP, ${SERVICES} services installed`, side: many, host: "10.96.0.10", port: 80 },
      {
        name: `pod IP directly (${SERVICES} services installed)`,
        side: many,
        host: addresses.pod1,
        port: 8080,
      },
    ];
    const rates = cases.map(() => [] as number[]);
    const errors = cases.map(() => 0);
    for (let round = 0; round < ROUNDS; round++) {
      for (let k = 0; k < cases.length; k++) {
        const i = (k + round) % cases.length;
        const r = measure(cases[i].side.topo, cases[i].host, cases[i].port);
        rates[i].push(r.rate);
        errors[i] += r.errors;
      }
    }
    const med = rates.map(median);
    const rows = [
      ["case", "median conn/s", "range over rounds", "errors", "vs ClusterIP with 1 service", "vs pod IP"],
    ];
    cases.forEach((c, i) => {
      rows.push([
        c.name,
        med[i].toFixed(0),
        `${Math.min(...rates[i]).toFixed(0)}-${Math.max(...rates[i]).toFixed(0)}`,
        String(errors[i]),
        i === 0 || i === 3 ? "" : (med[i] / med[1]).toFixed(2),
        (med[i] / med[0]).toFixed(2),
      ]);
    });
    const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
    for (const r of rows) console.log(r.map((c, i) => c.padEnd(widths[i])).join("  "));
    console.log(
      `\n${CONCURRENCY} connections in flight, ${SECONDS} s per case per round (at most ${MAX_CONNECTIONS}), ${ROUNDS} rounds in rotating order, from a client pod through the node namespace.`,
    );
    console.log(
      `load average at the end: ${loadavg()
        .map((x) => x.toFixed(1))
        .join(" ")}`,
    );
  } finally {
    stopSide(one);
    stopSide(many);
  }
}
