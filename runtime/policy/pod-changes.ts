// Pod changes between two snapshots, as the incremental decider (incremental.ts) sees them, and
// how they move into the cluster view an evaluation was made over.
import type { Pod } from "../store/objects.ts";
import { type ClusterView, countHolders, isPolicyPod, type PolicyPod } from "./cluster-view.ts";

export interface PodChange {
  key: string;
  before?: Pod;
  after?: Pod;
}

/**
 * The pods whose object changed between two pod maps (updates and additions in `after`'s order,
 * then deletions); null when more than `limit` did. (Walking both maps side by side costs as much
 * as a lookup per key here, and allocates an iterator result per step.)
 */
export function changedPods(
  before: Map<string, Pod>,
  after: Map<string, Pod>,
  limit: number,
): PodChange[] | null {
  if (before === after) return [];
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

/** A pod change as policy sees it: only versions selectors can pick (with addresses, not finished). */
export interface PolicyChange {
  key: string;
  before?: Pod;
  after?: Pod;
  addressesOrPortsChanged: boolean;
}

export function policyChange(change: PodChange): PolicyChange {
  const before = change.before && isPolicyPod(change.before) ? change.before : undefined;
  const after = change.after && isPolicyPod(change.after) ? change.after : undefined;
  const addressesOrPortsChanged =
    before !== undefined &&
    after !== undefined &&
    (JSON.stringify(before.podIPs) !== JSON.stringify(after.podIPs) ||
      JSON.stringify(before.containerPorts) !== JSON.stringify(after.containerPorts));
  return { key: change.key, before, after, addressesOrPortsChanged };
}

function byKey(a: PolicyPod, b: PolicyPod): number {
  return a.key < b.key ? -1 : a.key > b.key ? 1 : 0;
}

function removeFrom(map: Map<string, PolicyPod[]>, namespace: string, key: string): void {
  const list = map.get(namespace) ?? [];
  const at = list.findIndex((p) => p.key === key);
  if (at >= 0) list.splice(at, 1);
}

/** Inserts keeping the list sorted by key. */
function insertSorted(list: PolicyPod[], entry: PolicyPod): void {
  let at = list.findIndex((p) => byKey(entry, p) < 0);
  if (at < 0) at = list.length;
  list.splice(at, 0, entry);
}

function insertInto(map: Map<string, PolicyPod[]>, namespace: string, entry: PolicyPod): void {
  const list = map.get(namespace);
  if (list) insertSorted(list, entry);
  else map.set(namespace, [entry]);
}

/** Moves one change into the view's peer and local pod lists and address holder counts. */
export function applyToView(view: ClusterView, change: PolicyChange, nodeName: string): void {
  const { before, after, key } = change;
  if (before) {
    removeFrom(view.peersByNamespace, before.namespace, key);
    countHolders(view, before, -1);
    if (before.nodeName === nodeName) {
      removeFrom(view.localPodsByNamespace, before.namespace, key);
      const at = view.localPods.findIndex((p) => p.key === key);
      if (at >= 0) view.localPods.splice(at, 1);
    }
  }
  if (after) {
    const entry = { key, pod: after };
    insertInto(view.peersByNamespace, after.namespace, entry);
    countHolders(view, after, 1);
    if (after.nodeName === nodeName) {
      insertInto(view.localPodsByNamespace, after.namespace, entry);
      insertSorted(view.localPods, entry);
    }
  }
}
