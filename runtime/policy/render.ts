// A PolicyDecision as nftables rules in the shared `inet wasmplane` table: decision in, one
// TableFragment plus the rules of the node's two policy hook chains (runtime/cni/node-rules.ts,
// `pod-egress-hook` and `pod-ingress-hook`, jumped to from pod-forward and, for egress, pod-input).
//
//   hook chain         ct state established,related return; then the pod's address (saddr for
//                      egress, daddr for ingress) in verdict map pol-eg4/6 or pol-in4/6 → goto
//                      the pod's chain; a pod not in the map is not policed (falls through)
//   pol-i-H / pol-e-H  per pod and direction, the tiers in order (render-chains.ts)
//   pol-a…, pol-p…     the peer sets (render-sets.ts)
//
// "return" is the allow verdict, never accept: the forward chain judges the source's egress first
// and then the destination's ingress, and an egress allow must reach the ingress hook. A goto from
// the hook means a return in the pod's chain goes straight back to the base chain. The node's own
// traffic to its pods (kubelet probes) leaves through the output hook, so no pod's ingress judges it;
// its replies are established.
//
// Peers are named sets, so a pod relabelled or added somewhere in the cluster changes set elements
// only, never a chain or a verdict-map element: a plain element batch does not make the kernel
// revalidate the table's jump graph (docs/nft.md).
//
// The output is a function of the decision alone. Passing the previous result lets the renderer
// hand back the very same chain, set and element objects for whatever did not change, which makes
// nft/'s diff (identity first, texts cached per object) cost what changed: peer sets are compared
// here, pods in render-pods.ts, and the fragment is updated by what changed (render-assemble.ts).
import type { DesiredRule, DesiredSet, TableFragment } from "../../nft/desired.ts";
import { isSorted, sameEntries, sameText } from "./list-compare.ts";
import { assemble, reassemble } from "./render-assemble.ts";
import { hookRules } from "./render-chains.ts";
import type { RenderedSet, RenderMemo } from "./render-memo.ts";
import { familiesWithNetworks, renderPods } from "./render-pods.ts";
import { addressPortSets, addressSets, patchAddressSets, reuseElements } from "./render-sets.ts";
import type { AddressPort, PolicyDecision } from "./types.ts";

export type { RenderMemo } from "./render-memo.ts";

export interface RenderedPolicy {
  /** The `pol-` chains, sets and dispatch maps. */
  fragment: TableFragment;
  /** Rules for planNodeRules' `hooks` input (the bodies of pod-egress-hook and pod-ingress-hook). */
  hooks: { egress: DesiredRule[]; ingress: DesiredRule[] };
  /** What the next call may reuse (pass this whole result as `previous`); not part of the output. */
  memo: RenderMemo;
}

const sameAddressPort = (a: AddressPort, b: AddressPort) =>
  a.address === b.address && a.protocol === b.protocol && a.port === b.port;

interface PeerSets<E> {
  /** Every set id, sorted, with its rendered sets. */
  memo: Map<string, RenderedSet<E>>;
  /** Ids whose entries differ from the previous render's (`before` absent: a new id). */
  changed: Map<string, { before: RenderedSet<E> | undefined; after: RenderedSet<E> }>;
  /** Ids of the previous render that are gone. */
  removed: string[];
}

/** Renders (or reuses) the named sets of every set id, sorted by id. */
function peerSets<E>(
  ids: Map<string, E[]>,
  previous: ReadonlyMap<string, RenderedSet<E>> | undefined,
  render: (id: string, entries: E[]) => DesiredSet[],
  same: (x: E, y: E) => boolean,
  patch?: (id: string, before: E[], after: E[], previous: DesiredSet[]) => DesiredSet[] | null,
): PeerSets<E> {
  const out: PeerSets<E> = { memo: new Map(), changed: new Map(), removed: [] };
  const sorted = [...ids.keys()];
  if (!isSorted(sorted)) sorted.sort();
  let kept = 0;
  for (const id of sorted) {
    const entries = ids.get(id)!;
    const before = previous?.get(id);
    if (before) kept++;
    if (before && (before.source === entries || sameEntries(before.entries, entries, same))) {
      out.memo.set(id, before.source === entries ? before : { ...before, source: entries });
      continue;
    }
    const sets =
      (before && patch?.(id, before.entries, entries, before.sets)) ??
      render(id, entries).map((s, i) => reuseElements(s, before?.sets[i]));
    const after = { entries: [...entries], source: entries, sets };
    out.memo.set(id, after);
    out.changed.set(id, { before, after });
  }
  if (previous && kept < previous.size)
    for (const id of previous.keys()) if (!ids.has(id)) out.removed.push(id);
  return out;
}

/**
 * Renders a decision; `previous` (the last result) only makes unchanged objects identical to the
 * last ones. Throws on an inconsistent decision, naming the pod, rule and field.
 */
export function renderPolicy(decision: PolicyDecision, previous?: RenderedPolicy): RenderedPolicy {
  const address = peerSets(
    decision.addressSets,
    previous?.memo.addressSets,
    addressSets,
    sameText,
    patchAddressSets,
  );
  const ports = peerSets(
    decision.addressPortSets,
    previous?.memo.addressPortSets,
    addressPortSets,
    sameAddressPort,
  );
  // Rules name a set's CIDR part only when it has CIDRs of that family: gaining or losing them
  // rewrites the rules that use the set.
  const familiesChanged = new Set<string>();
  for (const [id, { before, after }] of address.changed)
    if (before && familiesWithNetworks(before) !== familiesWithNetworks(after)) familiesChanged.add(id);
  const removed = { address: new Set(address.removed), addressPort: new Set(ports.removed) };
  const idsRemoved = removed.address.size > 0 || removed.addressPort.size > 0;
  // The same pods array with the same set ids and CIDR families: every pod's chains stand.
  const podsStand =
    previous !== undefined &&
    previous.memo.podsSource === decision.pods &&
    familiesChanged.size === 0 &&
    !idsRemoved;
  const { pods, changes } = podsStand
    ? { pods: previous.memo.pods, changes: [] }
    : renderPods(decision, previous?.memo.pods, address.memo, { familiesChanged, removed });
  const parts = { pods, addressSets: address.memo, addressPortSets: ports.memo };
  const { fragment, owners, uses } = previous
    ? reassemble(previous, parts, changes, {
        address: [...address.changed.keys(), ...address.removed],
        addressPort: [...ports.changed.keys(), ...ports.removed],
      })
    : assemble(parts);
  const hooks = previous?.hooks ?? { egress: hookRules("egress"), ingress: hookRules("ingress") };
  return { fragment, hooks, memo: { ...parts, podsSource: decision.pods, owners, uses } };
}
