// bench/service-shape-floor: the kernel's cost of the common Service changes under candidate rule
// shapes (issue 15), measured with the real `nft` in throwaway network namespaces.
//
// Shapes (every one inside the same skeleton of base chains as runtime/services/base-rules.ts):
//   A     today's shape: a chain per service port whose rule cascade picks the endpoint and DNATs,
//         reached through the `services-ips4` verdict map (the baseline of every ratio);
//   B<S>  element-only: one data map `ip daddr . meta l4proto . th dport . numgen random mod S`
//         → `ip daddr . th dport` read by one `dnat` rule in the dispatch chain; S slots per service;
//   H<S>  hybrid: B<S> for plain services, plus HYBRID_PERCENT % of the services ("feature" services:
//         affinity, eTP/iTP Local, source ranges) kept as A-style chains behind the verdict map;
// (A fourth candidate, one interval map keyed by `… . numgen random mod 65536` with one range per
// endpoint, is not here: nft 1.0.6 + kernel 6.18 refused it with EEXIST from 400 services up, see
// docs/service-shapes.md.)
//
// Per size: each shape is loaded into a fresh namespace of its own (`nft -f`, one batch), then the
// changes run interleaved (A, B16, B64, …, rotating who goes first), WARMUP untimed rounds then RUNS
// timed ones, a different service every round. Kernel time is the duration of nft's batch
// `sendmsg` (nf_tables processes the batch, commit and validation included, inside that system
// call), taken with `strace -T --seccomp-bpf -e trace=sendmsg`; wall is the whole `ip netns exec …
// nft -f` run as this process sees it. The floor is the same run of a no-op batch (`add table`).
// Kernel memory: kmalloc-cg-* slab objects + VmallocUsed before and after each load (machine-wide, so
// other sessions' work is noise in it). Finally a traffic check of shape B16 between two namespaces.
//
// Env: SHAPE_FLOOR_SIZES (10000,50000,100000), SHAPE_FLOOR_SHAPES (A,B16,B64,H16),
// SHAPE_FLOOR_RUNS (7), SHAPE_FLOOR_WARMUP (2), SHAPE_FLOOR_CONNECTIONS (150, per traffic step), SHAPE_FLOOR_B64_MAX (50000: B64 above it is skipped,
// 6.4 M elements at 100,000), SHAPE_FLOOR_HYBRID_PERCENT (2), SHAPE_FLOOR_TRAFFIC (1; 0 skips the
// traffic check).
import { type SpawnSyncReturns, spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";

const env = process.env;
const SIZES = (env.SHAPE_FLOOR_SIZES ?? "10000,50000,100000").split(",").filter(Boolean).map(Number);
const SHAPE_IDS = (env.SHAPE_FLOOR_SHAPES ?? "A,B16,B64,H16").split(",").filter(Boolean);
const RUNS = Number(env.SHAPE_FLOOR_RUNS ?? 7);
const WARMUP = Number(env.SHAPE_FLOOR_WARMUP ?? 2);
const B64_MAX = Number(env.SHAPE_FLOOR_B64_MAX ?? 50_000);
const HYBRID_PERCENT = Number(env.SHAPE_FLOOR_HYBRID_PERCENT ?? 2);
const TRAFFIC = env.SHAPE_FLOOR_TRAFFIC !== "0";
const CONNECTIONS = Number(env.SHAPE_FLOOR_CONNECTIONS ?? 150);
const TABLE = "inet wps15";
const ENDPOINTS = 3;

// ---------------------------------------------------------------------------------------------
// Addresses and endpoint sets

const clusterIP = (i: number) => `10.${96 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`;
const endpointIP = (i: number, j: number) => `10.${64 + j * 4 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`;
interface Backend {
  ip: string;
  port: number;
}
/** A service's endpoints: `count` of them, numbered from 0; endpoint 3 is the one a change adds. */
const endpointsOf = (i: number, count = ENDPOINTS): Backend[] =>
  Array.from({ length: count }, (_, j) => ({ ip: endpointIP(i, j), port: 8080 }));

// ---------------------------------------------------------------------------------------------
// Shapes: a full-load script and the text of each change

type Kind = "chains" | "slots";
interface Shape {
  id: string;
  kind: Kind;
  /** Slots per service. */
  slots: number;
  /** Every `featureEvery`-th service is chain-shaped (hybrid); 1 = all of them, 0 = none. */
  featureEvery: number;
}

function shapeOf(id: string): Shape {
  if (id === "A") return { id, kind: "chains", slots: 0, featureEvery: 1 };
  const m = /^([BH])(\d+)$/.exec(id);
  if (!m) throw new Error(`unknown shape ${id} (A, B<slots>, H<slots>)`);
  const featureEvery = m[1] === "H" ? Math.max(1, Math.round(100 / HYBRID_PERCENT)) : 0;
  return { id, kind: "slots", slots: Number(m[2]), featureEvery };
}

const isChainService = (shape: Shape, i: number) =>
  shape.featureEvery === 1 || (shape.featureEvery > 1 && i % shape.featureEvery === 0);
const svcChain = (i: number) => `svc-c4-bench-svc-${i}-tcp-80`;
const KEY_EXPR = (mod: number) => `ip daddr . meta l4proto . th dport . numgen random mod ${mod}`;
const MAP_RULE = (shape: Shape) =>
  `meta l4proto { tcp, udp, sctp } dnat ip to ${KEY_EXPR(shape.slots)} map @services-backends4`;

/** Rules of a chain-shaped service: kube-proxy's random cascade, as runtime/services writes it. */
function cascade(eps: Backend[]): string[] {
  return eps.map((e, k) => {
    const left = eps.length - k;
    const test = left > 1 ? `numgen random mod ${left} < 1 ` : "";
    return `${test}meta l4proto tcp dnat ip to ${e.ip}:${e.port}`;
  });
}

/** Slot s of a service with endpoints `eps`: s mod N, except the slots a 4th endpoint took. */
function slotTable(eps: Backend[], slots: number): Backend[] {
  const base = eps.slice(0, ENDPOINTS);
  const table = Array.from({ length: slots }, (_, s) => base[s % base.length]);
  // A 4th endpoint takes every 4th slot (S/4 of them): what a minimal-disruption plan moves.
  if (eps.length > ENDPOINTS) for (let s = 3; s < slots; s += 4) table[s] = eps[ENDPOINTS];
  return table;
}

const vip = (i: number) => `${clusterIP(i)} . tcp . 80`;
function mapElements(shape: Shape, i: number, eps: Backend[]): string[] {
  return slotTable(eps, shape.slots).map((e, s) => `${vip(i)} . ${s} : ${e.ip} . ${e.port}`);
}

/** The skeleton of runtime/services/base-rules.ts (IPv4 half), with the shape's dispatch rule. */
function skeleton(
  shape: Shape,
  body: { chains: string[]; clusterIPs: string[]; vmap: string[]; map: string[] },
) {
  const hasMap = shape.kind !== "chains";
  const mapDecl = `map services-backends4 { typeof ${KEY_EXPR(shape.slots)} : ip daddr . th dport;${elems(body.map)} }`;
  return [
    `table ${TABLE} {`,
    "  map services-ips4 { type ipv4_addr . inet_proto . inet_service : verdict;" + elems(body.vmap) + " }",
    "  map services-nodeports4 { type inet_proto . inet_service : verdict; }",
    "  set services-nodeport-ips4 { type ipv4_addr; }",
    "  set services-cluster-ips4 { type ipv4_addr;" + elems(body.clusterIPs) + " }",
    "  set services-cluster-cidrs4 { type ipv4_addr; flags interval; elements = { 10.64.0.0/10 } }",
    "  map services-no-endpoints4 { type ipv4_addr . inet_proto . inet_service : verdict; }",
    "  map services-firewall4 { type ipv4_addr . inet_proto . inet_service : verdict; }",
    "  set services-hairpin4 { type ipv4_addr . ipv4_addr; }",
    ...(hasMap ? [`  ${mapDecl}`] : []),
    "  chain services-mark-masquerade { meta mark set meta mark | 0x4000; }",
    "  chain services-masquerading {",
    "    ct status dnat ip saddr . ip daddr @services-hairpin4 jump services-mark-masquerade",
    "    meta mark & 0x4000 != 0x4000 return",
    "    meta mark set meta mark ^ 0x4000",
    "    masquerade fully-random",
    "  }",
    "  chain services-endpoints-check { ip daddr . meta l4proto . th dport vmap @services-no-endpoints4; }",
    "  chain services-firewall-check { ip daddr . meta l4proto . th dport vmap @services-firewall4; }",
    "  chain services-cluster-ips-check {",
    "    ip daddr @services-cluster-ips4 reject with icmp port-unreachable",
    "    ip daddr 10.96.0.0/12 drop",
    "  }",
    "  chain services-reject { reject; }",
    "  chain services-dispatch {",
    "    ip daddr @services-cluster-ips4 ip saddr != @services-cluster-cidrs4 jump services-mark-masquerade",
    ...(hasMap ? [`    ${MAP_RULE(shape)}`] : []),
    "    ip daddr . meta l4proto . th dport vmap @services-ips4",
    "    ip daddr @services-nodeport-ips4 meta l4proto . th dport vmap @services-nodeports4",
    "  }",
    "  chain services-filter-prerouting { type filter hook prerouting priority -110; policy accept; ct state new jump services-firewall-check; }",
    "  chain services-filter-forward { type filter hook forward priority -110; policy accept; ct state new jump services-endpoints-check; ct state new jump services-cluster-ips-check; }",
    "  chain services-filter-output { type filter hook output priority -110; policy accept; ct state new jump services-endpoints-check; ct state new jump services-firewall-check; }",
    "  chain services-filter-output-post-dnat { type filter hook output priority -90; policy accept; ct state new jump services-cluster-ips-check; }",
    "  chain services-nat-prerouting { type nat hook prerouting priority -100; policy accept; jump services-dispatch; }",
    "  chain services-nat-output { type nat hook output priority -100; policy accept; jump services-dispatch; }",
    "  chain services-nat-postrouting { type nat hook postrouting priority 100; policy accept; jump services-masquerading; }",
    ...body.chains,
    "}",
    "",
  ].join("\n");
}

function elems(list: string[]): string {
  return list.length === 0 ? "" : ` elements = { ${list.join(",\n")} };`;
}

function fullLoad(shape: Shape, n: number): string {
  const body = {
    chains: [] as string[],
    clusterIPs: [] as string[],
    vmap: [] as string[],
    map: [] as string[],
  };
  for (let i = 0; i < n; i++) {
    body.clusterIPs.push(clusterIP(i));
    if (isChainService(shape, i)) {
      body.chains.push(`  chain ${svcChain(i)} {\n    ${cascade(endpointsOf(i)).join("\n    ")}\n  }`);
      body.vmap.push(`${vip(i)} : goto ${svcChain(i)}`);
    } else {
      body.map.push(...mapElements(shape, i, endpointsOf(i)));
    }
  }
  return skeleton(shape, body);
}

type Change = "endpoint +1" | "endpoint -1" | "service +1" | "service -1";
const CHANGES: Change[] = ["endpoint +1", "endpoint -1", "service +1", "service -1"];

/** The batch that makes change `c` to service i (its endpoints go 3 → 4 → 3; services ≥ n are new). */
function changeScript(shape: Shape, c: Change, i: number): string {
  const chained = isChainService(shape, i);
  const t = TABLE;
  if (c === "endpoint +1" || c === "endpoint -1") {
    const [before, after] = c === "endpoint +1" ? [3, 4] : [4, 3];
    if (chained)
      return [
        `flush chain ${t} ${svcChain(i)}`,
        ...cascade(endpointsOf(i, after)).map((r) => `add rule ${t} ${svcChain(i)} ${r}`),
        "",
      ].join("\n");
    return elementDiff(shape, i, endpointsOf(i, before), endpointsOf(i, after));
  }
  const eps = endpointsOf(i);
  if (c === "service +1") {
    if (chained)
      return [
        `add chain ${t} ${svcChain(i)}`,
        ...cascade(eps).map((r) => `add rule ${t} ${svcChain(i)} ${r}`),
        `add element ${t} services-ips4 { ${vip(i)} : goto ${svcChain(i)} }`,
        `add element ${t} services-cluster-ips4 { ${clusterIP(i)} }`,
        "",
      ].join("\n");
    return [
      `add element ${t} services-backends4 { ${mapElements(shape, i, eps).join(", ")} }`,
      `add element ${t} services-cluster-ips4 { ${clusterIP(i)} }`,
      "",
    ].join("\n");
  }
  if (chained)
    return [
      `delete element ${t} services-ips4 { ${vip(i)} }`,
      `delete element ${t} services-cluster-ips4 { ${clusterIP(i)} }`,
      `flush chain ${t} ${svcChain(i)}`,
      `delete chain ${t} ${svcChain(i)}`,
      "",
    ].join("\n");
  return [
    `delete element ${t} services-backends4 { ${mapElements(shape, i, eps)
      .map((e) => e.split(" : ")[0])
      .join(", ")} }`,
    `delete element ${t} services-cluster-ips4 { ${clusterIP(i)} }`,
    "",
  ].join("\n");
}

/** Map elements whose value changed: delete + add of those keys only (what nft/'s diff sends). */
function elementDiff(shape: Shape, i: number, before: Backend[], after: Backend[]): string {
  const old = mapElements(shape, i, before);
  const now = new Set(mapElements(shape, i, after));
  const gone = old.filter((e) => !now.has(e));
  const added = [...now].filter((e) => !old.includes(e));
  const lines: string[] = [];
  if (gone.length > 0)
    lines.push(
      `delete element ${TABLE} services-backends4 { ${gone.map((e) => e.split(" : ")[0]).join(", ")} }`,
    );
  if (added.length > 0) lines.push(`add element ${TABLE} services-backends4 { ${added.join(", ")} }`);
  return lines.join("\n") + "\n";
}

// ---------------------------------------------------------------------------------------------
// Running nft

const DIR = mkdtempSync(join(tmpdir(), "wps15-"));
interface NftRun {
  wallMs: number;
  kernelMs: number;
  batches: number;
}

function check(r: SpawnSyncReturns<string>, what: string): void {
  if (r.error) throw new Error(`${what}: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`${what}: exit ${r.status}: ${(r.stderr ?? "").slice(0, 2000)}`);
}

/** `nft -f FILE` in `ns` under strace; kernel = the summed duration of its batch sendmsg calls. */
function nftFile(ns: string, script: string, timeoutMs = 600_000): NftRun {
  const file = join(DIR, "batch.nft");
  const trace = join(DIR, "strace.out");
  writeFileSync(file, script);
  const args = ["netns", "exec", ns, "strace", "-qq", "-T", "--seccomp-bpf", "-f", "-e", "trace=sendmsg"];
  const start = performance.now();
  const r = spawnSync("ip", [...args, "-o", trace, "nft", "-f", file], {
    encoding: "utf8",
    timeout: timeoutMs,
    maxBuffer: 64 << 20,
  });
  const wallMs = performance.now() - start;
  check(r, `nft -f in ${ns}`);
  let kernelMs = 0;
  let batches = 0;
  for (const m of readFileSync(trace, "utf8").matchAll(/sendmsg\(.*<(\d+\.\d+)>$/gm)) {
    kernelMs += Number(m[1]) * 1000;
    batches++;
  }
  return { wallMs, kernelMs, batches };
}

function ipCmd(...args: string[]): void {
  check(spawnSync("ip", args, { encoding: "utf8" }), `ip ${args.join(" ")}`);
}

/**
 * nf_tables allocates its objects with GFP_KERNEL_ACCOUNT, i.e. from the kmalloc-cg-* slab caches
 * (a map element of these shapes is one kmalloc-cg-64 object), and large hash tables with vmalloc:
 * the sum of active kmalloc-cg-* objects × their size, plus VmallocUsed. Machine-wide, but far less
 * noisy than Slab (dentries and inodes of other sessions' work).
 */
function kernelMemoryKiB(): number {
  let bytes = 0;
  for (const line of readFileSync("/proc/slabinfo", "utf8").split("\n")) {
    const f = line.split(/\s+/);
    if (f[0]?.startsWith("kmalloc-cg-")) bytes += Number(f[1]) * Number(f[3]);
  }
  const vmalloc = /^VmallocUsed:\s+(\d+)/m.exec(readFileSync("/proc/meminfo", "utf8"))?.[1];
  return bytes / 1024 + Number(vmalloc ?? 0);
}

const sleep = (ms: number) => new Promise((res) => setTimeout(res, ms));
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN;
const load = () =>
  loadavg()
    .map((x) => x.toFixed(2))
    .join(" ");

// ---------------------------------------------------------------------------------------------
// The measurement

interface LoadRow {
  size: number;
  shape: string;
  wallMs: number;
  kernelMs: number;
  scriptBytes: number;
  memKiB: number;
  elements: number;
  chains: number;
}
interface ChangeRow {
  size: number;
  shape: string;
  change: string;
  wallMs: number;
  kernelMs: number;
  floorMs: number;
}

/** `i`, or the next service after it that is not chain-shaped in a hybrid. */
function plainService(shape: Shape, i: number): number {
  while (shape.featureEvery > 1 && isChainService(shape, i)) i++;
  return i;
}

function shapesAt(n: number): Shape[] {
  return SHAPE_IDS.map(shapeOf).filter((s) => {
    if (s.kind === "slots" && s.slots > 16 && n > B64_MAX) return false;
    return true;
  });
}

async function measureSize(n: number, loads: LoadRow[], changes: ChangeRow[], namespaces: string[]) {
  const shapes = shapesAt(n);
  console.log(`\n-- ${n} services: shapes ${shapes.map((s) => s.id).join(", ")}; load average ${load()}`);
  const nsOf = new Map<string, string>();
  for (const shape of shapes) {
    const ns = `wps15-${process.pid}-${shape.id.toLowerCase()}`;
    ipCmd("netns", "add", ns);
    namespaces.push(ns);
    nsOf.set(shape.id, ns);
    const script = fullLoad(shape, n);
    const before = kernelMemoryKiB();
    const run = nftFile(ns, script);
    await sleep(2000); // rhashtable resizes run in a worker
    const memKiB = kernelMemoryKiB() - before;
    const chained = Array.from({ length: n }, (_, i) => isChainService(shape, i)).filter(Boolean).length;
    const row: LoadRow = {
      size: n,
      shape: shape.id,
      wallMs: run.wallMs,
      kernelMs: run.kernelMs,
      scriptBytes: script.length,
      memKiB,
      elements: chained + (n - chained) * shape.slots + n,
      chains: chained + 18,
    };
    loads.push(row);
    console.log(
      `load ${shape.id}: ${(run.wallMs / 1000).toFixed(2)} s (kernel ${(run.kernelMs / 1000).toFixed(2)} s, ${run.batches} sendmsg), script ${(script.length / 2 ** 20).toFixed(1)} MiB, kernel memory Δ ${(memKiB / 1024).toFixed(0)} MiB; load average ${load()}`,
    );
  }
  // Changes, interleaved over shapes; round r touches service `base + r` (never one touched before).
  const rounds = WARMUP + RUNS;
  const samples = new Map<string, { wall: number[]; kernel: number[]; floor: number[] }>();
  for (let r = 0; r < rounds; r++) {
    for (let k = 0; k < shapes.length; k++) {
      const shape = shapes[(r + k) % shapes.length];
      const ns = nsOf.get(shape.id)!;
      // Plain service (not a multiple of the hybrid's featureEvery), and for H a feature service too.
      const plain = plainService(shape, 1 + r * 2);
      const added = plainService(shape, n + 1 + r * 2);
      const cases: [string, Change, number][] = CHANGES.map((c) => [
        c,
        c,
        c.startsWith("service") ? added : plain,
      ]);
      if (shape.featureEvery > 1) {
        const feature = (r + 1) * shape.featureEvery;
        cases.push(["endpoint +1 (feature svc)", "endpoint +1", feature]);
        cases.push(["endpoint -1 (feature svc)", "endpoint -1", feature]);
      }
      for (const [label, c, i] of cases) {
        const floor = nftFile(ns, `add table ${TABLE}\n`);
        const run = nftFile(ns, changeScript(shape, c, i));
        if (r < WARMUP) continue;
        const key = `${shape.id}|${label}`;
        const s = samples.get(key) ?? { wall: [], kernel: [], floor: [] };
        s.wall.push(run.wallMs);
        s.kernel.push(run.kernelMs);
        s.floor.push(floor.wallMs);
        samples.set(key, s);
      }
    }
  }
  const order = (key: string) => SHAPE_IDS.indexOf(key.split("|")[0]);
  for (const [key, s] of [...samples].sort((x, y) => order(x[0]) - order(y[0]))) {
    const [shape, change] = key.split("|");
    changes.push({
      size: n,
      shape,
      change,
      wallMs: median(s.wall),
      kernelMs: median(s.kernel),
      floorMs: median(s.floor),
    });
  }
  console.log(`changes done at ${n}; load average ${load()}`);
  for (const ns of nsOf.values()) {
    ipCmd("netns", "delete", ns);
    namespaces.splice(namespaces.indexOf(ns), 1);
  }
  await sleep(10_000); // a namespace's tables are freed by a kernel worker after it is deleted
}

// ---------------------------------------------------------------------------------------------
// Traffic: shape B16 (and the change path) between a client and a server namespace

const SERVER_IP = "10.200.0.2";
const CLIENT_IP = "10.200.0.1";
const BACKEND_PORTS = [8081, 8082, 8083, 8084];

async function trafficCheck(namespaces: string[]): Promise<string[]> {
  const client = `wps15-${process.pid}-client`;
  const server = `wps15-${process.pid}-server`;
  const listeners: ReturnType<typeof spawn>[] = [];
  const report: string[] = [];
  try {
    for (const ns of [client, server]) {
      ipCmd("netns", "add", ns);
      namespaces.push(ns);
      ipCmd("-n", ns, "link", "set", "lo", "up");
    }
    ipCmd("-n", client, "link", "add", "v0", "type", "veth", "peer", "name", "v1", "netns", server);
    ipCmd("-n", client, "addr", "add", `${CLIENT_IP}/24`, "dev", "v0");
    ipCmd("-n", server, "addr", "add", `${SERVER_IP}/24`, "dev", "v1");
    ipCmd("-n", client, "link", "set", "v0", "up");
    ipCmd("-n", server, "link", "set", "v1", "up");
    ipCmd("-n", client, "route", "add", "default", "via", SERVER_IP);
    for (const port of BACKEND_PORTS) {
      const child = spawn(
        "ip",
        [
          "netns",
          "exec",
          server,
          "socat",
          `TCP-LISTEN:${port},fork,reuseaddr`,
          `SYSTEM:echo backend-${port}`,
        ],
        { stdio: "ignore" },
      );
      listeners.push(child);
    }
    await sleep(500);
    // 1,000 services of shape B16 in the client's output path; service 1's endpoints are the server's.
    const shape = shapeOf("B16");
    const real = (i: number, count = ENDPOINTS): Backend[] =>
      i === 1
        ? BACKEND_PORTS.slice(0, count).map((port) => ({ ip: SERVER_IP, port }))
        : endpointsOf(i, count);
    const script = fullLoad(shape, 1000).replace(
      mapElements(shape, 1, endpointsOf(1)).join(",\n"),
      mapElements(shape, 1, real(1)).join(",\n"),
    );
    nftFile(client, script);
    const connect = (count: number) => {
      const seen = new Map<string, number>();
      const deadline = Date.now() + 120_000;
      for (let k = 0; k < count && Date.now() < deadline; k++) {
        const r = spawnSync(
          "ip",
          ["netns", "exec", client, "socat", "-T2", "-", `TCP:${clusterIP(1)}:80,connect-timeout=2`],
          { encoding: "utf8", timeout: 5000, input: "" },
        );
        const who = r.status === 0 ? r.stdout.trim() || "(empty)" : `failed (${r.status})`;
        seen.set(who, (seen.get(who) ?? 0) + 1);
      }
      return [...seen].sort().map(([who, c]) => `${who} ×${c}`);
    };
    report.push(
      `VIP ${clusterIP(1)}:80, ${CONNECTIONS} connections, 3 endpoints (slots 6/5/5 of 16): ${connect(CONNECTIONS).join(", ")}`,
    );
    const conntrack = spawnSync("ip", ["netns", "exec", client, "conntrack", "-L", "-d", clusterIP(1)], {
      encoding: "utf8",
    });
    const dnatted = (conntrack.stdout ?? "").split("\n").filter((l) => l.includes(`src=${SERVER_IP}`)).length;
    report.push(`conntrack entries to the VIP whose reply comes from ${SERVER_IP}: ${dnatted}`);
    // The change path: a 4th endpoint by element update only.
    const add = elementDiff(shape, 1, real(1, 3), real(1, 4));
    nftFile(client, add);
    report.push(
      `after 'endpoint +1' (${add.trim().split("\n").length} element commands; slots 4/4/4/4): ${connect(CONNECTIONS).join(", ")}`,
    );
    const empty = [
      `delete element ${TABLE} services-backends4 { ${mapElements(shape, 1, real(1, 4))
        .map((e) => e.split(" : ")[0])
        .join(", ")} }`,
      "",
    ].join("\n");
    nftFile(client, empty);
    report.push(
      `after deleting every slot of the VIP (falls through to services-cluster-ips-check): ${connect(3).join(", ")}`,
    );
    report.push(`UDP datagrams per slot of \`numgen random mod 16\` in the same key: ${slotCounts(client)}`);
  } finally {
    for (const child of listeners) if (child.pid !== undefined) child.kill();
  }
  return report;
}

/**
 * How evenly the key's `numgen random mod 16` spreads: 16,000 UDP datagrams from `ns` to an address
 * routed to its loopback, each looked up (filter hook, so every packet, not only a connection's first)
 * in a map of the same key shape whose value is the slot, then counted per slot.
 */
function slotCounts(ns: string): string {
  const target = "10.250.0.1";
  const slots = Array.from({ length: 16 }, (_, s) => s);
  const script = [
    "table inet wps15-slots {",
    `  map slot { typeof ${KEY_EXPR(16)} : meta mark; elements = { ${slots.map((s) => `${target} . udp . 80 . ${s} : ${s}`).join(", ")} }; }`,
    `  map count { typeof meta mark : verdict; elements = { ${slots.map((s) => `${s} : jump s${s}`).join(", ")} }; }`,
    ...slots.map((s) => `  chain s${s} { counter; }`),
    "  chain out { type filter hook output priority 0; policy accept;",
    `    ip daddr ${target} udp dport 80 meta mark set ${KEY_EXPR(16)} map @slot`,
    `    ip daddr ${target} udp dport 80 meta mark vmap @count`,
    "  }",
    "}",
    "",
  ].join("\n");
  nftFile(ns, script);
  ipCmd("-n", ns, "route", "add", `${target}/32`, "dev", "lo");
  const lines = "y\n".repeat(16_000);
  spawnSync("ip", ["netns", "exec", ns, "socat", "-b", "2", "-u", "-", `UDP:${target}:80`], {
    input: lines,
    timeout: 30_000,
  });
  const listing = spawnSync("ip", ["netns", "exec", ns, "nft", "list", "table", "inet", "wps15-slots"], {
    encoding: "utf8",
  }).stdout;
  const counts = [...listing.matchAll(/chain s(\d+) \{\s*counter packets (\d+)/g)].map((m) => Number(m[2]));
  return `${counts.join(" ")} (expected ${16_000 / 16} each)`;
}

// ---------------------------------------------------------------------------------------------

function fmt(x: number): string {
  return x < 10 ? x.toFixed(2) : x < 100 ? x.toFixed(1) : x.toFixed(0);
}

function printTables(loads: LoadRow[], changes: ChangeRow[]): void {
  console.log(
    "\nFull load (one `nft -f`, table block), kernel memory = Δ(kmalloc-cg-* objects + VmallocUsed), machine-wide:",
  );
  console.log(
    "| services | shape | chains | elements | wall s | kernel s | script MiB | kernel memory MiB | A wall s (same run) |",
  );
  console.log("| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
  for (const l of loads) {
    const a = loads.find((x) => x.size === l.size && x.shape === "A");
    console.log(
      `| ${l.size} | ${l.shape} | ${l.chains} | ${l.elements} | ${(l.wallMs / 1000).toFixed(2)} | ${(l.kernelMs / 1000).toFixed(2)} | ${(l.scriptBytes / 2 ** 20).toFixed(1)} | ${(l.memKiB / 1024).toFixed(0)} | ${a ? (a.wallMs / 1000).toFixed(2) : ""} |`,
    );
  }
  console.log(
    `\nOne change (median of ${RUNS} after ${WARMUP} untimed rounds), ms; kernel = nft's batch sendmsg; floor = \`nft -f\` of a no-op batch:`,
  );
  console.log(
    "| services | change | shape | kernel | wall | floor | A kernel (same run) | A wall | kernel vs A |",
  );
  console.log("| ---: | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |");
  for (const c of changes) {
    const a = changes.find(
      (x) => x.size === c.size && x.shape === "A" && x.change === c.change.split(" (")[0],
    );
    console.log(
      `| ${c.size} | ${c.change} | ${c.shape} | ${fmt(c.kernelMs)} | ${fmt(c.wallMs)} | ${fmt(c.floorMs)} | ${a ? fmt(a.kernelMs) : ""} | ${a ? fmt(a.wallMs) : ""} | ${a ? (c.kernelMs / a.kernelMs).toPrecision(2) + "×" : ""} |`,
    );
  }
}

async function main() {
  const nft = spawnSync("nft", ["--version"], { encoding: "utf8" }).stdout.trim();
  const kernel = readFileSync("/proc/sys/kernel/osrelease", "utf8").trim();
  console.log(
    `${nft}, kernel ${kernel}, ${new Date().toISOString()}, load average ${load()}; sizes ${SIZES.join(",")}, shapes ${SHAPE_IDS.join(",")}, runs ${RUNS} after ${WARMUP} warm-up rounds`,
  );
  const namespaces: string[] = [];
  for (const signal of ["SIGINT", "SIGTERM"] as const)
    process.on(signal, () => {
      for (const ns of namespaces) spawnSync("ip", ["netns", "delete", ns]);
      process.exit(130);
    });
  const loads: LoadRow[] = [];
  const changes: ChangeRow[] = [];
  try {
    if (TRAFFIC) for (const line of await trafficCheck(namespaces)) console.log(`traffic: ${line}`);
    for (const n of SIZES) await measureSize(n, loads, changes, namespaces);
  } finally {
    for (const ns of namespaces) spawnSync("ip", ["netns", "delete", ns]);
    rmSync(DIR, { recursive: true, force: true });
  }
  printTables(loads, changes);
  console.log(`\nload average at the end: ${load()}`);
}

await main();
