// The node's own rules for pod traffic, as one fragment of the `inet wasmplane` table (merged with
// the service rules into one transaction by the agent). Pure: attachments and CIDRs in, chains and
// sets out.
//
//   pod-prerouting (filter, prerouting, raw)   anti-spoofing: from a pod veth, the source must be
//                                              one of that pod's addresses (set pod-ifaddr4/6)
//   pod-input      (filter, input)             pod → node: egress policy hook
//   pod-forward    (filter, forward)           policy hooks, then accept pod traffic
//   pod-postrouting (nat, postrouting, srcnat) masquerade local pods leaving the cluster CIDRs
//   pod-egress-hook, pod-ingress-hook          jump targets for NetworkPolicy (empty unless given);
//                                              their bodies come from runtime/policy/render.ts, which
//                                              returns (allow) or drops: an egress allow must still
//                                              reach the ingress hook, so no hook rule may accept

import {
  accept,
  anonSet,
  baseChain,
  chain,
  cidr,
  commentedRule,
  concat,
  counter,
  drop,
  element,
  jump,
  masquerade,
  match,
  meta,
  namedSet,
  notMatch,
  payload,
  ret,
  rule,
  setRef,
} from "../../nft/build.ts";
import {
  addChain,
  addSet,
  type DesiredChain,
  type DesiredRule,
  type DesiredSet,
  emptyFragment,
  type TableFragment,
} from "../../nft/desired.ts";
import { ipFamily, parseCidr } from "../net/cidr.ts";
import { HOST_IF_PREFIX } from "./attachment.ts";

export interface NodeAttachment {
  /** The node side of the pod's veth. */
  hostInterface: string;
  addresses: string[];
}

export interface NodeRulesInput {
  attachments: NodeAttachment[];
  /** This node's pod CIDRs: sources that are masqueraded when leaving the cluster. */
  podCIDRs: string[];
  /** The whole cluster's pod CIDRs (all nodes); absent or empty: the node's own pod CIDRs. */
  clusterCIDRs?: string[];
  /** Default true. */
  masquerade?: boolean;
  /** Rules for the NetworkPolicy hooks (e.g. jumps into `pol-…` chains). */
  hooks?: { egress?: DesiredRule[]; ingress?: DesiredRule[] };
}

export const NODE_RULE_NAMES = {
  ifaddr4: "pod-ifaddr4",
  ifaddr6: "pod-ifaddr6",
  prerouting: "pod-prerouting",
  antispoof: "pod-antispoof",
  input: "pod-input",
  forward: "pod-forward",
  postrouting: "pod-postrouting",
  egressHook: "pod-egress-hook",
  ingressHook: "pod-ingress-hook",
} as const;

/** Every pod veth on the node, whether or not it is known yet: unknown ones fail closed. */
const POD_INTERFACES = `${HOST_IF_PREFIX}*`;

function cidrsOfFamily(cidrs: string[], family: 4 | 6): string[] {
  return cidrs
    .map((c) => parseCidr(c))
    .filter((c) => c.family === family)
    .map((c) => c.text);
}

export function planNodeRules(input: NodeRulesInput): TableFragment {
  const fragment = emptyFragment();
  for (const set of addressSets(input.attachments)) addSet(fragment, set);
  for (const c of filterChains(input.hooks)) addChain(fragment, c);
  addChain(
    fragment,
    baseChain(
      NODE_RULE_NAMES.postrouting,
      { type: "nat", hook: "postrouting", priority: "srcnat", policy: "accept" },
      input.masquerade !== false ? masqueradeRules(input) : [],
    ),
  );
  return fragment;
}

/** pod-ifaddr4/6: each pod veth with the addresses its pod may send from. */
function addressSets(attachments: NodeAttachment[]): DesiredSet[] {
  const v4: [string, string][] = [];
  const v6: [string, string][] = [];
  for (const a of attachments) {
    if (!a.hostInterface.startsWith(HOST_IF_PREFIX))
      throw new Error(
        `node rules: attachment interface '${a.hostInterface}' does not start with ${HOST_IF_PREFIX}`,
      );
    for (const ip of a.addresses) (ipFamily(ip) === 4 ? v4 : v6).push([a.hostInterface, ip]);
  }
  const byKey = (x: [string, string], y: [string, string]) => (x.join() < y.join() ? -1 : 1);
  const elements = (pairs: [string, string][]) =>
    pairs.sort(byKey).map(([ifname, ip]) => element(concat(ifname, ip)));
  return [
    namedSet(NODE_RULE_NAMES.ifaddr4, ["ifname", "ipv4_addr"], elements(v4), {
      comment: "pod veth . pod IPv4 address",
    }),
    namedSet(NODE_RULE_NAMES.ifaddr6, ["ifname", "ipv6_addr"], elements(v6), {
      comment: "pod veth . pod IPv6 address",
    }),
  ];
}

/** Anti-spoofing, the policy hooks and the accept rules for pod traffic. */
function filterChains(hooks: NodeRulesInput["hooks"]): DesiredChain[] {
  const n = NODE_RULE_NAMES;
  const fromPod = match(meta("iifname"), POD_INTERFACES);
  const toPod = match(meta("oifname"), POD_INTERFACES);
  return [
    baseChain(n.prerouting, { type: "filter", hook: "prerouting", priority: "raw", policy: "accept" }, [
      rule(fromPod, jump(n.antispoof)),
    ]),
    chain(n.antispoof, [
      rule(match(concat(meta("iifname"), payload("ip", "saddr")), setRef(n.ifaddr4)), ret()),
      rule(match(concat(meta("iifname"), payload("ip6", "saddr")), setRef(n.ifaddr6)), ret()),
      // Neighbour discovery and DAD from the pod to its gateway: link-local or unspecified source.
      rule(match(payload("ip6", "saddr"), anonSet(cidr("fe80::/10"), cidr("::/128"))), ret()),
      commentedRule("spoofed source address", counter(), drop()),
    ]),
    chain(n.egressHook, hooks?.egress ?? []),
    chain(n.ingressHook, hooks?.ingress ?? []),
    baseChain(n.input, { type: "filter", hook: "input", priority: "filter", policy: "accept" }, [
      rule(fromPod, jump(n.egressHook)),
    ]),
    baseChain(n.forward, { type: "filter", hook: "forward", priority: "filter", policy: "accept" }, [
      rule(fromPod, jump(n.egressHook)),
      rule(toPod, jump(n.ingressHook)),
      rule(fromPod, accept()),
      rule(toPod, accept()),
    ]),
  ];
}

/** Masquerade this node's pods when they leave the cluster CIDRs (not towards another local pod). */
function masqueradeRules(input: NodeRulesInput): DesiredRule[] {
  const cluster = input.clusterCIDRs?.length ? input.clusterCIDRs : input.podCIDRs;
  const rules: DesiredRule[] = [];
  for (const family of [4, 6] as const) {
    const local = cidrsOfFamily(input.podCIDRs, family);
    const all = cidrsOfFamily(cluster, family);
    if (local.length === 0) continue;
    const proto = family === 4 ? "ip" : "ip6";
    rules.push(
      rule(
        match(payload(proto, "saddr"), anonSet(...local.map(cidr))),
        ...(all.length > 0 ? [notMatch(payload(proto, "daddr"), anonSet(...all.map(cidr)))] : []),
        notMatch(meta("oifname"), POD_INTERFACES),
        masquerade(),
      ),
    );
  }
  return rules;
}
