// The agent with the Wasm LB plugin host: a service annotated for round-robin alternates its
// backends for every new connection; SIGHUP reloads the plugins and re-plans.
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { fetchStatus } from "../../runtime/agent/status-server.ts";
import { type EchoServer, startEchoServer, stopEchoServer } from "../../runtime/sandbox/echo-server.ts";
import type { SandboxPlan } from "../../runtime/sandbox/plan.ts";
import { buildTopology, namespacesOf } from "../../runtime/sandbox/topology.ts";
import { kernelTest } from "../support/kernel.ts";
import { deleteNetns, uniqueNetnsName } from "../support/netns.ts";
import { type Child, root, runWasmplane, startWasmplane, tcpAnswer, waitUntil } from "./process-support.ts";

const test = suite("agent with LB plugins");

function manifest(name: string, ip: string, annotations: string): string {
  return `apiVersion: v1
kind: Service
metadata: {name: ${name}, namespace: default, annotations: {${annotations}}}
spec: {clusterIP: ${ip}, ports: [{port: 80, targetPort: 8080}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: ${name}-1, namespace: default, labels: {kubernetes.io/service-name: ${name}}}
addressType: IPv4
ports: [{port: 8080}]
endpoints: [{addresses: [10.244.1.2]}, {addresses: [10.244.1.3]}]
`;
}

kernelTest(test, "round-robin from a Wasm plugin alternates backends; SIGHUP reloads", async () => {
  const pluginDir = join(root, "build/plugins/lb");
  if (!existsSync(join(pluginDir, "round-robin.wasm"))) runWasmplane(["plugin", "build"]);
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
  const manifests = join(dir, "manifests");
  const lock = join(dir, "plugins.lock.json");
  const servers: EchoServer[] = [];
  let agent: Child | null = null;
  try {
    runWasmplane(["plugin", "lock", "--lock", lock, pluginDir]);
    buildTopology(plan);
    for (const p of plan.pods) servers.push(await startEchoServer(p.netns, p.name, [8080], []));
    mkdirSync(manifests);
    writeFileSync(
      join(manifests, "rr.yaml"),
      manifest("rr", "10.96.0.20", `lb.wasmplane.io/algorithm: round-robin`),
    );
    writeFileSync(join(manifests, "default.yaml"), manifest("plain", "10.96.0.21", ""));
    agent = startWasmplane([
      "agent",
      "--manifests",
      manifests,
      "--netns",
      plan.nodeNetns,
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
      "--lb-plugin-dir",
      pluginDir,
      "--lb-lock",
      lock,
    ]);
    const running = agent;
    const st = await waitUntil("the first sync", async () => {
      const s = await fetchStatus(socket);
      return s.lastSync?.ok ? s : null;
    }).catch((err: Error) => {
      throw new Error(`${err.message}\n${running.output()}`);
    });
    assert.equal(st.problems, [], running.output());
    const rr = st.lbPlugins?.find((p) => p.algorithm === "round-robin");
    assert.ok(rr?.sha256, `round-robin plugin not loaded: ${JSON.stringify(st.lbPlugins)}`);

    const answers = Array.from({ length: 8 }, () => tcpAnswer(plan.clientNetns, "10.96.0.20", 80));
    assert.ok(
      answers.every((a) => a === "pod1" || a === "pod2"),
      answers.join(","),
    );
    for (let i = 1; i < answers.length; i++)
      assert.is.not(answers[i], answers[i - 1], `not alternating: ${answers.join(",")}`);
    // The default algorithm (the random plugin) serves the unannotated service.
    const plain = Array.from({ length: 4 }, () => tcpAnswer(plan.clientNetns, "10.96.0.21", 80));
    assert.ok(
      plain.every((a) => a === "pod1" || a === "pod2"),
      plain.join(","),
    );

    agent.process.kill("SIGHUP");
    await agent.waitFor(/plugins reloaded: .*unchanged .*round-robin/, 10_000);
    assert.is(tcpAnswer(plan.clientNetns, "10.96.0.20", 80) !== "", true);
    assert.is(await agent.stop("SIGTERM"), 0);
    agent = null;
  } finally {
    await agent?.stop("SIGKILL");
    for (const s of servers) stopEchoServer(s);
    for (const ns of namespacesOf(plan)) deleteNetns(ns);
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
