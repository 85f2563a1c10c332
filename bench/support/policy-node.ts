// One node's sync as the agent runs it (runtime/agent/agent.ts sync()), step by step and timed, for
// bench/policy.ts: store change → snapshot → service plan (lbRequests, built-in LB, ServiceProxy) →
// policy decision (runtime/policy/reference.ts) → render (runtime/policy/render.ts, with the last
// result as `previous`, as PolicyEnforcer.plan does) → node rules (runtime/cni/node-rules.ts) with
// the policy hooks → merge → planSync → applyTransaction in the node's namespace.
// PolicyEnforcer.plan is evaluate + render plus fault handling; the two are called directly here
// so that their times can be told apart.
import { type ApplyResult, applyTransaction } from "../../nft/apply.ts";
import {
  type DesiredRule,
  type DesiredTable,
  mergeFragments,
  type TableFragment,
} from "../../nft/desired.ts";
import { planSync, type SyncPlan } from "../../nft/diff.ts";
import { type NodeAttachment, planNodeRules } from "../../runtime/cni/node-rules.ts";
import { builtinLbPlanner, type LbResult } from "../../runtime/lb/plan.ts";
import { IncrementalEvaluator } from "../../runtime/policy/incremental.ts";
import { type RenderedPolicy, renderPolicy } from "../../runtime/policy/render.ts";
import type { PolicyDecision } from "../../runtime/policy/types.ts";
import type { ServiceShape } from "../../runtime/services/config.ts";
import { ServiceProxy } from "../../runtime/services/proxy.ts";
import type { SourceEvent } from "../../runtime/sources/source.ts";
import type { EndpointSlice, Service, Snapshot } from "../../runtime/store/objects.ts";
import { Store } from "../../runtime/store/store.ts";

export const STEPS = [
  "store",
  "services",
  "evaluate",
  "render",
  "node rules",
  "diff",
  "encode",
  "kernel",
] as const;
export type Step = (typeof STEPS)[number];

export interface SyncResult {
  /** Wall time per step; "kernel" is the netlink sender's send-to-last-reply time (all of apply for nft -f). */
  steps: Record<Step, number>;
  /** This process's CPU time per step (the kernel's work for a batch runs in the sender process). */
  cpu: Record<Step, number>;
  totalMs: number;
  /** CPU time of this process over the sync (the kernel's work for our batch included, nft excluded). */
  cpuMs: number;
  bytes: number;
  operations: number;
  path: string;
  /** Apply time outside the kernel's share (hand-over to the sender, reading its answer). */
  handoverMs: number;
  stats: SyncPlan["stats"];
  /** Rules in the policy chains, sets and their elements in the applied policy part. */
  policy: { chains: number; rules: number; sets: number; elements: number };
}

export interface NodeOptions {
  nodeName: string;
  netns: string;
  services: { services: Map<string, Service>; endpointSlices: Map<string, EndpointSlice> };
  attachments: NodeAttachment[];
  podCIDRs: string[];
  clusterCIDRs: string[];
  /**
   * Experiment: the services go once into a table of their own (`inet wasmplane-services`, same
   * namespace) before the first sync, and the timed syncs carry node and policy rules only. The
   * kernel revalidates jump graphs per table, so this shows what the services' chains cost a
   * policy change's commit.
   */
  servicesInOwnTable?: boolean;
  /** The services' rule shape (the agent's default without it). */
  serviceShape?: ServiceShape;
}

/** Experiments that change what is sent (never the defaults: the defaults are what the agent does). */
export interface Experiments {
  /** Leave out the policy sets that no rule references (IPv6 sets of IPv4-only pods). */
  pruneUnreferencedSets: boolean;
}

/** Times steps: wall and CPU of this process, from one `next()` to the next. */
class StepClock {
  readonly wall = Object.fromEntries(STEPS.map((s) => [s, 0])) as Record<Step, number>;
  readonly cpu = Object.fromEntries(STEPS.map((s) => [s, 0])) as Record<Step, number>;
  private t = performance.now();
  private c = process.cpuUsage();

  /** Charges the time since the last call to `step`. */
  next(step: Step): void {
    const c = process.cpuUsage(this.c);
    this.wall[step] += performance.now() - this.t;
    this.cpu[step] += (c.user + c.system) / 1000;
    this.t = performance.now();
    this.c = process.cpuUsage();
  }
}

/** The fragment without the sets that no chain of `chains` references. */
function withoutUnreferencedSets(fragment: TableFragment, chains: DesiredRule[][]): TableFragment {
  const text = JSON.stringify([...chains, ...[...fragment.chains.values()].map((c) => c.rules)]);
  const referenced = new Set(text.match(/@[A-Za-z0-9_-]+/g) ?? []);
  const sets = new Map([...fragment.sets].filter(([name]) => referenced.has(`@${name}`)));
  return { chains: fragment.chains, sets };
}

export class BenchNode {
  readonly store = new Store();
  private readonly proxy: ServiceProxy;
  private rendered: RenderedPolicy | undefined;
  private decision: PolicyDecision | undefined;
  /** The reference decider as the agent runs it: kept up to date between syncs. */
  private readonly evaluator: IncrementalEvaluator;
  private applied: DesiredTable | null = null;
  readonly experiments: Experiments = { pruneUnreferencedSets: false };

  constructor(private readonly options: NodeOptions) {
    this.evaluator = new IncrementalEvaluator(options.nodeName);
    this.proxy = new ServiceProxy({
      nodeName: options.nodeName,
      nodeIPs: ["192.168.0.1"],
      clusterCIDRs: options.clusterCIDRs,
      serviceCIDRs: ["10.96.0.0/12"],
      masqueradeAll: false,
      ...(options.serviceShape ? { shape: options.serviceShape } : {}),
    });
  }

  /** The decision of the last sync. */
  get lastDecision(): PolicyDecision | undefined {
    return this.decision;
  }

  /** Services into their own table (servicesInOwnTable), untimed. */
  private async installServicesTable(snapshot: Snapshot): Promise<void> {
    const requests = this.proxy.lbRequests(snapshot);
    const results = requests.length > 0 ? await builtinLbPlanner.plan(requests) : [];
    const lb = new Map<string, LbResult>(requests.map((r, i) => [r.key, results[i]]));
    const table = mergeFragments("inet", "wasmplane-services", [this.proxy.plan(snapshot, lb).fragment]);
    await applyTransaction(planSync(null, table).tx, { netns: this.options.netns });
  }

  /** Applies `events` to the store and syncs; the time starts before the store sees the change. */
  async change(events: SourceEvent[]): Promise<SyncResult> {
    const separate = this.options.servicesInOwnTable === true;
    if (separate && this.applied === null)
      await this.installServicesTable({ ...this.store.snapshot(), ...this.options.services });
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    const clock = new StepClock();
    this.store.apply(events);
    const rejected = this.store.rejected();
    if (rejected.length > 0)
      throw new Error(`bench world: the store rejected ${JSON.stringify(rejected[0])}`);
    const snapshot: Snapshot = {
      ...this.store.snapshot(),
      ...(separate ? { services: new Map(), endpointSlices: new Map() } : this.options.services),
    };
    clock.next("store");

    const requests = this.proxy.lbRequests(snapshot);
    const results = requests.length > 0 ? await builtinLbPlanner.plan(requests) : [];
    const lb = new Map<string, LbResult>(requests.map((r, i) => [r.key, results[i]]));
    const services = this.proxy.plan(snapshot, lb);
    clock.next("services");

    const decision = this.evaluator.decide(snapshot);
    clock.next("evaluate");
    const rendered = renderPolicy(decision, this.rendered);
    clock.next("render");

    const node = planNodeRules({
      attachments: this.options.attachments,
      podCIDRs: this.options.podCIDRs,
      clusterCIDRs: this.options.clusterCIDRs,
      hooks: rendered.hooks,
    });
    const policy = this.experiments.pruneUnreferencedSets
      ? withoutUnreferencedSets(rendered.fragment, [rendered.hooks.egress, rendered.hooks.ingress])
      : rendered.fragment;
    const desired = mergeFragments(
      "inet",
      "wasmplane",
      [services.fragment, node, policy],
      ["services", "pod networking", "policy"],
    );
    clock.next("node rules");

    const plan = planSync(this.applied, desired);
    clock.next("diff");
    let result: ApplyResult | null = null;
    if (plan.tx.size > 0) result = await applyTransaction(plan.tx, { netns: this.options.netns });
    clock.next("kernel");
    this.applied = plan.applied;
    this.rendered = rendered;
    this.decision = decision;
    const totalMs = performance.now() - t0;
    const cpu = process.cpuUsage(cpu0);
    const steps = clock.wall;
    steps.encode = result?.renderMs ?? 0;
    steps.kernel = result?.kernelMs ?? result?.durationMs ?? 0;
    // The encode step ran inside applyTransaction: move its CPU out of the kernel column.
    clock.cpu.encode = Math.min(clock.cpu.kernel, steps.encode);
    clock.cpu.kernel -= clock.cpu.encode;
    return {
      steps,
      cpu: clock.cpu,
      totalMs,
      cpuMs: (cpu.user + cpu.system) / 1000,
      bytes: result?.bytes ?? 0,
      operations: plan.tx.size,
      path: result?.format ?? "none",
      handoverMs: result ? result.durationMs - (result.kernelMs ?? result.durationMs) : 0,
      stats: plan.stats,
      policy: policySize({ ...rendered, fragment: policy }),
    };
  }
}

function policySize(rendered: RenderedPolicy): SyncResult["policy"] {
  const chains = [...rendered.fragment.chains.values()];
  const sets = [...rendered.fragment.sets.values()];
  return {
    chains: chains.length,
    rules: chains.reduce((n, c) => n + c.rules.length, 0),
    sets: sets.length,
    elements: sets.reduce((n, s) => n + s.elements.length, 0),
  };
}
