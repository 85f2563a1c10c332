// The rules of a few local pods evaluated again, merged into a decision kept up to date
// (incremental.ts). The policies that can select the changed pods (NetworkPolicies of their
// namespaces, every ClusterNetworkPolicy) are compiled over a view whose local pods are only the
// changed ones, sharing the cluster view's peers, so rules and the sets they name come out as a full
// evaluation would make them; the other pods' rules stay the same objects. Sets no rule names any
// more are dropped, new ones come with their recipes.
import type { ClusterView, PolicyPod } from "./cluster-view.ts";
import { DecisionBuilder, type SetRecipe, type SetRecipes } from "./decision-builder.ts";
import { compilePolicies, type SortedPolicies } from "./reference.ts";
import { forEachSetId, namedSetIds, type SetField } from "./rule-set-ids.ts";
import type { PodDirectionPolicy, PolicyDecision } from "./types.ts";

const byText = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

function byNamespace(pods: PolicyPod[]): Map<string, PolicyPod[]> {
  const out = new Map<string, PolicyPod[]>();
  for (const p of pods) out.set(p.pod.namespace, [...(out.get(p.pod.namespace) ?? []), p]);
  return out;
}

/** The pods' rules before and after the change, and every pod's after it. */
interface RuleChange {
  before: PodDirectionPolicy[];
  after: PodDirectionPolicy[];
  all: PodDirectionPolicy[];
}

/**
 * The sets the pods name through `field`: `kept` itself when the changed pods name no set it lacks
 * and every set they stop naming is still named by another pod; otherwise `kept` without the sets
 * no rule names and with the new ones (from `fresh`), in id order. `recipes` follow.
 */
function usedSets<E>(
  pods: RuleChange,
  field: SetField,
  kept: Map<string, E[]>,
  fresh: Map<string, E[]>,
  recipes: Map<string, SetRecipe<E>>,
  freshRecipes: Map<string, SetRecipe<E>>,
): Map<string, E[]> {
  const was = namedSetIds(pods.before, field);
  const is = namedSetIds(pods.after, field);
  const added = [...is].filter((id) => !kept.has(id)).sort(byText);
  const gone = new Set([...was].filter((id) => !is.has(id)));
  if (gone.size > 0) forEachSetId(pods.all, field, (id) => gone.delete(id));
  if (added.length === 0 && gone.size === 0) return kept;
  for (const id of gone) recipes.delete(id);
  const out = new Map<string, E[]>();
  let next = 0;
  const addUpTo = (id: string | null) => {
    for (; next < added.length && (id === null || added[next] < id); next++) {
      const entries = fresh.get(added[next]);
      const recipe = freshRecipes.get(added[next]);
      if (!entries || !recipe)
        throw new Error(`policy: set "${added[next]}" is named by a rule but was never built`);
      out.set(added[next], entries);
      recipes.set(added[next], recipe);
    }
  };
  for (const [id, entries] of kept) {
    if (gone.has(id)) continue;
    addUpTo(id);
    out.set(id, entries);
  }
  addUpTo(null);
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
  policies: SortedPolicies,
  changed: Set<string>,
): PolicyDecision {
  const local = view.localPods.filter((p) => changed.has(p.key));
  const restricted: ClusterView = { ...view, localPods: local, localPodsByNamespace: byNamespace(local) };
  // A NetworkPolicy selects pods of its own namespace only.
  const namespaces = new Set(local.map((p) => p.pod.namespace));
  const relevant: SortedPolicies = {
    networkPolicies: policies.networkPolicies.filter((np) => namespaces.has(np.namespace)),
    clusterNetworkPolicies: policies.clusterNetworkPolicies,
  };
  const out = new DecisionBuilder(restricted, decision);
  compilePolicies(restricted, relevant, out);
  const partial = out.finish();
  const kept = decision.pods.filter((p) => !changed.has(p.pod));
  const pods = [...kept, ...partial.pods].sort(
    (a, b) => byText(a.pod, b.pod) || byText(a.direction, b.direction),
  );
  const rules: RuleChange = {
    before: decision.pods.filter((p) => changed.has(p.pod)),
    after: partial.pods,
    all: pods,
  };
  return {
    pods,
    addressSets: usedSets(
      rules,
      "peers",
      decision.addressSets,
      partial.addressSets,
      recipes.addressSets,
      out.recipes.addressSets,
    ),
    addressPortSets: usedSets(
      rules,
      "addressPorts",
      decision.addressPortSets,
      partial.addressPortSets,
      recipes.addressPortSets,
      out.recipes.addressPortSets,
    ),
    problems: decision.problems,
  };
}
