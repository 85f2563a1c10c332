// The rules of a few local pods evaluated again, merged into a decision kept up to date
// (incremental.ts). Every policy is compiled over a view whose local pods are only the changed
// ones, sharing the cluster view's peers, so rules and the sets they name come out as a full
// evaluation would make them; the other pods' rules stay the same objects. Sets no rule names any
// more are dropped, new ones come with their recipes.
import type { Snapshot } from "../store/objects.ts";
import type { ClusterView, PolicyPod } from "./cluster-view.ts";
import { DecisionBuilder, type SetRecipe, type SetRecipes } from "./decision-builder.ts";
import { compilePolicies } from "./reference.ts";
import type { PodDirectionPolicy, PolicyDecision } from "./types.ts";

const byText = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

function byNamespace(pods: PolicyPod[]): Map<string, PolicyPod[]> {
  const out = new Map<string, PolicyPod[]>();
  for (const p of pods) out.set(p.pod.namespace, [...(out.get(p.pod.namespace) ?? []), p]);
  return out;
}

/** The sets `pods` name through `field`, from `kept` or else `fresh`; `recipes` follow. */
function usedSets<E>(
  pods: PodDirectionPolicy[],
  field: "peers" | "addressPorts",
  kept: Map<string, E[]>,
  fresh: Map<string, E[]>,
  recipes: Map<string, SetRecipe<E>>,
  freshRecipes: Map<string, SetRecipe<E>>,
): Map<string, E[]> {
  const used = new Set<string>();
  for (const p of pods) for (const r of p.rules) if (r[field] !== undefined) used.add(r[field]);
  if (used.size === kept.size && [...used].every((id) => kept.has(id))) return kept;
  for (const id of [...recipes.keys()]) if (!used.has(id)) recipes.delete(id);
  const out = new Map<string, E[]>();
  for (const id of [...used].sort(byText)) {
    const entries = kept.get(id) ?? fresh.get(id);
    const recipe = recipes.get(id) ?? freshRecipes.get(id);
    if (!entries || !recipe) throw new Error(`policy: set "${id}" is named by a rule but was never built`);
    out.set(id, entries);
    recipes.set(id, recipe);
  }
  return out;
}

/**
 * `decision` with the rules of the local pods in `changed` (pod keys) evaluated again over `view`
 * (which already holds the changed pods). `recipes` are updated in place.
 */
export function withLocalRulesReevaluated(
  view: ClusterView,
  decision: PolicyDecision,
  recipes: SetRecipes,
  policies: Pick<Snapshot, "networkPolicies" | "clusterNetworkPolicies">,
  changed: Set<string>,
): PolicyDecision {
  const local = view.localPods.filter((p) => changed.has(p.key));
  const restricted: ClusterView = { ...view, localPods: local, localPodsByNamespace: byNamespace(local) };
  const out = new DecisionBuilder(restricted, decision);
  compilePolicies(restricted, policies, out);
  const partial = out.finish();
  const pods = [...decision.pods.filter((p) => !changed.has(p.pod)), ...partial.pods].sort(
    (a, b) => byText(a.pod, b.pod) || byText(a.direction, b.direction),
  );
  return {
    pods,
    addressSets: usedSets(
      pods,
      "peers",
      decision.addressSets,
      partial.addressSets,
      recipes.addressSets,
      out.recipes.addressSets,
    ),
    addressPortSets: usedSets(
      pods,
      "addressPorts",
      decision.addressPortSets,
      partial.addressPortSets,
      recipes.addressPortSets,
      out.recipes.addressPortSets,
    ),
    problems: decision.problems,
  };
}
