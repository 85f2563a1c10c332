// What the sandbox builds, derived from the example manifests: one "pod" network namespace per
// endpoint address in the EndpointSlices (named after its targetRef), listening on the slice ports;
// a node namespace that the agent programs; and a client namespace to try the services from.
// The pods are attached through CNI asking for the example addresses, so these must lie in the
// sandbox node's pod CIDRs (its Node object is generated from the plan).
import { cidrContains, parseCidr } from "../net/cidr.ts";
import type { RawObject } from "../sources/source.ts";
import type { Endpoint, EndpointPort } from "../store/objects.ts";
import { formatProblem } from "../store/problems.ts";
import { validateObject } from "../store/validate.ts";

export interface SandboxPod {
  /** Short name from the endpoint's targetRef (or its address). */
  name: string;
  /** The targetRef's namespace, passed to CNI as K8S_POD_NAMESPACE. */
  podNamespace?: string;
  /** The pod's network namespace; also its CNI_CONTAINERID (unique per sandbox). */
  netns: string;
  address: string;
  /** IPv6 address, when an IPv6 EndpointSlice lists the same pod (by targetRef). */
  address6?: string;
  /** Node-side veth name when wired by hand (wirePods); CNI attachments name theirs `wp…`. */
  hostVeth: string;
  tcpPorts: number[];
  udpPorts: number[];
}

export interface SandboxService {
  key: string;
  type: string;
  clusterIPs: string[];
  ports: { name: string; protocol: string; port: number; nodePort: number }[];
}

export interface SandboxPlan {
  prefix: string;
  nodeNetns: string;
  clientNetns: string;
  nodeName: string;
  /** The node's address on the client link: NodePorts answer here. */
  nodeIP: string;
  clientIP: string;
  /** Pods route to the node through this link-local gateway, held by every node-side veth. */
  podGateway: string;
  clusterCIDR: string;
  /** The node's IPv4 pod CIDR (its Node object's spec.podCIDRs): CNI IPAM hands out addresses here. */
  podCIDR: string;
  serviceCIDR: string;
  /** Dual stack: present when the manifests have IPv6 endpoints. */
  ipv6?: SandboxIPv6;
  pods: SandboxPod[];
  services: SandboxService[];
}

export interface SandboxIPv6 {
  nodeIP: string;
  clientIP: string;
  /** Link-local gateway held by every node-side veth. */
  podGateway: string;
  clusterCIDR: string;
  podCIDR: string;
  serviceCIDR: string;
}

export const sandboxNodeName = "wpsb-node";

export function planSandbox(pid: number, objects: RawObject[]): SandboxPlan {
  const prefix = `wpsb-${pid}`;
  const pods = new Map<string, SandboxPod>();
  const services: SandboxService[] = [];
  const slices: { ipv6: boolean; ports: EndpointPort[]; raw: RawObject; endpoints: Endpoint[] }[] = [];
  for (const raw of objects) {
    if (raw.kind === "Service") {
      const v = validateObject("Service", raw);
      if (!v.ok) throw new Error(`example manifests: ${v.problems.map(formatProblem).join("; ")}`);
      services.push({
        key: `${v.value.namespace}/${v.value.name}`,
        type: v.value.type,
        clusterIPs: v.value.clusterIPs,
        ports: v.value.ports.map((p) => ({
          name: p.name,
          protocol: p.protocol,
          port: p.port,
          nodePort: p.nodePort,
        })),
      });
    }
    if (raw.kind !== "EndpointSlice") continue;
    const v = validateObject("EndpointSlice", raw);
    if (!v.ok) throw new Error(`example manifests: ${v.problems.map(formatProblem).join("; ")}`);
    if (v.value.addressType === "FQDN") continue;
    const ipv6 = v.value.addressType === "IPv6";
    slices.push({ ipv6, ports: v.value.ports, raw, endpoints: v.value.endpoints });
  }
  // IPv4 endpoints make the pods; IPv6 endpoints join the pod with the same targetRef (dual stack).
  for (const pass of [false, true]) {
    for (const slice of slices.filter((s) => s.ipv6 === pass)) {
      const rawEndpoints =
        (slice.raw.endpoints as { targetRef?: { name?: string; namespace?: string } }[] | undefined) ?? [];
      slice.endpoints.forEach((endpoint, i) => {
        const refName = rawEndpoints[i]?.targetRef?.name;
        const refNamespace = rawEndpoints[i]?.targetRef?.namespace;
        for (const address of endpoint.addresses) {
          let pod = pods.get(refName ?? address);
          if (!pod && pass) continue; // an IPv6-only endpoint: the sandbox pods are IPv4 first
          if (!pod) {
            const index = pods.size + 1;
            const name = refName && /^[a-z0-9-]{1,20}$/.test(refName) ? refName : `pod${index}`;
            pod = {
              name,
              ...(refName && refNamespace ? { podNamespace: refNamespace } : {}),
              netns: `${prefix}-${name}`,
              address,
              hostVeth: `wpsb-p${index}`,
              tcpPorts: [],
              udpPorts: [],
            };
            pods.set(refName ?? address, pod);
          }
          if (pass) pod.address6 = address;
          for (const port of slice.ports) {
            const list =
              port.protocol === "UDP" ? pod.udpPorts : port.protocol === "TCP" ? pod.tcpPorts : null;
            if (list && !list.includes(port.port)) list.push(port.port);
          }
        }
      });
    }
  }
  const dualStack = [...pods.values()].some((p) => p.address6);
  const podCIDR = "10.244.1.0/24";
  const podCIDR6 = "fd00:10:244:1::/64";
  for (const pod of pods.values()) {
    for (const [address, cidr] of [
      [pod.address, podCIDR],
      [pod.address6, podCIDR6],
    ] as const) {
      if (address && !cidrContains(parseCidr(cidr), address))
        throw new Error(
          `example manifests: endpoint ${address} (pod ${pod.name}) is outside the sandbox node's pod CIDR ${cidr}: CNI IPAM cannot hand it out`,
        );
    }
  }
  return {
    prefix,
    nodeNetns: `${prefix}-node`,
    clientNetns: `${prefix}-client`,
    nodeName: sandboxNodeName,
    nodeIP: "10.250.0.1",
    clientIP: "10.250.0.2",
    podGateway: "169.254.1.1",
    clusterCIDR: "10.244.0.0/16",
    podCIDR,
    serviceCIDR: "10.96.0.0/16",
    ...(dualStack
      ? {
          ipv6: {
            nodeIP: "fd00:250::1",
            clientIP: "fd00:250::2",
            podGateway: "fe80::1",
            clusterCIDR: "fd00:10:244::/56",
            podCIDR: podCIDR6,
            serviceCIDR: "fd00:96::/112",
          },
        }
      : {}),
    pods: [...pods.values()],
    services: services.sort((a, b) => a.key.localeCompare(b.key)),
  };
}

/** The sandbox node's Node object: its pod CIDRs are what the agent's CNI IPAM allocates from. */
export function nodeManifest(plan: SandboxPlan): string {
  const podCIDRs = [plan.podCIDR, ...(plan.ipv6 ? [plan.ipv6.podCIDR] : [])];
  const addresses = [plan.nodeIP, ...(plan.ipv6 ? [plan.ipv6.nodeIP] : [])];
  return `# Generated by the sandbox: the node whose pod CIDRs the agent's CNI IPAM allocates from.
apiVersion: v1
kind: Node
metadata: {name: ${plan.nodeName}}
spec: {podCIDR: ${plan.podCIDR}, podCIDRs: [${podCIDRs.map((c) => `"${c}"`).join(", ")}]}
status: {addresses: [${addresses.map((a) => `{type: InternalIP, address: "${a}"}`).join(", ")}]}
`;
}
