// The reference decider kept up to date instead of evaluated anew. Rules of local pods depend on the
// policies, the namespaces and the local pods; pods elsewhere in the cluster only fill peer sets. So
// when the only change is a few pods that are not policed on this node (relabelled, moved, added,
// deleted, given IPs), the rules stay as they are and only the sets whose recorded pod queries pick
// the pod before or after the change are built again. Anything else (a policy, a namespace, a local
// pod, a pod in a namespace without a Namespace object, many pods at once) is evaluated in full.
// Either way the decision equals a full evaluation of the snapshot (test/policy/incremental.test.ts).
import type { Pod, Snapshot } from "../store/objects.ts";
import { patchAddressSetElements } from "./address-sets.ts";
import {
  type ClusterView,
  countHolders,
  isPolicyPod,
  type PodQuery,
  type PolicyPod,
  recordingReads,
} from "./cluster-view.ts";
import type { SetRecipe } from "./decision-builder.ts";
import { type Evaluation, evaluateFully } from "./reference.ts";
import { matchesSelector } from "./selectors.ts";
import type { PolicyDecision } from "./types.ts";

/** More changed pods than this in one sync: a full evaluation costs about the same. */
const MAX_INCREMENTAL_PODS = 64;

interface PodChange {
  key: string;
  before?: Pod;
  after?: Pod;
}

type Inputs = Pick<Snapshot, "pods" | "namespaces" | "networkPolicies" | "clusterNetworkPolicies">;

/** The pods whose object changed between two pod maps; null when more than `limit` did. */
export function changedPods(
  before: Map<string, Pod>,
  after: Map<string, Pod>,
  limit: number,
): PodChange[] | null {
  const out: PodChange[] = [];
  let kept = 0;
  for (const [key, pod] of after) {
    const old = before.get(key);
    if (old === pod) {
      kept++;
      continue;
    }
    if (old) kept++;
    out.push({ key, before: old, after: pod });
    if (out.length > limit) return null;
  }
  if (kept < before.size)
    for (const [key, pod] of before) {
      if (after.has(key)) continue;
      out.push({ key, before: pod });
      if (out.length > limit) return null;
    }
  return out;
}

function queryPicks(
  query: PodQuery,
  pod: Pod,
  namespaceLabels: Map<string, Record<string, string>>,
): boolean {
  if (query.namespaceSelector) {
    const labels = namespaceLabels.get(pod.namespace);
    if (!labels || !matchesSelector(query.namespaceSelector, labels)) return false;
  } else if ((query.namespace ?? "") !== pod.namespace) return false;
  return !query.podSelector || matchesSelector(query.podSelector, pod.labels);
}

function byKey(a: PolicyPod, b: PolicyPod): number {
  return a.key < b.key ? -1 : a.key > b.key ? 1 : 0;
}

/** Moves one pod change into the view's peer lists (kept sorted by key). */
function applyToView(view: ClusterView, change: PodChange): void {
  if (change.before && isPolicyPod(change.before)) {
    const list = view.peersByNamespace.get(change.before.namespace) ?? [];
    const at = list.findIndex((p) => p.key === change.key);
    if (at >= 0) list.splice(at, 1);
    countHolders(view, change.before, -1);
  }
  if (change.after && isPolicyPod(change.after)) {
    countHolders(view, change.after, 1);
    const entry = { key: change.key, pod: change.after };
    const list = view.peersByNamespace.get(change.after.namespace);
    if (!list) view.peersByNamespace.set(change.after.namespace, [entry]);
    else {
      let at = list.findIndex((p) => byKey(entry, p) < 0);
      if (at < 0) at = list.length;
      list.splice(at, 0, entry);
    }
  }
}

/** Addresses a set loses and gains with one pod change. */
interface Move {
  remove: string[];
  add: string[];
}

/**
 * What `change` does to a set built from `reads`, or null when nothing. Every set is the union of
 * what its queries pick, built from the picked pods' addresses (and, for named ports, container
 * ports): it changes only when the pod joins or leaves it, or stays in it with other addresses or
 * ports.
 */
function moveOf(
  reads: PodQuery[],
  change: PolicyChange,
  labels: Map<string, Record<string, string>>,
): Move | null {
  const picks = (pod: Pod | undefined): pod is Pod =>
    pod !== undefined && reads.some((q) => queryPicks(q, pod, labels));
  const before = picks(change.before);
  const after = picks(change.after);
  if (before === after && !(before && change.addressesOrPortsChanged)) return null;
  return {
    remove: before ? (change.before?.podIPs ?? []) : [],
    add: after ? (change.after?.podIPs ?? []) : [],
  };
}

/** Patches a set's entries with the moves, or null when only a rebuild gives the exact result. */
type Patch<E> = (entries: E[], moves: Move[]) => E[] | null;

/**
 * An address set patched in place of a rebuild, unless an address it loses is still held by a pod
 * the changes did not touch (that pod may be picked by the set too).
 */
function patchAddresses(view: ClusterView, changes: PolicyChange[]): Patch<string> {
  const heldByChanged = new Map<string, number>();
  for (const c of changes)
    for (const ip of c.after?.podIPs ?? []) heldByChanged.set(ip, (heldByChanged.get(ip) ?? 0) + 1);
  const heldElsewhere = (ip: string) => (view.addressHolders.get(ip) ?? 0) > (heldByChanged.get(ip) ?? 0);
  return (entries, moves) => {
    const remove = moves.flatMap((m) => m.remove);
    if (remove.some(heldElsewhere)) return null;
    return patchAddressSetElements(
      entries,
      remove,
      moves.flatMap((m) => m.add),
    );
  };
}

/** Updates the sets the changes alter (patched or rebuilt); returns the new contents by id, or the same map. */
function updateSets<E>(
  view: ClusterView,
  current: Map<string, E[]>,
  recipes: Map<string, SetRecipe<E>>,
  changes: PolicyChange[],
  labels: Map<string, Record<string, string>>,
  patch?: Patch<E>,
): Map<string, E[]> {
  let out: Map<string, E[]> | null = null;
  for (const [id, recipe] of recipes) {
    const moves = changes.flatMap((c) => moveOf(recipe.reads, c, labels) ?? []);
    if (moves.length === 0) continue;
    const entries = current.get(id);
    let value = entries && patch ? patch(entries, moves) : null;
    if (!value) {
      const rebuilt = recordingReads(view, recipe.build);
      recipes.set(id, { build: recipe.build, reads: rebuilt.reads });
      value = rebuilt.value;
    }
    out ??= new Map(current);
    out.set(id, value);
  }
  return out ?? current;
}

/** A pod change as policy sees it: only versions selectors can pick (addresses, not finished). */
interface PolicyChange {
  before?: Pod;
  after?: Pod;
  addressesOrPortsChanged: boolean;
}

function policyChange(change: PodChange): PolicyChange {
  const before = change.before && isPolicyPod(change.before) ? change.before : undefined;
  const after = change.after && isPolicyPod(change.after) ? change.after : undefined;
  const addressesOrPortsChanged =
    before !== undefined &&
    after !== undefined &&
    (JSON.stringify(before.podIPs) !== JSON.stringify(after.podIPs) ||
      JSON.stringify(before.containerPorts) !== JSON.stringify(after.containerPorts));
  return { before, after, addressesOrPortsChanged };
}

export class IncrementalEvaluator {
  private last: {
    inputs: Inputs;
    evaluation: Evaluation;
    namespaceLabels: Map<string, Record<string, string>>;
  } | null = null;
  /** How the last decision was reached, for tests and benchmarks. */
  lastPath: "full" | "incremental" | "unchanged" = "full";

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
  private update(last: NonNullable<IncrementalEvaluator["last"]>, inputs: Inputs): PolicyDecision | null {
    const before = last.inputs;
    if (
      inputs.namespaces !== before.namespaces ||
      inputs.networkPolicies !== before.networkPolicies ||
      inputs.clusterNetworkPolicies !== before.clusterNetworkPolicies
    )
      return null;
    const changes = changedPods(before.pods, inputs.pods, MAX_INCREMENTAL_PODS);
    if (!changes?.every((c) => this.outsideRules(c, inputs))) return null;
    const { view, recipes, decision } = last.evaluation;
    for (const c of changes) applyToView(view, c);
    // Selections and contents cached by the last evaluation may hold the changed pods.
    view.memo.clear();
    view.contents.clear();
    const policyChanges = changes.map(policyChange);
    const next: PolicyDecision = {
      ...decision,
      addressSets: updateSets(
        view,
        decision.addressSets,
        recipes.addressSets,
        policyChanges,
        last.namespaceLabels,
        patchAddresses(view, policyChanges),
      ),
      addressPortSets: updateSets(
        view,
        decision.addressPortSets,
        recipes.addressPortSets,
        policyChanges,
        last.namespaceLabels,
      ),
    };
    last.inputs = inputs;
    last.evaluation = { ...last.evaluation, decision: next };
    this.lastPath = changes.length === 0 ? "unchanged" : "incremental";
    return next;
  }

  /** A change that cannot alter any rule: neither version is policed here, and its namespace exists. */
  private outsideRules(change: PodChange, inputs: Inputs): boolean {
    for (const pod of [change.before, change.after]) {
      if (!pod || !isPolicyPod(pod)) continue;
      if (pod.nodeName === this.nodeName) return false;
      // Without a Namespace object, the pod's namespace is in the view only while it holds pods.
      if (!inputs.namespaces.has(pod.namespace)) return false;
    }
    return true;
  }
}
