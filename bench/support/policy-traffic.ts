// Part 3 of bench/policy.ts: the new-connection rate between two pods, with 1,000 NetworkPolicies
// vs none. Three namespaces this file creates and deletes: a node (forwarding, the wasmplane table
// with the real node rules and policy rules, synced the agent's way by BenchNode) and two pods on
// routed veths, client 10.128.200.2 and server 10.128.201.2. The server answers one HTTP response
// per connection and closes; `wrk` (Debian) with `Connection: close` opens a new connection per
// request, bounded by time (POLICY_BENCH_SECONDS per run).
//
// With policies: the dense world's first 989 policies, plus 11 in namespace bench: 9 that select
// the server and allow other namespaces' pods, one that selects it and allows the client (the last
// in the server's chain, so a SYN walks all ten rules), and an egress policy that isolates the client
// and allows it to reach the server. Without: the same pods and node rules, no policies (the
// policy hooks stay, with empty dispatch maps, as the agent has them). The two states alternate in
// the same namespaces (N P, P N, N P, …: a re-sync whenever the state changes), after an untimed
// warm-up run of each; the ratio is given both of the medians and as the median of per-round ratios.

import { type ChildProcess, spawn } from "node:child_process";
import type { NodeAttachment } from "../../runtime/cni/node-rules.ts";
import type { RawObject, SourceEvent } from "../../runtime/sources/source.ts";
import { createNetns, deleteNetns, inNetns, uniqueNetnsName, vethLink } from "../../test/support/netns.ts";
import { BenchNode } from "./policy-node.ts";
import {
  NODE,
  podPlacement,
  policyObject,
  sourceEvents,
  type WorldSize,
  worldObjects,
  worldPolicies,
} from "./policy-world.ts";
import { runWrk, type WrkRun } from "./wrk.ts";

const ROUNDS = Number(process.env.POLICY_BENCH_ROUNDS ?? 10);
const SECONDS = Number(process.env.POLICY_BENCH_SECONDS ?? 2);
const CONNECTIONS = Number(process.env.POLICY_BENCH_CONNECTIONS ?? 16);
const CLIENT = "10.128.200.2";
const SERVER = "10.128.201.2";
const PORT = 8080;
const WORLD: WorldSize = {
  namespaces: 50,
  pods: 5000,
  localPods: 100,
  nodes: 49,
  policies: 1000,
  dense: true,
};

const SERVER_JS = `
const net = require("net");
const reply = "HTTP/1.1 200 OK\\r\\nContent-Length: 2\\r\\nConnection: close\\r\\n\\r\\nok";
net.createServer((s) => { s.on("error", () => {}); s.once("data", () => s.end(reply)); })
  .listen({ port: ${PORT}, host: "0.0.0.0", backlog: 4096 }, () => process.stdout.write("ready\\n"));
setTimeout(() => process.exit(0), 600000).unref();
`;

// Connects once to port 9090 of the server (nothing listens): "refused" when the SYN got there,
// "timeout" when something dropped it.
const PROBE_JS = `
const s = require("net").connect({ host: "${SERVER}", port: 9090 });
s.setTimeout(1500, () => { process.stdout.write("timeout"); process.exit(0); });
s.on("connect", () => { process.stdout.write("connected"); process.exit(0); });
s.on("error", (e) => { process.stdout.write(e.code === "ECONNREFUSED" ? "refused" : e.code); process.exit(0); });
`;

function benchPod(name: string, app: string, ip: string): RawObject {
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name, namespace: "bench", uid: `uid-${name}`, labels: { app } },
    spec: { nodeName: NODE, containers: [{ name: "c", ports: [{ name: "http", containerPort: PORT }] }] },
    status: { phase: "Running", podIP: ip, podIPs: [{ ip }] },
  };
}

function benchPolicies(): RawObject[] {
  const server = { matchLabels: { app: "server" } };
  const others = Array.from({ length: 9 }, (_, k) =>
    policyObject("bench", `p-0${k}`, {
      podSelector: server,
      ingress: [
        {
          from: [
            {
              namespaceSelector: { matchLabels: { team: `team-${k}` } },
              podSelector: { matchLabels: { tier: "web" } },
            },
          ],
          ports: [{ port: PORT }],
        },
      ],
    }),
  );
  return [
    ...others,
    policyObject("bench", "p-09-allow-client", {
      podSelector: server,
      ingress: [{ from: [{ podSelector: { matchLabels: { app: "client" } } }], ports: [{ port: PORT }] }],
    }),
    policyObject("bench", "client-egress", {
      podSelector: { matchLabels: { app: "client" } },
      policyTypes: ["Egress"],
      egress: [{ to: [{ podSelector: server }], ports: [{ port: PORT }] }],
    }),
  ];
}

interface Topology {
  node: string;
  client: string;
  server: string;
}

function createTopology(): Topology {
  const t = {
    node: uniqueNetnsName("pol-node"),
    client: uniqueNetnsName("pol-cli"),
    server: uniqueNetnsName("pol-srv"),
  };
  const created: string[] = [];
  try {
    for (const ns of [t.node, t.client, t.server]) {
      createNetns(ns);
      created.push(ns);
    }
    inNetns(t.node, ["sysctl", "-qw", "net.ipv4.ip_forward=1"]);
    vethLink(t.node, t.client, "wpcli", ["10.128.200.1", CLIENT]);
    vethLink(t.node, t.server, "wpsrv", ["10.128.201.1", SERVER]);
    for (const ns of [t.client, t.server])
      inNetns(ns, ["sysctl", "-qw", "net.ipv4.ip_local_port_range=1024 65000", "net.ipv4.tcp_tw_reuse=1"]);
    return t;
  } catch (err) {
    for (const ns of created) deleteNetns(ns);
    throw err;
  }
}

function startServer(ns: string): Promise<ChildProcess> {
  // No `timeout` wrapper: killing it would leave node running; the server exits by itself after 600 s.
  const child = spawn("ip", ["netns", "exec", ns, "node", "-e", SERVER_JS], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error("the HTTP server in the server pod did not start")),
      10_000,
    );
    child.stdout!.on("data", (d: Buffer) => {
      if (!d.toString().includes("ready")) return;
      clearTimeout(timer);
      resolve(child);
    });
    child.on("exit", () => reject(new Error("the HTTP server in the server pod exited")));
  });
}

function wrk(t: Topology, seconds: number): WrkRun {
  return runWrk({ ns: t.client, url: `http://${SERVER}:${PORT}/`, seconds, connections: CONNECTIONS });
}

const probe = (t: Topology) => inNetns(t.client, ["timeout", "10", "node", "-e", PROBE_JS]).trim();

export interface TrafficReport {
  table: string[][];
  notes: string[];
}

type State = "none" | "policies";
type States = Record<State, { name: string; events: SourceEvent[] }>;

/** The node with the world, the bench namespace and both pods synced, no policies yet. */
async function syncedNode(t: Topology): Promise<{ node: BenchNode; states: States }> {
  const attachments: NodeAttachment[] = [
    { hostInterface: "wpcli", addresses: [CLIENT] },
    { hostInterface: "wpsrv", addresses: [SERVER] },
    ...Array.from({ length: WORLD.localPods }, (_, i) => ({
      hostInterface: `wp${i.toString(16).padStart(11, "0")}`,
      addresses: [podPlacement(i, WORLD).ip],
    })),
  ];
  const node = new BenchNode({
    nodeName: NODE,
    netns: t.node,
    services: { services: new Map(), endpointSlices: new Map() },
    attachments,
    podCIDRs: ["10.128.0.0/16"],
    clusterCIDRs: ["10.128.0.0/9"],
  });
  const bench: RawObject = {
    apiVersion: "v1",
    kind: "Namespace",
    metadata: { name: "bench", labels: { "kubernetes.io/metadata.name": "bench", team: "bench" } },
  };
  await node.change(
    sourceEvents([
      ...worldObjects(WORLD),
      bench,
      benchPod("client", "client", CLIENT),
      benchPod("server", "server", SERVER),
    ]),
  );
  const policies = sourceEvents([...worldPolicies(WORLD, 989), ...benchPolicies()]);
  return {
    node,
    states: {
      none: { name: "no policies", events: policies.map((e) => ({ ...e, type: "delete" as const })) },
      policies: { name: "1,000 policies", events: policies },
    },
  };
}

/**
 * N P, P N, N P, …: each round holds one run of each, adjacent, and every other round starts with
 * the state the last one ended with (half the re-syncs, and drift cancels in pairs).
 */
async function alternate(t: Topology, node: BenchNode, states: States) {
  const runs: Record<State, WrkRun[]> = { none: [], policies: [] };
  const order: State[][] = [];
  for (let round = 0; round < ROUNDS; round++) {
    const pair: State[] = round % 2 === 0 ? ["none", "policies"] : ["policies", "none"];
    for (const key of pair) {
      await node.change(states[key].events);
      runs[key].push(wrk(t, SECONDS));
    }
    order.push(pair);
  }
  return { runs, order };
}

const medianRate = (xs: WrkRun[]) => {
  const ok = xs.filter((r) => !r.failed).map((r) => r.rate);
  return ok.sort((a, b) => a - b)[Math.floor(ok.length / 2)] ?? Number.NaN;
};

function rateTable(runs: Record<State, WrkRun[]>, states: States): string[][] {
  const pairRatios = runs.policies
    .map((p, i) => p.rate / runs.none[i].rate)
    .filter((x) => Number.isFinite(x))
    .sort((a, b) => a - b);
  const pairRatio = pairRatios[Math.floor(pairRatios.length / 2)] ?? Number.NaN;
  const ratio = medianRate(runs.policies) / medianRate(runs.none);
  const table = [
    [
      "case",
      "conn/s per round",
      "median",
      "errors",
      "vs no policies (medians)",
      "median of per-round ratios",
      "target",
    ],
  ];
  for (const key of ["none", "policies"] as const)
    table.push([
      states[key].name,
      runs[key].map((r) => (r.failed ? "failed" : r.rate.toFixed(0))).join(" "),
      medianRate(runs[key]).toFixed(0),
      String(runs[key].reduce((n, r) => n + r.errors, 0)),
      key === "none" ? "" : `${ratio.toFixed(3)}×`,
      key === "none" ? "" : `${pairRatio.toFixed(3)}× (${pairRatios.map((x) => x.toFixed(2)).join(" ")})`,
      key === "none" ? "" : `≥ 0.95×: ${Math.min(ratio, pairRatio) >= 0.95 ? "met" : "MISSED"}`,
    ]);
  return table;
}

export async function measureConnectionRates(): Promise<TrafficReport> {
  const t = createTopology();
  let server: ChildProcess | undefined;
  try {
    server = await startServer(t.server);
    const { node, states } = await syncedNode(t);
    const noneProbe = probe(t);
    const added = await node.change(states.policies.events);
    const policyProbe = probe(t);
    if (noneProbe !== "refused" || policyProbe !== "timeout")
      throw new Error(
        `policy check: port 9090 of the server should be refused without policies and dropped with them, got ${noneProbe} / ${policyProbe}`,
      );
    wrk(t, 1);
    await node.change(states.none.events);
    wrk(t, 1);
    const { runs, order } = await alternate(t, node, states);
    const sequence = order.map((p) => p.map((k) => (k === "none" ? "N" : "P")).join("")).join(" ");
    return {
      table: rateTable(runs, states),
      notes: [
        `wrk -t1 -c${CONNECTIONS} -d${SECONDS}s -H 'Connection: close' (one connection per request); ${ROUNDS} rounds in the order ${sequence} (N: no policies, P: 1,000 policies), after one untimed 1 s run of each.`,
        `with policies the node holds ${added.policy.chains} policy chains, ${added.policy.rules} rules, ${added.policy.sets} sets/maps, ${added.policy.elements} elements; a SYN to the server walks 10 rules of its chain, the client's egress chain allows it.`,
        ...[...runs.none, ...runs.policies].flatMap((r) =>
          r.failed ? [`a wrk run failed: ${r.failed}`] : [],
        ),
        `enforcement check: a connection to the server's closed port 9090 was "${noneProbe}" without policies and "${policyProbe}" with them.`,
      ],
    };
  } finally {
    if (server && server.exitCode === null) server.kill("SIGKILL");
    for (const ns of [t.node, t.client, t.server]) deleteNetns(ns);
  }
}
