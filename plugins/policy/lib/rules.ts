// One policy rule → the decision's rules for one local pod: the peers as a shared address set, the
// ports resolved (named ports against the local pod for ingress, per destination pod for egress).
import {
  AddressPortOut,
  BlockOut,
  Decision,
  DirectionOut,
  EGRESS,
  Pod,
  PORT_ANY,
  PORT_NAMED,
  PortRangeOut,
  PROTOCOL_ANY,
  Rule,
  RuleOut,
  TCP,
} from "../../sdk/policy";
import { Index } from "./select";

/** Where a rule comes from: names its sets and its origin. */
export class RuleSource {
  constructor(
    /** "np default/web" or "cnp name": the prefix of set ids. */
    public setPrefix: string,
    /** "NetworkPolicy default/web" or "ClusterNetworkPolicy name": the prefix of origins. */
    public originPrefix: string,
    /** The policy's namespace (NetworkPolicy), u32.MAX_VALUE for a cluster policy. */
    public ownNamespace: u32,
  ) {}
}

export function directionName(direction: u8): string {
  return direction == EGRESS ? "egress" : "ingress";
}

/** The rule's peers as a set (built once per call, shared by every pod), or null for "any peer". */
function peerSet(index: Index, rule: Rule, id: string, source: RuleSource, out: Decision): string | null {
  if (rule.peers.length == 0) return null;
  if (out.hasAddressSet(id)) return id;
  const blocks: BlockOut[] = [];
  for (let i = 0; i < rule.peers.length; i++) {
    const peer = unchecked(rule.peers[i]);
    if (peer.isBlock) blocks.push(new BlockOut(peer.cidr, peer.excepts));
  }
  const pods = index.peerPods(rule.peers, source.ownNamespace);
  out.addressSet(id, pods, blocks);
  return id;
}

/** Ports of `rule` that are numbers or ranges (a port entry without a number: every port). */
function numericPorts(rule: Rule): PortRangeOut[] {
  const ports: PortRangeOut[] = [];
  for (let i = 0; i < rule.ports.length; i++) {
    const p = unchecked(rule.ports[i]);
    if (p.form == PORT_NAMED) continue;
    const protocol = p.protocol == PROTOCOL_ANY ? TCP : p.protocol;
    if (p.form == PORT_ANY) ports.push(new PortRangeOut(protocol, 0, 65535));
    else ports.push(new PortRangeOut(protocol, p.first, p.last));
  }
  return ports;
}

function hasNamedPorts(rule: Rule): bool {
  for (let i = 0; i < rule.ports.length; i++) if (unchecked(rule.ports[i]).form == PORT_NAMED) return true;
  return false;
}

/** Named ports of `rule` resolved against one pod's container ports, appended to `into`. */
function resolveNamed(rule: Rule, pod: Pod, into: PortRangeOut[]): void {
  for (let i = 0; i < rule.ports.length; i++) {
    const p = unchecked(rule.ports[i]);
    if (p.form != PORT_NAMED) continue;
    for (let j = 0; j < pod.portNames.length; j++) {
      if (unchecked(pod.portNames[j]) != p.name) continue;
      const protocol = unchecked(pod.portProtocols[j]);
      if (p.protocol != PROTOCOL_ANY && p.protocol != protocol) continue;
      const port = unchecked(pod.portNumbers[j]);
      into.push(new PortRangeOut(protocol, port, port));
    }
  }
}

/** Egress named ports: (destination pod, protocol, port) for each peer pod that has the port. */
function addressPortSet(index: Index, rule: Rule, id: string, source: RuleSource, out: Decision): void {
  if (out.hasAddressPortSet(id)) return;
  const world = index.world;
  // No peers: every destination, so the names resolve against every pod in the cluster.
  const pods = rule.peers.length == 0 ? index.all() : index.peerPods(rule.peers, source.ownNamespace);
  const elements: AddressPortOut[] = [];
  const resolved: PortRangeOut[] = [];
  for (let i = 0; i < pods.length; i++) {
    const p = unchecked(pods[i]);
    resolved.length = 0;
    resolveNamed(rule, unchecked(world.pods[p]), resolved);
    for (let j = 0; j < resolved.length; j++) {
      const r = unchecked(resolved[j]);
      elements.push(new AddressPortOut(p, r.protocol, r.first));
    }
  }
  out.addressPortSet(id, elements);
}

/**
 * Appends the decision rules of policy rule `ruleIndex` for `local` in `direction`: one rule with
 * the peers and the numeric (and, for ingress, resolved named) ports, and for egress named ports one
 * more rule on an address-port set. A rule whose ports all fail to resolve matches nothing: omitted.
 */
export function compileRule(
  index: Index,
  local: Pod,
  rule: Rule,
  ruleIndex: i32,
  direction: u8,
  tier: u8,
  verdict: u8,
  source: RuleSource,
  into: DirectionOut,
  out: Decision,
): void {
  const dir = directionName(direction);
  const origin = source.originPrefix + " " + dir + "[" + ruleIndex.toString() + "]";
  const setId = source.setPrefix + " " + dir + " " + ruleIndex.toString();
  const ports = numericPorts(rule);
  const named = hasNamedPorts(rule);
  if (direction != EGRESS) {
    if (named) resolveNamed(rule, local, ports);
    // Every port named and none of them on this pod: the rule matches nothing here.
    if (rule.ports.length > 0 && ports.length == 0) return;
    const peers = peerSet(index, rule, setId, source, out);
    into.rules.push(new RuleOut(tier, verdict, origin, peers, null, ports));
    return;
  }
  if (rule.ports.length == 0 || ports.length > 0) {
    const peers = peerSet(index, rule, setId, source, out);
    into.rules.push(new RuleOut(tier, verdict, origin, peers, null, ports));
  }
  if (named) {
    const id = setId + " named-ports";
    addressPortSet(index, rule, id, source, out);
    into.rules.push(new RuleOut(tier, verdict, origin, null, id, []));
  }
}
