// The answer half of the `policy` kind (docs/plugin-abi.md, "policy"): bytes → PolicyDecision. Every
// code, index, range and set reference is checked; the first problem throws an error that says where
// (which requested pod, direction, rule, set or element) and what is wrong.
import { type Cidr, parseCidr } from "../net/cidr.ts";
import { addressSetElements, type IpBlock, type Range } from "../policy/address-sets.ts";
import { sortAddressPorts, sortPortRanges } from "../policy/ports.ts";
import type {
  AddressPort,
  PodDirectionPolicy,
  PolicyDecision,
  PolicyDirection,
  PolicyProblem,
  PolicyRule,
  PolicyTier,
  PolicyVerdict,
  PortRange,
} from "../policy/types.ts";
import type { ByteReader } from "./envelope.ts";
import type { EncodedWorld } from "./policy-encode.ts";
import { PROTOCOLS } from "./policy-encode.ts";

const byText = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

const DIRECTIONS: PolicyDirection[] = ["ingress", "egress"];
const TIERS: PolicyTier[] = ["admin", "networkpolicy", "baseline"];
const VERDICTS: PolicyVerdict[] = ["allow", "deny", "pass"];
const RULE_PEERS = 1;
const RULE_ADDRESS_PORTS = 2;

/** Rules name sets by id; the sets come after every pod's answer, so references are checked last. */
interface Pending {
  where: string;
  peers?: string;
  addressPorts?: string;
}

function code<T>(list: readonly T[], value: number, where: string, what: string): T {
  if (value >= list.length) throw new Error(`${where}: ${what} ${value} is not one of 0..${list.length - 1}`);
  return list[value];
}

function readPorts(r: ByteReader, where: string): PortRange[] {
  const count = r.u16(`${where} port count`);
  r.need(count * 5, `${where} ports`);
  const ports: PortRange[] = new Array(count);
  for (let i = 0; i < count; i++) {
    const protocol = code(PROTOCOLS, r.u8("protocol"), `${where} port ${i}`, "protocol");
    const first = r.u16("first port");
    const last = r.u16("last port");
    if (first > last) throw new Error(`${where} port ${i}: first port ${first} is after last port ${last}`);
    ports[i] = { protocol, first, last };
  }
  return sortPortRanges(ports);
}

function readRule(r: ByteReader, where: string, previousTier: number, refs: Pending[]): PolicyRule {
  const tierCode = r.u8(`${where} tier`);
  const tier = code(TIERS, tierCode, where, "tier");
  if (tierCode < previousTier) throw new Error(`${where}: tier ${tier} after tier ${TIERS[previousTier]}`);
  const verdict = code(VERDICTS, r.u8(`${where} verdict`), where, "verdict");
  if (tier === "networkpolicy" && verdict !== "allow")
    throw new Error(`${where}: verdict ${verdict} in the networkpolicy tier (only allow)`);
  if (verdict === "pass" && tier !== "admin")
    throw new Error(`${where}: verdict pass outside the admin tier`);
  const flags = r.u8(`${where} flags`);
  if (flags & ~(RULE_PEERS | RULE_ADDRESS_PORTS))
    throw new Error(`${where}: rule flags ${flags} has unknown bits`);
  if (flags === (RULE_PEERS | RULE_ADDRESS_PORTS))
    throw new Error(`${where}: both peers and addressPorts (addressPorts stands instead of peers and ports)`);
  const rule: PolicyRule = { tier, verdict, origin: r.str(`${where} origin`), ports: [] };
  if (flags & RULE_PEERS) rule.peers = r.str(`${where} peers set id`);
  if (flags & RULE_ADDRESS_PORTS) rule.addressPorts = r.str(`${where} addressPorts set id`);
  rule.ports = readPorts(r, where);
  if (rule.addressPorts !== undefined && rule.ports.length > 0)
    throw new Error(`${where}: ports with addressPorts (the set holds the ports)`);
  refs.push({ where, peers: rule.peers, addressPorts: rule.addressPorts });
  return rule;
}

function readPodAnswer(
  r: ByteReader,
  world: EncodedWorld,
  pod: string,
  refs: Pending[],
): PodDirectionPolicy[] {
  const count = r.u8(`answer for ${pod}: direction count`);
  if (count > 2) throw new Error(`answer for ${pod}: ${count} directions (at most 2)`);
  const out: PodDirectionPolicy[] = [];
  const seen = new Set<string>();
  for (let d = 0; d < count; d++) {
    const direction = code(DIRECTIONS, r.u8("direction"), `answer for ${pod}`, "direction");
    const where = `answer for ${pod} ${direction}`;
    if (seen.has(direction)) throw new Error(`${where}: direction answered twice`);
    seen.add(direction);
    const isolatedByte = r.u8(`${where} isolated`);
    if (isolatedByte > 1) throw new Error(`${where}: isolated ${isolatedByte} is neither 0 nor 1`);
    const selectedCount = r.u16(`${where} selectedBy count`);
    const selectedBy: string[] = [];
    for (let i = 0; i < selectedCount; i++) {
      const name = r.str(`${where} selectedBy ${i}`);
      if (!selectedBy.includes(name)) selectedBy.push(name);
    }
    selectedBy.sort(byText);
    const ruleCount = r.u16(`${where} rule count`);
    const rules: PolicyRule[] = [];
    let tier = 0;
    for (let i = 0; i < ruleCount; i++) {
      const rule = readRule(r, `${where} rule ${i}`, tier, refs);
      tier = TIERS.indexOf(rule.tier);
      rules.push(rule);
    }
    if (isolatedByte === 0 && rules.length === 0) continue;
    const addresses = [...world.podIPs[world.podIndex.get(pod)!]];
    out.push({ pod, addresses, direction, isolated: isolatedByte === 1, selectedBy, rules });
  }
  return out;
}

function stringAt(world: EncodedWorld, index: number, where: string): string {
  if (index >= world.strings.length)
    throw new Error(`${where}: string index ${index} is past the table (${world.strings.length} strings)`);
  return world.strings[index];
}

function podAt(world: EncodedWorld, index: number, where: string): number {
  if (index >= world.podKeys.length)
    throw new Error(`${where}: pod index ${index} is past the pods (${world.podKeys.length})`);
  return index;
}

function cidrOf(text: string, where: string): Cidr {
  try {
    return parseCidr(text.includes("/") ? text : `${text}/${text.includes(":") ? 128 : 32}`);
  } catch (err) {
    throw new Error(`${where}: ${(err as Error).message}`);
  }
}

function inside(inner: Cidr, outer: Cidr): boolean {
  return (
    inner.family === outer.family &&
    inner.prefixLength >= outer.prefixLength &&
    inner.base >= outer.base &&
    inner.base < outer.base + outer.size
  );
}

function readBlock(r: ByteReader, world: EncodedWorld, where: string): IpBlock {
  const cidr = cidrOf(stringAt(world, r.u32(`${where} cidr`), where), where);
  const exceptCount = r.u16(`${where} except count`);
  const excepts: Cidr[] = [];
  for (let i = 0; i < exceptCount; i++) {
    const e = cidrOf(
      stringAt(world, r.u32(`${where} except ${i}`), `${where} except ${i}`),
      `${where} except ${i}`,
    );
    if (!inside(e, cidr)) throw new Error(`${where}: except ${e.text} is not inside ${cidr.text}`);
    excepts.push(e);
  }
  return { cidr: cidr.text, except: excepts.map((e) => e.text) };
}

/** Sets hold pods (all their IPs) and address blocks; elements come out as address-sets.ts makes them. */
function readAddressSets(r: ByteReader, world: EncodedWorld): Map<string, string[]> {
  const sets = new Map<string, string[]>();
  const cache = new Map<string, Range>();
  const count = r.u32("address set count");
  for (let s = 0; s < count; s++) {
    const id = r.str(`address set ${s} id`);
    const where = `address set "${id}"`;
    if (id === "" || sets.has(id)) throw new Error(`${where}: id ${id === "" ? "empty" : "used twice"}`);
    const podCount = r.u32(`${where} pod count`);
    r.need(podCount * 4, `${where} pods`);
    const addresses: string[] = [];
    const at = r.pos;
    for (let e = 0; e < podCount; e++) {
      const index = r.view.getUint32(at + e * 4, true);
      for (const ip of world.podIPs[podAt(world, index, `${where} pod ${e}`)]) addresses.push(ip);
    }
    r.pos += podCount * 4;
    const blockCount = r.u16(`${where} block count`);
    const blocks: IpBlock[] = [];
    for (let e = 0; e < blockCount; e++) blocks.push(readBlock(r, world, `${where} block ${e}`));
    sets.set(id, addressSetElements(addresses, blocks, cache));
  }
  return sets;
}

function readAddressPortSets(r: ByteReader, world: EncodedWorld): Map<string, AddressPort[]> {
  const sets = new Map<string, AddressPort[]>();
  const count = r.u32("address-port set count");
  for (let s = 0; s < count; s++) {
    const id = r.str(`address-port set ${s} id`);
    const where = `address-port set "${id}"`;
    if (id === "" || sets.has(id)) throw new Error(`${where}: id ${id === "" ? "empty" : "used twice"}`);
    const elements = r.u32(`${where} element count`);
    r.need(elements * 7, `${where} elements`);
    const out: AddressPort[] = [];
    const seen = new Set<string>();
    for (let e = 0; e < elements; e++) {
      const at = `${where} element ${e}`;
      const podIndex = podAt(world, r.u32("pod index"), at);
      const protocol = code(PROTOCOLS, r.u8("protocol"), at, "protocol");
      const port = r.u16("port");
      if (port === 0) throw new Error(`${at}: port 0`);
      for (const address of world.podIPs[podIndex]) {
        const key = `${address} ${protocol} ${port}`;
        if (seen.has(key)) continue;
        seen.add(key);
        out.push({ address, protocol, port });
      }
    }
    sets.set(id, sortAddressPorts(out));
  }
  return sets;
}

function readProblems(r: ByteReader): PolicyProblem[] {
  const count = r.u32("problem count");
  const out: PolicyProblem[] = [];
  for (let i = 0; i < count; i++) {
    const where = `problem ${i}`;
    out.push({
      kind: r.str(`${where} kind`),
      namespace: r.str(`${where} namespace`),
      name: r.str(`${where} name`),
      field: r.str(`${where} field`),
      message: r.str(`${where} message`),
    });
  }
  return out;
}

/** Only the sets some rule names, sorted by id (as runtime/policy/decision-builder.ts leaves them). */
function usedSets<T>(all: Map<string, T>, used: Set<string>): Map<string, T> {
  return new Map([...used].sort(byText).map((id) => [id, all.get(id) as T]));
}

function sortedProblems(problems: PolicyProblem[]): PolicyProblem[] {
  const key = (p: PolicyProblem) => [p.kind, p.namespace, p.name, p.field, p.message].join("\n");
  const sorted = problems.map((p) => [key(p), p] as const).sort((a, b) => byText(a[0], b[0]));
  return sorted.filter((p, i) => i === 0 || p[0] !== sorted[i - 1][0]).map((p) => p[1]);
}

/**
 * Reads every requested pod's answer, then the sets and the problems, and checks set references.
 * The result is in the canonical order the reference produces: pods by key then direction, lists
 * that are sets (selectedBy, ports, set elements, problems) sorted without duplicates, and only the
 * sets some rule names. Rule order within a direction is the plugin's and is kept.
 */
export function readPolicyAnswers(r: ByteReader, world: EncodedWorld): PolicyDecision {
  const refs: Pending[] = [];
  const pods: PodDirectionPolicy[] = [];
  for (const pod of world.requested) pods.push(...readPodAnswer(r, world, pod, refs));
  const addressSets = readAddressSets(r, world);
  const addressPortSets = readAddressPortSets(r, world);
  const problems = readProblems(r);
  const used = new Set<string>();
  const usedPorts = new Set<string>();
  for (const ref of refs) {
    if (ref.peers !== undefined && !addressSets.has(ref.peers))
      throw new Error(`${ref.where}: peers names address set "${ref.peers}", which the answer does not hold`);
    if (ref.addressPorts !== undefined && !addressPortSets.has(ref.addressPorts))
      throw new Error(
        `${ref.where}: addressPorts names address-port set "${ref.addressPorts}", which the answer does not hold`,
      );
    if (ref.peers !== undefined) used.add(ref.peers);
    if (ref.addressPorts !== undefined) usedPorts.add(ref.addressPorts);
  }
  pods.sort((a, b) => byText(a.pod, b.pod) || byText(a.direction, b.direction));
  return {
    pods,
    addressSets: usedSets(addressSets, used),
    addressPortSets: usedSets(addressPortSets, usedPorts),
    problems: sortedProblems(problems),
  };
}
