// The chains of every policed pod and direction of a decision, reusing what the previous render made
// for a pod whose policy did not change (runtime/policy/render.ts). A pod's chains depend on its
// PodDirectionPolicy and on which of its peer sets hold CIDRs of a family (render-chains.ts
// peerConditions), so a pod is rendered again only when one of those changed; the pods whose chains
// changed, came or went are listed for render-assemble.ts.
import { type References, rulesRefs } from "../../nft/references.ts";
import { checkReferences, renderPodChains } from "./render-chains.ts";
import type { RenderedPod, RenderedSet } from "./render-memo.ts";
import { ADDRESS_FAMILIES } from "./render-names.ts";
import { hasNetworks } from "./render-sets.ts";
import { namedSetIds, type SetField } from "./rule-set-ids.ts";
import type { PodDirectionPolicy, PolicyDecision } from "./types.ts";

/** A pod and direction whose chains differ from the previous render's (before or after absent: it came or went). */
export interface PodChainChange {
  key: string;
  before?: RenderedPod;
  after?: RenderedPod;
}

/** What changed among the peer sets since the previous render. */
export interface SetHints {
  /** Address set ids that gained or lost CIDRs of a family: the rules naming them change. */
  familiesChanged: ReadonlySet<string>;
  /** Set ids of the previous render that are gone: a reused pod naming one is an error. */
  removed: { address: ReadonlySet<string>; addressPort: ReadonlySet<string> };
}

/** The families a rendered set holds CIDRs of ("4", "46", …), worked out once per rendered set. */
export function familiesWithNetworks(set: RenderedSet<string> | undefined): string {
  if (!set) return "";
  set.families ??= ADDRESS_FAMILIES.filter((f) => hasNetworks(set.entries, f)).join("");
  return set.families;
}

const setIds = (p: PodDirectionPolicy, field: SetField): string[] => [...namedSetIds([p], field)];

/** Which of the pod's peer sets hold CIDRs per family, e.g. "np x/a ingress 0:4" (IPv4 only). */
function networkShape(ids: string[], sets: ReadonlyMap<string, RenderedSet<string>>): string {
  return ids.map((id) => `${id}:${familiesWithNetworks(sets.get(id))}`).join("\u0000");
}

function renderedPod(
  p: PodDirectionPolicy,
  ids: string[],
  shape: string,
  policy: string,
  decision: PolicyDecision,
): RenderedPod {
  const rendered = renderPodChains(p, decision);
  const used: References = { sets: new Set() };
  for (const chain of rendered.chains) rulesRefs(chain.rules, used);
  return {
    source: p,
    shape,
    policy,
    rendered,
    sets: used.sets ?? new Set(),
    peerIds: ids,
    portIds: setIds(p, "addressPorts"),
  };
}

function namesRemoved(pod: RenderedPod, hints: SetHints): boolean {
  const { address, addressPort } = hints.removed;
  return (
    (address.size > 0 && pod.peerIds.some((id) => address.has(id))) ||
    (addressPort.size > 0 && pod.portIds.some((id) => addressPort.has(id)))
  );
}

const podKey = (p: PodDirectionPolicy) => `${p.pod}\u0000${p.direction}`;

/** The decision's pods by key ("pod\0direction"), in key order. */
function sortedPods(decision: PolicyDecision): { p: PodDirectionPolicy; key: string }[] {
  const keyed = decision.pods.map((p) => ({ p, key: podKey(p) }));
  for (let i = 1; i < keyed.length; i++)
    if (keyed[i - 1].key >= keyed[i].key) {
      keyed.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
      break;
    }
  return keyed;
}

/**
 * Renders (or reuses) every pod's chains. `changes` lists the pods whose chains are other objects
 * than in `previous`, and those gone since.
 */
export function renderPods(
  decision: PolicyDecision,
  previous: ReadonlyMap<string, RenderedPod> | undefined,
  sets: ReadonlyMap<string, RenderedSet<string>>,
  hints: SetHints,
): { pods: Map<string, RenderedPod>; changes: PodChainChange[] } {
  const out = new Map<string, RenderedPod>();
  const changes: PodChainChange[] = [];
  let kept = 0;
  for (const { p, key } of sortedPods(decision)) {
    if (out.has(key)) throw new Error(`policy of pod ${p.pod} ${p.direction}: listed twice in the decision`);
    const before = previous?.get(key);
    if (before) kept++;
    // The same object, and none of its peer sets gained or lost CIDRs of a family: the same chains.
    if (before?.source === p && !before.peerIds.some((id) => hints.familiesChanged.has(id))) {
      // Its sets existed last time: only one that is gone now can be missing.
      if (namesRemoved(before, hints)) checkReferences(p, decision);
      out.set(key, before);
      continue;
    }
    const ids = before?.source === p ? before.peerIds : setIds(p, "peers");
    const shape = networkShape(ids, sets);
    const policy = before?.source === p ? before.policy : JSON.stringify(p);
    if (before && before.policy === policy && before.shape === shape) {
      checkReferences(p, decision);
      out.set(key, before.source === p ? before : { ...before, source: p });
      continue;
    }
    const after = renderedPod(p, ids, shape, policy, decision);
    out.set(key, after);
    changes.push({ key, before, after });
  }
  if (previous && kept < previous.size)
    for (const [key, before] of previous) if (!out.has(key)) changes.push({ key, before });
  return { pods: out, changes };
}
