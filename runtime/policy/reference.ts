// The reference policy decider: NetworkPolicy and ClusterNetworkPolicy over a store snapshot, as the
// Kubernetes and Network Policy APIs define them, into the PolicyDecision contract (types.ts). The
// Wasm policy plugin is compared with this. Pure: same snapshot and node, same decision.
import type { ClusterNetworkPolicy, NetworkPolicy, Snapshot } from "../store/objects.ts";
import type { Range } from "./address-sets.ts";
import { buildClusterView, type ClusterView } from "./cluster-view.ts";
import { compileClusterNetworkPolicies } from "./clusternetworkpolicy-rules.ts";
import { DecisionBuilder, type SetRecipes } from "./decision-builder.ts";
import { compileNetworkPolicies } from "./networkpolicy-rules.ts";
import type { PolicyDecision } from "./types.ts";

export interface EvaluateOptions {
  /** This node's name: pods with this spec.nodeName are the ones policed here. */
  nodeName: string;
}

function sortedValues<T>(map: Map<string, T> | undefined): T[] {
  return [...(map ?? new Map<string, T>()).entries()]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([, v]) => v);
}

/** The snapshot's policies, each kind in key order (the order they are compiled in). */
export interface SortedPolicies {
  networkPolicies: NetworkPolicy[];
  clusterNetworkPolicies: ClusterNetworkPolicy[];
}

/** A decision with what it was evaluated over: what incremental.ts needs to update it. */
export interface Evaluation {
  decision: PolicyDecision;
  view: ClusterView;
  recipes: SetRecipes;
  policies: SortedPolicies;
}

export function sortedPolicies(
  policies: Pick<Snapshot, "networkPolicies" | "clusterNetworkPolicies">,
): SortedPolicies {
  return {
    networkPolicies: sortedValues(policies.networkPolicies),
    clusterNetworkPolicies: sortedValues(policies.clusterNetworkPolicies),
  };
}

/** Compiles every policy for the view's local pods into `out`. */
export function compilePolicies(view: ClusterView, policies: SortedPolicies, out: DecisionBuilder): void {
  const addressCache = new Map<string, Range>();
  compileClusterNetworkPolicies(view, policies.clusterNetworkPolicies, out, addressCache);
  compileNetworkPolicies(view, policies.networkPolicies, out, addressCache);
}

export function evaluateFully(snapshot: Snapshot, options: EvaluateOptions): Evaluation {
  const view = buildClusterView(snapshot, options.nodeName);
  const out = new DecisionBuilder(view);
  const policies = sortedPolicies(snapshot);
  compilePolicies(view, policies, out);
  return { decision: out.finish(), view, recipes: out.recipes, policies };
}

export function evaluatePolicies(snapshot: Snapshot, options: EvaluateOptions): PolicyDecision {
  return evaluateFully(snapshot, options).decision;
}
