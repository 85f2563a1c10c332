// Wires the real parts together: the manifest source, the service planner, the built-in LB planner,
// and nft/ for diff, apply and read-back in the configured network namespace.

import { ApplyGuard, type ApplyGuardOptions } from "../../nft/apply-guard.ts";
import { planSync } from "../../nft/diff.ts";
import { readTable } from "../../nft/readback.ts";
import type { Transaction } from "../../nft/transaction.ts";
import { parseCniSection } from "../cni/config.ts";
import { PodNetworking, podNetworkProblems } from "../cni/pod-networking.ts";
import { builtinLbPlanner, type LbPlanner } from "../lb/plan.ts";
import type { Logger } from "../log/logger.ts";
import type { AgentMetrics } from "../metrics/metrics.ts";
import { createWasmLbPlanner, type WasmLbPlanner } from "../plugins/lb-planner.ts";
import type { RunningWorker } from "../plugins/plugin-worker.ts";
import { policyDeciderFromSpec } from "../policy/deciders.ts";
import { PolicyEnforcer } from "../policy/enforcer.ts";
import { deleteUdpConntrack } from "../services/conntrack.ts";
import { KubernetesSource, loadKubeConfig } from "../sources/kubernetes.ts";
import { ManifestDirSource } from "../sources/manifest-dir.ts";
import type { Source } from "../sources/source.ts";
import { Agent } from "./agent.ts";
import type { AgentConfig } from "./config.ts";
import { type Dataplane, tableFamily, tableName } from "./dependencies.ts";
import { defaultLockFile, type LbConfig, usesPlugins } from "./lb-config.ts";
import { globalAddresses } from "./node-addresses.ts";
import { ZoneFollowingPlanner } from "./node-zone.ts";

/** The nft/ dataplane; `guard` options reach the ApplyGuard (log, an injected self-test or encoder). */
export function nftDataplane(netns?: string, guard: Omit<ApplyGuardOptions, "netns"> = {}): Dataplane {
  const opts = netns ? { netns } : {};
  const applier = new ApplyGuard({ ...guard, ...opts });
  return {
    readBack: () => readTable(tableFamily, tableName, opts),
    diff: (applied, desired) => {
      const plan = planSync(applied, desired);
      return { tx: plan.tx, applied: plan.applied, deferredChains: plan.deferredChains.length };
    },
    apply: async (tx) => {
      const result = await applier.apply(tx as Transaction);
      return { bytes: result.bytes, durationMs: result.durationMs, path: result.format };
    },
    applyStats: () => applier.stats(),
    deleteUdpConntrack: (entries) => deleteUdpConntrack(entries, opts),
  };
}

export interface CreateAgentOptions {
  log?: (line: string) => void;
  /** Structured logs for the agent's sync and problem lines (fields beside the message). */
  logger?: Logger;
  /** Prometheus metrics the agent and the CNI server report to. */
  metrics?: AgentMetrics;
  lbPlanner?: LbPlanner;
}

/** The config with defaults that need the machine resolved (node IPs). */
export function resolveConfig(config: AgentConfig): AgentConfig {
  if (config.nodeIPs.length > 0) return config;
  return { ...config, nodeIPs: globalAddresses(config.netns) };
}

export async function createSource(config: AgentConfig): Promise<Source> {
  if (config.manifests) return new ManifestDirSource({ dir: config.manifests });
  if (!config.kubeconfig && !config.kubernetes) {
    throw new Error("no source configured: give --manifests DIR, --kubernetes or --kubeconfig FILE");
  }
  // client-node is loaded only here: importing it costs about 130 MiB RSS that a manifest-directory agent does not need.
  return new KubernetesSource({ kubeConfig: await loadKubeConfig(config.kubeconfig, config.apiServer) });
}

/** The built-in planner, or the Wasm plugin host when the `lb` section names plugins. */
export async function createLbPlanner(
  lb: LbConfig,
  log: (line: string) => void,
): Promise<{ planner: LbPlanner; host?: WasmLbPlanner }> {
  if (!usesPlugins(lb)) return { planner: builtinLbPlanner };
  const host = await createWasmLbPlanner({
    defaultAlgorithm: lb.default,
    ...(lb.plugins ? { plugins: lb.plugins } : {}),
    ...(lb.pluginDir ? { pluginDir: lb.pluginDir } : {}),
    lockFile: lb.lockFile ?? defaultLockFile,
    grants: lb.grants,
    ...(lb.memoryCapMiB ? { memoryCapBytes: lb.memoryCapMiB * 1024 * 1024 } : {}),
    ...(lb.callBudgetMs ? { callBudgetMs: lb.callBudgetMs } : {}),
    log: (line) => log(`plugin: ${line}`),
  });
  return { planner: host, host };
}

/** Policy enforcement with the decider the config's `policy.decider` names. */
export async function createPolicyPlanner(
  config: AgentConfig,
  log: (line: string) => void,
): Promise<PolicyEnforcer> {
  const decider = await policyDeciderFromSpec(config.policy.decider, {
    nodeName: config.nodeName,
    lockFile: config.policy.pluginLock ?? defaultLockFile,
    log: (line) => log(`policy: ${line}`),
  });
  return new PolicyEnforcer(decider, config.nodeName);
}

/** The plugin workers the agent's parts run now, every kind: LB, then policy, then IPAM. */
function pluginWorkersOf(parts: {
  lb?: WasmLbPlanner;
  policy?: PolicyEnforcer;
  pods: () => PodNetworking | undefined;
}): () => RunningWorker[] {
  return () => [
    ...(parts.lb?.workers() ?? []),
    ...(parts.policy?.pluginWorkers() ?? []),
    ...(parts.pods()?.pluginWorkers() ?? []),
  ];
}

export async function createAgent(config: AgentConfig, options: CreateAgentOptions = {}): Promise<Agent> {
  const log = options.log ?? ((line: string) => console.log(line));
  const lb = options.lbPlanner ? { planner: options.lbPlanner } : await createLbPlanner(config.lb, log);
  const planner = new ZoneFollowingPlanner({
    nodeName: config.nodeName,
    nodeIPs: config.nodeIPs,
    clusterCIDRs: config.clusterCIDRs,
    serviceCIDRs: config.serviceCIDRs,
    masqueradeAll: config.masqueradeAll,
    ...(config.nodeZone ? { nodeZone: config.nodeZone } : {}),
    defaultLbAlgorithm: config.lb.default,
    ...(config.services?.shape ? { shape: config.services.shape } : {}),
  });
  const cni = Object.keys(config.cni).length > 0 ? parseCniSection(config.cni, "config cni") : null;
  const policy = cni?.enabled && config.policy.enabled ? await createPolicyPlanner(config, log) : undefined;
  // Started after the agent, whose syncs its CNI commands request.
  let pods: PodNetworking | undefined;
  const pluginWorkers = pluginWorkersOf({
    ...(lb.host ? { lb: lb.host } : {}),
    ...(policy ? { policy } : {}),
    pods: () => pods,
  });
  const agent = new Agent({
    nodeName: config.nodeName,
    ...(config.netns ? { netns: config.netns } : {}),
    minSyncIntervalMs: config.minSyncIntervalMs,
    resyncIntervalMs: config.resyncIntervalMs,
    source: await createSource(config),
    planner,
    lbPlanner: lb.planner,
    ...(lb.host ? { plugins: lb.host } : {}),
    ...(policy ? { policy } : {}),
    dataplane: nftDataplane(config.netns, { log }),
    ...(options.log ? { log: options.log } : {}),
    ...(options.logger ? { logger: options.logger } : {}),
    ...(options.metrics ? { metrics: options.metrics.sync, pluginWorkers } : {}),
  });
  if (cni?.enabled) {
    const started = await PodNetworking.start({
      nodeName: config.nodeName,
      ...(config.netns ? { nodeNetns: config.netns } : {}),
      ...(cni.socket ? { socketPath: cni.socket } : {}),
      ...(cni.stateDir ? { stateDir: cni.stateDir } : {}),
      ...(cni.mtu ? { mtu: cni.mtu } : {}),
      ...(cni.ipam ? { ipam: cni.ipam } : {}),
      ...(cni.pluginLock ? { pluginLock: cni.pluginLock } : {}),
      ...(config.clusterCIDRs.length > 0 ? { clusterCIDRs: config.clusterCIDRs } : {}),
      ...(cni.routing ? { routing: cni.routing } : {}),
      ...(cni.vxlan ? { vxlan: cni.vxlan } : {}),
      // A manifest directory rarely lists every Pod: releasing "unknown" pods would free live addresses.
      reconcilePods: cni.reconcilePods ?? !config.manifests,
      ...(cni.reconcileIntervalMs ? { reconcileIntervalMs: cni.reconcileIntervalMs } : {}),
      syncNow: () => agent.syncNow(),
      requestSync: () => agent.requestSync(),
      ...(options.metrics ? { onCommand: options.metrics.cniCommand } : {}),
      log,
    });
    pods = started;
    agent.setPodNetworking({
      plan: (snapshot, hooks) => {
        const plan = started.plan(snapshot, hooks);
        return {
          fragment: plan.fragment,
          problems: podNetworkProblems(plan),
          actuate: async () => void (await started.actuate(plan)),
        };
      },
      close: () => started.close(),
      allocations: () =>
        started.server.allocations().map((a) => ({
          ip: a.ip,
          containerId: a.containerId,
          ifName: a.ifName,
          ...(a.podNamespace && a.podName ? { pod: `${a.podNamespace}/${a.podName}` } : {}),
        })),
    });
  }
  return agent;
}
