// The remaining acceptance items on a running agent: with LB plugins copied from build/plugins/lb,
// the Wasm IPAM and policy plugins (all pinned by a lock file written here) and pod networking, one
// CNI ADD through the installed executable, and a Service planned by a named plugin, /metrics shows
// each plugin's calls with a latency histogram counting exactly those calls, the IPAM used gauge
// equal to the allocations in the agent's status, the ADD in the CNI latency histogram, and a module
// swapped in by SIGHUP in the swap counter.
import { execFileSync } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
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

const builtLb = join(root, "build/plugins/lb");
const ipamPlugin = join(root, "build/plugins/ipam/range.wasm");
const policyPlugin = join(root, "build/plugins/policy/networkpolicy.wasm");

/** Pins the LB modules in `pluginDir` and the IPAM and policy modules. */
function lockPlugins(lockFile: string, pluginDir: string): void {
  writeLock(lockFile, [...findModules(pluginDir), ipamPlugin, policyPlugin]);
}

function agentConfig(dir: string, node: string, manifests: string, socket: string, status: string): string {
  const pluginDir = join(dir, "lb");
  mkdirSync(pluginDir);
  for (const name of ["maglev", "random"])
    copyFileSync(join(builtLb, `${name}.wasm`), join(pluginDir, `${name}.wasm`));
  const lockFile = join(dir, "plugins.lock.json");
  lockPlugins(lockFile, pluginDir);
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
    `cni: {socket: ${socket}, stateDir: ${join(dir, "state")}, routing: none, ipam: "wasm:range", pluginLock: ${lockFile}}`,
    `policy: {decider: "wasm:networkpolicy", pluginLock: ${lockFile}}`,
    "",
  ].join("\n");
}

/** Every plugin call was timed: the latency histogram's count equals the calls counter, per module. */
function assertCallsTimed(text: string, labels: Record<string, string>): number {
  const calls = sample(text, "wasmplane_plugin_calls_total", labels) ?? 0;
  assert.ok(calls > 0, `no calls for ${JSON.stringify(labels)}`);
  assert.is(sample(text, "wasmplane_plugin_call_duration_seconds_count", labels), calls);
  assert.is(sample(text, "wasmplane_plugin_call_duration_seconds_bucket", { ...labels, le: "+Inf" }), calls);
  assert.ok((sample(text, "wasmplane_plugin_call_duration_seconds_sum", labels) ?? 0) > 0);
  return calls;
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
  const node = uniqueNetnsName("m13");
  const pod = uniqueNetnsName("m13");
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
    assertCallsTimed(text, { kind: "lb", name: "maglev" });
    assert.is(assertCallsTimed(text, { kind: "ipam", name: "range" }), 1, "one ADD, one IPAM call");
    assertCallsTimed(text, { kind: "policy", name: "networkpolicy" });
    assert.not.match(text, /wasmplane_plugin_swaps_total\{/, "no swap before a reload");

    // SIGHUP after the module behind "random" changed on disk (and was re-locked): one swap.
    copyFileSync(join(builtLb, "round-robin.wasm"), join(dir, "lb", "random.wasm"));
    lockPlugins(join(dir, "plugins.lock.json"), join(dir, "lb"));
    agent.process.kill("SIGHUP");
    await agent.waitFor(/plugins reloaded: .*replaced random/, 10_000).catch(fail);
    const swapped = scrape(node) ?? "";
    assert.is(
      sample(swapped, "wasmplane_plugin_swaps_total", { kind: "lb", name: "round-robin" }),
      1,
      swapped,
    );
    assert.is(sample(swapped, "wasmplane_plugin_calls_total", { kind: "lb", name: "random" }), undefined);
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
