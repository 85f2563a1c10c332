// One policy rule, as PolicyRules for each pod it applies to. Shared by NetworkPolicy and
// ClusterNetworkPolicy: both have peers (one shared address set per rule) and ports (numbers,
// ranges, every port of a protocol, or container port names).
//   ingress: a named port is resolved against the pod the rule protects (the destination); a rule
//            whose ports all fail to resolve matches nothing for that pod and is left out;
//   egress:  a named port is resolved per destination pod into an address-port set (one per rule);
//            numeric ports stay with the peer set, so such a rule can become two PolicyRules.
import { type ClusterView, memoized, type PolicyPod } from "./cluster-view.ts";
import type { DecisionBuilder } from "./decision-builder.ts";
import {
  isNamedPort,
  namedPortTargets,
  numericRange,
  type PolicyPort,
  resolveNamedPort,
  sortAddressPorts,
  sortPortRanges,
} from "./ports.ts";
import type { AddressPort, PolicyDirection, PolicyRule, PolicyTier, PolicyVerdict } from "./types.ts";

export interface RuleSpec {
  /** `NetworkPolicy x/allow-a ingress[0]`. */
  origin: string;
  /** Set id prefix naming where the sets come from: `np x/allow-a ingress 0`. */
  setId: string;
  tier: PolicyTier;
  verdict: PolicyVerdict;
  direction: PolicyDirection;
  /** Absent: every address. Otherwise builds the peer set's elements (called at most once). */
  peerElements?: () => string[];
  ports: PolicyPort[];
  /** Egress: the pods whose named ports this rule's named ports resolve against. */
  namedPortPods: () => PolicyPod[];
  /**
   * Identifies what namedPortPods selects, so rules with the same peers share the resolution work
   * (made only when a named-port set is built).
   */
  memoKey: () => string;
}

function egressNamedTargets(spec: RuleSpec, named: (PolicyPort & { port: string })[]): AddressPort[] {
  const out: AddressPort[] = [];
  for (const p of spec.namedPortPods()) {
    for (const n of named) out.push(...namedPortTargets(n, p.pod.podIPs, p.pod.containerPorts));
  }
  return sortAddressPorts(out);
}

export function emitRule(view: ClusterView, out: DecisionBuilder, spec: RuleSpec, pods: PolicyPod[]): void {
  const numeric = spec.ports.filter((p) => !isNamedPort(p)).map(numericRange);
  const named = spec.ports.filter(isNamedPort);
  const base = { tier: spec.tier, verdict: spec.verdict, origin: spec.origin };
  const peers = () => (spec.peerElements ? { peers: out.addressSet(spec.setId, spec.peerElements) } : {});
  for (const pod of pods) {
    const rules = out.entry(pod, spec.direction).tiers[spec.tier];
    if (spec.direction === "ingress") {
      const ranges = [...numeric, ...named.flatMap((p) => resolveNamedPort(p, pod.pod.containerPorts))];
      if (spec.ports.length > 0 && ranges.length === 0) continue;
      rules.push({ ...base, ...peers(), ports: sortPortRanges(ranges) });
      continue;
    }
    if (spec.ports.length === 0 || numeric.length > 0) {
      rules.push({ ...base, ...peers(), ports: sortPortRanges(numeric) });
    }
    if (named.length > 0) {
      const id = out.addressPortSet(`${spec.setId} named-ports`, () =>
        memoized(view, `named ${spec.memoKey()} ${JSON.stringify(named)}`, () =>
          egressNamedTargets(spec, named),
        ),
      );
      const rule: PolicyRule = { ...base, ports: [], addressPorts: id };
      rules.push(rule);
    }
  }
}
