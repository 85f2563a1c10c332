// Services with real TCP and UDP traffic between namespaces: an off-cluster client and pods reach
// services programmed into a node namespace; servers answer with their name and the source they saw.
import { execFileSync } from "node:child_process";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { kernelTest } from "../support/kernel.ts";
import { port, service, slice, snapshot } from "./fixtures.ts";
import { Harness } from "./harness.ts";
import { addresses as A, createTopology, deleteTopology, type Topology } from "./topology.ts";
import { answeredBy, probe, type Server, sourcesSeen, startServer } from "./traffic.ts";

const test = suite("services in the kernel");
let topo: Topology | undefined;
let servers: Server[] = [];
let h: Harness;

const config = {
  nodeName: "node-a",
  nodeIPs: [A.nodeExternal, A.nodeExternal6],
  clusterCIDRs: ["10.1.0.0/16", "fd01::/16"],
  serviceCIDRs: ["10.96.0.0/16", "fd96::/112"],
  masqueradeAll: false,
};
const pod1 = { ip: A.pod1, node: "node-a" };
const pod2 = { ip: A.pod2, node: "node-b" };
const ports = [port("http", "TCP", 80, 8080, 30080), port("dns", "UDP", 53, 5353, 30053)];

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

kernelTest(
  test,
  "ClusterIP over TCP and UDP answers from every endpoint; off-cluster clients are masqueraded",
  async () => {
    const svc = service("default", "web", { clusterIPs: ["10.96.0.10"], ports });
    await h.sync(snapshot([svc], [slice(svc, [pod1, pod2])]));
    const tcp = await probe(topo!.client, { proto: "tcp", host: "10.96.0.10", port: 80, count: 30 });
    assert.equal(Object.keys(answeredBy(tcp)).sort(), ["pod1", "pod2"], tcp.join(","));
    assert.not.ok(sourcesSeen(tcp).includes(A.client), "off-cluster source must be masqueraded");
    const udp = await probe(topo!.client, { proto: "udp", host: "10.96.0.10", port: 53, count: 30 });
    assert.equal(Object.keys(answeredBy(udp)).sort(), ["pod1", "pod2"], udp.join(","));
    const fromPod = await probe(topo!.pods.pod3, { proto: "tcp", host: "10.96.0.10", port: 80, count: 10 });
    assert.equal(sourcesSeen(fromPod), [A.pod3], "pod sources are kept");
  },
);

kernelTest(test, "NodePort, external IP and load-balancer IP answer; eTP=Cluster masquerades", async () => {
  const svc = service("default", "web", {
    type: "LoadBalancer",
    clusterIPs: ["10.96.0.10"],
    ports,
    externalIPs: ["203.0.113.5"],
    loadBalancerIPs: ["203.0.113.6"],
  });
  await h.sync(snapshot([svc], [slice(svc, [pod1, pod2])]));
  for (const [host, p] of [
    [A.nodeExternal, 30080],
    ["203.0.113.5", 80],
    ["203.0.113.6", 80],
  ] as const) {
    const r = await probe(topo!.client, { proto: "tcp", host, port: p, count: 20 });
    assert.equal(Object.keys(answeredBy(r)).sort(), ["pod1", "pod2"], `${host}:${p} ${r.join(",")}`);
    assert.not.ok(sourcesSeen(r).includes(A.client), `${host}:${p} must be masqueraded`);
  }
  const udp = await probe(topo!.client, { proto: "udp", host: A.nodeExternal, port: 30053, count: 10 });
  assert.equal(Object.keys(answeredBy(udp)).sort(), ["pod1", "pod2"], udp.join(","));
});

kernelTest(test, "no endpoints: ClusterIP, external IP and NodePort are rejected", async () => {
  const svc = service("default", "empty", {
    type: "NodePort",
    clusterIPs: ["10.96.0.11"],
    ports: [port("http", "TCP", 80, 8080, 30081)],
    externalIPs: ["203.0.113.7"],
  });
  await h.sync(snapshot([svc], []));
  for (const [host, p] of [
    ["10.96.0.11", 80],
    ["203.0.113.7", 80],
    [A.nodeExternal, 30081],
  ] as const) {
    const r = await probe(topo!.client, { proto: "tcp", host, port: p, timeoutMs: 2000 });
    assert.equal(r, ["ERR ECONNREFUSED"], `${host}:${p}`);
  }
});

kernelTest(
  test,
  "undefined ports of a ClusterIP are rejected; unallocated service IPs are dropped",
  async () => {
    const svc = service("default", "web", { clusterIPs: ["10.96.0.10"], ports });
    await h.sync(snapshot([svc], [slice(svc, [pod1])]));
    assert.equal(await probe(topo!.client, { proto: "tcp", host: "10.96.0.10", port: 81 }), [
      "ERR ECONNREFUSED",
    ]);
    assert.equal(await probe(topo!.client, { proto: "tcp", host: "10.96.0.99", port: 80, timeoutMs: 400 }), [
      "ERR timeout",
    ]);
  },
);

kernelTest(
  test,
  "eTP=Local: only local endpoints, client source kept; dropped without local endpoints",
  async () => {
    const local = service("default", "local", {
      type: "NodePort",
      clusterIPs: ["10.96.0.12"],
      ports: [port("http", "TCP", 80, 8080, 30082)],
      externalTrafficPolicy: "Local",
    });
    const remoteOnly = service("default", "remote", {
      type: "NodePort",
      clusterIPs: ["10.96.0.13"],
      ports: [port("http", "TCP", 80, 8080, 30083)],
      externalTrafficPolicy: "Local",
    });
    await h.sync(snapshot([local, remoteOnly], [slice(local, [pod1, pod2]), slice(remoteOnly, [pod2])]));
    const r = await probe(topo!.client, { proto: "tcp", host: A.nodeExternal, port: 30082, count: 20 });
    assert.equal(answeredBy(r), { pod1: 20 });
    assert.equal(sourcesSeen(r), [A.client], "eTP=Local keeps the client address");
    const dropped = await probe(topo!.client, {
      proto: "tcp",
      host: A.nodeExternal,
      port: 30083,
      timeoutMs: 400,
    });
    assert.equal(dropped, ["ERR timeout"]);
    // Pods short-circuit to all endpoints, as kube-proxy does; the ClusterIP still uses every endpoint.
    const internal = await probe(topo!.client, { proto: "tcp", host: "10.96.0.13", port: 80, count: 3 });
    assert.equal(answeredBy(internal), { pod2: 3 });
  },
);

kernelTest(test, "iTP=Local: ClusterIP only to local endpoints; dropped without them", async () => {
  const local = service("default", "ilocal", { clusterIPs: ["10.96.0.14"], internalTrafficPolicy: "Local" });
  const none = service("default", "inone", { clusterIPs: ["10.96.0.15"], internalTrafficPolicy: "Local" });
  await h.sync(snapshot([local, none], [slice(local, [pod1, pod2]), slice(none, [pod2])]));
  assert.equal(
    answeredBy(await probe(topo!.pods.pod3, { proto: "tcp", host: "10.96.0.14", port: 80, count: 15 })),
    {
      pod1: 15,
    },
  );
  assert.equal(await probe(topo!.pods.pod3, { proto: "tcp", host: "10.96.0.15", port: 80, timeoutMs: 400 }), [
    "ERR timeout",
  ]);
});

kernelTest(test, "loadBalancerSourceRanges admit listed sources and drop others", async () => {
  const open = service("default", "open", {
    type: "LoadBalancer",
    clusterIPs: ["10.96.0.16"],
    loadBalancerIPs: ["203.0.113.16"],
    loadBalancerSourceRanges: ["192.168.50.0/24"],
  });
  const closed = service("default", "closed", {
    type: "LoadBalancer",
    clusterIPs: ["10.96.0.17"],
    loadBalancerIPs: ["203.0.113.17"],
    loadBalancerSourceRanges: ["198.51.100.0/24"],
  });
  await h.sync(snapshot([open, closed], [slice(open, [pod1]), slice(closed, [pod1])]));
  assert.equal(
    answeredBy(await probe(topo!.client, { proto: "tcp", host: "203.0.113.16", port: 80, count: 3 })),
    {
      pod1: 3,
    },
  );
  assert.equal(await probe(topo!.client, { proto: "tcp", host: "203.0.113.17", port: 80, timeoutMs: 400 }), [
    "ERR timeout",
  ]);
});

kernelTest(test, "ClientIP session affinity sticks to one endpoint", async () => {
  const sticky = service("default", "sticky", {
    clusterIPs: ["10.96.0.18"],
    sessionAffinityTimeoutSeconds: 60,
  });
  const plain = service("default", "plain", { clusterIPs: ["10.96.0.19"] });
  await h.sync(snapshot([sticky, plain], [slice(sticky, [pod1, pod2]), slice(plain, [pod1, pod2])]));
  const r = await probe(topo!.client, { proto: "tcp", host: "10.96.0.18", port: 80, count: 25 });
  assert.is(Object.keys(answeredBy(r)).length, 1, r.join(","));
  const control = await probe(topo!.client, { proto: "tcp", host: "10.96.0.19", port: 80, count: 25 });
  assert.is(Object.keys(answeredBy(control)).length, 2, "without affinity both answer");
});

kernelTest(test, "hairpin: a pod reaches itself through its service, masqueraded", async () => {
  const svc = service("default", "self", { clusterIPs: ["10.96.0.20"] });
  await h.sync(snapshot([svc], [slice(svc, [pod1])]));
  const r = await probe(topo!.pods.pod1, { proto: "tcp", host: "10.96.0.20", port: 80, count: 3 });
  assert.equal(answeredBy(r), { pod1: 3 });
  assert.equal(sourcesSeen(r), [A.nodeOnPod1], "hairpin traffic comes from the node");
});

kernelTest(test, "IPv6 and dual-stack services answer over both families", async () => {
  const svc = service("default", "dual", { clusterIPs: ["10.96.0.21", "fd96::21"], ports });
  await h.sync(
    snapshot(
      [svc],
      [
        slice(svc, [pod1, pod2], { suffix: "v4" }),
        slice(svc, [{ ip: A.pod1v6, node: "node-a" }, A.pod2v6], { suffix: "v6" }),
      ],
    ),
  );
  const v6 = await probe(topo!.pods.pod3, { proto: "tcp", host: "fd96::21", port: 80, count: 20 });
  assert.equal(Object.keys(answeredBy(v6)).sort(), ["pod1", "pod2"], v6.join(","));
  assert.equal(sourcesSeen(v6), [A.pod3v6]);
  const v6udp = await probe(topo!.pods.pod3, { proto: "udp", host: "fd96::21", port: 53, count: 10 });
  assert.equal(Object.keys(answeredBy(v6udp)).sort(), ["pod1", "pod2"], v6udp.join(","));
  const v4 = await probe(topo!.pods.pod3, { proto: "tcp", host: "10.96.0.21", port: 80, count: 5 });
  assert.equal(sourcesSeen(v4), [A.pod3]);
});

kernelTest(test, "removing a UDP endpoint clears its conntrack entries, so the flow moves", async () => {
  const svc = service("default", "udp", {
    clusterIPs: ["10.96.0.22"],
    ports: [port("dns", "UDP", 53, 5353)],
  });
  const flow = { proto: "udp" as const, host: "10.96.0.22", port: 53, localPort: 40053, count: 2 };
  await h.sync(snapshot([svc], [slice(svc, [pod1])]));
  assert.equal(answeredBy(await probe(topo!.pods.pod3, flow)), { pod1: 2 });
  // Without the clean-up the flow stays on the removed endpoint (which still answers here).
  await h.sync(snapshot([svc], [slice(svc, [pod2])]), { clearConntrack: false });
  assert.equal(answeredBy(await probe(topo!.pods.pod3, flow)), { pod1: 2 }, "stale entry pins the flow");
  assert.ok(h.proxy.staleUdpEndpoints().some((e) => e.address === A.pod1 && e.serviceIP === "10.96.0.22"));
  // Back to pod1, then remove it again with the clean-up.
  await h.sync(snapshot([svc], [slice(svc, [pod1])]));
  await h.sync(snapshot([svc], [slice(svc, [pod2])]));
  const conntrack = execFileSync("ip", ["netns", "exec", topo!.node, "conntrack", "-L", "-p", "udp"], {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "ignore"],
  });
  assert.not.ok(conntrack.includes(`src=${A.pod1} dst=${A.pod3}`), conntrack);
  assert.equal(answeredBy(await probe(topo!.pods.pod3, flow)), { pod2: 2 });
});

test.run();
