// Op 1: for each asked pod, the sets of the full decision (every local pod) whose pod peers pick it,
// so the host can add or remove that pod's addresses after a label change without re-deciding. A set
// exists when some local pod is selected by its policy; ids as rules.ts names them. Address blocks do
// not count (membership by address does not change with labels).
import {
  ClusterPolicy,
  EGRESS,
  INGRESS,
  Memberships,
  NetworkPolicy,
  Peer,
  Pod,
  PORT_NAMED,
  PROTOCOL_ANY,
  Rule,
  World,
} from "../../sdk/policy";
import { unsupportedPeers } from "./problems";
import { directionName } from "./rules";
import { isPeerCandidate, peerPicks } from "./select";

const CLUSTER: u32 = u32.MAX_VALUE;

function isLocal(world: World, pod: Pod): bool {
  return pod.nodeName == world.nodeName && pod.ips.length > 0 && isPeerCandidate(pod);
}

/** Whether a subject or NetworkPolicy selects at least one local pod. */
function selectsLocal(world: World, np: NetworkPolicy | null, subject: Peer | null): bool {
  for (let i = 0; i < world.pods.length; i++) {
    const pod = unchecked(world.pods[i]);
    if (!isLocal(world, pod)) continue;
    if (np !== null && pod.namespace == np.namespace && np.podSelector.matches(pod.labels)) return true;
    if (subject !== null && peerPicks(world, subject, pod, CLUSTER)) return true;
  }
  return false;
}

function picked(world: World, rule: Rule, pod: Pod, ownNamespace: u32): bool {
  for (let i = 0; i < rule.peers.length; i++) {
    const peer = unchecked(rule.peers[i]);
    if (!peer.isBlock && !peer.isUnsupported && peerPicks(world, peer, pod, ownNamespace)) return true;
  }
  return false;
}

function hasNamedPort(rule: Rule, pod: Pod): bool {
  for (let i = 0; i < rule.ports.length; i++) {
    const p = unchecked(rule.ports[i]);
    if (p.form != PORT_NAMED) continue;
    for (let j = 0; j < pod.portNames.length; j++) {
      if (unchecked(pod.portNames[j]) != p.name) continue;
      if (p.protocol == PROTOCOL_ANY || p.protocol == unchecked(pod.portProtocols[j])) return true;
    }
  }
  return false;
}

/** The memberships of `pod` in the sets of one policy's rules of one direction. */
function ruleMemberships(
  world: World,
  rules: Rule[],
  prefix: string,
  direction: u8,
  ownNamespace: u32,
  pod: Pod,
  out: Memberships,
): void {
  for (let r = 0; r < rules.length; r++) {
    const rule = unchecked(rules[r]);
    if (unsupportedPeers(world, rule).length > 0) continue;
    const id = prefix + " " + directionName(direction) + " " + r.toString();
    const inPeers = picked(world, rule, pod, ownNamespace);
    if (inPeers) out.inAddressSet(id);
    if (direction == EGRESS && (rule.peers.length == 0 || inPeers) && hasNamedPort(rule, pod)) {
      out.inAddressPortSet(id + " named-ports");
    }
  }
}

/** The policies whose sets exist (they select a local pod), computed once per call. */
class Live {
  networkPolicies: NetworkPolicy[] = [];
  clusterPolicies: ClusterPolicy[] = [];
  constructor(world: World) {
    for (let i = 0; i < world.networkPolicies.length; i++) {
      const np = unchecked(world.networkPolicies[i]);
      if (selectsLocal(world, np, null)) this.networkPolicies.push(np);
    }
    for (let i = 0; i < world.clusterPolicies.length; i++) {
      const c = unchecked(world.clusterPolicies[i]);
      if (selectsLocal(world, null, c.subject)) this.clusterPolicies.push(c);
    }
  }
}

/** The membership function (op 1). */
export function memberships(world: World, pods: i32[], out: Memberships): void {
  const live = new Live(world);
  for (let i = 0; i < pods.length; i++) {
    out.beginPod();
    const pod = unchecked(world.pods[unchecked(pods[i])]);
    if (!isPeerCandidate(pod) || pod.ips.length == 0) continue;
    for (let n = 0; n < live.networkPolicies.length; n++) {
      const np = unchecked(live.networkPolicies[n]);
      const prefix = "np " + world.text(np.namespace) + "/" + world.text(np.name);
      if (np.types & 1) ruleMemberships(world, np.ingress, prefix, INGRESS, np.namespace, pod, out);
      if (np.types & 2) ruleMemberships(world, np.egress, prefix, EGRESS, np.namespace, pod, out);
    }
    for (let c = 0; c < live.clusterPolicies.length; c++) {
      const cp = unchecked(live.clusterPolicies[c]);
      const prefix = "cnp " + world.text(cp.name);
      ruleMemberships(world, cp.ingress, prefix, INGRESS, CLUSTER, pod, out);
      ruleMemberships(world, cp.egress, prefix, EGRESS, CLUSTER, pod, out);
    }
  }
}
