// ClusterNetworkPolicy (policy.networking.k8s.io/v1alpha2) as rules of the admin and baseline tiers.
// The subject picks local pods (namespaces, or namespaces AND pods); each rule of a direction becomes
// an ordered rule with its action: Accept -> allow, Deny -> deny, Pass -> pass (admin tier). Policies
// go in (priority, name) order, rules in spec order. A policy without rules in a direction does not
// affect it. Pass in the baseline tier skips the remaining baseline rules, which leaves only the
// default (allow), so it is written as allow. A peer type this code does not enforce makes the rule
// fail closed, as the API asks: an Accept rule matches nothing, a Deny or Pass rule denies all.
import type {
  ClusterNetworkPolicy,
  ClusterNetworkPolicyPeer,
  ClusterNetworkPolicyRule,
} from "../store/objects.ts";
import { addressSetElements, type Range } from "./address-sets.ts";
import {
  type ClusterView,
  memoized,
  type PolicyPod,
  selectLocalPodsAcross,
  selectPeerPods,
} from "./cluster-view.ts";
import type { DecisionBuilder } from "./decision-builder.ts";
import { emitRule } from "./emit-rule.ts";
import type { PolicyDirection, PolicyTier, PolicyVerdict } from "./types.ts";

/** The local pods a ClusterNetworkPolicy's subject picks. */
export function subjectPods(view: ClusterView, cnp: ClusterNetworkPolicy): PolicyPod[] {
  const { namespaces, pods } = cnp.subject;
  if (namespaces) return selectLocalPodsAcross(view, namespaces);
  if (pods) return selectLocalPodsAcross(view, pods.namespaceSelector, pods.podSelector);
  return [];
}

function peerPods(view: ClusterView, peer: ClusterNetworkPolicyPeer): PolicyPod[] {
  if (peer.namespaces) return selectPeerPods(view, { namespaceSelector: peer.namespaces });
  if (peer.pods) return selectPeerPods(view, peer.pods);
  return [];
}

function verdictOf(rule: ClusterNetworkPolicyRule, tier: PolicyTier): PolicyVerdict {
  if (rule.action === "Accept") return "allow";
  if (rule.action === "Deny") return "deny";
  return tier === "admin" ? "pass" : "allow";
}

/** Fail closed on unsupported peers; returns true when the rule was handled that way. */
function failClosed(
  cnp: ClusterNetworkPolicy,
  rule: ClusterNetworkPolicyRule,
  spec: { origin: string; tier: PolicyTier; direction: PolicyDirection },
  pods: PolicyPod[],
  out: DecisionBuilder,
): boolean {
  const unsupported = rule.peers.flatMap((p) => (p.unsupported ? [p.unsupported] : []));
  if (unsupported.length === 0) return false;
  const effect =
    rule.action === "Accept"
      ? "this Accept rule matches nothing"
      : `this ${rule.action} rule denies all ${spec.direction} traffic of the subject pods`;
  for (const field of unsupported) {
    out.problem({
      kind: "ClusterNetworkPolicy",
      namespace: "",
      name: cnp.name,
      field,
      message: `peer type not supported by wasmplane; enforced closed as the Network Policy API asks: ${effect}`,
    });
  }
  if (rule.action === "Accept") return true;
  for (const pod of pods) {
    out.entry(pod, spec.direction).tiers[spec.tier].push({
      tier: spec.tier,
      verdict: "deny",
      origin: spec.origin,
      ports: [],
    });
  }
  return true;
}

function compileDirection(
  view: ClusterView,
  cnp: ClusterNetworkPolicy,
  direction: PolicyDirection,
  pods: PolicyPod[],
  out: DecisionBuilder,
  cache: Map<string, Range>,
): void {
  const rules = direction === "ingress" ? cnp.ingress : cnp.egress;
  if (rules.length === 0) return;
  for (const pod of pods) out.entry(pod, direction).selectedBy.add(`ClusterNetworkPolicy ${cnp.name}`);
  const tier: PolicyTier = cnp.tier === "Admin" ? "admin" : "baseline";
  rules.forEach((rule, i) => {
    const origin = `ClusterNetworkPolicy ${cnp.name} ${direction}[${i}]`;
    if (failClosed(cnp, rule, { origin, tier, direction }, pods, out)) return;
    const selected = () => rule.peers.flatMap((p) => peerPods(view, p));
    emitRule(
      view,
      out,
      {
        origin,
        setId: `cnp ${cnp.name} ${direction} ${i}`,
        tier,
        verdict: verdictOf(rule, tier),
        direction,
        peerElements: () =>
          memoized(view, `cnp peers ${JSON.stringify(rule.peers)}`, () =>
            addressSetElements(
              selected().flatMap((p) => p.pod.podIPs),
              rule.peers.flatMap((p) => (p.networks ?? []).map((cidr) => ({ cidr, except: [] }))),
              cache,
            ),
          ),
        ports: rule.ports,
        namedPortPods: selected,
        memoKey: () => `cnp ${JSON.stringify(rule.peers)}`,
      },
      pods,
    );
  });
}

export function compileClusterNetworkPolicies(
  view: ClusterView,
  policies: ClusterNetworkPolicy[],
  out: DecisionBuilder,
  cache: Map<string, Range>,
): void {
  const ordered = [...policies].sort(
    (a, b) => a.priority - b.priority || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0),
  );
  for (const cnp of ordered) {
    const pods = subjectPods(view, cnp);
    compileDirection(view, cnp, "ingress", pods, out, cache);
    compileDirection(view, cnp, "egress", pods, out, cache);
  }
}
