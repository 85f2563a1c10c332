// Memory and load time of the agent process in standalone mode at 10,000 ClusterIP services × 3
// endpoints (one EndpointSlice each), as an operator runs it: `node --import tsx runtime/main.ts agent
// --manifests DIR --netns NS`, in a namespace this bench creates and deletes.
//   yaml:     the objects as multi-document YAML (a few files).
//   json:     baseline, the same objects as JSON, one `kind: List` per file.
//   empty:    the agent on an empty directory (start-up cost and RSS of the agent's code alone).
//   node -e:  the RSS floor of a bare node process.
// "start → synced" is from spawn to the end of the first full sync's log line; minus the sync itself
// and the empty directory's start-up it is the time spent reading and validating the manifests.
// RSS is VmRSS of /proc/<pid>/status right after the first sync, and after the agent's compacting GC
// that follows a first sync of 4 MiB or more (runtime/agent/heap-compaction.ts); heap comes from a preloaded probe
// that prints process.memoryUsage() on SIGUSR2, once as is and once after a full GC.
// Sizes: AGENT_MEMORY_SERVICES (default 10000), AGENT_MEMORY_FILES (default 10).
// AGENT_MEMORY_SHAPES (default "chains"): the Service rule shapes to run, each through a config file
// with `services: { shape: … }`; AGENT_MEMORY_FORMATS (default "empty,json,yaml"): the inputs. "vs json"
// compares with the first shape's json run. AGENT_MEMORY_SETTLE_S (default 0): a last RSS sample that
// many seconds after the GC, the agent idle.

import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { COMPACT_AFTER_BYTES, COMPACT_IDLE_MS } from "../runtime/agent/heap-compaction.ts";
import { defaultMaxFileBytes } from "../runtime/sources/manifest-dir.ts";

const SERVICES = Number(process.env.AGENT_MEMORY_SERVICES ?? 10000);
const FILES = Number(process.env.AGENT_MEMORY_FILES ?? 10);
type Shape = "chains" | "maps";
type Format = "yaml" | "json" | "empty";
const SHAPES = (process.env.AGENT_MEMORY_SHAPES ?? "chains").split(",") as Shape[];
const SETTLE_S = Number(process.env.AGENT_MEMORY_SETTLE_S ?? 0);
const FORMATS = (process.env.AGENT_MEMORY_FORMATS ?? "empty,json,yaml").split(",") as Format[];
if (!FORMATS.includes("json") || !FORMATS.includes("empty"))
  throw new Error("AGENT_MEMORY_FORMATS must include empty and json (the baselines)");
const root = fileURLToPath(new URL("../", import.meta.url));
const MiB = 1024 * 1024;

const probe = `data:text/javascript,${encodeURIComponent(
  `process.on("SIGUSR2", () => {
     const before = process.memoryUsage();
     globalThis.gc?.();
     const after = process.memoryUsage();
     process.stderr.write("wpt-memory " + JSON.stringify({ before, after }) + "\\n");
   });`,
)}`;

const clusterIP = (i: number) => `10.${96 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`;
const endpointIP = (i: number, j: number) => `10.${64 + j * 4 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`;

function service(i: number): object {
  return {
    apiVersion: "v1",
    kind: "Service",
    metadata: { name: `svc-${i}`, namespace: "bench", labels: { app: `svc-${i}` } },
    spec: {
      type: "ClusterIP",
      clusterIP: clusterIP(i),
      clusterIPs: [clusterIP(i)],
      ipFamilies: ["IPv4"],
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
      namespace: "bench",
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

/** Block-style YAML as kubectl writes it (enough for these objects: maps, lists, scalars). */
function toYaml(value: unknown, indent = ""): string {
  if (Array.isArray(value)) {
    return value
      .map((item) => {
        const body = toYaml(item, `${indent}  `);
        return typeof item === "object" ? `${indent}- ${body.trimStart()}` : `${indent}- ${body}\n`;
      })
      .join("");
  }
  if (typeof value === "object" && value !== null) {
    return Object.entries(value)
      .map(([k, v]) =>
        typeof v === "object" && v !== null
          ? `${indent}${k}:\n${toYaml(v, Array.isArray(v) ? indent : `${indent}  `)}`
          : `${indent}${k}: ${toYaml(v)}\n`,
      )
      .join("");
  }
  return typeof value === "string" && /^[\d.]+$/.test(value) ? JSON.stringify(value) : String(value);
}

function writeManifests(dir: string, format: Format): number {
  if (format === "empty") return 0;
  const perFile = Math.ceil(SERVICES / FILES);
  let bytes = 0;
  for (let f = 0; f < FILES; f++) {
    const items: object[] = [];
    for (let i = f * perFile; i < Math.min(SERVICES, (f + 1) * perFile); i++)
      items.push(service(i), slice(i));
    const text =
      format === "json"
        ? JSON.stringify({ apiVersion: "v1", kind: "List", items }, null, 2)
        : items.map((o) => `---\n${toYaml(o)}`).join("");
    if (Buffer.byteLength(text) > defaultMaxFileBytes)
      throw new Error(
        `services-${f}.${format} is ${Buffer.byteLength(text)} bytes: the agent reads files of at most ${defaultMaxFileBytes} (raise AGENT_MEMORY_FILES)`,
      );
    writeFileSync(join(dir, `services-${f}.${format}`), text);
    bytes += Buffer.byteLength(text);
  }
  return bytes;
}

interface Run {
  label: string;
  bytes: number;
  startToSyncedMs: number;
  syncMs: number;
  rssMiB: number;
  heapMiB: number;
  rssAfterGcMiB: number;
  heapAfterGcMiB: number;
  /** V8's committed heap and the memory outside it (array buffers, wasm, native) after the GC. */
  heapTotalAfterGcMiB: number;
  externalAfterGcMiB: number;
  /** The agent's compacting GC after a large first sync (runtime/agent/heap-compaction.ts): its ms, "skipped" (the memory limit), or "-" (none). */
  compaction: string;
  /** VmRSS a second after that GC. */
  rssCompactedMiB: number;
  /** VmRSS after AGENT_MEMORY_SETTLE_S seconds more (the agent idle, its heap shrinking on its own). */
  rssSettledMiB: number;
}

/** VmRSS after SETTLE_S seconds (NaN when 0). */
async function settledRssMiB(pid: number): Promise<number> {
  if (SETTLE_S <= 0) return Number.NaN;
  await new Promise((r) => setTimeout(r, SETTLE_S * 1000));
  return vmRssMiB(pid);
}

function vmRssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) / 1024 : Number.NaN;
}

async function runAgent(format: Format, shape: Shape): Promise<Run> {
  const dir = mkdtempSync(join(tmpdir(), "wpt-mem-bench-"));
  const configDir = mkdtempSync(join(tmpdir(), "wpt-mem-bench-config-"));
  const configFile = join(configDir, "config.yaml");
  writeFileSync(configFile, `services:\n  shape: ${shape}\n`);
  const ns = `wpt-mem-bench-${process.pid}-${format}-${shape}`;
  try {
    const bytes = writeManifests(dir, format);
    execFileSync("ip", ["netns", "add", ns]);
    const started = performance.now();
    const child = spawn(
      process.execPath,
      [
        "--expose-gc",
        "--import",
        probe,
        "--import",
        "tsx",
        `${root}runtime/main.ts`,
        "agent",
        "--config",
        configFile,
        "--manifests",
        dir,
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
        "--resync-interval",
        "0",
      ],
      { cwd: root, stdio: ["ignore", "pipe", "pipe"] },
    );
    let output = "";
    let onLine = () => {};
    const collect = (b: Buffer) => {
      output += b.toString();
      onLine();
    };
    child.stdout.on("data", collect);
    child.stderr.on("data", collect);
    const waitFor = (pattern: RegExp, timeoutMs: number) =>
      new Promise<RegExpMatchArray>((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`timeout waiting for ${pattern}:\n${output}`)),
          timeoutMs,
        );
        child.once("exit", () => reject(new Error(`agent exited before ${pattern}:\n${output}`)));
        onLine = () => {
          const m = output.match(pattern);
          if (m) {
            clearTimeout(timer);
            resolve(m);
          }
        };
        onLine();
      });
    try {
      const sync = await waitFor(/sync full: .* in ([\d.]+)ms/, 180_000);
      const startToSyncedMs = performance.now() - started;
      const rssMiB = vmRssMiB(child.pid as number);
      child.kill("SIGUSR2");
      const mem = await waitFor(/wpt-memory (\{.*\})/, 30_000);
      const { before, after } = JSON.parse(mem[1]) as Record<string, NodeJS.MemoryUsage>;
      const rssAfterGcMiB = vmRssMiB(child.pid as number);
      // Only a sync with a batch of COMPACT_AFTER_BYTES or more is followed by one (or by a line
      // saying why not), COMPACT_IDLE_MS after it.
      const batchBytes = Number(/(\d+) bytes/.exec(sync[0])?.[1] ?? 0);
      const compaction =
        batchBytes >= COMPACT_AFTER_BYTES
          ? await waitFor(/heap (?:compacted in (\d+) ms|not compacted)/, COMPACT_IDLE_MS + 30_000)
          : null;
      if (compaction?.[1]) await new Promise((r) => setTimeout(r, 1000));
      return {
        label: SHAPES.length > 1 ? `${format} ${shape}` : format,
        bytes,
        startToSyncedMs,
        syncMs: Number(sync[1]),
        rssMiB,
        heapMiB: before.heapUsed / MiB,
        rssAfterGcMiB,
        heapAfterGcMiB: after.heapUsed / MiB,
        heapTotalAfterGcMiB: after.heapTotal / MiB,
        externalAfterGcMiB: after.external / MiB,
        compaction: compaction ? (compaction[1] ?? "skipped") : "-",
        rssCompactedMiB: compaction?.[1] ? vmRssMiB(child.pid as number) : Number.NaN,
        rssSettledMiB: await settledRssMiB(child.pid as number),
      };
    } finally {
      child.kill("SIGTERM");
      await new Promise((r) => (child.exitCode === null ? child.once("exit", r) : r(null)));
    }
  } finally {
    try {
      execFileSync("ip", ["netns", "delete", ns], { stdio: "ignore" });
    } catch {
      // not created
    }
    rmSync(dir, { recursive: true, force: true });
    rmSync(configDir, { recursive: true, force: true });
  }
}

function nodeFloorMiB(): number {
  const out = execFileSync(process.execPath, [
    "-e",
    `console.log(/VmRSS:\\s+(\\d+)/.exec(require("fs").readFileSync("/proc/self/status","utf8"))[1])`,
  ]);
  return Number(out.toString().trim()) / 1024;
}

const runs: Run[] = [];
for (const shape of SHAPES) for (const format of FORMATS) runs.push(await runAgent(format, shape));
const empty = runs[FORMATS.indexOf("empty")];
const json = runs[FORMATS.indexOf("json")];

const f1 = (n: number) => (Number.isNaN(n) ? "-" : n.toFixed(1));
const header = [
  "input",
  "MiB on disk",
  "start→synced s",
  "sync s",
  "load+validate s",
  "vs json",
  "RSS MiB",
  "vs json",
  "heap MiB",
  "RSS after GC",
  "heap after GC",
  "heap total",
  "external",
  "compaction ms",
  "RSS compacted",
  `RSS after ${SETTLE_S} s more`,
];
const rows = runs.map((r) => {
  const load = r.startToSyncedMs - r.syncMs - (empty.startToSyncedMs - empty.syncMs);
  const jsonLoad = json.startToSyncedMs - json.syncMs - (empty.startToSyncedMs - empty.syncMs);
  return [
    r.label,
    f1(r.bytes / MiB),
    (r.startToSyncedMs / 1000).toFixed(2),
    (r.syncMs / 1000).toFixed(2),
    r === empty ? "-" : (Math.max(0, load) / 1000).toFixed(2),
    r === empty ? "-" : `${(load / jsonLoad).toFixed(2)}×`,
    f1(r.rssMiB),
    `${(r.rssMiB / json.rssMiB).toFixed(2)}×`,
    f1(r.heapMiB),
    f1(r.rssAfterGcMiB),
    f1(r.heapAfterGcMiB),
    f1(r.heapTotalAfterGcMiB),
    f1(r.externalAfterGcMiB),
    r.compaction,
    f1(r.rssCompactedMiB),
    f1(r.rssSettledMiB),
  ];
});
const floor = ["node -e (floor)", "-", "-", "-", "-", "-", f1(nodeFloorMiB())];
rows.push([...floor, ...new Array<string>(header.length - floor.length).fill("-")]);
console.log(
  `agent, standalone, ${SERVICES} ClusterIP services × 3 endpoints in ${FILES} files (target RSS ≤ 300 MiB)`,
);
const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
for (const row of [header, ...rows]) console.log(row.map((c, i) => c.padStart(widths[i])).join("  "));
