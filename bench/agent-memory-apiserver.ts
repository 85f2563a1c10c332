// Start-up time and memory of the agent against a real API server (`wasmplane devcluster`: etcd +
// kube-apiserver, no controller manager) at 10,000 ClusterIP services × 3 endpoints (one
// EndpointSlice each), with the agent on a manifest directory holding the same objects as the
// same-run baseline. The bench starts a dev cluster in a temporary directory, creates the objects
// with kubectl (ClusterIPs allocated by the API server), reads them back into a manifest directory,
// then runs `node --import tsx runtime/main.ts agent --kubeconfig D/kubeconfig --netns NS` and the
// `--manifests DIR` agent, one after the other, each in a network namespace this bench creates.
//   start→synced: from spawn to the "sync full" log line of the first full sync.
//   RSS synced:   VmRSS of /proc/<pid>/status right after that line.
//   RSS steady:   VmRSS after STEADY seconds more (watches open, bookmarks, resyncs as configured).
// Everything (agents, namespaces, dev cluster, temporary directories) is removed in finally blocks.
// Sizes: AGENT_MEMORY_SERVICES (default 10000), AGENT_MEMORY_STEADY_SECONDS (default 60),
// AGENT_MEMORY_CHUNKS (default 4: parallel kubectl create processes).

import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { clusterProcesses, startCluster, stopCluster } from "../runtime/devcluster/cluster.ts";

const SERVICES = Number(process.env.AGENT_MEMORY_SERVICES ?? 10000);
const STEADY_S = Number(process.env.AGENT_MEMORY_STEADY_SECONDS ?? 60);
const CHUNKS = Number(process.env.AGENT_MEMORY_CHUNKS ?? 4);
const root = fileURLToPath(new URL("../", import.meta.url));
const MiB = 1024 * 1024;
const NS = "bench";

const endpointIP = (i: number, j: number) => `10.${64 + j * 4 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`;

function service(i: number): object {
  return {
    apiVersion: "v1",
    kind: "Service",
    metadata: { name: `svc-${i}`, namespace: NS, labels: { app: `svc-${i}` } },
    spec: {
      type: "ClusterIP",
      selector: { app: `svc-${i}` },
      ports: [{ name: "http", protocol: "TCP", port: 80, targetPort: 8080 }],
    },
  };
}

function slice(i: number): object {
  return {
    apiVersion: "discovery.k8s.io/v1",
    kind: "EndpointSlice",
    metadata: {
      name: `svc-${i}-abc`,
      namespace: NS,
      labels: { "kubernetes.io/service-name": `svc-${i}` },
    },
    addressType: "IPv4",
    endpoints: [0, 1, 2].map((j) => ({
      addresses: [endpointIP(i, j)],
      nodeName: `node-${j}`,
      conditions: { ready: true, serving: true, terminating: false },
    })),
    ports: [{ name: "http", protocol: "TCP", port: 8080 }],
  };
}

function run(cmd: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ["ignore", "ignore", "pipe"] });
    let err = "";
    child.stderr.on("data", (b: Buffer) => {
      err += b.toString();
    });
    child.once("error", reject);
    child.once("exit", (code) =>
      code === 0
        ? resolve()
        : reject(new Error(`${cmd} ${args.join(" ")}: exit ${code}\n${err.slice(-2000)}`)),
    );
  });
}

/** Creates the objects in CHUNKS parallel `kubectl create -f` runs: all Services, then all slices. */
async function createObjects(kubectl: string, kubeconfig: string, work: string): Promise<number> {
  const started = performance.now();
  execFileSync(kubectl, ["--kubeconfig", kubeconfig, "create", "namespace", NS], { stdio: "ignore" });
  for (const [kind, make] of [
    ["services", service],
    ["slices", slice],
  ] as const) {
    const per = Math.ceil(SERVICES / CHUNKS);
    const files: string[] = [];
    for (let c = 0; c < CHUNKS; c++) {
      const items: object[] = [];
      for (let i = c * per; i < Math.min(SERVICES, (c + 1) * per); i++) items.push(make(i));
      const file = join(work, `${kind}-${c}.json`);
      writeFileSync(file, JSON.stringify({ apiVersion: "v1", kind: "List", items }));
      files.push(file);
    }
    await Promise.all(files.map((f) => run(kubectl, ["--kubeconfig", kubeconfig, "create", "-f", f])));
  }
  return performance.now() - started;
}

/** Reads the objects back as the API server stores them and writes them as 10 `kind: List` files. */
function exportManifests(kubectl: string, kubeconfig: string, dir: string): number {
  const get = (resource: string) =>
    JSON.parse(
      execFileSync(kubectl, ["--kubeconfig", kubeconfig, "get", resource, "-n", NS, "-o", "json"], {
        maxBuffer: 1024 * MiB,
      }).toString(),
    ).items as Record<string, unknown>[];
  const services = get("services");
  const slices = get("endpointslices.discovery.k8s.io");
  if (services.length !== SERVICES || slices.length !== SERVICES)
    throw new Error(
      `namespace ${NS}: ${services.length} services, ${slices.length} slices, want ${SERVICES}`,
    );
  // `kubectl get -o json` of a list leaves apiVersion and kind on every item; set them anyway.
  const items = [
    ...services.map((o) => ({ ...o, apiVersion: "v1", kind: "Service" })),
    ...slices.map((o) => ({ ...o, apiVersion: "discovery.k8s.io/v1", kind: "EndpointSlice" })),
  ];
  const per = Math.ceil(items.length / 10);
  let bytes = 0;
  for (let f = 0; f < 10; f++) {
    const text = JSON.stringify({
      apiVersion: "v1",
      kind: "List",
      items: items.slice(f * per, (f + 1) * per),
    });
    writeFileSync(join(dir, `objects-${f}.json`), text);
    bytes += Buffer.byteLength(text);
  }
  return bytes;
}

function vmRssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) / 1024 : Number.NaN;
}

interface Result {
  label: string;
  startToSyncedMs: number;
  syncMs: number;
  syncLine: string;
  rssSyncedMiB: number;
  rssSteadyMiB: number;
  rssSteadyMaxMiB: number;
}

function waitFor(child: ChildProcess, out: { text: string }, pattern: RegExp, timeoutMs: number) {
  return new Promise<RegExpMatchArray>((resolve, reject) => {
    const timer = setInterval(() => {
      const m = out.text.match(pattern);
      if (m) {
        clearInterval(timer);
        clearTimeout(deadline);
        resolve(m);
      } else if (child.exitCode !== null) {
        clearInterval(timer);
        clearTimeout(deadline);
        reject(new Error(`agent exited before ${pattern}:\n${out.text.slice(-4000)}`));
      }
    }, 20);
    const deadline = setTimeout(() => {
      clearInterval(timer);
      reject(new Error(`timeout waiting for ${pattern}:\n${out.text.slice(-4000)}`));
    }, timeoutMs);
  });
}

async function runAgent(label: string, source: string[]): Promise<Result> {
  const ns = `wpt-memapi-${process.pid}-${label}`;
  execFileSync("ip", ["netns", "add", ns]);
  let child: ChildProcess | null = null;
  try {
    const started = performance.now();
    child = spawn(
      process.execPath,
      [
        "--import",
        "tsx",
        `${root}runtime/main.ts`,
        "agent",
        ...source,
        "--netns",
        ns,
        "--node-name",
        "node-0",
        "--node-ip",
        "10.250.0.1",
        "--cluster-cidr",
        "10.64.0.0/10",
        "--service-cidr",
        "10.96.0.0/12",
        "--status-address",
        "",
      ],
      { cwd: root, stdio: ["ignore", "pipe", "pipe"] },
    );
    const out = { text: "" };
    const collect = (b: Buffer) => {
      out.text += b.toString();
    };
    child.stdout?.on("data", collect);
    child.stderr?.on("data", collect);
    const sync = await waitFor(child, out, /[^\n]*sync full: [^\n]* in ([\d.]+)ms[^\n]*/, 600_000);
    const startToSyncedMs = performance.now() - started;
    const pid = child.pid as number;
    const rssSyncedMiB = vmRssMiB(pid);
    let rssSteadyMaxMiB = rssSyncedMiB;
    const steadyEnd = performance.now() + STEADY_S * 1000;
    while (performance.now() < steadyEnd) {
      await new Promise((r) => setTimeout(r, 1000));
      if (child.exitCode !== null) throw new Error(`agent ${label} exited:\n${out.text.slice(-4000)}`);
      rssSteadyMaxMiB = Math.max(rssSteadyMaxMiB, vmRssMiB(pid));
    }
    return {
      label,
      startToSyncedMs,
      syncMs: Number(sync[1]),
      syncLine: sync[0].trim(),
      rssSyncedMiB,
      rssSteadyMiB: vmRssMiB(pid),
      rssSteadyMaxMiB,
    };
  } finally {
    if (child && child.exitCode === null) {
      const c = child;
      const exited = new Promise((r) => c.once("exit", r));
      c.kill("SIGTERM");
      await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000).unref())]);
      if (c.exitCode === null) c.kill("SIGKILL");
    }
    try {
      execFileSync("ip", ["netns", "delete", ns], { stdio: "ignore" });
    } catch {
      // already gone
    }
  }
}

const f1 = (n: number) => n.toFixed(1);
const load = () =>
  loadavg()
    .map((l) => l.toFixed(2))
    .join(" ");

async function main(): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), "wpt-memapi-"));
  const dc = join(work, "dc");
  const manifests = join(work, "manifests");
  mkdirSync(manifests);
  console.log(`${new Date().toISOString()} load ${load()}: starting dev cluster in ${dc}`);
  try {
    const cluster = await startCluster(dc, { progress: () => {} });
    const { kubectl, kubeconfig } = cluster.layout;
    const createMs = await createObjects(kubectl, kubeconfig, work);
    console.log(
      `created ${SERVICES} services + ${SERVICES} slices in ${f1(createMs / 1000)} s (load ${load()})`,
    );
    const bytes = exportManifests(kubectl, kubeconfig, manifests);
    const apiserverPid = clusterProcesses(dc)["kube-apiserver"];
    const results = [
      await runAgent("apiserver", ["--kubeconfig", kubeconfig]),
      await runAgent("manifests", ["--manifests", manifests]),
    ];
    const base = results[1];
    console.log(
      `\nagent, ${SERVICES} ClusterIP services × 3 endpoints; manifests: the same objects read back, ` +
        `${f1(bytes / MiB)} MiB of JSON in 10 files; steady = ${STEADY_S} s after the first sync`,
    );
    const header = [
      "source",
      "start→synced s",
      "vs manifests",
      "sync s",
      "RSS synced MiB",
      "RSS steady MiB",
      "max MiB",
      "vs manifests",
    ];
    const rows = results.map((r) => [
      r.label,
      (r.startToSyncedMs / 1000).toFixed(2),
      `${(r.startToSyncedMs / base.startToSyncedMs).toFixed(2)}×`,
      (r.syncMs / 1000).toFixed(2),
      f1(r.rssSyncedMiB),
      f1(r.rssSteadyMiB),
      f1(r.rssSteadyMaxMiB),
      `${(r.rssSteadyMiB / base.rssSteadyMiB).toFixed(2)}×`,
    ]);
    const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
    for (const row of [header, ...rows]) console.log(row.map((c, i) => c.padStart(widths[i])).join("  "));
    for (const r of results) console.log(`${r.label}: ${r.syncLine}`);
    if (apiserverPid) console.log(`kube-apiserver RSS at the end: ${f1(vmRssMiB(apiserverPid))} MiB`);
    console.log(`${new Date().toISOString()} load ${load()}`);
  } finally {
    await stopCluster(dc, (line) => console.log(`devcluster: ${line}`));
    rmSync(work, { recursive: true, force: true });
  }
}

await main();
