// The agent as a process on the Kubernetes API source: the real @kubernetes/client-node informers
// against the test list/watch server; API changes reach the kernel and real traffic follows them.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { fetchStatus } from "../../runtime/agent/status-server.ts";
import { type EchoServer, startEchoServer, stopEchoServer } from "../../runtime/sandbox/echo-server.ts";
import type { SandboxPlan } from "../../runtime/sandbox/plan.ts";
import { buildTopology, namespacesOf } from "../../runtime/sandbox/topology.ts";
import { FakeApiServer } from "../sources/fake-apiserver.ts";
import { kernelTest } from "../support/kernel.ts";
import { deleteNetns, uniqueNetnsName } from "../support/netns.ts";
import { type Child, startWasmplane, tcpAnswer, waitUntil } from "./process-support.ts";

const test = suite("agent on the Kubernetes API");

const slicePath = "/apis/discovery.k8s.io/v1/endpointslices";
const servicePath = "/api/v1/services";

function slice(addresses: string[]) {
  return {
    metadata: { name: "web-1", namespace: "default", labels: { "kubernetes.io/service-name": "web" } },
    addressType: "IPv4",
    endpoints: addresses.map((a) => ({ addresses: [a], conditions: { ready: true } })),
    ports: [{ port: 8080, protocol: "TCP" }],
  };
}

const web = {
  metadata: { name: "web", namespace: "default" },
  spec: {
    type: "ClusterIP",
    clusterIP: "10.96.0.10",
    clusterIPs: ["10.96.0.10"],
    ports: [{ port: 80, targetPort: 8080, protocol: "TCP" }],
  },
};

kernelTest(test, "services and endpoint changes from the API are programmed", async () => {
  const pod = (i: number) => ({
    name: `pod${i}`,
    netns: uniqueNetnsName("agt"),
    address: `10.244.1.${i + 1}`,
    hostVeth: `wpt-p${i}`,
    tcpPorts: [8080],
    udpPorts: [],
  });
  const plan: SandboxPlan = {
    prefix: "wpt-agt",
    nodeNetns: uniqueNetnsName("agt"),
    clientNetns: uniqueNetnsName("agt"),
    nodeName: "n1",
    nodeIP: "10.250.0.1",
    clientIP: "10.250.0.2",
    podGateway: "169.254.1.1",
    clusterCIDR: "10.244.0.0/16",
    podCIDR: "10.244.1.0/24",
    serviceCIDR: "10.96.0.0/16",
    pods: [pod(1), pod(2)],
    services: [],
  };
  const dir = mkdtempSync(join(tmpdir(), "wpt-agt-"));
  const socket = `unix:${join(dir, "status.sock")}`;
  const api = new FakeApiServer();
  const servers: EchoServer[] = [];
  let agent: Child | null = null;
  try {
    const url = await api.start();
    const kubeconfig = join(dir, "kubeconfig");
    writeFileSync(
      kubeconfig,
      `apiVersion: v1
kind: Config
clusters: [{name: test, cluster: {server: "${url}", insecure-skip-tls-verify: true}}]
users: [{name: test, user: {}}]
contexts: [{name: test, context: {cluster: test, user: test}}]
current-context: test
`,
    );
    buildTopology(plan);
    for (const p of plan.pods) servers.push(await startEchoServer(p.netns, p.name, [8080], []));
    api.upsert(servicePath, web);
    api.upsert(slicePath, slice(["10.244.1.2"]));

    agent = startWasmplane([
      "agent",
      "--kubeconfig",
      kubeconfig,
      "--netns",
      plan.nodeNetns,
      "--node-name",
      "n1",
      "--node-ip",
      plan.nodeIP,
      "--cluster-cidr",
      plan.clusterCIDR,
      "--service-cidr",
      plan.serviceCIDR,
      "--min-sync-interval",
      "100ms",
      "--status-address",
      socket,
    ]);
    const running = agent;
    const st = await waitUntil("the first sync", async () => {
      const s = await fetchStatus(socket);
      return s.lastSync?.ok ? s : null;
    }).catch((err: Error) => {
      throw new Error(`${err.message}\n${running.output()}`);
    });
    assert.match(st.source, `kubernetes ${url}`);
    assert.is(tcpAnswer(plan.clientNetns, "10.96.0.10", 80), "pod1");

    // A second endpoint arrives through the watch.
    api.upsert(slicePath, slice(["10.244.1.2", "10.244.1.3"]));
    await waitUntil("traffic to the new endpoint", () =>
      tcpAnswer(plan.clientNetns, "10.96.0.10", 80) === "pod2" ? true : null,
    );

    // The service is deleted: its ClusterIP is now an unallocated service IP and is dropped.
    api.remove(servicePath, web);
    await waitUntil("the service to disappear", async () =>
      (await fetchStatus(socket)).services.length === 0 ? true : null,
    );
    await waitUntil("traffic to stop", () =>
      tcpAnswer(plan.clientNetns, "10.96.0.10", 80) === "" ? true : null,
    );
    assert.is(await agent.stop("SIGTERM"), 0);
    agent = null;
  } finally {
    await agent?.stop("SIGKILL");
    for (const s of servers) stopEchoServer(s);
    for (const ns of namespacesOf(plan)) deleteNetns(ns);
    await api.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
