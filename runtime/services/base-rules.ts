// The fixed part of the services fragment: base chains on the netfilter hooks, the dispatch chain,
// the checks that reject or drop, masquerading, and the declarations of the shared sets and maps
// (their elements come from the services). Same shape as kube-proxy's nftables mode, in one inet
// table for both IP families.

import {
  anonSet,
  bitAnd,
  bitOr,
  cidr,
  concat,
  ct,
  dnat,
  drop,
  flags,
  jump,
  mapLookup,
  markSet,
  masquerade,
  match,
  meta,
  numgen,
  payload,
  reject,
  ret,
  setRef,
  vmap,
} from "../../nft/build.ts";
import type { DesiredChain, DesiredRule, DesiredSet } from "../../nft/desired.ts";
import type { DataType } from "../../nft/model.ts";
import type { ResolvedConfig, ServiceShape } from "./config.ts";
import { chains, type Family, MASQUERADE_MARK, sets } from "./names.ts";
import { MAX_SLOT_COUNT } from "./slots.ts";

// kube-proxy's priorities: filter chains just before DNAT so they see service addresses.
const DSTNAT = -100;
const SRCNAT = 100;

const r = (...expr: DesiredRule["expr"]): DesiredRule => ({ expr });
const newConn = () => match(ct("state"), flags("new"));

function base(
  name: string,
  type: "filter" | "nat",
  hook: "prerouting" | "input" | "forward" | "output" | "postrouting",
  priority: number,
  rules: DesiredRule[],
): DesiredChain {
  return { name, base: { type, hook, priority, policy: "accept" }, rules };
}

export function setDeclarations(family: Family, shape: ServiceShape): DesiredSet[] {
  const names = sets(family);
  const addr: DataType = family === 4 ? "ipv4_addr" : "ipv6_addr";
  const decl = (name: string, type: DataType | DataType[], map?: DataType, interval = false): DesiredSet => ({
    name,
    type,
    ...(map ? { map } : {}),
    ...(interval ? { flags: ["interval"] } : {}),
    elements: [],
  });
  return [
    decl(names.serviceIPs, [addr, "inet_proto", "inet_service"], "verdict"),
    decl(names.nodePorts, ["inet_proto", "inet_service"], "verdict"),
    decl(names.nodePortIPs, addr),
    decl(names.clusterIPs, addr),
    decl(names.clusterCIDRs, addr, undefined, true),
    decl(names.noEndpoints, [addr, "inet_proto", "inet_service"], "verdict"),
    decl(names.noEndpointNodePorts, ["inet_proto", "inet_service"], "verdict"),
    decl(names.firewall, [addr, "inet_proto", "inet_service"], "verdict"),
    decl(names.hairpin, [addr, addr]),
    ...(shape === "maps"
      ? [
          {
            name: names.backends,
            type: [addr, "inet_proto", "inet_service", "integer"],
            map: [addr, "inet_service"],
            elements: [],
          } satisfies DesiredSet,
        ]
      : []),
  ];
}

const perFamily = (fn: (family: Family, ip: "ip" | "ip6") => DesiredRule[]) => [
  ...fn(4, "ip"),
  ...fn(6, "ip6"),
];
const l4 = () => concat(meta("l4proto"), payload("th", "dport"));
const dest = (ip: "ip" | "ip6") => concat(payload(ip, "daddr"), meta("l4proto"), payload("th", "dport"));

export function baseChains(config: ResolvedConfig): DesiredChain[] {
  return [
    ...hookChains(),
    { name: chains.dispatch, rules: perFamily((family, ip) => dispatchRules(config, family, ip)) },
    ...(config.shape === "maps" ? [{ name: chains.slots, rules: perFamily(slotRules) }] : []),
    ...checkChains(config),
    { name: chains.reject, rules: [r(reject())] },
    ...masqueradeChains(),
  ];
}

/** The base chains on the netfilter hooks: each only jumps to a regular chain. */
function hookChains(): DesiredChain[] {
  return [
    base(chains.filterPrerouting, "filter", "prerouting", DSTNAT - 10, [
      r(newConn(), jump(chains.firewallCheck)),
    ]),
    base(chains.filterInput, "filter", "input", DSTNAT - 10, [
      r(newConn(), jump(chains.nodePortEndpointsCheck)),
      r(newConn(), jump(chains.endpointsCheck)),
    ]),
    base(chains.filterForward, "filter", "forward", DSTNAT - 10, [
      r(newConn(), jump(chains.endpointsCheck)),
      r(newConn(), jump(chains.clusterIPsCheck)),
    ]),
    base(chains.filterOutput, "filter", "output", DSTNAT - 10, [
      r(newConn(), jump(chains.endpointsCheck)),
      r(newConn(), jump(chains.firewallCheck)),
    ]),
    base(chains.filterOutputPostDnat, "filter", "output", DSTNAT + 10, [
      r(newConn(), jump(chains.clusterIPsCheck)),
    ]),
    base(chains.natPrerouting, "nat", "prerouting", DSTNAT, [r(jump(chains.dispatch))]),
    base(chains.natOutput, "nat", "output", DSTNAT, [r(jump(chains.dispatch))]),
    base(chains.natPostrouting, "nat", "postrouting", SRCNAT, [r(jump(chains.masquerading))]),
  ];
}

/** Service addresses to their chains through the verdict maps, after marking off-cluster traffic. */
function dispatchRules(config: ResolvedConfig, family: Family, ip: "ip" | "ip6"): DesiredRule[] {
  const names = sets(family);
  const rules: DesiredRule[] = [];
  if (config.masqueradeAll) {
    rules.push(r(match(payload(ip, "daddr"), setRef(names.clusterIPs)), jump(chains.markMasquerade)));
  } else if (config.families[family].clusterCIDRs.length > 0) {
    // Off-cluster traffic to a ClusterIP may be bridged to another node: masquerade it.
    rules.push(
      r(
        match(payload(ip, "daddr"), setRef(names.clusterIPs)),
        match(payload(ip, "saddr"), setRef(names.clusterCIDRs), "!="),
        jump(chains.markMasquerade),
      ),
    );
  }
  // A plain ClusterIP port's slot (slotRules); a miss comes back and goes on to the verdict map.
  if (config.shape === "maps")
    rules.push(r(match(payload(ip, "daddr"), setRef(names.clusterIPs)), jump(chains.slots)));
  rules.push(r(vmap(dest(ip), names.serviceIPs)));
  rules.push(r(match(payload(ip, "daddr"), setRef(names.nodePortIPs)), vmap(l4(), names.nodePorts)));
  return rules;
}

/**
 * The "maps" shape's lookups, `dnat to ADDR . PROTO . PORT . numgen random mod K map @backends` for
 * K = 16 down to 1: a port with N slots is drawn uniformly by rejection (slots.ts), in a chain of
 * its own whose rules never change: nft 1.0.6 refuses `add rule` naming such a map once the map
 * exists in the kernel ("conflicting protocols specified: tcp vs. th", from the map's stored
 * `ip daddr . th dport` value type), so these rules are only written in the batch that creates the
 * maps, and a rewrite of services-dispatch through `nft -f` does not name them.
 */
function slotRules(family: Family, ip: "ip" | "ip6"): DesiredRule[] {
  const rules: DesiredRule[] = [];
  for (let k = MAX_SLOT_COUNT; k >= 1; k--) {
    const key = concat(payload(ip, "daddr"), meta("l4proto"), payload("th", "dport"), numgen("random", k));
    rules.push(
      r(
        match(meta("l4proto"), anonSet("tcp", "udp", "sctp")),
        dnat(mapLookup(key, sets(family).backends), undefined, { family: ip }),
      ),
    );
  }
  return rules;
}

/** The chains that reject or drop: no endpoints, firewall, undefined ports of cluster IPs. */
function checkChains(config: ResolvedConfig): DesiredChain[] {
  const clusterIPsCheck = perFamily((family, ip) => [
    // Reached only by traffic that was not DNATed: an undefined port of an active ClusterIP.
    {
      // Written as nft lists it, so a read-back table compares equal.
      ...r(
        match(payload(ip, "daddr"), setRef(sets(family).clusterIPs)),
        reject(family === 4 ? "icmp" : "icmpv6", "port-unreachable"),
      ),
      comment: "undefined port of a ClusterIP",
    },
    ...config.families[family].serviceCIDRs.map((c) => ({
      ...r(match(payload(ip, "daddr"), cidr(c)), drop()),
      comment: "unallocated ClusterIP",
    })),
  ]);
  return [
    {
      name: chains.endpointsCheck,
      rules: perFamily((family, ip) => [r(vmap(dest(ip), sets(family).noEndpoints))]),
    },
    {
      name: chains.nodePortEndpointsCheck,
      rules: perFamily((family, ip) => [
        r(
          match(payload(ip, "daddr"), setRef(sets(family).nodePortIPs)),
          vmap(l4(), sets(family).noEndpointNodePorts),
        ),
      ]),
    },
    {
      name: chains.firewallCheck,
      rules: perFamily((family, ip) => [r(vmap(dest(ip), sets(family).firewall))]),
    },
    { name: chains.clusterIPsCheck, rules: clusterIPsCheck },
  ];
}

/** Marking for masquerade, and masquerading marked and hairpin traffic. */
function masqueradeChains(): DesiredChain[] {
  const hairpin = perFamily((family, ip) => [
    r(
      match(ct("status"), flags("dnat")),
      match(concat(payload(ip, "saddr"), payload(ip, "daddr")), setRef(sets(family).hairpin)),
      jump(chains.markMasquerade),
    ),
  ]);
  return [
    { name: chains.markMasquerade, rules: [r(markSet(bitOr(meta("mark"), MASQUERADE_MARK)))] },
    {
      name: chains.masquerading,
      rules: [
        ...hairpin,
        r(match(bitAnd(meta("mark"), MASQUERADE_MARK), MASQUERADE_MARK, "!="), ret()),
        // Clear the bit so a packet that passes through again is not masqueraded twice.
        r(markSet({ "^": [meta("mark"), MASQUERADE_MARK] })),
        r(masquerade({ flags: ["fully-random"] })),
      ],
    },
  ];
}
