// A small cluster in network namespaces for service kernel tests:
//   node    the node: holds the wasmplane table, routes between everything, forwards
//   client  off-cluster client 192.168.50.2 / fd50::2 on the node's "external" link 192.168.50.1 / fd50::1
//   pod1    10.1.1.2 / fd01:1::2 on node-a (this node)      pod2  10.1.2.2 / fd01:2::2 "on node-b"
//   pod3    10.1.3.2 / fd01:3::2 a client pod
// The node's default route goes out an "upstream" link where nothing answers.
// Every pod is a routed veth to the node (no bridge); the pod's default route points at the node.
import { execFileSync } from "node:child_process";
import { createNetns, deleteNetns, uniqueNetnsName } from "../support/netns.ts";

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

function ip(...args: string[]): void {
  execFileSync("ip", args, { stdio: ["ignore", "ignore", "pipe"] });
}

function link(
  node: string,
  peerNs: string,
  nodeSide: string,
  v4: [string, string],
  v6: [string, string],
): void {
  ip("-n", node, "link", "add", nodeSide, "type", "veth", "peer", "name", "eth0", "netns", peerNs);
  ip("-n", node, "addr", "add", `${v4[0]}/24`, "dev", nodeSide);
  ip("-n", node, "addr", "add", `${v6[0]}/64`, "dev", nodeSide, "nodad");
  ip("-n", node, "link", "set", nodeSide, "up");
  ip("-n", peerNs, "addr", "add", `${v4[1]}/24`, "dev", "eth0");
  ip("-n", peerNs, "addr", "add", `${v6[1]}/64`, "dev", "eth0", "nodad");
  ip("-n", peerNs, "link", "set", "eth0", "up");
  ip("-n", peerNs, "route", "add", "default", "via", v4[0]);
  ip("-n", peerNs, "-6", "route", "add", "default", "via", v6[0]);
}

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
    link(node, client, "v-client", ["192.168.50.1", "192.168.50.2"], ["fd50::1", "fd50::2"]);
    link(node, pod1, "v-pod1", ["10.1.1.1", "10.1.1.2"], ["fd01:1::1", "fd01:1::2"]);
    link(node, pod2, "v-pod2", ["10.1.2.1", "10.1.2.2"], ["fd01:2::1", "fd01:2::2"]);
    link(node, pod3, "v-pod3", ["10.1.3.1", "10.1.3.2"], ["fd01:3::1", "fd01:3::2"]);
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
