// Short builders for the scenario files: the objects come out exactly as a user writes them in YAML
// (networking.k8s.io/v1 NetworkPolicy, policy.networking.k8s.io/v1alpha2 ClusterNetworkPolicy), so a
// scenario reads like the manifest it applies.

export type Manifest = Record<string, unknown>;
export type Selector = { matchLabels?: Record<string, string>; matchExpressions?: Manifest[] };

export function netpol(namespace: string, name: string, spec: Manifest): Manifest {
  return { apiVersion: "networking.k8s.io/v1", kind: "NetworkPolicy", metadata: { namespace, name }, spec };
}

/** A ClusterNetworkPolicy of the Network Policy API (v1alpha2: tier, priority, subject, rules). */
export function cnp(name: string, tier: "Admin" | "Baseline", priority: number, rest: Manifest): Manifest {
  return {
    apiVersion: "policy.networking.k8s.io/v1alpha2",
    kind: "ClusterNetworkPolicy",
    metadata: { name },
    spec: { tier, priority, ...rest },
  };
}

/** Every pod (of the namespace, or every namespace). */
export const all: Selector = {};
export const pod = (name: string): Selector => ({ matchLabels: { pod: name } });
export const ns = (name: string): Selector => ({ matchLabels: { ns: name } });
export const labels = (matchLabels: Record<string, string>): Selector => ({ matchLabels });
export const expr = (
  key: string,
  operator: "In" | "NotIn" | "Exists" | "DoesNotExist",
  values?: string[],
): Selector => ({
  matchExpressions: [{ key, operator, ...(values ? { values } : {}) }],
});

export const tcp = (port: number | string, endPort?: number): Manifest => ({
  protocol: "TCP",
  port,
  ...(endPort ? { endPort } : {}),
});
export const udp = (port: number | string, endPort?: number): Manifest => ({
  protocol: "UDP",
  port,
  ...(endPort ? { endPort } : {}),
});

/** A ClusterNetworkPolicy subject or peer selecting pods in namespaces. */
export const pods = (namespaceSelector: Selector, podSelector: Selector): Manifest => ({
  pods: { namespaceSelector, podSelector },
});
export const namespaces = (selector: Selector): Manifest => ({ namespaces: selector });
