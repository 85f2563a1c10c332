// Policy in the agent's sync: ask the decider (the TypeScript reference or a Wasm policy plugin),
// render its decision, and hand the node's hook rules and the policy fragment to the transaction.
// A decider that fails (or answers a decision that cannot be rendered) keeps the last good
// decision; with none yet, pods that a policy selects are isolated (fail closed). Both are problems.
import type { DesiredRule, TableFragment } from "../../nft/desired.ts";
import type { RunningWorker } from "../plugins/plugin-worker.ts";
import type { Snapshot } from "../store/objects.ts";
import { formatProblem } from "../store/problems.ts";
import { failClosedDecision } from "./fail-closed.ts";
import { IncrementalEvaluator } from "./incremental.ts";
import { type RenderedPolicy, renderPolicy } from "./render.ts";
import type { PolicyDecision } from "./types.ts";

export interface PolicyDecider {
  /** For status and problems: "builtin", "wasm:networkpolicy", … */
  readonly name: string;
  decide(snapshot: Snapshot, nodeName: string): PolicyDecision | Promise<PolicyDecision>;
  /** The plugin workers deciding (a Wasm decider's one worker), for /metrics. */
  workers?(): RunningWorker[];
  close?(): Promise<void>;
}

/** The TypeScript reference, kept up to date incrementally between syncs (incremental.ts). */
export function createReferenceDecider(nodeName: string): PolicyDecider {
  const evaluator = new IncrementalEvaluator(nodeName);
  return { name: "builtin", decide: (snapshot) => evaluator.decide(snapshot) };
}

/** Per local pod: which policies select it, and whether it is isolated, per direction. */
export interface PodPolicyStatus {
  pod: string;
  ingress?: { isolated: boolean; selectedBy: string[]; rules: number };
  egress?: { isolated: boolean; selectedBy: string[]; rules: number };
}

export interface PolicyStep {
  fragment: TableFragment;
  /** Bodies of the node's pod-egress-hook and pod-ingress-hook chains. */
  hooks: { egress: DesiredRule[]; ingress: DesiredRule[] };
  problems: string[];
  pods: PodPolicyStatus[];
}

function podStatus(decision: PolicyDecision): PodPolicyStatus[] {
  const byPod = new Map<string, PodPolicyStatus>();
  for (const p of decision.pods) {
    const entry = byPod.get(p.pod) ?? { pod: p.pod };
    entry[p.direction] = { isolated: p.isolated, selectedBy: p.selectedBy, rules: p.rules.length };
    byPod.set(p.pod, entry);
  }
  return [...byPod.values()];
}

/** What a decision depends on; the store hands out the same Map for a kind that did not change. */
type PolicyInputs = readonly [unknown, unknown, unknown, unknown];

function policyInputs(snapshot: Snapshot): PolicyInputs {
  return [snapshot.pods, snapshot.namespaces, snapshot.networkPolicies, snapshot.clusterNetworkPolicies];
}

export class PolicyEnforcer {
  private lastGood: PolicyDecision | null = null;
  private rendered: RenderedPolicy | undefined;
  /** The last successful step and the inputs it was decided from: a sync that changed none of them reuses it. */
  private last: { inputs: PolicyInputs; step: PolicyStep } | null = null;

  constructor(
    private readonly decider: PolicyDecider,
    private readonly nodeName: string,
  ) {}

  get deciderName(): string {
    return this.decider.name;
  }

  /** The decider's plugin workers (none for the TypeScript reference). */
  pluginWorkers(): RunningWorker[] {
    return this.decider.workers?.() ?? [];
  }

  async plan(snapshot: Snapshot): Promise<PolicyStep> {
    const inputs = policyInputs(snapshot);
    // Service-only syncs (most of them) leave pods, namespaces and policies alone: no decision needed.
    if (this.last?.inputs.every((x, i) => x === inputs[i])) return this.last.step;
    const problems: string[] = [];
    let decision: PolicyDecision;
    let rendered: RenderedPolicy;
    try {
      decision = await this.decider.decide(snapshot, this.nodeName);
      rendered = renderPolicy(decision, this.rendered);
      this.lastGood = decision;
    } catch (err) {
      const fallback = this.lastGood
        ? "keeping the last good policy rules"
        : "failing closed: every local pod a policy selects is isolated";
      problems.push(`policy decider ${this.decider.name} failed: ${(err as Error).message}; ${fallback}`);
      decision = this.lastGood ?? failClosedDecision(snapshot, this.nodeName);
      rendered = renderPolicy(decision, this.rendered);
    }
    this.rendered = rendered;
    const step: PolicyStep = {
      fragment: rendered.fragment,
      hooks: rendered.hooks,
      problems: [...decision.problems.map(formatProblem), ...problems],
      pods: podStatus(decision),
    };
    // A failed decision is asked again next sync, whatever changed.
    this.last = problems.length === 0 ? { inputs, step } : null;
    return step;
  }

  async close(): Promise<void> {
    await this.decider.close?.();
  }
}
