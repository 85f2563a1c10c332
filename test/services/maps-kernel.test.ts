// The "maps" shape with real traffic: plain dual-stack ClusterIP ports (no node ports, so they take
// the slot map), through a node namespace to pod servers. The other service kernel tests run with
// this shape too (the default).
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { applyTransaction } from "../../nft/apply.ts";
import { mergeFragments } from "../../nft/desired.ts";
import { planSync } from "../../nft/diff.ts";
import { readTable } from "../../nft/readback.ts";
import { ServiceProxy } from "../../runtime/services/proxy.ts";
import { kernelTest } from "../support/kernel.ts";
import { withNetns } from "../support/netns.ts";
import { port, service, slice, snapshot } from "./fixtures.ts";
import { Harness } from "./harness.ts";
import { lbResults } from "./render.ts";
import { addresses as A, createTopology, deleteTopology, type Topology } from "./topology.ts";
import { answeredBy, probe, type Server, sourcesSeen, startServer } from "./traffic.ts";

const test = suite("services in the kernel, maps shape");
let topo: Topology | undefined;
let servers: Server[] = [];
let h: Harness;

const config = {
  nodeName: "node-a",
  nodeIPs: [A.nodeExternal, A.nodeExternal6],
  clusterCIDRs: ["10.1.0.0/16", "fd01::/16"],
  serviceCIDRs: ["10.96.0.0/16", "fd96::/112"],
  masqueradeAll: false,
  shape: "maps" as const,
};
const pod1 = { ip: A.pod1, node: "node-a" };
const pod2 = { ip: A.pod2, node: "node-b" };
const pod1v6 = { ip: A.pod1v6, node: "node-a" };
const ports = [port("http", "TCP", 80, 8080), port("dns", "UDP", 53, 5353)];

test.before(async () => {
  if (process.getuid?.() !== 0) return;
  topo = createTopology();
  servers = await Promise.all([
    startServer(topo.pods.pod1, "pod1", 8080, 5353),
    startServer(topo.pods.pod2, "pod2", 8080, 5353),
  ]);
  h = new Harness(topo.node, config);
});

test.after(() => {
  for (const s of servers) s.stop();
  deleteTopology(topo);
});

const dual = service("default", "dual", { clusterIPs: ["10.96.0.31", "fd96::31"], ports });

kernelTest(
  test,
  "dual-stack ClusterIP through the slot maps: every endpoint, masquerade, pods kept",
  async () => {
    await h.sync(
      snapshot(
        [dual],
        [slice(dual, [pod1, pod2], { suffix: "v4" }), slice(dual, [pod1v6, A.pod2v6], { suffix: "v6" })],
      ),
    );
    const table = await readTable("inet", "wasmplane", { netns: topo!.node });
    assert.is(table?.sets.get("services-backends4")?.elements.length, 8, "2 ports × 4 slots (2 endpoints)");
    assert.is(table?.sets.get("services-backends6")?.elements.length, 8);
    assert.is(
      [...(table?.chains.keys() ?? [])].filter((c) => c.startsWith("svc-")).length,
      0,
      "no service chain",
    );

    const tcp = await probe(topo!.client, { proto: "tcp", host: "10.96.0.31", port: 80, count: 30 });
    assert.equal(Object.keys(answeredBy(tcp)).sort(), ["pod1", "pod2"], tcp.join(","));
    assert.not.ok(sourcesSeen(tcp).includes(A.client), "off-cluster source must be masqueraded");
    const udp = await probe(topo!.client, { proto: "udp", host: "10.96.0.31", port: 53, count: 30 });
    assert.equal(Object.keys(answeredBy(udp)).sort(), ["pod1", "pod2"], udp.join(","));
    const fromPod = await probe(topo!.pods.pod3, { proto: "tcp", host: "10.96.0.31", port: 80, count: 10 });
    assert.equal(sourcesSeen(fromPod), [A.pod3], "pod sources are kept");
    // The fresh IPv6 links may still be resolving neighbours: the node connects to both pods first
    // (a connection DNATed to a pod whose neighbour entry is still incomplete can take over a
    // second), then one untimed connection through the service.
    for (const host of [A.pod1v6, A.pod2v6])
      await probe(topo!.node, { proto: "tcp", host, port: 8080, count: 1, timeoutMs: 3000 });
    await probe(topo!.pods.pod3, { proto: "tcp", host: "fd96::31", port: 80, count: 1, timeoutMs: 3000 });
    const v6 = await probe(topo!.pods.pod3, { proto: "tcp", host: "fd96::31", port: 80, count: 20 });
    assert.equal(Object.keys(answeredBy(v6)).sort(), ["pod1", "pod2"], v6.join(","));
    assert.equal(sourcesSeen(v6), [A.pod3v6]);
    const undefinedPort = await probe(topo!.client, {
      proto: "tcp",
      host: "10.96.0.31",
      port: 81,
      timeoutMs: 2000,
    });
    assert.equal(undefinedPort, ["ERR ECONNREFUSED"], "an undefined port of a ClusterIP is rejected");
  },
);

kernelTest(
  test,
  "an endpoint removed: element changes only, traffic moves; no endpoints: rejected",
  async () => {
    const bytes = await h.sync(
      snapshot(
        [dual],
        [slice(dual, [pod1], { suffix: "v4" }), slice(dual, [pod1v6, A.pod2v6], { suffix: "v6" })],
      ),
    );
    assert.ok(bytes > 0 && bytes <= 2048, `${bytes} bytes`);
    const tcp = await probe(topo!.client, { proto: "tcp", host: "10.96.0.31", port: 80, count: 10 });
    assert.equal(answeredBy(tcp), { pod1: 10 }, tcp.join(","));

    await h.sync(snapshot([dual], []));
    const r = await probe(topo!.client, { proto: "tcp", host: "10.96.0.31", port: 80, timeoutMs: 2000 });
    assert.equal(r, ["ERR ECONNREFUSED"]);
    const r6 = await probe(topo!.pods.pod3, { proto: "tcp", host: "fd96::31", port: 80, timeoutMs: 2000 });
    assert.equal(r6, ["ERR ECONNREFUSED"]);
  },
);

kernelTest(test, "hairpin through the slot map: a pod reaches itself, masqueraded", async () => {
  const svc = service("default", "self", {
    clusterIPs: ["10.96.0.32"],
    ports: [port("http", "TCP", 80, 8080)],
  });
  await h.sync(snapshot([svc], [slice(svc, [pod1])]));
  const r = await probe(topo!.pods.pod1, { proto: "tcp", host: "10.96.0.32", port: 80, count: 3 });
  assert.equal(answeredBy(r), { pod1: 3 });
  assert.equal(sourcesSeen(r), [A.nodeOnPod1], "hairpin traffic comes from the node");
});

kernelTest(test, "services-dispatch rewritten through nft -f on a table that holds the maps", async () => {
  // nft 1.0.6 refuses `add rule … map @services-backends4` once that map exists (see base-rules.ts
  // slotRules); the dispatch chain, which a config change rewrites, must not name it.
  await withNetns(["s15"], async ([ns]) => {
    const snap = snapshot([dual], [slice(dual, [pod1, pod2], { suffix: "v4" })]);
    const tableOf = (masqueradeAll: boolean) => {
      const proxy = new ServiceProxy({ ...config, masqueradeAll });
      return mergeFragments(
        "inet",
        "wasmplane",
        [proxy.plan(snap, lbResults(proxy, snap)).fragment],
        ["services"],
      );
    };
    const first = tableOf(false);
    await applyTransaction(planSync(null, first).tx, { netns: ns, path: "netlink" });
    const second = tableOf(true);
    const plan = planSync(first, second);
    assert.ok(
      plan.tx.ops.some((op) => op.kind === "rule"),
      "the dispatch chain is rewritten",
    );
    await applyTransaction(plan.tx, { netns: ns, path: "nft" });
    const back = await readTable("inet", "wasmplane", { netns: ns });
    assert.is(back?.sets.get("services-backends4")?.elements.length, 8);
  });
});

test.run();
