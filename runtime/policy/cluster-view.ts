// The pods and namespaces policy is evaluated over, indexed once per evaluation.
//   local pods: on this node (spec.nodeName), not host-network, with IPs, not finished
//               (phase Succeeded or Failed): the pods this node enforces policy for;
//   peer pods:  the same conditions on any node: what pod and namespace selectors can match.
// A pod whose Namespace object is not (yet) in the snapshot has only the label the API server puts
// on every namespace, kubernetes.io/metadata.name, so `namespaceSelector` by name still matches it.
import type { LabelSelector, Pod, Snapshot } from "../store/objects.ts";
import { matchesSelector, selectorKey } from "./selectors.ts";

export const namespaceNameLabel = "kubernetes.io/metadata.name";

export interface PolicyPod {
  /** "namespace/name" */
  key: string;
  pod: Pod;
}

export interface ClusterView {
  /** Sorted by key. */
  localPods: PolicyPod[];
  localPodsByNamespace: Map<string, PolicyPod[]>;
  /** Peer pods by namespace, each list sorted by key. */
  peersByNamespace: Map<string, PolicyPod[]>;
  /** Every namespace that exists or holds a peer pod, with its labels; sorted by name. */
  namespaces: { name: string; labels: Record<string, string> }[];
  /** Selections already made in this evaluation, by selector text (many policies repeat selectors). */
  memo: Map<string, PolicyPod[]>;
  /**
   * Set contents already built in this evaluation, by what they were built from (rules of many
   * policies repeat the same peers): sets with equal sources share one read-only array. Each comes
   * with the pod queries its build read.
   */
  contents: Map<string, { value: unknown; reads: PodQuery[] }>;
  /**
   * While a set is built, `reads` collects the pod queries it reads (what a later pod change is
   * matched against). One object shared by every view made from this one (local-rules.ts).
   */
  recording: { reads: PodQuery[] | null };
  /** How many peer pods hold each address (an address leaves a set only when no picked pod holds it). */
  addressHolders: Map<string, number>;
}

/** `build()` once per `key` within one evaluation; a cached value still counts its reads. */
export function memoized<T>(view: ClusterView, key: string, build: () => T): T {
  const hit = view.contents.get(key);
  if (hit) {
    view.recording.reads?.push(...hit.reads);
    return hit.value as T;
  }
  const { value, reads } = recordingReads(view, build);
  view.contents.set(key, { value, reads });
  return value;
}

/** Runs `build` and returns what it made with the pod queries it read (also counted for any outer recording). */
export function recordingReads<T>(view: ClusterView, build: () => T): { value: T; reads: PodQuery[] } {
  const outer = view.recording.reads;
  const reads: PodQuery[] = [];
  view.recording.reads = reads;
  try {
    const value = build();
    return { value, reads };
  } finally {
    view.recording.reads = outer;
    outer?.push(...reads);
  }
}

/** A pod policy applies to and selectors can pick: it has addresses and is neither host-network nor finished. */
export function isPolicyPod(pod: Pod): boolean {
  return !pod.hostNetwork && pod.podIPs.length > 0 && pod.phase !== "Succeeded" && pod.phase !== "Failed";
}

/** Adds `delta` to the holder count of each of the pod's addresses. */
export function countHolders(view: ClusterView, pod: Pod, delta: number): void {
  for (const ip of pod.podIPs) {
    const n = (view.addressHolders.get(ip) ?? 0) + delta;
    if (n === 0) view.addressHolders.delete(ip);
    else view.addressHolders.set(ip, n);
  }
}

function push(map: Map<string, PolicyPod[]>, namespace: string, pod: PolicyPod): void {
  const list = map.get(namespace);
  if (list) list.push(pod);
  else map.set(namespace, [pod]);
}

export function buildClusterView(snapshot: Snapshot, nodeName: string): ClusterView {
  const pods = [...snapshot.pods.entries()]
    .filter(([, pod]) => isPolicyPod(pod))
    .map(([key, pod]) => ({ key, pod }))
    .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  const view: ClusterView = {
    localPods: [],
    localPodsByNamespace: new Map(),
    peersByNamespace: new Map(),
    namespaces: [],
    memo: new Map(),
    contents: new Map(),
    recording: { reads: null },
    addressHolders: new Map(),
  };
  for (const p of pods) {
    push(view.peersByNamespace, p.pod.namespace, p);
    countHolders(view, p.pod, 1);
    if (p.pod.nodeName === nodeName) {
      view.localPods.push(p);
      push(view.localPodsByNamespace, p.pod.namespace, p);
    }
  }
  const names = new Set([...snapshot.namespaces.keys(), ...view.peersByNamespace.keys()]);
  view.namespaces = [...names].sort().map((name) => ({
    name,
    labels: snapshot.namespaces.get(name)?.labels ?? { [namespaceNameLabel]: name },
  }));
  return view;
}

/** Namespaces a selector picks (all of them for an empty selector), by name. */
export function selectNamespaces(view: ClusterView, selector: LabelSelector): string[] {
  return view.namespaces.filter((ns) => matchesSelector(selector, ns.labels)).map((ns) => ns.name);
}

export interface PodQuery {
  /** Pods in the namespaces this selects; absent: only in `namespace`. */
  namespaceSelector?: LabelSelector;
  /** Used when there is no namespaceSelector (a NetworkPolicy's own namespace). */
  namespace?: string;
  /** Absent: every pod of those namespaces. */
  podSelector?: LabelSelector;
}

/** Peer pods (cluster-wide) a query picks, sorted by namespace then name; memoised per evaluation. */
export function selectPeerPods(view: ClusterView, query: PodQuery): PolicyPod[] {
  const memoKey = JSON.stringify([
    query.namespaceSelector ? selectorKey(query.namespaceSelector) : `=${query.namespace ?? ""}`,
    query.podSelector ? selectorKey(query.podSelector) : "*",
  ]);
  view.recording.reads?.push(query);
  const cached = view.memo.get(memoKey);
  if (cached) return cached;
  const namespaces = query.namespaceSelector
    ? selectNamespaces(view, query.namespaceSelector)
    : [query.namespace ?? ""];
  const selected: PolicyPod[] = [];
  for (const ns of namespaces) {
    for (const p of view.peersByNamespace.get(ns) ?? []) {
      if (!query.podSelector || matchesSelector(query.podSelector, p.pod.labels)) selected.push(p);
    }
  }
  view.memo.set(memoKey, selected);
  return selected;
}

/** Local pods of one namespace that a pod selector picks. */
export function selectLocalPods(
  view: ClusterView,
  namespace: string,
  podSelector: LabelSelector,
): PolicyPod[] {
  return (view.localPodsByNamespace.get(namespace) ?? []).filter((p) =>
    matchesSelector(podSelector, p.pod.labels),
  );
}

/** Local pods in the namespaces `namespaceSelector` picks whose labels `podSelector` picks. */
export function selectLocalPodsAcross(
  view: ClusterView,
  namespaceSelector: LabelSelector,
  podSelector?: LabelSelector,
): PolicyPod[] {
  const out: PolicyPod[] = [];
  for (const ns of selectNamespaces(view, namespaceSelector)) {
    for (const p of view.localPodsByNamespace.get(ns) ?? []) {
      if (!podSelector || matchesSelector(podSelector, p.pod.labels)) out.push(p);
    }
  }
  return out;
}
