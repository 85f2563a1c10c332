// The agent as a process on a namespace the test creates: manifests in, kernel table and real
// traffic out; a broken Service does not stop the others and is picked up once fixed; a restart
// continues with a diff; cleanup removes only our table.
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { readTable } from "../../nft/readback.ts";
import type { AgentStatus } from "../../runtime/agent/status.ts";
import { fetchStatus } from "../../runtime/agent/status-server.ts";
import { type EchoServer, startEchoServer } from "../../runtime/sandbox/echo-server.ts";
import { buildTopology } from "../../runtime/sandbox/topology.ts";
import { kernelTest } from "../support/kernel.ts";
import {
  agentArgs,
  agentTestPlan,
  type Child,
  runWasmplane,
  startWasmplane,
  stopSandbox,
  tcpAnswer,
  waitUntil,
} from "./process-support.ts";

const test = suite("agent process");

function service(name: string, clusterIP: string, port: number, addresses: string[]): string {
  return `apiVersion: v1
kind: Service
metadata: {name: ${name}, namespace: default}
spec:
  clusterIP: ${clusterIP}
  ports: [{port: ${port}, targetPort: 8080}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: ${name}-1, namespace: default, labels: {kubernetes.io/service-name: ${name}}}
addressType: IPv4
ports: [{port: 8080}]
endpoints:
${addresses.map((a) => `  - addresses: [${a}]`).join("\n")}
`;
}

function answers(netns: string, address: string, port: number, count: number): string[] {
  return Array.from({ length: count }, () => tcpAnswer(netns, address, port));
}

kernelTest(
  test,
  "programs services, isolates a broken one, restarts with a diff, cleans up only its table",
  async () => {
    const plan = agentTestPlan("agt");
    const dir = mkdtempSync(join(tmpdir(), "wpt-agt-"));
    const socket = `unix:${join(dir, "status.sock")}`;
    const manifests = join(dir, "manifests");
    const servers: EchoServer[] = [];
    let agent: Child | null = null;
    const args = agentArgs(plan, socket, ["--manifests", manifests], { nodeName: true });
    const synced = (after: string | null) =>
      waitUntil("an agent sync", async () => {
        const st = await fetchStatus(socket);
        return st.lastSync?.ok && st.lastSync.at !== after ? st : null;
      }).catch((err: Error) => {
        throw new Error(`${err.message}\nagent output:\n${agent?.output()}`);
      });
    try {
      buildTopology(plan);
      for (const pod of plan.pods) servers.push(await startEchoServer(pod.netns, pod.name, [8080], []));
      execFileSync("mkdir", ["-p", manifests]);
      writeFileSync(
        join(manifests, "web.yaml"),
        service("web", "10.96.0.10", 80, ["10.244.1.2", "10.244.1.3"]),
      );
      writeFileSync(join(manifests, "one.yaml"), service("one", "10.96.0.11", 81, ["10.244.1.3"]));
      // Port 70000 is out of range: rejected, while web and one are still programmed.
      writeFileSync(join(manifests, "broken.yaml"), service("broken", "10.96.0.12", 70000, ["10.244.1.2"]));
      // A table that is not ours: cleanup must leave it alone.
      execFileSync("ip", ["netns", "exec", plan.nodeNetns, "nft", "add table inet someone-else"]);

      agent = startWasmplane(args);
      let st: AgentStatus = await synced(null);
      const firstOps = st.lastSync?.operations ?? 0;
      assert.ok(firstOps > 0, "first sync sent nothing");
      assert.equal(st.problems, ["Service default/broken: spec.ports[0].port: must be 1-65535, got 70000"]);
      assert.equal(
        st.services.map((s) => s.key),
        ["default/one", "default/web"],
      );

      const table = await readTable("inet", "wasmplane", { netns: plan.nodeNetns });
      assert.ok(table && table.chains.size > 0, "no table inet wasmplane in the node namespace");

      const web = answers(plan.clientNetns, "10.96.0.10", 80, 16);
      assert.ok(
        web.every((a) => a === "pod1" || a === "pod2"),
        `web answers: ${web.join(",")}`,
      );
      assert.is(new Set(web).size, 2, `web should reach both backends: ${web.join(",")}`);
      assert.equal(answers(plan.clientNetns, "10.96.0.11", 81, 3), ["pod2", "pod2", "pod2"]);
      assert.is(tcpAnswer(plan.clientNetns, "10.96.0.12", 70000 % 65536), "");

      // Fix the broken service: picked up, problem gone, traffic flows.
      const firstAt = st.lastSync?.at;
      writeFileSync(join(manifests, "broken.yaml"), service("broken", "10.96.0.12", 82, ["10.244.1.2"]));
      st = await waitUntil("the fixed service", async () => {
        const s = await fetchStatus(socket);
        return s.lastSync?.ok && s.lastSync.at !== firstAt && s.problems.length === 0 ? s : null;
      });
      assert.equal(
        st.services.map((s) => s.key),
        ["default/broken", "default/one", "default/web"],
      );
      await waitUntil("traffic to the fixed service", () =>
        tcpAnswer(plan.clientNetns, "10.96.0.12", 82) === "pod1" ? true : null,
      );
      // The fix was a partial sync touching only that service.
      assert.is(st.lastSync?.full, false, agent.output());
      assert.ok(
        (st.lastSync?.operations ?? 0) < firstOps,
        `fix sent ${st.lastSync?.operations} ops, first sync ${firstOps}`,
      );

      // SIGTERM: the agent exits and the rules stay.
      assert.is(await agent.stop("SIGTERM"), 0);
      agent = null;
      assert.ok(await readTable("inet", "wasmplane", { netns: plan.nodeNetns }), "SIGTERM removed the table");
      assert.is(tcpAnswer(plan.clientNetns, "10.96.0.11", 81), "pod2");

      // Restart: reads the table back, nothing changed, so nothing is rewritten.
      agent = startWasmplane([...args, "--resync-interval", "1s"]);
      st = await synced(null);
      assert.is(st.lastSync?.full, true);
      assert.is(
        st.lastSync?.operations,
        0,
        `restart sent ${st.lastSync?.operations} operations (first sync: ${firstOps})`,
      );

      // Drift: someone empties the slot map that sends service "one" (a plain ClusterIP, in the
      // default maps shape) to its endpoint; the periodic full resync reads the table back and
      // repairs it.
      const holdsServiceOne = async () => {
        const t = await readTable("inet", "wasmplane", { netns: plan.nodeNetns });
        return JSON.stringify(t?.sets.get("services-backends4")?.elements ?? []).includes("10.96.0.11");
      };
      assert.ok(await holdsServiceOne(), "no slot element for service one");
      execFileSync("ip", [
        "netns",
        "exec",
        plan.nodeNetns,
        "nft",
        "flush",
        "map",
        "inet",
        "wasmplane",
        "services-backends4",
      ]);
      assert.not.ok(await holdsServiceOne(), "the slot map was emptied");
      await waitUntil("the resync to repair the emptied map", async () =>
        (await holdsServiceOne()) ? true : null,
      );
      assert.is(tcpAnswer(plan.clientNetns, "10.96.0.11", 81), "pod2");

      // `wasmplane status` prints what the agent serves.
      const printed = runWasmplane(["status", "--status-address", socket]);
      assert.match(printed, "default/web  ClusterIP  10.96.0.10");
      assert.match(printed, "endpoints: 2/2 ready: 10.244.1.2, 10.244.1.3");
      assert.match(printed, "problems: none");
      assert.is(await agent.stop("SIGTERM"), 0);
      agent = null;

      // Cleanup removes our table and nothing else.
      const out = runWasmplane(["cleanup", "--netns", plan.nodeNetns]);
      assert.match(out, "deleted table inet wasmplane");
      const tables = execFileSync("ip", ["netns", "exec", plan.nodeNetns, "nft", "list", "tables"], {
        encoding: "utf8",
      });
      assert.equal(tables.trim().split("\n"), ["table inet someone-else"]);
    } finally {
      await stopSandbox(agent, servers, plan);
      rmSync(dir, { recursive: true, force: true });
    }
  },
);

test.run();
