// A rule set shaped like kube-proxy's nftables mode at a given size, shared by diff tests and
// bench/nft-apply.ts: one verdict map entry per service, a service chain picking one of three
// endpoint chains at random, and endpoint chains that mark hairpin traffic and DNAT.
// By default a service chain picks its endpoint with an anonymous vmap (kube-proxy's shape). The
// "slots" variant uses one shared named map (`numgen random mod 3 offset 3i vmap @endpoint-slots`)
// and shows a kernel trap: every commit that touches a verdict map revalidates the jump graph, and
// the validator walks the shared map once per rule that looks it up (10,000 × 30,000 elements): a
// one-element change then takes tens of seconds.
import {
  baseChain,
  bitOr,
  chain,
  concat,
  dnat,
  element,
  goto,
  markSet,
  masquerade,
  match,
  meta,
  namedMap,
  numgen,
  payload,
  rule,
  vmap,
} from "../../nft/build.ts";
import { addChain, addSet, type DesiredTable, emptyFragment, mergeFragments } from "../../nft/desired.ts";
import type { Verdict } from "../../nft/model.ts";

export const ENDPOINTS_PER_SERVICE = 3;

export function serviceIP(i: number): string {
  return `10.96.${(i >> 8) & 255}.${i & 255}`;
}

export function endpointIP(i: number, j: number): string {
  const n = i * ENDPOINTS_PER_SERVICE + j;
  return `10.${128 + ((n >> 16) & 63)}.${(n >> 8) & 255}.${n & 255}`;
}

/**
 * How a service chain picks one of its endpoint chains: kube-proxy's anonymous `numgen … vmap`
 * ("anonymous"), one shared named slot map ("slots"), or a rule cascade of `numgen random mod R < 1
 * goto ep-…` (wasmplane's own service shape does this, with DNAT in place of the goto).
 */
export type ServicePick = "anonymous" | "slots" | "cascade";

/**
 * The variant to build: how a service chain picks (`pick`), and whether endpoint chains hold their
 * hairpin mark and DNAT rules or stay empty (`emptyEndpoints`: the smallest graph with the same
 * chains, which shows the kernel's floor for revalidating it).
 */
export interface ShapeVariant {
  pick?: ServicePick;
  emptyEndpoints?: boolean;
}

/**
 * `services` services → services verdict-map elements and services × (1 + ENDPOINTS_PER_SERVICE)
 * chains. `variant.pick` chooses how a service chain picks an endpoint: "anonymous" (an anonymous
 * vmap per chain, the default), "slots" (one shared named map; nft 1.0.6 JSON cannot declare it) or
 * "cascade".
 */
export function serviceShapedTable(
  services: number,
  name = "wasmplane",
  port = (i: number) => 80 + (i % 2),
  { pick = "anonymous", emptyEndpoints = false }: ShapeVariant = {},
): DesiredTable {
  const f = emptyFragment();
  const elements = [];
  const slots = [];
  for (let i = 0; i < services; i++) {
    const svc = `svc-${i}`;
    const anonymous: [number, Verdict][] = [];
    for (let j = 0; j < ENDPOINTS_PER_SERVICE; j++) {
      const ep = `ep-${i}-${j}`;
      const ip = endpointIP(i, j);
      addChain(
        f,
        chain(
          ep,
          emptyEndpoints
            ? []
            : [
                rule(match(payload("ip", "saddr"), ip), markSet(bitOr(meta("mark"), 0x4000))),
                rule(match(meta("l4proto"), "tcp"), dnat(ip, 8080)),
              ],
        ),
      );
      slots.push(element(i * ENDPOINTS_PER_SERVICE + j, goto(ep)));
      anonymous.push([j, goto(ep)]);
    }
    const rules =
      pick === "cascade"
        ? Array.from({ length: ENDPOINTS_PER_SERVICE }, (_, j) =>
            j === ENDPOINTS_PER_SERVICE - 1
              ? rule(goto(`ep-${i}-${j}`))
              : rule(match(numgen("random", ENDPOINTS_PER_SERVICE - j), 1, "<"), goto(`ep-${i}-${j}`)),
          )
        : [
            rule(
              pick === "slots"
                ? vmap(numgen("random", ENDPOINTS_PER_SERVICE, i * ENDPOINTS_PER_SERVICE), "endpoint-slots")
                : vmap(numgen("random", ENDPOINTS_PER_SERVICE), anonymous),
            ),
          ];
    addChain(f, chain(svc, rules));
    elements.push(element(concat(serviceIP(i), "tcp", port(i)), goto(svc)));
  }
  if (pick === "slots") addSet(f, namedMap("endpoint-slots", "integer", "verdict", slots));
  addSet(f, namedMap("services", ["ipv4_addr", "inet_proto", "inet_service"], "verdict", elements));
  const dispatch = rule(
    vmap(concat(payload("ip", "daddr"), meta("l4proto"), payload("th", "dport")), "services"),
  );
  addChain(f, baseChain("services-pre", { type: "nat", hook: "prerouting", priority: "dstnat" }, [dispatch]));
  addChain(f, baseChain("services-out", { type: "nat", hook: "output", priority: "dstnat" }, [dispatch]));
  addChain(
    f,
    baseChain("services-post", { type: "nat", hook: "postrouting", priority: "srcnat" }, [
      rule(match(meta("mark"), 0x4000, "!="), { return: null }),
      rule(masquerade()),
    ]),
  );
  return mergeFragments("inet", name, [f]);
}

/** The same rule set written by hand as one native `table { … }` block: the baseline for the bench. */
export function serviceShapedNativeText(
  services: number,
  name = "wasmplane",
  port = (i: number) => 80 + (i % 2),
  { pick = "anonymous", emptyEndpoints = false }: ShapeVariant = {},
): string {
  const lines: string[] = [`table inet ${name} {`];
  const elements: string[] = [];
  const slots: string[] = [];
  for (let i = 0; i < services; i++) {
    const anonymous: string[] = [];
    for (let j = 0; j < ENDPOINTS_PER_SERVICE; j++) {
      const ip = endpointIP(i, j);
      anonymous.push(`${j} : goto ep-${i}-${j}`);
      lines.push(
        `chain ep-${i}-${j} {`,
        ...(emptyEndpoints
          ? []
          : [`ip saddr ${ip} meta mark set meta mark | 0x4000`, `meta l4proto tcp dnat ip to ${ip}:8080`]),
        "}",
      );
      slots.push(`${i * ENDPOINTS_PER_SERVICE + j} : goto ep-${i}-${j}`);
    }
    const offset = i * ENDPOINTS_PER_SERVICE;
    const select =
      pick === "cascade"
        ? Array.from({ length: ENDPOINTS_PER_SERVICE }, (_, j) =>
            j === ENDPOINTS_PER_SERVICE - 1
              ? `goto ep-${i}-${j}`
              : `numgen random mod ${ENDPOINTS_PER_SERVICE - j} < 1 goto ep-${i}-${j}`,
          ).join("\n")
        : pick === "slots"
          ? `numgen random mod ${ENDPOINTS_PER_SERVICE}${offset ? ` offset ${offset}` : ""} vmap @endpoint-slots`
          : `numgen random mod ${ENDPOINTS_PER_SERVICE} vmap { ${anonymous.join(", ")} }`;
    lines.push(`chain svc-${i} {`, select, "}");
    elements.push(`${serviceIP(i)} . tcp . ${port(i)} : goto svc-${i}`);
  }
  if (pick === "slots")
    lines.push(
      "map endpoint-slots {",
      "typeof numgen random mod 1 : verdict",
      ...(slots.length ? [`elements = { ${slots.join(", ")} }`] : []),
      "}",
    );
  lines.push(
    "map services {",
    "type ipv4_addr . inet_proto . inet_service : verdict",
    ...(elements.length ? [`elements = { ${elements.join(", ")} }`] : []),
    "}",
  );
  for (const [chainName, hook, prio] of [
    ["services-pre", "prerouting", "-100"],
    ["services-out", "output", "-100"],
  ])
    lines.push(
      `chain ${chainName} {`,
      `type nat hook ${hook} priority ${prio}; policy accept;`,
      "ip daddr . meta l4proto . th dport vmap @services",
      "}",
    );
  lines.push(
    "chain services-post {",
    "type nat hook postrouting priority 100; policy accept;",
    "meta mark != 0x4000 return",
    "masquerade",
    "}",
    "}",
  );
  return `${lines.join("\n")}\n`;
}
