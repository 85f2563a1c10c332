// The agent as a process on the Kubernetes API source: the real @kubernetes/client-node informers
// against the test list/watch server; API changes reach the kernel and real traffic follows them.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { fetchStatus } from "../../runtime/agent/status-server.ts";
import { type EchoServer, startEchoServer } from "../../runtime/sandbox/echo-server.ts";
import { buildTopology } from "../../runtime/sandbox/topology.ts";
import { FakeApiServer } from "../sources/fake-apiserver.ts";
import { kernelTest } from "../support/kernel.ts";
import {
  agentArgs,
  agentTestPlan,
  type Child,
  firstSync,
  startWasmplane,
  stopSandbox,
  tcpAnswer,
  waitUntil,
} from "./process-support.ts";

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
  const plan = agentTestPlan("agt");
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

    agent = startWasmplane(agentArgs(plan, socket, ["--kubeconfig", kubeconfig], { nodeName: true }));
    const running = agent;
    const st = await firstSync(socket, running);
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
    await stopSandbox(agent, servers, plan);
    await api.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
