// The agent with the Wasm LB plugin host: a service annotated for round-robin alternates its
// backends for every new connection; SIGHUP reloads the plugins and re-plans.
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { type EchoServer, startEchoServer } from "../../runtime/sandbox/echo-server.ts";
import { buildTopology } from "../../runtime/sandbox/topology.ts";
import { kernelTest } from "../support/kernel.ts";
import {
  agentArgs,
  agentTestPlan,
  type Child,
  firstSync,
  root,
  runWasmplane,
  startWasmplane,
  stopSandbox,
  tcpAnswer,
} from "./process-support.ts";

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
  const plan = agentTestPlan("agt");
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
    agent = startWasmplane(
      agentArgs(plan, socket, ["--manifests", manifests], {
        extra: ["--lb-plugin-dir", pluginDir, "--lb-lock", lock],
      }),
    );
    const running = agent;
    const st = await firstSync(socket, running);
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
    await stopSandbox(agent, servers, plan);
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
