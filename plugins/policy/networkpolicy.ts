// Kubernetes NetworkPolicy (networking.k8s.io/v1) and the Network Policy API's ClusterNetworkPolicy
// (policy.networking.k8s.io/v1alpha2) for one local pod per call of the function: the admin tier by
// priority, the NetworkPolicies that select the pod (additive, isolating), the baseline tier. The
// TypeScript twin is runtime/policy/reference.ts; the tests hold them equal.
// wasmplane:manifest {"version": "1.0.0", "description": "NetworkPolicy and ClusterNetworkPolicy tiers"}
import { decide } from "./lib/decide";
import { memberships } from "./lib/memberships";
import { policyPlugin } from "../sdk/policy";
export * from "../sdk/exports";

policyPlugin(decide, memberships);
