// The reference decider kept up to date instead of evaluated anew. When the only change since the
// last sync is a few pods (relabelled, moved, added, deleted, given IPs) in namespaces that exist:
//   - the peer sets a changed pod joins or leaves are patched (set-updates.ts); every other set,
//     and the rules of every unchanged local pod, stay the very same arrays;
//   - when a changed pod is (or was) policed on this node, its rules are evaluated again alone
//     (local-rules.ts).
// Anything else (a policy, a namespace, a pod in a namespace without a Namespace object, many pods at
// once) is evaluated in full. Either way the decision equals a full evaluation of the snapshot
// (test/policy/incremental.test.ts).
import type { Snapshot } from "../store/objects.ts";
import { withLocalRulesReevaluated } from "./local-rules.ts";
import { applyToView, changedPods, type PolicyChange, policyChange } from "./pod-changes.ts";
import { type Evaluation, evaluateFully } from "./reference.ts";
import { type NamespaceLabels, patchAddresses, updateSets } from "./set-updates.ts";
import type { PolicyDecision } from "./types.ts";

/** More changed pods than this in one sync: a full evaluation costs about the same. */
const MAX_INCREMENTAL_PODS = 64;

type Inputs = Pick<Snapshot, "pods" | "namespaces" | "networkPolicies" | "clusterNetworkPolicies">;

/** How a decision was reached: evaluated whole, peer sets updated, local rules re-evaluated too, or nothing changed. */
export type DecisionPath = "full" | "peers" | "local" | "unchanged";

interface Kept {
  inputs: Inputs;
  evaluation: Evaluation;
  namespaceLabels: NamespaceLabels;
}

export class IncrementalEvaluator {
  private last: Kept | null = null;
  /** How the last decision was reached, for tests and benchmarks. */
  lastPath: DecisionPath = "full";

  constructor(private readonly nodeName: string) {}

  decide(snapshot: Snapshot): PolicyDecision {
    const inputs: Inputs = {
      pods: snapshot.pods,
      namespaces: snapshot.namespaces,
      networkPolicies: snapshot.networkPolicies,
      clusterNetworkPolicies: snapshot.clusterNetworkPolicies,
    };
    const updated = this.last && this.update(this.last, inputs);
    if (updated) return updated;
    this.lastPath = "full";
    const evaluation = evaluateFully(snapshot, { nodeName: this.nodeName });
    const namespaceLabels = new Map(evaluation.view.namespaces.map((n) => [n.name, n.labels]));
    this.last = { inputs, evaluation, namespaceLabels };
    return evaluation.decision;
  }

  /** The decision for `inputs` from the last evaluation, or null when only a full evaluation will do. */
  private update(last: Kept, inputs: Inputs): PolicyDecision | null {
    const before = last.inputs;
    if (
      inputs.namespaces !== before.namespaces ||
      inputs.networkPolicies !== before.networkPolicies ||
      inputs.clusterNetworkPolicies !== before.clusterNetworkPolicies
    )
      return null;
    const changes = changedPods(before.pods, inputs.pods, MAX_INCREMENTAL_PODS)?.map(policyChange);
    // Without a Namespace object, a pod's namespace is in the view only while it holds pods.
    if (!changes?.every((c) => [c.before, c.after].every((p) => !p || inputs.namespaces.has(p.namespace))))
      return null;
    const { view, recipes, decision } = last.evaluation;
    last.inputs = inputs;
    if (changes.length === 0) {
      this.lastPath = "unchanged";
      return decision;
    }
    for (const c of changes) applyToView(view, c, this.nodeName);
    // Selections and contents cached by the last evaluation may hold the changed pods.
    view.memo.clear();
    view.contents.clear();
    let next: PolicyDecision = {
      ...decision,
      addressSets: updateSets(
        view,
        decision.addressSets,
        recipes.addressSets,
        changes,
        last.namespaceLabels,
        patchAddresses(view, changes),
      ),
      addressPortSets: updateSets(
        view,
        decision.addressPortSets,
        recipes.addressPortSets,
        changes,
        last.namespaceLabels,
      ),
    };
    const local = new Set(changes.filter((c) => this.policedHere(c)).map((c) => c.key));
    if (local.size > 0)
      next = withLocalRulesReevaluated(view, next, recipes, last.evaluation.policies, local);
    last.evaluation = { ...last.evaluation, decision: next };
    this.lastPath = local.size > 0 ? "local" : "peers";
    return next;
  }

  /** Whether the pod is policed on this node before or after the change (its rules may change). */
  private policedHere(change: PolicyChange): boolean {
    return change.before?.nodeName === this.nodeName || change.after?.nodeName === this.nodeName;
  }
}
