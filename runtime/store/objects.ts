// Normalised, validated Kubernetes objects: what the store holds after a source delivered raw objects
// and validation accepted them. Planners read only these types, never raw API objects.

export type IpFamily = "IPv4" | "IPv6";
export type Protocol = "TCP" | "UDP" | "SCTP";

/** "namespace/name" */
export type ObjectKey = string;

export interface ServicePort {
  /** May be "" for a single unnamed port. */
  name: string;
  protocol: Protocol;
  port: number;
  /** 0 when the service has no node port. */
  nodePort: number;
  /** A number, or a port name resolved against EndpointSlice ports. */
  targetPort: number | string;
}

export interface Service {
  namespace: string;
  name: string;
  type: "ClusterIP" | "NodePort" | "LoadBalancer" | "ExternalName";
  /** Empty for headless services (clusterIP: None) and ExternalName. */
  clusterIPs: string[];
  ipFamilies: IpFamily[];
  ports: ServicePort[];
  externalIPs: string[];
  /** LoadBalancer ingress IPs whose ipMode is not "Proxy". */
  loadBalancerIPs: string[];
  loadBalancerSourceRanges: string[];
  externalTrafficPolicy: "Cluster" | "Local";
  internalTrafficPolicy: "Cluster" | "Local";
  /** 0 when sessionAffinity is None. */
  sessionAffinityTimeoutSeconds: number;
  annotations: Record<string, string>;
  /** spec.healthCheckNodePort (LoadBalancer with externalTrafficPolicy Local); absent when unset. */
  healthCheckNodePort?: number;
  /** Why this proxy leaves the service alone (a label kube-proxy also honours); absent when it proxies it. */
  notProxied?: string;
}

export interface EndpointConditions {
  ready: boolean;
  serving: boolean;
  terminating: boolean;
}

export interface Endpoint {
  addresses: string[];
  conditions: EndpointConditions;
  nodeName?: string;
  zone?: string;
  /** Zones this endpoint is hinted for (topology-aware routing). */
  hintZones?: string[];
}

export interface EndpointPort {
  name: string;
  protocol: Protocol;
  port: number;
}

export interface EndpointSlice {
  namespace: string;
  name: string;
  /** From label kubernetes.io/service-name. */
  serviceName: string;
  addressType: IpFamily | "FQDN";
  endpoints: Endpoint[];
  ports: EndpointPort[];
  /** Why this proxy ignores the slice (a label kube-proxy also honours); absent when it uses it. */
  notProxied?: string;
}

export interface Node {
  name: string;
  addresses: string[];
  podCIDRs: string[];
  zone?: string;
}

export interface Namespace {
  name: string;
  labels: Record<string, string>;
}

/** A container port of a pod (spec.containers[].ports and sidecar initContainers' ports). */
export interface ContainerPort {
  /** "" when the port is unnamed. */
  name: string;
  protocol: Protocol;
  port: number;
}

export interface Pod {
  namespace: string;
  name: string;
  uid: string;
  nodeName?: string;
  podIPs: string[];
  labels: Record<string, string>;
  annotations: Record<string, string>;
  /** Ports of the containers and of the restartable (sidecar) init containers, in spec order. */
  containerPorts: ContainerPort[];
  hostNetwork: boolean;
  /** status.phase ("Pending", "Running", "Succeeded", "Failed", "Unknown"); "" when absent. */
  phase: string;
}

export interface LabelSelectorRequirement {
  key: string;
  operator: "In" | "NotIn" | "Exists" | "DoesNotExist";
  values: string[];
}

/** A Kubernetes label selector; an empty selector (no labels, no expressions) selects everything. */
export interface LabelSelector {
  matchLabels: Record<string, string>;
  matchExpressions: LabelSelectorRequirement[];
}

export interface NetworkPolicyPeer {
  podSelector?: LabelSelector;
  namespaceSelector?: LabelSelector;
  ipBlock?: { cidr: string; except: string[] };
}

export interface NetworkPolicyPort {
  protocol: Protocol;
  /** Absent: every port. A name is resolved against the selected pods' container ports. */
  port?: number | string;
  /** With a numeric port: the inclusive end of a port range. */
  endPort?: number;
}

export interface NetworkPolicyRule {
  /** Empty: every peer (the rule's `from`/`to` was absent or empty). */
  peers: NetworkPolicyPeer[];
  /** Empty: every port. */
  ports: NetworkPolicyPort[];
}

export interface NetworkPolicy {
  namespace: string;
  name: string;
  podSelector: LabelSelector;
  policyTypes: ("Ingress" | "Egress")[];
  ingress: NetworkPolicyRule[];
  egress: NetworkPolicyRule[];
}

/** Pods in the namespaces a selector picks (policy.networking.k8s.io NamespacedPod). */
export interface NamespacedPodSelector {
  namespaceSelector: LabelSelector;
  podSelector: LabelSelector;
}

/** Exactly one field is set. */
export interface ClusterNetworkPolicySubject {
  namespaces?: LabelSelector;
  pods?: NamespacedPodSelector;
}

/** Exactly one field is set. */
export interface ClusterNetworkPolicyPeer {
  namespaces?: LabelSelector;
  pods?: NamespacedPodSelector;
  /** Egress only: CIDRs (canonical network addresses). */
  networks?: string[];
  /**
   * A peer type this implementation does not enforce (`nodes`, `domainNames`, or a field it does not
   * know): its field path. The API asks implementations to fail closed on it: an Accept rule with
   * such a peer matches nothing, a Deny or Pass rule matches all traffic.
   */
  unsupported?: string;
}

/**
 * One entry of a rule's `protocols`, in NetworkPolicyPort's shape: `tcp: {destinationPort: {number}}`
 * is {protocol, port}; a `range` is {protocol, port: start, endPort: end}; no destinationPort is
 * {protocol} (every port); `destinationNamedPort` is {port: name} without a protocol (the named
 * container port's own protocol).
 */
export interface ClusterNetworkPolicyPort {
  protocol?: Protocol;
  port?: number | string;
  endPort?: number;
}

export type ClusterNetworkPolicyAction = "Accept" | "Deny" | "Pass";

export interface ClusterNetworkPolicyRule {
  /** "" when unnamed. */
  name: string;
  action: ClusterNetworkPolicyAction;
  /** `from` for ingress, `to` for egress; at least one. */
  peers: ClusterNetworkPolicyPeer[];
  /** From `protocols`. Empty: all protocols and ports. */
  ports: ClusterNetworkPolicyPort[];
}

/** policy.networking.k8s.io/v1alpha2 ClusterNetworkPolicy (cluster-scoped). */
export interface ClusterNetworkPolicy {
  name: string;
  tier: "Admin" | "Baseline";
  /** 0-1000; lower is evaluated first within the tier. */
  priority: number;
  subject: ClusterNetworkPolicySubject;
  ingress: ClusterNetworkPolicyRule[];
  egress: ClusterNetworkPolicyRule[];
}

/** The validated state the planners work from. Keys are "namespace/name" (Node, Namespace: "name"). */
export interface Snapshot {
  services: Map<ObjectKey, Service>;
  endpointSlices: Map<ObjectKey, EndpointSlice>;
  nodes: Map<string, Node>;
  namespaces: Map<string, Namespace>;
  pods: Map<ObjectKey, Pod>;
  /** Optional so snapshots built by hand for service tests need not carry it; the store always fills it. */
  networkPolicies?: Map<ObjectKey, NetworkPolicy>;
  /** Keyed by name (cluster-scoped). Optional like networkPolicies; the store always fills it. */
  clusterNetworkPolicies?: Map<string, ClusterNetworkPolicy>;
}
