// What the agent needs from the planners and from the nftables layer, as narrow interfaces. The real
// implementations are wired in runtime/agent/wiring.ts; tests of the agent's logic may pass fakes.
import type { ApplyPathStats } from "../../nft/apply-guard.ts";
import type { DesiredRule, DesiredTable, TableFragment } from "../../nft/desired.ts";
import type { LbRequest, LbResult } from "../lb/plan.ts";
import type { PluginSwapCount } from "../plugins/lb-planner.ts";
import type { PolicyStep } from "../policy/enforcer.ts";
import type { PlanProblem } from "../services/service-plan.ts";
import type { StaleUdpEndpoint } from "../services/stale-udp.ts";
import type { Snapshot } from "../store/objects.ts";
import type { LbPluginStatus } from "./status.ts";

export type { PlanProblem, StaleUdpEndpoint };

/** The service planner (runtime/services/proxy.ts ServiceProxy). */
export interface ServicePlanner {
  lbRequests(snapshot: Snapshot): LbRequest[];
  plan(
    snapshot: Snapshot,
    lb: Map<string, LbResult>,
  ): {
    fragment: TableFragment;
    problems: PlanProblem[];
    stats: { services: number; servicePorts: number; endpoints: number };
  };
  staleUdpEndpoints(): StaleUdpEndpoint[];
  /**
   * Forgets which plans came from the LB planner (after a plugin reload), so the next `lbRequests`
   * asks for every service port again and the next `plan` re-plans those whose answer changed.
   */
  invalidateLbPlans(): void;
}

/** The Wasm plugin host behind the LB planner, when plugins are configured. */
export interface PluginHost {
  reload(): Promise<{
    loaded: string[];
    replaced: string[];
    unchanged: string[];
    removed: string[];
    refused: { algorithm: string; error: string }[];
  }>;
  status(): LbPluginStatus[];
  /** Modules a reload swapped in, with how often (for /metrics). */
  swaps?(): PluginSwapCount[];
  close(): Promise<void>;
}

/** A transaction as the agent sees it: how many operations, and whether there is anything to do. */
export interface PendingTransaction {
  readonly size: number;
}

export interface ApplyOutcome {
  bytes: number;
  durationMs: number;
  /** "netlink", or the nft script format. */
  path?: string;
}

/** The kernel side for one table in one network namespace. */
export interface Dataplane {
  /** What the kernel holds now, or null when our table does not exist. */
  readBack(): Promise<DesiredTable | null>;
  /** The transaction from `applied` to `desired`, and what the kernel holds once it is applied. */
  diff(
    applied: DesiredTable | null,
    desired: DesiredTable,
  ): {
    tx: PendingTransaction;
    applied: DesiredTable;
    /** Chains this transaction only flushes (still referenced before it); the next one deletes them. */
    deferredChains?: number;
  };
  apply(tx: PendingTransaction): Promise<ApplyOutcome>;
  deleteUdpConntrack(entries: StaleUdpEndpoint[]): Promise<void>;
  /** How transactions reach the kernel (self-test result) and the fallbacks so far; for status. */
  applyStats?(): ApplyPathStats;
}

export const tableFamily = "inet";
export const tableName = "wasmplane";

/**
 * One sync's share of pod networking: the node-rules fragment for the transaction, and the effects
 * outside nftables (pod CIDRs, routes, the reconcile) to carry out once the transaction committed.
 */
export interface PodNetworkStep {
  fragment: TableFragment;
  /** Problems that do not stop the sync (a peer node without an address, …). */
  problems: string[];
  /** Runs after the commit, inside the sync: it may request a sync, never wait for one. */
  actuate(): Promise<void>;
}

/** Rules for the node's NetworkPolicy hook chains (pod-egress-hook, pod-ingress-hook). */
export interface PolicyHooks {
  egress: DesiredRule[];
  ingress: DesiredRule[];
}

/** Pod networking (runtime/cni/pod-networking.ts PodNetworking): the CNI server and its node rules. */
export interface PodNetworkPlanner {
  /** Plans this sync's node rules and effects from the snapshot, without I/O. */
  plan(snapshot: Snapshot, hooks?: PolicyHooks): PodNetworkStep;
  /** The IPAM allocations (one per pod address), for the agent's status. */
  allocations?(): PodAllocation[];
  close(): Promise<void>;
}

export interface PodAllocation {
  ip: string;
  containerId: string;
  ifName: string;
  /** "namespace/name", when the runtime passed K8S_POD_NAMESPACE and K8S_POD_NAME. */
  pod?: string;
}

/** NetworkPolicy enforcement (runtime/policy/enforcer.ts PolicyEnforcer); needs pod networking. */
export interface PolicyPlanner {
  readonly deciderName: string;
  /** The decision for this sync, rendered; a failing decider keeps the last good one (or fails closed). */
  plan(snapshot: Snapshot): Promise<PolicyStep>;
  close(): Promise<void>;
}
