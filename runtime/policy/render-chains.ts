// The chains of one pod and direction, and the bodies of the two policy hook chains: the rule
// shapes of runtime/policy/render.ts (see there for the whole picture).
//
//   pol-i-H / pol-e-H  the pod itself → return; admin tier (allow → return, deny → drop, pass →
//                      goto pol-…-np); networkpolicy tier (allow → return, isolated: drop);
//                      baseline tier (allow → return, deny → drop); the end returns
//
// One PolicyRule becomes one nft rule per IP family of the pod (only when it names addresses), per
// part of its peer set (single addresses, CIDRs) and per protocol of its ports.
import {
  anonSet,
  concat,
  counter,
  ct,
  drop,
  flags,
  goto,
  match,
  meta,
  payload,
  range,
  ret,
  rule,
  setRef,
  vmap,
} from "../../nft/build.ts";
import type { DesiredChain, DesiredRule } from "../../nft/desired.ts";
import type { Expression, Statement } from "../../nft/model.ts";
import { canonicalIp, ipFamily, ipToBigInt } from "../net/cidr.ts";
import {
  ADDRESS_FAMILIES,
  type AddressFamily,
  addressPortSetName,
  addressSetName,
  dispatchMapName,
  nftComment,
  podChainName,
  podPassChainName,
} from "./render-names.ts";
import { checkPort, hasNetworks, nftProtocol } from "./render-sets.ts";
import type { PodDirectionPolicy, PolicyDecision, PolicyDirection, PolicyRule, PortRange } from "./types.ts";

const L3 = { 4: "ip", 6: "ip6" } as const;
const PROTOCOL_ORDER = ["tcp", "udp", "sctp"] as const;
const TIERS: PolicyRule["tier"][] = ["admin", "networkpolicy", "baseline"];

interface PodContext {
  where: string;
  direction: PolicyDirection;
  decision: PolicyDecision;
  /** The pod's own addresses per family (families without addresses get no rules). */
  own: Record<AddressFamily, string[]>;
  passChain: string;
}

/** One rule's destination-port condition per protocol: `meta l4proto P th dport …`. */
function portConditions(ports: PortRange[], where: string): Statement[][] {
  const byProtocol = new Map<string, [number, number][]>();
  ports.forEach((p, i) => {
    const proto = nftProtocol(p.protocol, `${where}.ports[${i}]`);
    // first 0 with last 65535 is how a decision says "every port of this protocol".
    if (p.first !== 0) checkPort(p.first, `${where}.ports[${i}].first`);
    checkPort(p.last, `${where}.ports[${i}].last`);
    if (p.last < p.first) throw new Error(`${where}.ports[${i}]: last ${p.last} is below first ${p.first}`);
    const list = byProtocol.get(proto) ?? [];
    list.push([p.first, p.last]);
    byProtocol.set(proto, list);
  });
  const out: Statement[][] = [];
  for (const proto of PROTOCOL_ORDER) {
    const list = byProtocol.get(proto);
    if (!list) continue;
    // Merged and sorted: an anonymous interval set refuses overlaps, and equal ports render equal.
    const merged: [number, number][] = [];
    for (const [first, last] of list.sort((a, b) => a[0] - b[0])) {
      const top = merged[merged.length - 1];
      if (top && first <= top[1] + 1) top[1] = Math.max(top[1], last);
      else merged.push([first, last]);
    }
    if (merged[0][0] === 0 && merged[0][1] === 65535) {
      out.push([match(meta("l4proto"), proto)]);
      continue;
    }
    if (merged[0][0] === 0) merged[0][0] = 1;
    const items: Expression[] = merged.map(([f, l]) => (f === l ? f : range(f, l)));
    const value = items.length === 1 ? items[0] : anonSet(...items);
    out.push([match(meta("l4proto"), proto), match(payload("th", "dport"), value)]);
  }
  return out;
}

/** The peer condition per family: one alternative per named set (single addresses, CIDRs). */
function peerConditions(r: PolicyRule, ctx: PodContext, family: AddressFamily, where: string): Statement[][] {
  if (r.peers === undefined) return [[]];
  const entries = ctx.decision.addressSets.get(r.peers);
  if (!entries) throw new Error(`${where}.peers: unknown address set "${r.peers}"`);
  const peer = payload(L3[family], ctx.direction === "ingress" ? "saddr" : "daddr");
  // The CIDR set only where the set has CIDRs of the family (they come from the policy's ipBlocks,
  // so this changes with the policy, never with a pod's labels).
  const parts = hasNetworks(entries, family) ? (["h", "n"] as const) : (["h"] as const);
  return parts.map((part) => [match(peer, setRef(addressSetName(r.peers!, family, part)))]);
}

function addressPortCondition(
  r: PolicyRule,
  ctx: PodContext,
  family: AddressFamily,
  where: string,
): Statement[] {
  if (r.addressPorts === undefined) return [];
  if (!ctx.decision.addressPortSets.has(r.addressPorts))
    throw new Error(`${where}.addressPorts: unknown address-port set "${r.addressPorts}"`);
  const key = concat(payload(L3[family], "daddr"), meta("l4proto"), payload("th", "dport"));
  return [match(key, setRef(addressPortSetName(r.addressPorts, family)))];
}

function verdictStatements(r: PolicyRule, ctx: PodContext, where: string): Statement[] {
  const allowed: Record<PolicyRule["tier"], PolicyRule["verdict"][]> = {
    admin: ["allow", "deny", "pass"],
    networkpolicy: ["allow"],
    baseline: ["allow", "deny"],
  };
  if (!allowed[r.tier].includes(r.verdict))
    throw new Error(`${where}.verdict: "${r.verdict}" is not allowed in the ${r.tier} tier`);
  if (r.verdict === "allow") return [ret()];
  if (r.verdict === "deny") return [counter(), drop()];
  return [goto(ctx.passChain)];
}

/** One PolicyRule as nft rules: per family of the pod, per peer set part, per protocol. */
function renderRule(r: PolicyRule, index: number, ctx: PodContext): DesiredRule[] {
  const where = `${ctx.where} rules[${index}]`;
  const ports = portConditions(r.ports ?? [], where);
  const verdict = verdictStatements(r, ctx, where);
  const comment = nftComment(r.origin);
  const out: DesiredRule[] = [];
  // A rule without addresses is the same for both families: render it once.
  const anyFamily = r.peers === undefined && r.addressPorts === undefined;
  for (const family of anyFamily ? [ADDRESS_FAMILIES[0]] : ADDRESS_FAMILIES) {
    if (!anyFamily && ctx.own[family].length === 0) continue;
    const addressPorts = addressPortCondition(r, ctx, family, where);
    for (const peer of peerConditions(r, ctx, family, where))
      for (const port of ports.length > 0 ? ports : [[]])
        out.push({ expr: [...peer, ...addressPorts, ...port, ...verdict], comment });
  }
  return out;
}

/** A pod always reaches itself (hairpin through a Service comes back through the node). */
function selfRules(ctx: PodContext): DesiredRule[] {
  const field = ctx.direction === "ingress" ? "saddr" : "daddr";
  return ADDRESS_FAMILIES.filter((f) => ctx.own[f].length > 0).map((family) => {
    const own = ctx.own[family];
    const value = own.length === 1 ? own[0] : anonSet(...own);
    return { expr: [match(payload(L3[family], field), value), ret()], comment: "the pod itself" };
  });
}

function podContext(p: PodDirectionPolicy, decision: PolicyDecision): PodContext {
  const where = `policy of pod ${p.pod} ${p.direction}`;
  const own: Record<AddressFamily, string[]> = { 4: [], 6: [] };
  p.addresses.forEach((a, i) => {
    let text: string;
    try {
      text = canonicalIp(a);
    } catch (err) {
      throw new Error(`${where} addresses[${i}]: ${(err as Error).message}`);
    }
    if (!own[ipFamily(text)].includes(text)) own[ipFamily(text)].push(text);
  });
  for (const f of ADDRESS_FAMILIES) own[f].sort((a, b) => (ipToBigInt(a) < ipToBigInt(b) ? -1 : 1));
  return { where, direction: p.direction, decision, own, passChain: podPassChainName(p.direction, p.pod) };
}

/** The pod's chain, plus the networkpolicy/baseline chain when an admin rule passes to it. */
function podChains(p: PodDirectionPolicy, ctx: PodContext): DesiredChain[] {
  const indexed = p.rules.map((r, i) => ({ r, i }));
  for (const { r, i } of indexed)
    if (!TIERS.includes(r.tier))
      throw new Error(`${ctx.where} rules[${i}].tier: "${r.tier}" is not admin, networkpolicy or baseline`);
  const tier = (t: PolicyRule["tier"]) =>
    indexed.filter((x) => x.r.tier === t).flatMap((x) => renderRule(x.r, x.i, ctx));
  const admin = tier("admin");
  const rest = tier("networkpolicy");
  if (p.isolated)
    rest.push({
      expr: [counter(), drop()],
      comment: nftComment(`isolated for ${p.direction}: no NetworkPolicy allows it`),
    });
  rest.push(...tier("baseline"));
  const name = podChainName(p.direction, p.pod);
  const comment = nftComment(`${p.direction} policy of pod ${p.pod}`);
  const head = [...selfRules(ctx), ...admin];
  if (!p.rules.some((r) => r.tier === "admin" && r.verdict === "pass"))
    return [{ name, rules: [...head, ...rest], comment }];
  return [
    { name, rules: [...head, rule(goto(ctx.passChain))], comment },
    {
      name: ctx.passChain,
      rules: rest,
      comment: nftComment(`${p.direction} policy of pod ${p.pod}, after pass`),
    },
  ];
}

/** The body of pod-egress-hook or pod-ingress-hook. */
export function hookRules(direction: PolicyDirection): DesiredRule[] {
  const field = direction === "ingress" ? "daddr" : "saddr";
  const rules: DesiredRule[] = [
    {
      expr: [match(ct("state"), flags("established", "related")), ret()],
      comment: "replies and related traffic",
    },
  ];
  // Neighbour discovery from a pod to its gateway (the input path; hop limit 255 is never
  // forwarded, the kernel decrements it before the forward hook). It is not tracked as a connection.
  if (direction === "egress")
    rules.push({
      expr: [match(meta("l4proto"), "icmpv6"), match(payload("ip6", "hoplimit"), 255), ret()],
      comment: "IPv6 neighbour discovery",
    });
  for (const family of ADDRESS_FAMILIES)
    rules.push(rule(vmap(payload(L3[family], field), dispatchMapName(direction, family))));
  return rules;
}

export interface PodChains {
  /** The pod's chain first (the dispatch target), then its pass chain if any. */
  chains: DesiredChain[];
  /** The pod's own addresses per family, canonical and sorted: its dispatch keys. */
  own: Record<AddressFamily, string[]>;
}

/** Renders one pod and direction. Throws naming the pod, rule and field on inconsistent input. */
export function renderPodChains(p: PodDirectionPolicy, decision: PolicyDecision): PodChains {
  if (p.direction !== "ingress" && p.direction !== "egress")
    throw new Error(`policy of pod ${p.pod}.direction: "${p.direction}" is not ingress or egress`);
  const ctx = podContext(p, decision);
  return { chains: podChains(p, ctx), own: ctx.own };
}

/** The set ids a pod's rules use must exist in the decision (checked again when chains are reused). */
export function checkReferences(p: PodDirectionPolicy, decision: PolicyDecision): void {
  const where = (i: number) => `policy of pod ${p.pod} ${p.direction} rules[${i}]`;
  for (let i = 0; i < p.rules.length; i++) {
    const r = p.rules[i];
    if (r.peers !== undefined && !decision.addressSets.has(r.peers))
      throw new Error(`${where(i)}.peers: unknown address set "${r.peers}"`);
    if (r.addressPorts !== undefined && !decision.addressPortSets.has(r.addressPorts))
      throw new Error(`${where(i)}.addressPorts: unknown address-port set "${r.addressPorts}"`);
  }
}
