// The agent on a real kube-apiserver (admin kubeconfig): Services, EndpointSlices, Nodes,
// Namespaces and Pods created, changed and deleted with kubectl reach the agent; Services and
// EndpointSlices are checked with real traffic from a client namespace to echo servers in pod
// namespaces.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { fetchStatus } from "../../runtime/agent/status-server.ts";
import { type EchoServer, startEchoServer } from "../../runtime/sandbox/echo-server.ts";
import { buildTopology } from "../../runtime/sandbox/topology.ts";
import {
  agentArgs,
  agentTestPlan,
  type Child,
  firstSync,
  startWasmplane,
  stopSandbox,
  tcpAnswer,
  waitUntil,
} from "../agent/process-support.ts";
import { clusterKernelTest, serviceYaml, sliceYaml, startTestCluster, type TestCluster } from "./support.ts";

const test = suite("agent on a real kube-apiserver");

function podYaml(name: string, node: string): string {
  return `apiVersion: v1
kind: Pod
metadata: {name: ${name}, namespace: web, labels: {app: web}}
spec:
  nodeName: ${node}
  containers: [{name: echo, image: example.invalid/echo}]
`;
}

/** Sets a pod's status as a kubelet would (no kubelet runs here). */
function podRunning(k: TestCluster, name: string, ip: string): void {
  const status = { status: { phase: "Running", podIP: ip, podIPs: [{ ip }] } };
  k.kubectl([
    "patch",
    "pod",
    name,
    "-n",
    "web",
    "--subresource=status",
    "--type=merge",
    "-p",
    JSON.stringify(status),
  ]);
}

/** Deletes a namespace and finalizes it, which the namespace controller (not running here) would do. */
function deleteNamespace(k: TestCluster, name: string): void {
  k.kubectl(["delete", "namespace", name, "--wait=false"]);
  const ns = JSON.parse(k.kubectl(["get", "namespace", name, "-o", "json"]));
  ns.spec.finalizers = [];
  k.kubectl(["replace", "--raw", `/api/v1/namespaces/${name}/finalize`, "-f", "-"], JSON.stringify(ns));
}

/** Namespaces web and scratch, node n1, pod1 running at 10.244.1.2, Service web/web → pod1. */
function seed(k: TestCluster): void {
  k.kubectl(["create", "namespace", "web"]);
  k.kubectl(["create", "namespace", "scratch"]);
  k.kubectl(
    ["apply", "-f", "-"],
    `apiVersion: v1
kind: Node
metadata: {name: n1, labels: {topology.kubernetes.io/zone: z1}}
spec: {podCIDR: 10.244.1.0/24, podCIDRs: [10.244.1.0/24]}
`,
  );
  k.kubectl(["apply", "-f", "-"], podYaml("pod1", "n1"));
  podRunning(k, "pod1", "10.244.1.2");
  k.kubectl(
    ["apply", "-f", "-"],
    `${serviceYaml("web", "web", "10.96.0.10")}---\n${sliceYaml("web", "web", ["10.244.1.2"])}`,
  );
}

clusterKernelTest(test, "kubectl changes reach the agent and real traffic follows them", async () => {
  const k = await startTestCluster("agt");
  const plan = agentTestPlan("dca");
  const dir = mkdtempSync(join(tmpdir(), "wpt-dca-"));
  const socket = `unix:${join(dir, "status.sock")}`;
  const servers: EchoServer[] = [];
  let agent: Child | null = null;
  const client = plan.clientNetns;
  try {
    buildTopology(plan);
    for (const p of plan.pods) servers.push(await startEchoServer(p.netns, p.name, [8080], []));
    seed(k);

    agent = startWasmplane(
      agentArgs(plan, socket, ["--kubeconfig", k.cluster.layout.kubeconfig], { nodeName: true }),
    );
    const running = agent;
    const st = await firstSync(socket, running);
    assert.match(st.source, `kubernetes ${k.cluster.server}`);
    assert.ok(
      st.services.some((s) => s.key === "web/web"),
      `services: ${st.services.map((s) => s.key)}`,
    );
    assert.is(st.objects.Node, 1, JSON.stringify(st.objects));
    assert.is(st.objects.Pod, 1, JSON.stringify(st.objects));
    assert.ok(st.objects.Namespace >= 6, JSON.stringify(st.objects));
    assert.is(tcpAnswer(client, "10.96.0.10", 80), "pod1");

    // The EndpointSlice changes: traffic moves to the other pod.
    k.kubectl(["apply", "-f", "-"], sliceYaml("web", "web", ["10.244.1.3"]));
    await waitUntil("traffic to move to pod2", () =>
      tcpAnswer(client, "10.96.0.10", 80) === "pod2" ? true : null,
    );

    // The Service's port changes: the new port answers, the old one no longer does.
    k.kubectl([
      "patch",
      "service",
      "web",
      "-n",
      "web",
      "--type=json",
      "-p",
      '[{"op":"replace","path":"/spec/ports/0/port","value":81}]',
    ]);
    await waitUntil("the new service port", () =>
      tcpAnswer(client, "10.96.0.10", 81) === "pod2" ? true : null,
    );
    assert.is(tcpAnswer(client, "10.96.0.10", 80), "");

    // Nodes, Pods and Namespaces: created, changed and deleted objects reach the agent's store.
    k.kubectl(["apply", "-f", "-"], podYaml("pod2", "n1"));
    podRunning(k, "pod2", "10.244.1.3");
    k.kubectl(["label", "node", "n1", "topology.kubernetes.io/zone=z2", "--overwrite"]);
    k.kubectl(["create", "-f", "-"], "apiVersion: v1\nkind: Node\nmetadata: {name: n2}\n");
    await waitUntil("the second node", async () =>
      (await fetchStatus(socket)).objects.Node === 2 ? true : null,
    );
    k.kubectl(["delete", "node", "n2"]);
    k.kubectl(["delete", "pod", "pod1", "-n", "web", "--grace-period=0", "--force"]);
    deleteNamespace(k, "scratch");
    const objects = (await fetchStatus(socket)).objects;
    await waitUntil(`pods and namespaces to follow (now ${JSON.stringify(objects)})`, async () => {
      const o = (await fetchStatus(socket)).objects;
      return o.Pod === 1 && o.Node === 1 && o.Namespace === st.objects.Namespace - 1 ? true : null;
    });

    // The Service is deleted: its ClusterIP no longer answers.
    k.kubectl(["delete", "service", "web", "-n", "web"]);
    await waitUntil("the service to disappear", async () =>
      (await fetchStatus(socket)).services.some((s) => s.key === "web/web") ? null : true,
    );
    await waitUntil("traffic to stop", () => (tcpAnswer(client, "10.96.0.10", 81) === "" ? true : null));
    const last = await fetchStatus(socket);
    assert.ok(last.lastSync?.ok, JSON.stringify(last.lastSync));
    assert.is(await agent.stop("SIGTERM"), 0, `agent did not exit cleanly on SIGTERM:\n${agent.output()}`);
    agent = null;
  } finally {
    await stopSandbox(agent, servers, plan);
    rmSync(dir, { recursive: true, force: true });
    await k.stop();
  }
});

test.run();
