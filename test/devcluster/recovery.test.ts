// The agent through API server outages on a real control plane: the API server stopped and
// restarted (etcd keeps the data), and a watch whose resource version etcd compacted away (410
// Gone). The rules stay while the API is away, and the agent ends up with the API's current state.
// This file's API server runs without the watch cache, so that watches are served by etcd and a
// compaction is what expires them (with the cache, an old version expires out of the cache window).
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { fetchStatus } from "../../runtime/agent/status-server.ts";
import { startCluster, stopCluster } from "../../runtime/devcluster/cluster.ts";
import { compactEtcd } from "../../runtime/devcluster/etcd-api.ts";
import { type EchoServer, startEchoServer } from "../../runtime/sandbox/echo-server.ts";
import type { SandboxPlan } from "../../runtime/sandbox/plan.ts";
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
import {
  clusterKernelTest,
  devclusterMissing,
  Relay,
  serviceYaml,
  sliceYaml,
  startTestCluster,
  type TestCluster,
  unexpectedProblems,
} from "./support.ts";

const test = suite("agent through API server outages");

let k: TestCluster;

test.before(async () => {
  if (!devclusterMissing) k = await startTestCluster("rec", { apiserverArgs: ["--watch-cache=false"] });
});

test.after(async () => {
  await k?.stop();
});

interface Sandbox {
  plan: SandboxPlan;
  dir: string;
  socket: string;
  servers: EchoServer[];
  agent: Child | null;
}

async function sandbox(tag: string): Promise<Sandbox> {
  const plan = agentTestPlan(tag);
  const dir = mkdtempSync(join(tmpdir(), `wpt-${tag}-`));
  const s: Sandbox = { plan, dir, socket: `unix:${join(dir, "status.sock")}`, servers: [], agent: null };
  buildTopology(plan);
  for (const p of plan.pods) s.servers.push(await startEchoServer(p.netns, p.name, [8080], []));
  return s;
}

async function teardown(s: Sandbox | null): Promise<void> {
  if (!s) return;
  await stopSandbox(s.agent, s.servers, s.plan);
  rmSync(s.dir, { recursive: true, force: true });
}

const answer = (s: Sandbox, ip: string, expected: string) => () =>
  tcpAnswer(s.plan.clientNetns, ip, 80) === expected ? true : null;

clusterKernelTest(
  test,
  "API server stopped and restarted: rules stay, the agent resumes and catches up",
  async () => {
    let s: Sandbox | null = null;
    try {
      s = await sandbox("dcs");
      k.kubectl(["create", "namespace", "restart"]);
      k.kubectl(
        ["apply", "-f", "-"],
        `${serviceYaml("restart", "a", "10.96.0.30")}---\n${sliceYaml("restart", "a", ["10.244.1.2"])}`,
      );
      const agent = startWasmplane(
        agentArgs(s.plan, s.socket, ["--kubeconfig", k.cluster.layout.kubeconfig], { nodeName: true }),
      );
      s.agent = agent;
      await firstSync(s.socket, agent);
      assert.is(tcpAnswer(s.plan.clientNetns, "10.96.0.30", 80), "pod1");

      await stopCluster(k.dir, () => {}, ["kube-apiserver"]);
      // The agent notices (a problem, not a crash) and keeps the rules in place meanwhile.
      await waitUntil("the agent to report the lost API", async () =>
        (await fetchStatus(s!.socket)).problems.some((p) => /list\/watch|watch|ECONNREFUSED/i.test(p))
          ? true
          : null,
      ).catch((err: Error) => {
        throw new Error(`${err.message}\n${agent.output()}`);
      });
      for (let i = 0; i < 3; i++) assert.is(tcpAnswer(s.plan.clientNetns, "10.96.0.30", 80), "pod1");
      assert.is(agent.process.exitCode, null, `agent exited while the API was away:\n${agent.output()}`);

      await startCluster(k.dir, { progress: () => {} });
      // Changed at once, before the agent's next retry: it must pick them up after reconnecting.
      k.kubectl(["apply", "-f", "-"], sliceYaml("restart", "a", ["10.244.1.3"]));
      k.kubectl(
        ["apply", "-f", "-"],
        `${serviceYaml("restart", "b", "10.96.0.31")}---\n${sliceYaml("restart", "b", ["10.244.1.2"])}`,
      );
      await waitUntil("the changed endpoint", answer(s, "10.96.0.30", "pod2"), 60_000);
      await waitUntil("the new service", answer(s, "10.96.0.31", "pod1"), 30_000);
      await waitUntil("the problems to clear", async () =>
        unexpectedProblems((await fetchStatus(s!.socket)).problems).length === 0 ? true : null,
      );
      assert.is(await agent.stop("SIGTERM"), 0, `agent did not exit cleanly on SIGTERM:\n${agent.output()}`);
      s.agent = null;
    } finally {
      await teardown(s);
    }
  },
);

clusterKernelTest(
  test,
  "a watch expired by etcd compaction (410 Gone) leads to a relist, not a stale state",
  async () => {
    let s: Sandbox | null = null;
    const relay = new Relay(k.cluster.state.apiserverPort);
    try {
      s = await sandbox("dcc");
      k.kubectl(["create", "namespace", "compact"]);
      k.kubectl(
        ["apply", "-f", "-"],
        `${serviceYaml("compact", "c", "10.96.0.40")}---\n${sliceYaml("compact", "c", ["10.244.1.2"])}`,
      );
      const port = await relay.start();
      // The agent reaches the API server through the relay, with the admin's credentials.
      const kubeconfig = join(s.dir, "relay.kubeconfig");
      const admin = JSON.parse(k.kubectl(["config", "view", "--raw", "-o", "json"]));
      admin.clusters[0].cluster.server = `https://127.0.0.1:${port}`;
      writeFileSync(kubeconfig, JSON.stringify(admin));
      const agent = startWasmplane(
        agentArgs(s.plan, s.socket, ["--kubeconfig", kubeconfig], { nodeName: true }),
      );
      s.agent = agent;
      await firstSync(s.socket, agent);
      assert.is(tcpAnswer(s.plan.clientNetns, "10.96.0.40", 80), "pod1");
      const seen = (
        JSON.parse(k.kubectl(["get", "--raw", "/api/v1/services?limit=1"])) as {
          metadata: { resourceVersion: string };
        }
      ).metadata.resourceVersion;

      // Away: the agent's watches are cut; meanwhile c goes, d comes, and etcd compacts its history.
      relay.cut();
      k.kubectl(["delete", "service", "c", "-n", "compact"]);
      k.kubectl(["delete", "endpointslice", "c-1", "-n", "compact"]);
      k.kubectl(
        ["apply", "-f", "-"],
        `${serviceYaml("compact", "d", "10.96.0.41")}---\n${sliceYaml("compact", "d", ["10.244.1.3"])}`,
      );
      await compactEtcd(k.cluster.etcd);
      const expired = k.kubectl([
        "get",
        "--raw",
        `/api/v1/services?watch=1&resourceVersion=${seen}&timeoutSeconds=5`,
      ]);
      assert.match(expired, /"code":\s*410/, `a watch from ${seen} did not expire: ${expired.slice(0, 300)}`);
      // The rules of the last known state stay while the API is unreachable.
      assert.is(tcpAnswer(s.plan.clientNetns, "10.96.0.40", 80), "pod1");

      relay.resume();
      await waitUntil("the service created while away", answer(s, "10.96.0.41", "pod2"), 60_000).catch(
        (err: Error) => {
          throw new Error(`${err.message}\n${agent.output()}`);
        },
      );
      await waitUntil(
        "the service deleted while away to stop answering",
        answer(s, "10.96.0.40", ""),
        30_000,
      );
      const st = await fetchStatus(s.socket);
      assert.equal(
        st.services.map((x) => x.key).filter((key) => key.startsWith("compact/")),
        ["compact/d"],
      );
      assert.is(agent.process.exitCode, null, `agent exited:\n${agent.output()}`);
      assert.is(await agent.stop("SIGTERM"), 0, `agent did not exit cleanly on SIGTERM:\n${agent.output()}`);
      s.agent = null;
    } finally {
      await relay.stop();
      await teardown(s);
    }
  },
);

test.run();
