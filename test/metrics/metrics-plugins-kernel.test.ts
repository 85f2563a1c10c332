// The remaining acceptance items on a running agent: with LB plugins from build/plugins/lb (pinned by
// a lock file written here) and pod networking, one CNI ADD through the installed executable, and a
// Service planned by a named plugin, /metrics shows that plugin's calls, the IPAM used gauge equal
// to the allocations in the agent's status, and the ADD in the CNI latency histogram.
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { fetchStatus } from "../../runtime/agent/status-server.ts";
import { installCni } from "../../runtime/cni/install.ts";
import { findModules, writeLock } from "../../runtime/plugins/lock.ts";
import { type Child, root, startWasmplane, waitUntil } from "../agent/process-support.ts";
import { invoke, resultIPs } from "../cni/harness.ts";
import { kernelTest } from "../support/kernel.ts";
import { createNetns, deleteNetns, uniqueNetnsName } from "../support/netns.ts";
import { sample } from "./prometheus-sample.ts";

const test = suite("plugin, IPAM and CNI metrics in a namespace");

const POD_CIDR = "10.74.1.0/24";

/** GET /metrics inside `netns`; null when nothing listens yet. */
function scrape(netns: string): string | null {
  try {
    return execFileSync(
      "ip",
      ["netns", "exec", netns, "curl", "-sf", "-m", "3", "http://127.0.0.1:10249/metrics"],
      { encoding: "utf8" },
    );
  } catch {
    return null;
  }
}

function agentConfig(dir: string, node: string, manifests: string, socket: string, status: string): string {
  const pluginDir = join(root, "build/plugins/lb");
  const lockFile = join(dir, "plugins.lock.json");
  writeLock(lockFile, findModules(pluginDir));
  return [
    `manifests: ${manifests}`,
    `netns: ${node}`,
    "nodeName: n1",
    "nodeIPs: [10.251.0.1]",
    "clusterCIDRs: [10.74.0.0/16]",
    "serviceCIDRs: [10.96.0.0/16]",
    "minSyncInterval: 200ms",
    `statusAddress: "${status}"`,
    'healthzBindAddress: ""',
    `lb: {pluginDir: ${pluginDir}, lockFile: ${lockFile}, default: random}`,
    `cni: {socket: ${socket}, stateDir: ${join(dir, "state")}, routing: none}`,
    "",
  ].join("\n");
}

function serviceFor(address: string): string {
  return `apiVersion: v1
kind: Service
metadata: {name: web, namespace: default, annotations: {lb.wasmplane.io/algorithm: maglev}}
spec: {clusterIP: 10.96.0.20, ports: [{port: 80, targetPort: 8080}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: web-1, namespace: default, labels: {kubernetes.io/service-name: web}}
addressType: IPv4
ports: [{port: 8080}]
endpoints: [{addresses: [${address}]}]
`;
}

kernelTest(test, "/metrics counts plugin calls, IPAM allocations and CNI ADDs", async () => {
  const node = uniqueNetnsName("mplug");
  const pod = uniqueNetnsName("mplug");
  const dir = mkdtempSync(join(tmpdir(), "wpt-mplug-"));
  const socket = join(dir, "cni.sock");
  const status = `unix:${join(dir, "status.sock")}`;
  const manifests = join(dir, "manifests");
  let agent: Child | null = null;
  try {
    createNetns(node);
    createNetns(pod);
    mkdirSync(manifests);
    writeFileSync(
      join(manifests, "node.yaml"),
      `apiVersion: v1\nkind: Node\nmetadata: {name: n1}\nspec: {podCIDR: ${POD_CIDR}}\nstatus: {addresses: [{type: InternalIP, address: 10.251.0.1}]}\n`,
    );
    const config = join(dir, "agent.yaml");
    writeFileSync(config, agentConfig(dir, node, manifests, socket, status));
    agent = startWasmplane(["agent", "--config", config]);
    const running = agent;
    const fail = (err: Error) => {
      throw new Error(`${err.message}\n--- agent output ---\n${running.output()}`);
    };
    await waitUntil("the first sync", async () =>
      (await fetchStatus(status)).lastSync?.ok ? true : null,
    ).catch(fail);

    await installCni({ binDir: dir, confDir: dir, agentSocket: socket });
    const add = await invoke({
      bin: join(dir, "wasmplane"),
      command: "ADD",
      containerId: "mplug1",
      netns: `/run/netns/${pod}`,
      ifName: "eth0",
      config: { cniVersion: "1.0.0", name: "wasmplane", type: "wasmplane", agentSocket: socket },
      nodeNetns: node,
    });
    assert.is(add.code, 0, `${add.stdout}${add.stderr}\n${running.output()}`);
    const address = resultIPs(add)[0].address.split("/")[0];
    writeFileSync(join(manifests, "web.yaml"), serviceFor(address));

    const text = await waitUntil("maglev's calls in /metrics", () => {
      const t = scrape(node);
      return t && (sample(t, "wasmplane_plugin_calls_total", { kind: "lb", name: "maglev" }) ?? 0) > 0
        ? t
        : null;
    }).catch(fail);
    const allocations = (await fetchStatus(status)).podNetworking?.allocations ?? [];
    assert.is(allocations.length, 1, JSON.stringify(allocations));
    assert.is(sample(text, "wasmplane_ipam_used_addresses", { cidr: POD_CIDR }), allocations.length);
    assert.is(sample(text, "wasmplane_ipam_pool_addresses", { cidr: POD_CIDR }), 254);
    assert.is(sample(text, "wasmplane_ipam_free_addresses", { cidr: POD_CIDR }), 254 - allocations.length);
    assert.is(sample(text, "wasmplane_cni_command_duration_seconds_count", { command: "ADD" }), 1);
    assert.is(sample(text, "wasmplane_cni_command_errors_total", { command: "ADD" }) ?? 0, 0);
    const version = /wasmplane_plugin_calls_total\{[^}]*name="maglev"[^}]*hash="([0-9a-f]{64})"/.exec(text);
    assert.ok(version, "maglev's calls carry its sha256");
    assert.is(sample(text, "wasmplane_plugin_refused", { kind: "lb", name: "maglev" }), 0);
    assert.is(await agent.stop("SIGTERM"), 0);
    agent = null;
  } finally {
    await agent?.stop("SIGKILL");
    deleteNetns(pod);
    deleteNetns(node);
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
