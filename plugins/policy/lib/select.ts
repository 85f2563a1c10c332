// Which pods a peer picks. Selections are memoised per call by the peer's selectors (policies repeat
// selectors a lot), and unions of several peers are built with a stamp per pod instead of a hash set.
import { Peer, Pod, POD_HOST_NETWORK, POD_TERMINATED, Selector, World } from "../../sdk/policy";

/** Host-network pods carry the node's addresses and finished pods may have given theirs away. */
export function isPeerCandidate(pod: Pod): bool {
  return (pod.flags & (POD_HOST_NETWORK | POD_TERMINATED)) == 0;
}

/**
 * Whether a pod peer picks `pod`. `ownNamespace` is the policy's namespace for a NetworkPolicy peer
 * (an absent namespaceSelector means that namespace), or u32.MAX_VALUE for a cluster policy.
 */
export function peerPicks(world: World, peer: Peer, pod: Pod, ownNamespace: u32): bool {
  const nsSel = peer.namespaceSelector;
  if (nsSel === null) {
    if (pod.namespace != ownNamespace) return false;
  } else if (!nsSel.matches(world.namespaceLabels(pod))) return false;
  const podSel = peer.podSelector;
  return podSel === null || podSel.matches(pod.labels);
}

/** A selector as text of its string indices: equal text, equal selection. */
function selectorKey(s: Selector): string {
  let key = "";
  const ml = s.matchLabels;
  for (let i = 0; i < ml.keys.length; i++) {
    key += unchecked(ml.keys[i]).toString() + "=" + unchecked(ml.values[i]).toString() + ",";
  }
  for (let i = 0; i < s.expressions.length; i++) {
    const e = unchecked(s.expressions[i]);
    key += ";" + e.key.toString() + " " + e.op.toString();
    for (let j = 0; j < e.values.length; j++) key += " " + unchecked(e.values[j]).toString();
  }
  return key;
}

/** Per-call indexes over the world: pods by namespace, memoised selections, union stamps. */
export class Index {
  podsByNamespace: Map<u32, i32[]> = new Map();
  private memo: Map<string, i32[]> = new Map();
  private stamps: StaticArray<i32>;
  private stamp: i32 = 0;

  constructor(public world: World) {
    this.stamps = new StaticArray<i32>(world.pods.length);
    const pods = world.pods;
    for (let i = 0; i < pods.length; i++) {
      const pod = unchecked(pods[i]);
      if (!isPeerCandidate(pod)) continue;
      if (!this.podsByNamespace.has(pod.namespace)) this.podsByNamespace.set(pod.namespace, []);
      this.podsByNamespace.get(pod.namespace).push(i);
    }
  }

  private inNamespace(ns: u32): i32[] {
    return this.podsByNamespace.has(ns) ? this.podsByNamespace.get(ns) : EMPTY;
  }

  /** Candidate pods a pod peer picks, in world order; the same array for the same selectors. */
  select(peer: Peer, ownNamespace: u32): i32[] {
    const nsSel = peer.namespaceSelector;
    const podSel = peer.podSelector;
    const key = (nsSel === null ? "=" + ownNamespace.toString() : selectorKey(nsSel)) + "|" +
      (podSel === null ? "*" : selectorKey(podSel));
    if (this.memo.has(key)) return this.memo.get(key);
    const picked: i32[] = [];
    const world = this.world;
    if (nsSel === null) {
      const pods = this.inNamespace(ownNamespace);
      for (let i = 0; i < pods.length; i++) {
        const p = unchecked(pods[i]);
        if (podSel === null || podSel.matches(unchecked(world.pods[p]).labels)) picked.push(p);
      }
    } else {
      for (let p = 0; p < world.pods.length; p++) {
        const pod = unchecked(world.pods[p]);
        if (isPeerCandidate(pod) && peerPicks(world, peer, pod, ownNamespace)) picked.push(p);
      }
    }
    this.memo.set(key, picked);
    return picked;
  }

  /** Every candidate pod, in world order. */
  all(): i32[] {
    const key = "all";
    if (this.memo.has(key)) return this.memo.get(key);
    const picked: i32[] = [];
    for (let p = 0; p < this.world.pods.length; p++) {
      if (isPeerCandidate(unchecked(this.world.pods[p]))) picked.push(p);
    }
    this.memo.set(key, picked);
    return picked;
  }

  /** The pods of the rule's pod peers (union, no duplicates); shared, do not change the result. */
  peerPods(peers: Peer[], ownNamespace: u32): i32[] {
    let only: i32[] | null = null;
    let lists = 0;
    for (let i = 0; i < peers.length; i++) {
      const peer = unchecked(peers[i]);
      if (peer.isBlock || peer.isUnsupported) continue;
      only = this.select(peer, ownNamespace);
      lists++;
    }
    if (lists == 0) return EMPTY;
    if (lists == 1) return only!;
    const stamp = ++this.stamp;
    const union: i32[] = [];
    for (let i = 0; i < peers.length; i++) {
      const peer = unchecked(peers[i]);
      if (peer.isBlock || peer.isUnsupported) continue;
      const pods = this.select(peer, ownNamespace);
      for (let j = 0; j < pods.length; j++) {
        const p = unchecked(pods[j]);
        if (unchecked(this.stamps[p]) == stamp) continue;
        unchecked((this.stamps[p] = stamp));
        union.push(p);
      }
    }
    return union;
  }
}

const EMPTY: i32[] = [];
