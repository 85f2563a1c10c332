// The truth table's node, built through the standalone contract only: one node namespace programmed
// by `wasmplane agent --config F` (a child process, pod networking on through F's `cni:` section),
// nine pod namespaces attached by the installed CNI executable with fixed addresses (CNI_ARGS IP=),
// manifests replaced by rename, and one server+prober process per pod.
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fetchStatus } from "../../runtime/agent/status-server.ts";
import { installCni } from "../../runtime/cni/install.ts";
import { writeLock } from "../../runtime/plugins/lock.ts";
import { shippedPolicyPluginPath } from "../../runtime/policy/deciders.ts";
import { type Child, startWasmplane, waitUntil } from "../agent/process-support.ts";
import { invoke, resultIPs } from "../cni/harness.ts";
import { createNetns, deleteNetns, uniqueNetnsName } from "../support/netns.ts";
import {
  clusterPoliciesManifest,
  namespacesManifest,
  nodeManifest,
  nodeName,
  podsManifest,
  policiesManifest,
  stepFiles,
} from "./harness-manifests.ts";
import { assembleMatrix, type ProbeOutcome } from "./harness-matrix.ts";
import {
  clusterCIDR,
  type Matrix,
  nodeIP,
  type PolicyState,
  type ProbeKind,
  podIP,
  podKeys,
  probeKinds,
  serviceCIDR,
} from "./harness-model.ts";
import { PodProber, type ProbeResult } from "./harness-probe.ts";
import { nudgeWatcher, statusOrNull, syncAfter, waitQuiet } from "./harness-sync.ts";

export interface StepApplied {
  /** Some manifest changed (otherwise nothing was written and no sync was awaited). */
  changed: boolean;
  /** Why the harness could not confirm a successful sync of the change; null when it could. */
  syncProblem: string | null;
  /** The agent did not notice the renamed manifest until the harness nudged its watcher (harness-sync.ts). */
  nudged: boolean;
  /** How long writing and waiting for the sync took. */
  ms: number;
}

export class PolicyCluster {
  readonly dir = mkdtempSync(join(tmpdir(), "wpt-npt-"));
  readonly manifests = join(this.dir, "manifests");
  readonly status = `unix:${join(this.dir, "status.sock")}`;
  readonly cniSocket = join(this.dir, "cni.sock");
  readonly nodeNetns = uniqueNetnsName("npt");
  /** Pod key -> its network namespace. */
  readonly podNetns = new Map<string, string>();
  readonly probers = new Map<string, PodProber>();
  private agent: Child | null = null;
  private readonly written = new Map<string, string>();
  private nudges = 0;
  private changes = 0;
  private nodeSide: PodProber | null = null;
  /** Last resort when the test process exits without stop(): no namespace or agent outlives it. */
  private readonly onExit = () => this.releaseNow();

  private constructor(private readonly decider: string) {
    process.once("exit", this.onExit);
  }

  /**
   * Builds the whole node; on any failure removes what it built and throws. `decider` is the agent's
   * policy.decider ("builtin", or "wasm:<name>": a shipped plugin, pinned in a lock file of its own).
   */
  static async start(decider = "builtin"): Promise<PolicyCluster> {
    const cluster = new PolicyCluster(decider);
    try {
      await cluster.startAgent();
      await cluster.attachPods();
      await cluster.startProbers();
      return cluster;
    } catch (err) {
      const output = cluster.agentOutput();
      await cluster.stop();
      throw new Error(`${(err as Error).message}\n--- agent output (tail) ---\n${output}`);
    }
  }

  /** The last lines the agent printed, for failure messages. */
  agentOutput(): string {
    return (this.agent?.output() ?? "").split("\n").slice(-40).join("\n");
  }

  private async startAgent(): Promise<void> {
    mkdirSync(this.manifests);
    createNetns(this.nodeNetns);
    // The node's own address: the source of its traffic to pods (kubelet probes).
    execFileSync("ip", ["-n", this.nodeNetns, "addr", "add", `${nodeIP}/32`, "dev", "lo"]);
    this.writeManifest("node.yaml", nodeManifest());
    this.writeManifest("namespaces.yaml", namespacesManifest());
    this.writeManifest("pods.yaml", podsManifest(false));
    this.writeManifest("policies.yaml", policiesManifest());
    this.writeManifest("cluster-policies.yaml", clusterPoliciesManifest());
    this.writeManifest("extra.yaml", stepFiles({ title: "base" }).get("extra.yaml") ?? "");
    const config = join(this.dir, "agent.yaml");
    writeFileSync(
      config,
      [
        `manifests: ${this.manifests}`,
        `netns: ${this.nodeNetns}`,
        `nodeName: ${nodeName}`,
        `nodeIPs: [${nodeIP}]`,
        `clusterCIDRs: [${clusterCIDR}]`,
        `serviceCIDRs: [${serviceCIDR}]`,
        "minSyncInterval: 100ms",
        // Only changes trigger syncs, so "a sync started after the write" means "the write's sync".
        "resyncInterval: 0s",
        `statusAddress: "${this.status}"`,
        `cni: {socket: ${this.cniSocket}, stateDir: ${join(this.dir, "state")}, routing: none}`,
        `policy: ${JSON.stringify(this.policyConfig())}`,
        "",
      ].join("\n"),
    );
    this.agent = startWasmplane(["agent", "--config", config]);
    await waitUntil(
      "the agent's first sync",
      async () => ((await fetchStatus(this.status)).lastSync?.ok ? true : null),
      30_000,
    );
  }

  private policyConfig(): { decider: string; pluginLock?: string } {
    if (!this.decider.startsWith("wasm:")) return { decider: this.decider };
    const pluginLock = join(this.dir, "plugins.lock.json");
    writeLock(pluginLock, [shippedPolicyPluginPath(this.decider.slice("wasm:".length))]);
    return { decider: this.decider, pluginLock };
  }

  private async attachPods(): Promise<void> {
    const bin = join(this.dir, "bin");
    await installCni({ binDir: bin, confDir: join(this.dir, "conf"), agentSocket: this.cniSocket });
    for (const key of podKeys) {
      const [namespace, name] = key.split("/");
      const netns = uniqueNetnsName("npt");
      createNetns(netns);
      this.podNetns.set(key, netns);
      const add = await invoke({
        bin: join(bin, "wasmplane"),
        command: "ADD",
        containerId: `npt-${process.pid}-${namespace}-${name}`,
        netns: `/run/netns/${netns}`,
        ifName: "eth0",
        args: `IgnoreUnknown=1;K8S_POD_NAMESPACE=${namespace};K8S_POD_NAME=${name};IP=${podIP(key)}`,
        config: { cniVersion: "1.0.0", name: "wasmplane", type: "wasmplane", agentSocket: this.cniSocket },
        nodeNetns: this.nodeNetns,
      });
      const got = resultIPs(add)[0]?.address.split("/")[0];
      if (add.code !== 0 || got !== podIP(key))
        throw new Error(
          `CNI ADD of pod ${key}: exit ${add.code}, address ${got}, wanted ${podIP(key)}: ${add.stdout}${add.stderr}`,
        );
    }
    const applied = await this.applyFiles(new Map([["pods.yaml", podsManifest(true)]]));
    if (applied.syncProblem) throw new Error(`the pods turning Running: ${applied.syncProblem}`);
  }

  private async startProbers(): Promise<void> {
    for (const [key, netns] of this.podNetns) this.probers.set(key, new PodProber(key, netns));
    await Promise.all([...this.probers.values()].map((p) => p.whenReady()));
  }

  /** Writes a manifest by rename (a reader never sees half a file); false when it was unchanged. */
  private writeManifest(file: string, content: string): boolean {
    if (this.written.get(file) === content) return false;
    const temp = join(this.manifests, `.${file}.tmp`);
    writeFileSync(temp, content);
    renameSync(temp, join(this.manifests, file));
    this.written.set(file, content);
    return true;
  }

  private async applyFiles(files: Map<string, string>): Promise<StepApplied> {
    const started = Date.now();
    let changed = false;
    for (const [file, content] of files) changed = this.writeManifest(file, content) || changed;
    if (changed) this.changes++;
    const nudge = () => nudgeWatcher(this.manifests, ++this.nudges);
    const wait = changed ? await syncAfter(this.status, started, nudge) : { problem: null, nudged: false };
    return { changed, syncProblem: wait.problem, nudged: wait.nudged, ms: Date.now() - started };
  }

  /** Puts the step's state in place (policies, cluster policies, labels) and waits for its sync. */
  applyStep(step: PolicyState): Promise<StepApplied> {
    return this.applyFiles(stepFiles(step));
  }

  /** Waits (at most 5 s) until no sync has run for 500 ms: before a re-probe, to rule out a race. */
  quiet(): Promise<void> {
    return waitQuiet(this.status);
  }

  /** Every ordered pod pair on every kind, all at once (one command per source pod). */
  async probeMatrix(timeoutMs: number, kinds: ProbeKind[] = probeKinds): Promise<Matrix<ProbeOutcome>> {
    const targets = podKeys.map((to) => ({ to, ip: podIP(to) }));
    const results = new Map<string, ProbeResult[]>();
    await Promise.all(
      podKeys.map(async (from) =>
        results.set(from, await this.prober(from).probe(targets, kinds, timeoutMs)),
      ),
    );
    return assembleMatrix(results);
  }

  /** The agent's current problems (status), for failure messages; empty when it does not answer. */
  async problems(): Promise<string[]> {
    return (await statusOrNull(this.status))?.problems ?? [];
  }

  /** Manifest changes so far, and how many of them the agent noticed only after a nudge. */
  watchStats(): { changes: number; nudged: number } {
    return { changes: this.changes, nudged: this.nudges };
  }

  /** A prober in the node's namespace (name "node"), started on first use: the kubelet's position. */
  async nodeProber(): Promise<PodProber> {
    if (!this.nodeSide) {
      this.nodeSide = new PodProber("node", this.nodeNetns);
      this.probers.set("node", this.nodeSide);
    }
    await this.nodeSide.whenReady();
    return this.nodeSide;
  }

  /**
   * A pod of another node, as far as this node can tell: a namespace reached through a plain veth
   * (not a pod veth, so no policy of this node polices it) with a host route, whose address the
   * test announces with a Pod object on node n2. Started on first use.
   */
  async remotePod(key: string, ip: string): Promise<PodProber> {
    const existing = this.probers.get(key);
    if (existing) return existing;
    const netns = uniqueNetnsName("npt");
    createNetns(netns);
    this.podNetns.set(key, netns);
    const hostSide = `rp${this.podNetns.size}`;
    execFileSync("ip", [
      "-n",
      this.nodeNetns,
      "link",
      "add",
      hostSide,
      "type",
      "veth",
      "peer",
      "name",
      "eth0",
      "netns",
      netns,
    ]);
    execFileSync("ip", ["-n", this.nodeNetns, "link", "set", hostSide, "up"]);
    execFileSync("ip", ["-n", this.nodeNetns, "route", "add", `${ip}/32`, "dev", hostSide]);
    execFileSync("ip", ["-n", netns, "addr", "add", `${ip}/32`, "dev", "eth0"]);
    execFileSync("ip", ["-n", netns, "link", "set", "eth0", "up"]);
    execFileSync("ip", ["-n", netns, "route", "add", nodeIP, "dev", "eth0"]);
    execFileSync("ip", ["-n", netns, "route", "add", "default", "via", nodeIP, "dev", "eth0"]);
    const prober = new PodProber(key, netns);
    this.probers.set(key, prober);
    await prober.whenReady();
    return prober;
  }

  prober(key: string): PodProber {
    const prober = this.probers.get(key);
    if (!prober) throw new Error(`no prober for pod ${key}`);
    return prober;
  }

  /** Stops the probers and the agent, deletes every namespace and the temporary directory. */
  async stop(): Promise<void> {
    process.off("exit", this.onExit);
    try {
      await Promise.all([...this.probers.values()].map((p) => p.stop()));
      await this.agent?.stop("SIGTERM", 10_000);
    } finally {
      this.releaseNow();
    }
  }

  /** Synchronous release of everything (also the exit hook's body). */
  private releaseNow(): void {
    if (this.agent?.process.exitCode === null) this.agent.process.kill("SIGKILL");
    for (const netns of this.podNetns.values()) deleteNetns(netns);
    deleteNetns(this.nodeNetns);
    rmSync(this.dir, { recursive: true, force: true });
  }
}
