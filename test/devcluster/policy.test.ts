// NetworkPolicy from a real kube-apiserver, checked with real traffic: the agent with pod networking
// (`cni:`) and the admin kubeconfig; three pods attached through the CNI executable and registered
// as Pods (status set as a kubelet would); a NetworkPolicy, the Namespace labels it selects and the
// Pod labels it selects are created, changed and deleted with kubectl.
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { fetchStatus } from "../../runtime/agent/status-server.ts";
import { installCni } from "../../runtime/cni/install.ts";
import { type EchoServer, startEchoServer, stopEchoServer } from "../../runtime/sandbox/echo-server.ts";
import { type Child, startWasmplane, tcpAnswer, waitUntil } from "../agent/process-support.ts";
import { invoke, resultIPs } from "../cni/harness.ts";
import { createNetns, deleteNetns, uniqueNetnsName } from "../support/netns.ts";
import { clusterKernelTest, startTestCluster, type TestCluster } from "./support.ts";

const test = suite("NetworkPolicy from a real kube-apiserver");

interface PodSpec {
  name: string;
  namespace: string;
  app: string;
  netns: string;
  ip?: string;
}

function agentConfig(dir: string, node: string, kubeconfig: string): string {
  const path = join(dir, "agent.yaml");
  writeFileSync(
    path,
    `kubeconfig: ${kubeconfig}
netns: ${node}
nodeName: n1
nodeIPs: [10.250.0.1]
clusterCIDRs: [10.73.0.0/16]
serviceCIDRs: [10.96.0.0/16]
minSyncInterval: 100ms
statusAddress: "unix:${join(dir, "status.sock")}"
cni: {socket: ${join(dir, "cni.sock")}, stateDir: ${join(dir, "state")}, routing: none}
`,
  );
  return path;
}

/** CNI ADD through the real executable, then the Pod in the API with the address it got. */
async function attach(k: TestCluster, dir: string, node: string, pod: PodSpec): Promise<void> {
  const add = await invoke({
    bin: join(dir, "wasmplane"),
    command: "ADD",
    containerId: pod.name,
    netns: `/run/netns/${pod.netns}`,
    ifName: "eth0",
    config: { cniVersion: "1.0.0", name: "wasmplane", type: "wasmplane", agentSocket: join(dir, "cni.sock") },
    nodeNetns: node,
  });
  assert.is(add.code, 0, `CNI ADD ${pod.name}: ${add.stdout}${add.stderr}`);
  pod.ip = resultIPs(add)[0].address.split("/")[0];
  k.kubectl(
    ["apply", "-f", "-"],
    JSON.stringify({
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name: pod.name, namespace: pod.namespace, labels: { app: pod.app } },
      spec: { nodeName: "n1", containers: [{ name: "c", image: "example.invalid/echo" }] },
    }),
  );
  const status = { status: { phase: "Running", podIP: pod.ip, podIPs: [{ ip: pod.ip }] } };
  k.kubectl([
    "patch",
    "pod",
    pod.name,
    "-n",
    pod.namespace,
    "--subresource=status",
    "--type=merge",
    "-p",
    JSON.stringify(status),
  ]);
}

function policyYaml(fromTeam: string): string {
  return `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web-ingress, namespace: pol-a}
spec:
  podSelector: {matchLabels: {app: web}}
  policyTypes: [Ingress]
  ingress:
    - from: [{namespaceSelector: {matchLabels: {team: ${fromTeam}}}}]
      ports: [{port: 8080, protocol: TCP}]
`;
}

clusterKernelTest(
  test,
  "policies, namespace labels and pod labels changed with kubectl decide real traffic",
  async () => {
    const k = await startTestCluster("pol");
    const node = uniqueNetnsName("dcp");
    const dir = mkdtempSync(join(tmpdir(), "wpt-dcp-"));
    const pods: PodSpec[] = [
      { name: "web", namespace: "pol-a", app: "web", netns: uniqueNetnsName("dcp") },
      { name: "client-a", namespace: "pol-a", app: "client", netns: uniqueNetnsName("dcp") },
      { name: "client-b", namespace: "pol-b", app: "client", netns: uniqueNetnsName("dcp") },
    ];
    const [web, clientA, clientB] = pods;
    let agent: Child | null = null;
    let echo: EchoServer | null = null;
    try {
      createNetns(node);
      for (const p of pods) createNetns(p.netns);
      execFileSync("ip", ["-n", node, "addr", "add", "10.250.0.1/32", "dev", "lo"]);
      k.kubectl(
        ["apply", "-f", "-"],
        `apiVersion: v1
kind: Node
metadata: {name: n1}
spec: {podCIDR: 10.73.1.0/24, podCIDRs: [10.73.1.0/24]}
---
apiVersion: v1
kind: Namespace
metadata: {name: pol-a, labels: {team: a}}
---
apiVersion: v1
kind: Namespace
metadata: {name: pol-b, labels: {team: b}}
`,
      );
      agent = startWasmplane(["agent", "--config", agentConfig(dir, node, k.cluster.layout.kubeconfig)]);
      const running = agent;
      const status = `unix:${join(dir, "status.sock")}`;
      await waitUntil("the first sync", async () =>
        (await fetchStatus(status)).lastSync?.ok ? true : null,
      ).catch((err: Error) => {
        throw new Error(`${err.message}\n${running.output()}`);
      });
      await installCni({ binDir: dir, confDir: dir, agentSocket: join(dir, "cni.sock") });
      for (const p of pods) await attach(k, dir, node, p);
      echo = await startEchoServer(web.netns, "web", [8080], []);
      const reaches = (from: PodSpec) => tcpAnswer(from.netns, web.ip!, 8080) === "web";
      const expect = (what: string, a: boolean, b: boolean) =>
        waitUntil(what, () => (reaches(clientA) === a && reaches(clientB) === b ? true : null), 20_000).catch(
          (err: Error) => {
            throw new Error(
              `${err.message} (client-a ${reaches(clientA)}, client-b ${reaches(clientB)})\n${running.output()}`,
            );
          },
        );

      await expect("no policy: both clients reach web", true, true);
      k.kubectl(["apply", "-f", "-"], policyYaml("a"));
      await expect("policy from team a: only client-a", true, false);
      k.kubectl(["apply", "-f", "-"], policyYaml("b"));
      await expect("policy changed to team b: only client-b", false, true);
      k.kubectl(["label", "namespace", "pol-b", "team=c", "--overwrite"]);
      await expect("namespace pol-b relabelled: nobody", false, false);
      k.kubectl(["label", "pod", "web", "-n", "pol-a", "app=other", "--overwrite"]);
      await expect("web no longer selected: both", true, true);
      k.kubectl(["label", "pod", "web", "-n", "pol-a", "app=web", "--overwrite"]);
      await expect("web selected again: nobody", false, false);
      k.kubectl(["delete", "networkpolicy", "web-ingress", "-n", "pol-a"]);
      await expect("policy deleted: both", true, true);
      assert.is(await agent.stop("SIGTERM"), 0, `agent did not exit cleanly on SIGTERM:\n${agent.output()}`);
      agent = null;
    } finally {
      await agent?.stop("SIGKILL");
      if (echo) stopEchoServer(echo);
      for (const p of pods) deleteNetns(p.netns);
      deleteNetns(node);
      rmSync(dir, { recursive: true, force: true });
      await k.stop();
    }
  },
);

test.run();
