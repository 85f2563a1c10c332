// The agent with pod networking mounted (config `cni:`): a CNI ADD through the real executable gets
// an address from the Node's pod CIDR and answers only after a sync put the pod's node rules in the
// table; a Service whose endpoint is that pod then answers through the ClusterIP.
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { readTable } from "../../nft/readback.ts";
import { fetchStatus } from "../../runtime/agent/status-server.ts";
import { installCni } from "../../runtime/cni/install.ts";
import { type EchoServer, startEchoServer, stopEchoServer } from "../../runtime/sandbox/echo-server.ts";
import { invoke, resultIPs } from "../cni/harness.ts";
import { kernelTest } from "../support/kernel.ts";
import { createNetns, deleteNetns, uniqueNetnsName } from "../support/netns.ts";
import { type Child, startWasmplane, tcpAnswer, waitUntil } from "./process-support.ts";

const test = suite("agent with pod networking");

kernelTest(test, "CNI ADD is served by the agent and its pod is reachable through a Service", async () => {
  const node = uniqueNetnsName("agt");
  const pod = uniqueNetnsName("agt");
  const dir = mkdtempSync(join(tmpdir(), "wpt-agt-"));
  const socket = join(dir, "cni.sock");
  const status = `unix:${join(dir, "status.sock")}`;
  const manifests = join(dir, "manifests");
  let agent: Child | null = null;
  let echo: EchoServer | null = null;
  try {
    createNetns(node);
    createNetns(pod);
    // The node's own address (traffic from the node to pods needs a source address).
    execFileSync("ip", ["-n", node, "addr", "add", "10.250.0.1/32", "dev", "lo"]);
    // A node has a route towards service IPs (usually its default route); here a device route.
    execFileSync("ip", ["-n", node, "route", "add", "10.96.0.0/16", "dev", "lo"]);
    mkdirSync(manifests);
    writeFileSync(
      join(manifests, "node.yaml"),
      "apiVersion: v1\nkind: Node\nmetadata: {name: n1}\nspec: {podCIDR: 10.73.1.0/24}\nstatus: {addresses: [{type: InternalIP, address: 10.250.0.1}]}\n",
    );
    const config = join(dir, "agent.yaml");
    writeFileSync(
      config,
      `manifests: ${manifests}\nnetns: ${node}\nnodeName: n1\nnodeIPs: [10.250.0.1]\nclusterCIDRs: [10.73.0.0/16]\nserviceCIDRs: [10.96.0.0/16]\nminSyncInterval: 1s\nstatusAddress: "${status}"\ncni: {socket: ${socket}, stateDir: ${join(dir, "state")}, routing: none}\n`,
    );
    agent = startWasmplane(["agent", "--config", config]);
    const running = agent;
    await waitUntil("the first sync", async () =>
      (await fetchStatus(status)).lastSync?.ok ? true : null,
    ).catch((err: Error) => {
      throw new Error(`${err.message}\n${running.output()}`);
    });

    await installCni({ binDir: dir, confDir: dir, agentSocket: socket });
    const add = await invoke({
      bin: join(dir, "wasmplane"),
      command: "ADD",
      containerId: "agt1",
      netns: `/run/netns/${pod}`,
      ifName: "eth0",
      config: { cniVersion: "1.0.0", name: "wasmplane", type: "wasmplane", agentSocket: socket },
      nodeNetns: node,
    });
    assert.is(add.code, 0, `${add.stdout}${add.stderr}\n${running.output()}`);
    const address = resultIPs(add)[0].address.split("/")[0];
    assert.match(address, /^10\.73\.1\./);
    const allocations = (await fetchStatus(status)).podNetworking?.allocations ?? [];
    assert.equal(
      allocations.map((a) => [a.containerId, a.ifName, a.ip]),
      [["agt1", "eth0", address]],
    );
    // The ADD answered after a sync (not after the 1 s minimum interval): the pod's rules are there.
    const table = await readTable("inet", "wasmplane", { netns: node });
    assert.ok(table?.chains.has("pod-forward"), "no pod-forward chain");
    assert.ok(
      JSON.stringify(table?.sets.get("pod-ifaddr4")?.elements ?? []).includes(address),
      "pod address not in pod-ifaddr4",
    );

    echo = await startEchoServer(pod, "cni-pod", [8080], []);
    writeFileSync(
      join(manifests, "web.yaml"),
      `apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: default}\nspec: {clusterIP: 10.96.0.10, ports: [{port: 80, targetPort: 8080}]}\n---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: web-1, namespace: default, labels: {kubernetes.io/service-name: web}}\naddressType: IPv4\nports: [{port: 8080}]\nendpoints: [{addresses: [${address}]}]\n`,
    );
    assert.is(tcpAnswer(node, address, 8080), "cni-pod", "the pod is not reachable from the node directly");
    await waitUntil("traffic through the ClusterIP to the CNI pod", () =>
      tcpAnswer(node, "10.96.0.10", 80) === "cni-pod" ? true : null,
    );
    assert.is(await agent.stop("SIGTERM"), 0);
    agent = null;
  } finally {
    await agent?.stop("SIGKILL");
    if (echo) stopEchoServer(echo);
    deleteNetns(pod);
    deleteNetns(node);
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
