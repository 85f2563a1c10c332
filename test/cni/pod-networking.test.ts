// PodNetworking, the object the agent mounts: the CNI server follows the snapshot's Node objects
// (own pod CIDRs, peer routes) through plan + actuate, and an ADD waits for the agent's sync, which
// calls back into it.
import { join } from "node:path";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { applyTransaction } from "../../nft/apply.ts";
import { type DesiredTable, mergeFragments } from "../../nft/desired.ts";
import { diffTables } from "../../nft/diff.ts";
import { hostInterfaceName } from "../../runtime/cni/attachment.ts";
import { installCni } from "../../runtime/cni/install.ts";
import { PodNetworking } from "../../runtime/cni/pod-networking.ts";
import type { Node, Snapshot } from "../../runtime/store/objects.ts";
import { kernelTest } from "../support/kernel.ts";
import { inNetns } from "../support/netns.ts";
import { invoke, resultIPs, TestNode, tempDir } from "./harness.ts";

const test = suite("cni pod networking (agent mount)");

function snapshot(nodes: Node[]): Snapshot {
  return {
    services: new Map(),
    endpointSlices: new Map(),
    nodes: new Map(nodes.map((n) => [n.name, n])),
    namespaces: new Map(),
    pods: new Map(),
  };
}

kernelTest(test, "follows Node objects, and an ADD's sync may call back into it", async () => {
  const node = new TestNode();
  const dir = tempDir("podnet");
  let pn: PodNetworking | undefined;
  try {
    const self: Node = { name: "me", addresses: [node.nodeIP], podCIDRs: [] };
    const peer: Node = { name: "peer", addresses: ["10.250.0.2"], podCIDRs: ["10.73.2.0/24"] };
    let current = snapshot([self, peer]);
    let applied: DesiredTable | null = null;
    let syncs = 0;
    let requested = 0;
    // What the agent does per sync: plan, commit the node rules, then actuate the plan.
    const sync = async () => {
      const plan = pn!.plan(current);
      const desired = mergeFragments("inet", "wasmplane", [plan.fragment]);
      await applyTransaction(diffTables(applied, desired), { netns: node.node });
      applied = desired;
      await pn!.actuate(plan);
    };
    const socket = join(dir.dir, "cni.sock");
    pn = await PodNetworking.start(
      {
        nodeName: "me",
        nodeNetns: node.node,
        socketPath: socket,
        stateDir: join(dir.dir, "state"),
        clusterCIDRs: ["10.73.0.0/16"],
        syncNow: async () => {
          syncs++;
          await sync();
        },
        requestSync: () => {
          requested++;
        },
      },
      current,
    );
    await installCni({ binDir: dir.dir, confDir: dir.dir, agentSocket: socket });
    const bin = join(dir.dir, "wasmplane");
    const cfg = { cniVersion: "1.0.0", name: "wasmplane", type: "wasmplane", agentSocket: socket };
    const [, path] = node.pod();
    const call = () =>
      invoke({
        bin,
        command: "ADD",
        containerId: "pn1",
        netns: path,
        ifName: "eth0",
        config: cfg,
        nodeNetns: node.node,
      });

    // No pod CIDR on the Node object yet: ADD is refused as exhausted.
    const early = await call();
    assert.is(early.json?.code, 100);
    assert.match(String(early.json?.msg), "no pod CIDR");
    assert.match(inNetns(node.node, ["ip", "route", "show", "10.73.2.0/24"]), "via 10.250.0.2");

    current = snapshot([{ ...self, podCIDRs: ["10.73.1.0/24"] }, peer]);
    await sync();
    const add = await call();
    assert.is(add.code, 0, add.stdout);
    assert.match(resultIPs(add)[0].address, /^10\.73\.1\./);
    assert.is(syncs, 1, "the ADD waited for one sync");
    const set = inNetns(node.node, ["nft", "list", "set", "inet", "wasmplane", "pod-ifaddr4"]);
    assert.match(set, hostInterfaceName("pn1", "eth0"));

    // The peer leaves: its route goes.
    current = snapshot([{ ...self, podCIDRs: ["10.73.1.0/24"] }]);
    await sync();
    assert.is(inNetns(node.node, ["ip", "route", "show", "10.73.2.0/24"]).trim(), "");
    assert.is(requested, 0, "no reconcile ran, so nothing requested a sync");
  } finally {
    await pn?.close().catch(() => {});
    node.destroy();
    dir.remove();
  }
});

test.run();
