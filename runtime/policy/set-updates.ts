// Peer sets after a few pod changes: only the sets a changed pod joins or leaves (or stays in with
// other addresses or ports) change. Address sets are patched; address-port sets, and address sets
// losing an address another pod still holds, are built again from their recipes.
import type { Pod } from "../store/objects.ts";
import { patchAddressSetElements } from "./address-sets.ts";
import { type ClusterView, type PodQuery, recordingReads } from "./cluster-view.ts";
import type { SetRecipe } from "./decision-builder.ts";
import type { PolicyChange } from "./pod-changes.ts";
import { matchesSelector } from "./selectors.ts";

export type NamespaceLabels = Map<string, Record<string, string>>;

function queryPicks(query: PodQuery, pod: Pod, labels: NamespaceLabels): boolean {
  if (query.namespaceSelector) {
    const nsLabels = labels.get(pod.namespace);
    if (!nsLabels || !matchesSelector(query.namespaceSelector, nsLabels)) return false;
  } else if ((query.namespace ?? "") !== pod.namespace) return false;
  return !query.podSelector || matchesSelector(query.podSelector, pod.labels);
}

function picks(reads: PodQuery[], pod: Pod | undefined, labels: NamespaceLabels): boolean {
  if (pod === undefined) return false;
  for (const q of reads) if (queryPicks(q, pod, labels)) return true;
  return false;
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
function moveOf(reads: PodQuery[], change: PolicyChange, labels: NamespaceLabels): Move | null {
  const before = picks(reads, change.before, labels);
  const after = picks(reads, change.after, labels);
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
export function patchAddresses(view: ClusterView, changes: PolicyChange[]): Patch<string> {
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
export function updateSets<E>(
  view: ClusterView,
  current: Map<string, E[]>,
  recipes: Map<string, SetRecipe<E>>,
  changes: PolicyChange[],
  labels: NamespaceLabels,
  patch?: Patch<E>,
): Map<string, E[]> {
  let out: Map<string, E[]> | null = null;
  for (const [id, recipe] of recipes) {
    const moves: Move[] = [];
    for (const c of changes) {
      const move = moveOf(recipe.reads, c, labels);
      if (move) moves.push(move);
    }
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
