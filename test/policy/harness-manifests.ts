// The manifests of the truth table's world, as text: the Node, the Namespaces, the Pods (Pending
// before their CNI ADD, Running with their address after it) with upstream's named container ports,
// and the two policy files. Pure: the cluster harness writes them by rename.
import { stringify } from "yaml";
import {
  baseNamespaceLabels,
  basePodLabels,
  namespaceNames,
  nodeIP,
  type PolicyState,
  podCIDR,
  podIP,
  podKeys,
} from "./harness-model.ts";

export const nodeName = "n1";

/** Manifest file name -> content. */
export type ManifestFiles = Map<string, string>;

export function nodeManifest(): string {
  return stringify({
    apiVersion: "v1",
    kind: "Node",
    metadata: { name: nodeName },
    spec: { podCIDR, podCIDRs: [podCIDR] },
    status: { addresses: [{ type: "InternalIP", address: nodeIP }] },
  });
}

function list(items: Record<string, unknown>[]): string {
  return stringify({ apiVersion: "v1", kind: "List", items });
}

export function namespacesManifest(extra: PolicyState["namespaceLabels"] = {}): string {
  return list(
    namespaceNames.map((ns) => ({
      apiVersion: "v1",
      kind: "Namespace",
      metadata: { name: ns, labels: { ...baseNamespaceLabels(ns), ...(extra[ns] ?? {}) } },
    })),
  );
}

/** One container per port and protocol, its port named as upstream's e2e names them (serve-80-tcp). */
function containers(): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  for (const port of [80, 81]) {
    for (const protocol of ["TCP", "UDP"]) {
      const suffix = `${port}-${protocol.toLowerCase()}`;
      out.push({
        name: `cont-${suffix}`,
        image: "registry.k8s.io/e2e-test-images/agnhost:2.53",
        ports: [{ name: `serve-${suffix}`, containerPort: port, protocol }],
      });
    }
  }
  return out;
}

/** Every pod, Pending without an address (`running: false`) or Running with its fixed address. */
export function podsManifest(running: boolean, extra: PolicyState["podLabels"] = {}): string {
  return list(
    podKeys.map((key) => {
      const [namespace, name] = key.split("/");
      return {
        apiVersion: "v1",
        kind: "Pod",
        metadata: {
          namespace,
          name,
          uid: `npt-${namespace}-${name}`,
          labels: { ...basePodLabels(key), ...(extra[key] ?? {}) },
        },
        spec: { nodeName, containers: containers() },
        status: running
          ? { phase: "Running", podIP: podIP(key), podIPs: [{ ip: podIP(key) }] }
          : { phase: "Pending" },
      };
    }),
  );
}

export function policiesManifest(policies: Record<string, unknown>[] = []): string {
  return list(policies);
}

export function clusterPoliciesManifest(policies: Record<string, unknown>[] = []): string {
  return stringify({
    apiVersion: "policy.networking.k8s.io/v1alpha2",
    kind: "ClusterNetworkPolicyList",
    items: policies,
  });
}

/** The files a step's state consists of (everything but the Node). */
export function stepFiles(step: PolicyState): ManifestFiles {
  return new Map([
    ["namespaces.yaml", namespacesManifest(step.namespaceLabels)],
    ["pods.yaml", podsManifest(true, step.podLabels)],
    ["policies.yaml", policiesManifest(step.policies)],
    ["cluster-policies.yaml", clusterPoliciesManifest(step.clusterPolicies)],
    ["extra.yaml", list(step.extraObjects ?? [])],
  ]);
}
