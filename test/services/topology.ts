// A small cluster in network namespaces for service kernel tests:
//   node    the node: holds the wasmplane table, routes between everything, forwards
//   client  off-cluster client 192.168.50.2 / fd50::2 on the node's "external" link 192.168.50.1 / fd50::1
//   pod1    10.1.1.2 / fd01:1::2 on node-a (this node)      pod2  10.1.2.2 / fd01:2::2 "on node-b"
//   pod3    10.1.3.2 / fd01:3::2 a client pod
// The node's default route goes out an "upstream" link where nothing answers.
// Every pod is a routed veth to the node (no bridge); the pod's default route points at the node.
import { execFileSync } from "node:child_process";
import { createNetns, deleteNetns, ip, uniqueNetnsName, vethLink } from "../support/netns.ts";

export interface Topology {
  node: string;
  client: string;
  pods: Record<"pod1" | "pod2" | "pod3", string>;
  all: string[];
}

export const addresses = {
  nodeExternal: "192.168.50.1",
  nodeExternal6: "fd50::1",
  client: "192.168.50.2",
  client6: "fd50::2",
  pod1: "10.1.1.2",
  pod2: "10.1.2.2",
  pod3: "10.1.3.2",
  pod1v6: "fd01:1::2",
  pod2v6: "fd01:2::2",
  pod3v6: "fd01:3::2",
  /** The node's address on each pod link: what a masqueraded connection comes from. */
  nodeOnPod1: "10.1.1.1",
};

export function createTopology(): Topology {
  const names = ["node", "client", "pod1", "pod2", "pod3"].map((n) => uniqueNetnsName(`svc-${n}`));
  const created: string[] = [];
  try {
    for (const n of names) {
      createNetns(n);
      created.push(n);
    }
    const [node, client, pod1, pod2, pod3] = names;
    execFileSync("ip", [
      "netns",
      "exec",
      node,
      "sysctl",
      "-qw",
      "net.ipv4.ip_forward=1",
      "net.ipv6.conf.all.forwarding=1",
      "net.ipv4.conf.all.rp_filter=0",
      "net.ipv4.conf.default.rp_filter=0",
    ]);
    vethLink(node, client, "v-client", ["192.168.50.1", "192.168.50.2"], ["fd50::1", "fd50::2"]);
    vethLink(node, pod1, "v-pod1", ["10.1.1.1", "10.1.1.2"], ["fd01:1::1", "fd01:1::2"]);
    vethLink(node, pod2, "v-pod2", ["10.1.2.1", "10.1.2.2"], ["fd01:2::1", "fd01:2::2"]);
    vethLink(node, pod3, "v-pod3", ["10.1.3.1", "10.1.3.2"], ["fd01:3::1", "fd01:3::2"]);
    // An upstream link with the default route, as a real node has: traffic to service addresses that
    // is not DNATed is routed (so it reaches the forward hook, where unmatched ports are rejected and
    // unallocated IPs dropped). A link of its own, so the node never sends ICMP redirects, which would
    // use up the ICMP rate limit that the rejects need.
    ip("-n", node, "link", "add", "upstream", "type", "veth", "peer", "name", "upstream-end");
    ip("-n", node, "link", "set", "upstream-end", "up");
    ip("-n", node, "addr", "add", "192.168.99.1/24", "dev", "upstream");
    ip("-n", node, "addr", "add", "fd99::1/64", "dev", "upstream", "nodad");
    ip("-n", node, "link", "set", "upstream", "up");
    ip("-n", node, "route", "add", "default", "via", "192.168.99.2");
    ip("-n", node, "-6", "route", "add", "default", "via", "fd99::2");
    return { node, client, pods: { pod1, pod2, pod3 }, all: names };
  } catch (err) {
    for (const n of created) deleteNetns(n);
    throw err;
  }
}

export function deleteTopology(t: Topology | undefined): void {
  if (t) for (const n of t.all) deleteNetns(n);
}
