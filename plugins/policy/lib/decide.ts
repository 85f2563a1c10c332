// The decision for each requested local pod: per direction, the admin tier (ClusterNetworkPolicies
// of tier Admin by priority, then name), the NetworkPolicies that select the pod (they isolate it),
// the baseline tier.
import {
  ACCEPT,
  ACTION_DENY,
  ALLOW,
  ClusterPolicy,
  Decision,
  DENY,
  DirectionOut,
  EGRESS,
  INGRESS,
  PASS,
  Pod,
  Rule,
  RuleOut,
  TIER_ADMIN,
  TIER_BASELINE,
  TIER_NETWORKPOLICY,
  World,
} from "../../sdk/policy";
import { unsupportedPeers, worldProblems } from "./problems";
import { compileRule, directionName, RuleSource } from "./rules";
import { Index, peerPicks } from "./select";

const CLUSTER: u32 = u32.MAX_VALUE;

function verdictOf(action: u8): u8 {
  return action == ACCEPT ? ALLOW : action == ACTION_DENY ? DENY : PASS;
}

function before(world: World, a: ClusterPolicy, b: ClusterPolicy): bool {
  if (a.priority != b.priority) return a.priority < b.priority;
  return world.text(a.name) < world.text(b.name);
}

/** Cluster policies of one tier (0 Admin, 1 Baseline) in evaluation order: priority, then name. */
function tierOrder(world: World, tier: u8): ClusterPolicy[] {
  const list: ClusterPolicy[] = [];
  for (let i = 0; i < world.clusterPolicies.length; i++) {
    const c = unchecked(world.clusterPolicies[i]);
    if (c.tier != tier) continue;
    // Insertion sort: tiers hold tens of policies, and a comparator cannot capture `world`.
    let at = list.length;
    list.push(c);
    while (at > 0 && before(world, c, unchecked(list[at - 1]))) {
      unchecked((list[at] = list[at - 1]));
      at--;
    }
    unchecked((list[at] = c));
  }
  return list;
}

/** Pass in the baseline tier skips only the rest of the baseline, leaving the default: allow. */
function verdictIn(action: u8, tier: u8): u8 {
  const v = verdictOf(action);
  return v == PASS && tier != TIER_ADMIN ? ALLOW : v;
}

/** A cluster policy's rules of one direction, when its subject picks `local`. */
function clusterPolicy(
  index: Index,
  local: Pod,
  c: ClusterPolicy,
  direction: u8,
  into: DirectionOut,
  out: Decision,
): void {
  const world = index.world;
  const rules: Rule[] = direction == EGRESS ? c.egress : c.ingress;
  if (rules.length == 0 || !peerPicks(world, c.subject, local, CLUSTER)) return;
  const name = world.text(c.name);
  into.selectedBy.push("ClusterNetworkPolicy " + name);
  const tier = c.tier == 0 ? TIER_ADMIN : TIER_BASELINE;
  const source = new RuleSource("cnp " + name, "ClusterNetworkPolicy " + name, CLUSTER);
  for (let r = 0; r < rules.length; r++) {
    const rule = unchecked(rules[r]);
    // A peer type the host does not enforce fails closed: Accept matches nothing, Deny and Pass deny all.
    if (unsupportedPeers(world, rule).length > 0) {
      if (rule.action == ACCEPT) continue;
      const origin = source.originPrefix + " " + directionName(direction) + "[" + r.toString() + "]";
      into.rules.push(new RuleOut(tier, DENY, origin, null, null, []));
      continue;
    }
    compileRule(index, local, rule, r, direction, tier, verdictIn(rule.action, tier), source, into, out);
  }
}

function clusterTier(
  index: Index,
  local: Pod,
  policies: ClusterPolicy[],
  direction: u8,
  into: DirectionOut,
  out: Decision,
): void {
  for (let i = 0; i < policies.length; i++) {
    clusterPolicy(index, local, unchecked(policies[i]), direction, into, out);
  }
}

function networkPolicyTier(index: Index, local: Pod, direction: u8, into: DirectionOut, out: Decision): void {
  const world = index.world;
  const typeBit: u8 = direction == EGRESS ? 2 : 1;
  for (let i = 0; i < world.networkPolicies.length; i++) {
    const np = unchecked(world.networkPolicies[i]);
    if (np.namespace != local.namespace || (np.types & typeBit) == 0) continue;
    if (!np.podSelector.matches(local.labels)) continue;
    const key = world.text(np.namespace) + "/" + world.text(np.name);
    into.isolated = true;
    into.selectedBy.push("NetworkPolicy " + key);
    const source = new RuleSource("np " + key, "NetworkPolicy " + key, np.namespace);
    const rules: Rule[] = direction == EGRESS ? np.egress : np.ingress;
    for (let r = 0; r < rules.length; r++) {
      const rule = unchecked(rules[r]);
      compileRule(index, local, rule, r, direction, TIER_NETWORKPOLICY, ALLOW, source, into, out);
    }
  }
}

/** The policy function: both directions of every requested pod. */
export function decide(world: World, pods: i32[], out: Decision): void {
  worldProblems(world, out);
  const index = new Index(world);
  const admin = tierOrder(world, 0);
  const baseline = tierOrder(world, 1);
  for (let i = 0; i < pods.length; i++) {
    out.beginPod();
    const local = unchecked(world.pods[unchecked(pods[i])]);
    for (let d: u8 = INGRESS; d <= EGRESS; d++) {
      const into = out.direction(d);
      clusterTier(index, local, admin, d, into, out);
      networkPolicyTier(index, local, d, into, out);
      clusterTier(index, local, baseline, d, into, out);
    }
  }
}
