// The policy decision, as data: what a policy decider (the TypeScript reference or a Wasm policy
// plugin) answers and what the renderer turns into nftables rules. Per local pod and direction, an
// ordered list of rules in three tiers, evaluated as the Network Policy API defines them:
//
//   admin tier (ClusterNetworkPolicy tier Admin, by priority):  allow / deny are final, pass skips
//                                                                 the rest of the admin tier
//   networkpolicy tier (NetworkPolicy, additive):                when the pod is isolated in this
//                                                                 direction: allow, else deny
//   baseline tier (ClusterNetworkPolicy tier Baseline):          allow / deny are final
//   nothing matched:                                             allow
//
// Peers are named address sets (shared by every pod whose rules use them, so a peer pod relabelled
// changes set elements, not rules); ids are stable across syncs because they name where the set
// comes from ("np default/web ingress 0 peers"), never what it holds.
import type { Protocol } from "../store/objects.ts";

export type PolicyDirection = "ingress" | "egress";
export type PolicyTier = "admin" | "networkpolicy" | "baseline";
export type PolicyVerdict = "allow" | "deny" | "pass";

/** Inclusive destination port range for one protocol; `first === last` for a single port. */
export interface PortRange {
  protocol: Protocol;
  first: number;
  last: number;
}

/** One address with one destination port: a named port resolved against one peer pod. */
export interface AddressPort {
  address: string;
  protocol: Protocol;
  port: number;
}

export interface PolicyRule {
  tier: PolicyTier;
  /** In the networkpolicy tier always "allow". "pass" only in the admin tier. */
  verdict: PolicyVerdict;
  /** What it came from, for status and rule comments: `NetworkPolicy x/allow-a ingress[0]`. */
  origin: string;
  /**
   * The peer (source for ingress, destination for egress) must be in this address set: an id of
   * `PolicyDecision.addressSets`. Absent: any address.
   */
  peers?: string;
  /** The destination port must be in one of these ranges. Empty: any protocol and port. */
  ports: PortRange[];
  /**
   * Instead of `peers` and `ports`: the destination (address, protocol, port) must be in this set, an
   * id of `PolicyDecision.addressPortSets` (egress named ports, resolved per destination pod).
   */
  addressPorts?: string;
}

export interface PodDirectionPolicy {
  /** "namespace/name" of a pod on this node. */
  pod: string;
  /** The pod's IPs, the key the renderer dispatches on (source for egress, destination for ingress). */
  addresses: string[];
  direction: PolicyDirection;
  /** Some NetworkPolicy that selects the pod has this direction in its policyTypes. */
  isolated: boolean;
  /** The NetworkPolicies and ClusterNetworkPolicies that select this pod for this direction. */
  selectedBy: string[];
  /** In evaluation order: admin rules by priority, then networkpolicy rules, then baseline rules. */
  rules: PolicyRule[];
}

export interface PolicyProblem {
  /** "NetworkPolicy" | "ClusterNetworkPolicy" | "Pod". */
  kind: string;
  /** "" for cluster-scoped objects. */
  namespace: string;
  name: string;
  field: string;
  message: string;
}

/**
 * Read-only once made: the renderer and the incremental decider keep a decision's arrays and
 * objects and take the same array or object next time as the same contents.
 */
export interface PolicyDecision {
  /**
   * Only pods with at least one rule or isolation in a direction appear; a local pod absent for a
   * direction is not policed in it.
   */
  pods: PodDirectionPolicy[];
  /** Address sets by id: IPv4/IPv6 addresses and CIDRs, ipBlock `except` ranges already removed. */
  addressSets: Map<string, string[]>;
  /** Address-port sets by id (egress named ports). */
  addressPortSets: Map<string, AddressPort[]>;
  /** Policies or parts of policies that cannot be enforced as written (never silently dropped). */
  problems: PolicyProblem[];
}
