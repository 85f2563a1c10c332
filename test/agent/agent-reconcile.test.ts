// Regression: the pod reconcile runs inside a sync. It used to await a sync when it released an
// address, and syncs run one at a time, so an agent restarted after a pod vanished while it was down
// stopped programming anything (no sync finished, and stop() hung). The reconcile now only requests
// the next sync.
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { readTable } from "../../nft/readback.ts";
import { fetchStatus } from "../../runtime/agent/status-server.ts";
import { JOURNAL_NAME } from "../../runtime/ipam/store.ts";
import { kernelTest } from "../support/kernel.ts";
import { createNetns, deleteNetns, uniqueNetnsName } from "../support/netns.ts";
import { type Child, startWasmplane, waitUntil } from "./process-support.ts";

const test = suite("agent pod reconcile");

function service(name: string, ip: string): string {
  return `apiVersion: v1\nkind: Service\nmetadata: {name: ${name}, namespace: default}\nspec: {clusterIP: ${ip}, ports: [{port: 80}]}\n---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: ${name}-1, namespace: default, labels: {kubernetes.io/service-name: ${name}}}\naddressType: IPv4\nports: [{port: 80}]\nendpoints: [{addresses: [10.73.1.200]}]\n`;
}

async function serviceProgrammed(netns: string, ip: string): Promise<boolean> {
  const table = await readTable("inet", "wasmplane", { netns });
  return JSON.stringify([...(table?.sets.values() ?? [])].map((s) => s.elements)).includes(ip);
}

kernelTest(test, "a restart with a stale allocation releases it and keeps syncing", async () => {
  const node = uniqueNetnsName("rec");
  const dir = mkdtempSync(join(tmpdir(), "wpt-rec-"));
  const status = `unix:${join(dir, "status.sock")}`;
  const manifests = join(dir, "manifests");
  const stateDir = join(dir, "state");
  let agent: Child | null = null;
  try {
    createNetns(node);
    execFileSync("ip", ["-n", node, "addr", "add", "10.250.0.1/32", "dev", "lo"]);
    mkdirSync(manifests);
    mkdirSync(join(stateDir, "ipam"), { recursive: true });
    // What the last run left: an address of a pod that was deleted while the agent was down.
    const stale = {
      ip: "10.73.1.9",
      containerId: "gone1",
      ifName: "eth0",
      podNamespace: "default",
      podName: "gone",
      allocatedAt: Date.now() - 120_000,
    };
    writeFileSync(
      join(stateDir, "ipam", JOURNAL_NAME),
      `${JSON.stringify({ op: "add", allocs: [stale] })}\n`,
    );
    writeFileSync(
      join(manifests, "node.yaml"),
      "apiVersion: v1\nkind: Node\nmetadata: {name: n1}\nspec: {podCIDR: 10.73.1.0/24}\nstatus: {addresses: [{type: InternalIP, address: 10.250.0.1}]}\n",
    );
    writeFileSync(join(manifests, "a.yaml"), service("a", "10.96.0.10"));
    const config = join(dir, "agent.yaml");
    writeFileSync(
      config,
      `manifests: ${manifests}\nnetns: ${node}\nnodeName: n1\nnodeIPs: [10.250.0.1]\nclusterCIDRs: [10.73.0.0/16]\nserviceCIDRs: [10.96.0.0/16]\nminSyncInterval: 200ms\nstatusAddress: "${status}"\ncni: {socket: ${join(dir, "cni.sock")}, stateDir: ${stateDir}, routing: none, reconcilePods: true, reconcileIntervalSeconds: 1}\n`,
    );
    agent = startWasmplane(["agent", "--config", config]);
    const running = agent;
    const fail = (err: Error) => {
      throw new Error(`${err.message}\n${running.output()}`);
    };
    await waitUntil("the first sync", async () =>
      (await fetchStatus(status)).lastSync?.ok ? true : null,
    ).catch(fail);
    assert.equal(
      (await fetchStatus(status)).podNetworking?.allocations.map((a) => a.pod),
      ["default/gone"],
      "the stale allocation was replayed",
    );
    // After the reconcile interval, a change makes a sync in which the reconcile is due.
    await new Promise((resolve) => setTimeout(resolve, 1_200));
    writeFileSync(join(manifests, "b.yaml"), service("b", "10.96.0.11"));
    await waitUntil("service b programmed", async () =>
      (await serviceProgrammed(node, "10.96.0.11")) ? true : null,
    ).catch(fail);
    await waitUntil("the stale allocation released", async () =>
      (await fetchStatus(status)).podNetworking?.allocations.length === 0 ? true : null,
    ).catch(fail);
    assert.match(running.output(), "cni: reconcile released 10.73.1.9");
    // Syncs keep flowing after the reconcile released something.
    writeFileSync(join(manifests, "c.yaml"), service("c", "10.96.0.12"));
    await waitUntil("service c programmed", async () =>
      (await serviceProgrammed(node, "10.96.0.12")) ? true : null,
    ).catch(fail);
    const stopped = Date.now();
    assert.is(await agent.stop("SIGTERM", 15_000), 0, running.output());
    assert.ok(Date.now() - stopped < 12_000, "stop took too long");
    agent = null;
  } finally {
    await agent?.stop("SIGKILL");
    deleteNetns(node);
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
