// NetworkPolicy (networking.k8s.io/v1) as rules of the networkpolicy tier. A policy selects the
// local pods of its namespace that its podSelector picks; for each type in policyTypes those pods
// are isolated in that direction and each rule of that direction allows its peers and ports.
// Policies are additive. Rules of a direction missing from policyTypes have no effect (as upstream).
// Peers: podSelector alone = pods of the policy's namespace; namespaceSelector alone = every pod of
// the picked namespaces; both in one peer = pods picked by both (AND); separate peers are OR'ed;
// ipBlock = the CIDR minus its excepts, and pod IPs match it too.
import type { NetworkPolicy, NetworkPolicyPeer, NetworkPolicyRule } from "../store/objects.ts";
import { addressSetElements, type IpBlock, type Range } from "./address-sets.ts";
import {
  type ClusterView,
  memoized,
  type PolicyPod,
  selectLocalPods,
  selectPeerPods,
} from "./cluster-view.ts";
import type { DecisionBuilder } from "./decision-builder.ts";
import { emitRule } from "./emit-rule.ts";
import type { PolicyDirection } from "./types.ts";

const emptySelector = { matchLabels: {}, matchExpressions: [] };

/** The pods a selector peer picks (an ipBlock-only peer picks none). */
function peerPods(view: ClusterView, namespace: string, peer: NetworkPolicyPeer): PolicyPod[] {
  if (peer.namespaceSelector) {
    return selectPeerPods(view, { namespaceSelector: peer.namespaceSelector, podSelector: peer.podSelector });
  }
  if (peer.podSelector) return selectPeerPods(view, { namespace, podSelector: peer.podSelector });
  return [];
}

function rulePods(view: ClusterView, namespace: string, rule: NetworkPolicyRule): PolicyPod[] {
  // No peers: every destination, so named ports resolve against every pod in the cluster.
  if (rule.peers.length === 0) return selectPeerPods(view, { namespaceSelector: emptySelector });
  return rule.peers.flatMap((peer) => peerPods(view, namespace, peer));
}

function peerElements(
  view: ClusterView,
  np: NetworkPolicy,
  rule: NetworkPolicyRule,
  cache: Map<string, Range>,
) {
  return () =>
    memoized(view, `np peers ${np.namespace} ${JSON.stringify(rule.peers)}`, () => {
      const blocks: IpBlock[] = rule.peers.flatMap((p) => (p.ipBlock ? [p.ipBlock] : []));
      const addresses = rule.peers
        .flatMap((p) => peerPods(view, np.namespace, p))
        .flatMap((p) => p.pod.podIPs);
      return addressSetElements(addresses, blocks, cache);
    });
}

/** A named port in an egress rule whose peers are all ipBlocks resolves against no pod: say so. */
function reportUnresolvableNamedPorts(np: NetworkPolicy, out: DecisionBuilder): void {
  np.egress.forEach((rule, i) => {
    if (rule.peers.length === 0 || rule.peers.some((p) => p.podSelector || p.namespaceSelector)) return;
    rule.ports.forEach((port, j) => {
      if (typeof port.port !== "string") return;
      out.problem({
        kind: "NetworkPolicy",
        namespace: np.namespace,
        name: np.name,
        field: `spec.egress[${i}].ports[${j}].port`,
        message: `named port ${JSON.stringify(port.port)} matches nothing: the rule's peers are only ipBlocks, and named ports resolve against pods`,
      });
    });
  });
}

function compileDirection(
  view: ClusterView,
  np: NetworkPolicy,
  direction: PolicyDirection,
  selected: PolicyPod[],
  out: DecisionBuilder,
  cache: Map<string, Range>,
): void {
  const key = `${np.namespace}/${np.name}`;
  for (const pod of selected) {
    const entry = out.entry(pod, direction);
    entry.isolated = true;
    entry.selectedBy.add(`NetworkPolicy ${key}`);
  }
  const rules = direction === "ingress" ? np.ingress : np.egress;
  rules.forEach((rule, i) => {
    emitRule(
      view,
      out,
      {
        origin: `NetworkPolicy ${key} ${direction}[${i}]`,
        setId: `np ${key} ${direction} ${i}`,
        tier: "networkpolicy",
        verdict: "allow",
        direction,
        peerElements: rule.peers.length > 0 ? peerElements(view, np, rule, cache) : undefined,
        ports: rule.ports,
        namedPortPods: () => rulePods(view, np.namespace, rule),
        memoKey: () => `np ${np.namespace} ${JSON.stringify(rule.peers)}`,
      },
      selected,
    );
  });
}

export function compileNetworkPolicies(
  view: ClusterView,
  policies: NetworkPolicy[],
  out: DecisionBuilder,
  cache: Map<string, Range>,
): void {
  for (const np of policies) {
    reportUnresolvableNamedPorts(np, out);
    const selected = selectLocalPods(view, np.namespace, np.podSelector);
    if (selected.length === 0) continue;
    if (np.policyTypes.includes("Ingress")) compileDirection(view, np, "ingress", selected, out, cache);
    if (np.policyTypes.includes("Egress")) compileDirection(view, np, "egress", selected, out, cache);
  }
}
