// Evaluates a PolicyDecision for one concrete connection, as the renderer's rules must: the test
// oracle for the renderer, the truth-table harness and the policy plugin conformance kit.
// A connection needs the source's egress and the destination's ingress to allow it; each side is
// judged only when this decision polices that pod in that direction (other pods are not policed
// here: a remote pod's policy is its own node's business). A pod always reaches itself (its own IPs
// are exempt from policy, CNP included).
import type { Protocol } from "../store/objects.ts";
import { setContains } from "./address-sets.ts";
import { portAllowed } from "./ports.ts";
import type { PodDirectionPolicy, PolicyDecision, PolicyDirection, PolicyRule } from "./types.ts";

export interface Connection {
  /** Source IP address. */
  from: string;
  /** Destination IP address (after DNAT: the endpoint pod). */
  to: string;
  protocol: Protocol;
  /** Destination port. */
  port: number;
}

export interface DirectionOutcome {
  allowed: boolean;
  /** The deciding rule's origin, or "not policed", "isolated, no rule allows", "no rule matched". */
  by: string;
}

export interface ConnectionOutcome {
  allowed: boolean;
  egress: DirectionOutcome;
  ingress: DirectionOutcome;
}

function policyFor(
  decision: PolicyDecision,
  address: string,
  direction: PolicyDirection,
): PodDirectionPolicy | undefined {
  return decision.pods.find((p) => p.direction === direction && p.addresses.includes(address));
}

function ruleMatches(decision: PolicyDecision, rule: PolicyRule, peer: string, c: Connection): boolean {
  if (rule.addressPorts) {
    const set = decision.addressPortSets.get(rule.addressPorts) ?? [];
    return set.some((e) => e.address === c.to && e.protocol === c.protocol && e.port === c.port);
  }
  if (rule.peers && !setContains(decision.addressSets.get(rule.peers) ?? [], peer)) return false;
  return portAllowed(rule.ports, c.protocol, c.port);
}

/** One side of a connection: admin rules (pass skips the rest of the tier), NetworkPolicy, baseline. */
export function decideDirection(
  decision: PolicyDecision,
  policy: PodDirectionPolicy | undefined,
  c: Connection,
): DirectionOutcome {
  if (!policy) return { allowed: true, by: "not policed" };
  const peer = policy.direction === "ingress" ? c.from : c.to;
  let passed = false;
  let npAllowed: string | undefined;
  for (const rule of policy.rules) {
    if (rule.tier === "admin" && passed) continue;
    if (rule.tier === "networkpolicy" && npAllowed) continue;
    if (!ruleMatches(decision, rule, peer, c)) continue;
    if (rule.tier === "networkpolicy") {
      npAllowed = rule.origin;
      continue;
    }
    if (rule.verdict === "pass") {
      passed = true;
      continue;
    }
    // The NetworkPolicy tier decides before the baseline tier for an isolated pod.
    if (rule.tier === "baseline" && (npAllowed || policy.isolated)) break;
    return { allowed: rule.verdict === "allow", by: rule.origin };
  }
  if (npAllowed) return { allowed: true, by: npAllowed };
  if (policy.isolated) return { allowed: false, by: "isolated, no rule allows" };
  return { allowed: true, by: "no rule matched" };
}

export function decide(decision: PolicyDecision, c: Connection): ConnectionOutcome {
  const source = policyFor(decision, c.from, "egress");
  const destination = policyFor(decision, c.to, "ingress");
  const samePod =
    c.from === c.to ||
    source?.addresses.includes(c.to) === true ||
    destination?.addresses.includes(c.from) === true;
  if (samePod) {
    const self = { allowed: true, by: "a pod always reaches itself" };
    return { allowed: true, egress: self, ingress: self };
  }
  const egress = decideDirection(decision, source, c);
  const ingress = decideDirection(decision, destination, c);
  return { allowed: egress.allowed && ingress.allowed, egress, ingress };
}
