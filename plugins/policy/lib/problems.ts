// Problems of the whole world (reported whichever pods are asked about), in the reference's words:
// cluster policy peers the host does not enforce, NetworkPolicy egress named ports no pod can have.
import {
  ACCEPT,
  ACTION_DENY,
  Decision,
  EGRESS,
  INGRESS,
  NetworkPolicy,
  PORT_NAMED,
  Rule,
  World,
} from "../../sdk/policy";
import { directionName } from "./rules";

/** The field paths of a rule's unsupported peers, or an empty list. */
export function unsupportedPeers(world: World, rule: Rule): string[] {
  const fields: string[] = [];
  for (let i = 0; i < rule.peers.length; i++) {
    const p = unchecked(rule.peers[i]);
    if (p.isUnsupported) fields.push(world.text(p.cidr));
  }
  return fields;
}

/** The effect of failing closed, as the problem message says it. */
function closedEffect(action: u8, direction: u8): string {
  if (action == ACCEPT) return "this Accept rule matches nothing";
  const name = action == ACTION_DENY ? "Deny" : "Pass";
  return "this " + name + " rule denies all " + directionName(direction) + " traffic of the subject pods";
}

/**
 * Problems of the whole world, whichever pods are asked about: cluster policy peers the host does not
 * enforce (failed closed), NetworkPolicy egress named ports that can resolve against no pod.
 */
export function worldProblems(world: World, out: Decision): void {
  for (let i = 0; i < world.clusterPolicies.length; i++) {
    const c = unchecked(world.clusterPolicies[i]);
    for (let d: u8 = INGRESS; d <= EGRESS; d++) {
      const rules: Rule[] = d == EGRESS ? c.egress : c.ingress;
      for (let r = 0; r < rules.length; r++) {
        const rule = unchecked(rules[r]);
        const fields = unsupportedPeers(world, rule);
        for (let f = 0; f < fields.length; f++) {
          out.problem(
            "ClusterNetworkPolicy",
            "",
            world.text(c.name),
            unchecked(fields[f]),
            "peer type not supported by wasmplane; enforced closed as the Network Policy API asks: " +
              closedEffect(rule.action, d),
          );
        }
      }
    }
  }
  for (let i = 0; i < world.networkPolicies.length; i++) {
    unresolvableNamedPorts(world, unchecked(world.networkPolicies[i]), out);
  }
}

/** A named port in an egress rule whose peers are all ipBlocks resolves against no pod. */
function unresolvableNamedPorts(world: World, np: NetworkPolicy, out: Decision): void {
  for (let r = 0; r < np.egress.length; r++) {
    const rule = unchecked(np.egress[r]);
    if (rule.peers.length == 0) continue;
    let podPeer = false;
    for (let p = 0; p < rule.peers.length; p++) if (!unchecked(rule.peers[p]).isBlock) podPeer = true;
    if (podPeer) continue;
    for (let j = 0; j < rule.ports.length; j++) {
      const port = unchecked(rule.ports[j]);
      if (port.form != PORT_NAMED) continue;
      out.problem(
        "NetworkPolicy",
        world.text(np.namespace),
        world.text(np.name),
        "spec.egress[" + r.toString() + "].ports[" + j.toString() + "].port",
        "named port \"" +
          world.text(port.name) +
          "\" matches nothing: the rule's peers are only ipBlocks, and named ports resolve against pods",
      );
    }
  }
}
