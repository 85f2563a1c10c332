// Two nodes on one underlay (a bridge in its own namespace), a CNI server per node, pods attached
// through the CNI executable on each: pod-to-pod across nodes over host-gw routes, then over VXLAN,
// then the routes go when the peer's Node object does.
import { join } from "node:path";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import type { TableFragment } from "../../nft/desired.ts";
import { installCni } from "../../runtime/cni/install.ts";
import type { NodeAttachment } from "../../runtime/cni/node-rules.ts";
import { createNodeRulesApplier } from "../../runtime/cni/node-rules-applier.ts";
import { planPeerRoutes, vtepMac } from "../../runtime/cni/peer-routes.ts";
import { type CniServer, startCniServer } from "../../runtime/cni/server.ts";
import { builtinLbPlanner } from "../../runtime/lb/plan.ts";
import { ServiceProxy } from "../../runtime/services/proxy.ts";
import type { Node, Snapshot } from "../../runtime/store/objects.ts";
import { port, service, slice } from "../services/fixtures.ts";
import { kernelTest } from "../support/kernel.ts";
import { createNetns, deleteNetns, inNetns, uniqueNetnsName, vethPair } from "../support/netns.ts";
import { invoke, resultIPs, tcpProbe, tempDir } from "./harness.ts";

const test = suite("cni multi-node");

/** The service planner's fragment for one ClusterIP 10.96.0.10:80 → `endpoint`:8080. */
async function clusterIPFragment(nodeName: string, endpoint: string): Promise<TableFragment> {
  const web = service("default", "web", { ports: [port("", "TCP", 80, 8080)] });
  const webSlice = slice(web, [{ ip: endpoint, node: "n2" }], { suffix: "1" });
  const snapshot: Snapshot = {
    services: new Map([["default/web", web]]),
    endpointSlices: new Map([["default/web-1", webSlice]]),
    nodes: new Map(NODES.map((n) => [n.name, n])),
    namespaces: new Map(),
    pods: new Map(),
  };
  const proxy = new ServiceProxy({
    nodeName,
    nodeIPs: NODES.find((n) => n.name === nodeName)!.addresses,
    clusterCIDRs: ["10.69.0.0/16", "fd69::/48"],
    serviceCIDRs: ["10.96.0.0/16"],
    masqueradeAll: false,
  });
  const requests = proxy.lbRequests(snapshot);
  const results = await builtinLbPlanner.plan(requests);
  const plan = proxy.plan(snapshot, new Map(requests.map((r, i) => [r.key, results[i]])));
  return plan.fragment;
}

const NODES: Node[] = [
  { name: "n1", addresses: ["10.240.0.1", "fd24::1"], podCIDRs: ["10.69.1.0/24", "fd69:1::/64"] },
  { name: "n2", addresses: ["10.240.0.2", "fd24::2"], podCIDRs: ["10.69.2.0/24", "fd69:2::/64"] },
];

test("host-gw routes go via the peers' node IPs; a node without an address of the family is a problem", () => {
  const plan = planPeerRoutes({ nodeName: "n1", nodes: NODES, mode: "host-gw" });
  assert.equal(plan.routes, [
    { dst: "10.69.2.0/24", via: "10.240.0.2" },
    { dst: "fd69:2::/64", via: "fd24::2" },
  ]);
  const v4only = planPeerRoutes({
    nodeName: "n1",
    nodes: [NODES[0], { ...NODES[1], addresses: ["10.240.0.2"] }],
    mode: "host-gw",
  });
  assert.is(v4only.routes.length, 1);
  assert.match(v4only.problems[0], "node n2: no IPv6 address");
});

test("vxlan: VTEP per peer at its pod CIDR's network address, stable MACs, own VTEP addresses", () => {
  const plan = planPeerRoutes({ nodeName: "n1", nodes: NODES, mode: "vxlan" });
  assert.equal(plan.routes, [
    { dst: "10.69.2.0/24", via: "10.69.2.0", dev: "vx-wasmplane" },
    { dst: "fd69:2::/64", via: "fd69:2::", dev: "vx-wasmplane" },
  ]);
  assert.equal(plan.vxlan?.peers, [
    { node: "n2", nodeIP: "10.240.0.2", mac: vtepMac("n2"), vtepIPs: ["10.69.2.0", "fd69:2::"] },
  ]);
  assert.equal(plan.vxlan?.addresses, ["10.69.1.0", "fd69:1::"]);
  assert.is(plan.vxlan?.localIP, "10.240.0.1");
  assert.is(vtepMac("n2"), vtepMac("n2"));
  assert.ok(/^[0-9a-f]2:/.test(vtepMac("n2")) || Number.parseInt(vtepMac("n2").slice(0, 2), 16) & 2);
});

kernelTest(
  test,
  "pods on two nodes talk over host-gw (also through a ClusterIP), then over VXLAN; routes leave with the peer",
  async () => {
    const underlay = uniqueNetnsName("cni-underlay");
    const nodeNs = [uniqueNetnsName("cni-n1"), uniqueNetnsName("cni-n2")];
    const pods: string[] = [];
    const dir = tempDir("multinode");
    const servers: CniServer[] = [];
    const appliers: ((a: NodeAttachment[]) => Promise<void>)[] = [];
    const serviceFragments: TableFragment[][] = [[], []];
    try {
      createNetns(underlay);
      inNetns(underlay, ["ip", "link", "add", "br0", "type", "bridge"]);
      inNetns(underlay, ["ip", "link", "set", "br0", "up"]);
      nodeNs.forEach((ns, i) => {
        createNetns(ns);
        vethPair(ns, "uplink", `port${i}`, underlay);
        inNetns(underlay, ["ip", "link", "set", `port${i}`, "master", "br0", "up"]);
        inNetns(ns, ["ip", "addr", "add", `${NODES[i].addresses[0]}/24`, "dev", "uplink"]);
        inNetns(ns, ["ip", "addr", "add", `${NODES[i].addresses[1]}/64`, "dev", "uplink", "nodad"]);
        inNetns(ns, ["ip", "link", "set", "uplink", "up"]);
      });
      await installCni({ binDir: dir.dir, confDir: dir.dir });
      const bin = join(dir.dir, "wasmplane");
      const podIPs: string[][] = [];
      for (const [i, ns] of nodeNs.entries()) {
        const socket = join(dir.dir, `n${i}.sock`);
        const apply = createNodeRulesApplier({
          netns: ns,
          podCIDRs: NODES[i].podCIDRs,
          clusterCIDRs: ["10.69.0.0/16", "fd69::/48"],
          extraFragments: () => serviceFragments[i],
        });
        appliers.push(apply);
        const server: CniServer = await startCniServer({
          socketPath: socket,
          nodeNetns: ns,
          stateDir: join(dir.dir, `state${i}`),
          podCIDRs: NODES[i].podCIDRs,
          onAttachmentsChanged: () => apply(server.attachments()),
        });
        servers.push(server);
        const pod = uniqueNetnsName("cni-mpod");
        createNetns(pod);
        pods.push(pod);
        const res = await invoke({
          bin,
          command: "ADD",
          containerId: `m${i}`,
          netns: `/run/netns/${pod}`,
          ifName: "eth0",
          config: { cniVersion: "1.0.0", name: "wasmplane", type: "wasmplane", agentSocket: socket },
          nodeNetns: ns,
        });
        assert.is(res.code, 0, res.stdout);
        podIPs.push(resultIPs(res).map((x) => x.address.split("/")[0]));
      }
      const route = (mode: "host-gw" | "vxlan", nodes = NODES) =>
        Promise.all(
          servers.map((s, i) => s.applyPeerRoutes(planPeerRoutes({ nodeName: NODES[i].name, nodes, mode }))),
        );

      await route("host-gw");
      assert.match(inNetns(nodeNs[0], ["ip", "route", "get", podIPs[1][0]]), "via 10.240.0.2 dev uplink");
      assert.is(await tcpProbe(pods[0], pods[1], podIPs[1][0], 7201, "gw-v4"), "gw-v4");
      assert.is(await tcpProbe(pods[1], pods[0], podIPs[0][1], 7202, "gw-v6"), "gw-v6");

      // A ClusterIP on node n1 whose endpoint is the pod on n2: the service rules and the node rules
      // in one transaction on n1.
      serviceFragments[0] = [await clusterIPFragment("n1", podIPs[1][0])];
      await appliers[0](servers[0].attachments());
      assert.is(await tcpProbe(pods[0], pods[1], "10.96.0.10", 80, "clusterip-ok", 8080), "clusterip-ok");

      await route("vxlan");
      assert.match(inNetns(nodeNs[0], ["ip", "route", "get", podIPs[1][0]]), "dev vx-wasmplane");
      assert.match(inNetns(nodeNs[1], ["ip", "-6", "route", "get", podIPs[0][1]]), "dev vx-wasmplane");
      assert.is(await tcpProbe(pods[0], pods[1], podIPs[1][0], 7203, "vx-v4"), "vx-v4");
      assert.is(await tcpProbe(pods[1], pods[0], podIPs[0][1], 7204, "vx-v6"), "vx-v6");

      // Node n2 leaves: n1 drops its routes, VTEP neighbour and FDB entry.
      await servers[0].applyPeerRoutes(planPeerRoutes({ nodeName: "n1", nodes: [NODES[0]], mode: "vxlan" }));
      assert.is(inNetns(nodeNs[0], ["ip", "route", "show", "10.69.2.0/24"]).trim(), "");
      assert.not.match(inNetns(nodeNs[0], ["bridge", "fdb", "show", "dev", "vx-wasmplane"]), vtepMac("n2"));
    } finally {
      for (const s of servers) await s.close().catch(() => {});
      for (const p of pods) deleteNetns(p);
      for (const ns of nodeNs) deleteNetns(ns);
      deleteNetns(underlay);
      dir.remove();
    }
  },
);

test.run();
