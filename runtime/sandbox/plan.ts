// What the sandbox builds, derived from the example manifests: one "pod" network namespace per
// endpoint address in the EndpointSlices (named after its targetRef), listening on the slice ports;
// a node namespace that the agent programs; and a client namespace to try the services from.
import type { RawObject } from "../sources/source.ts";
import { formatProblem } from "../store/problems.ts";
import { validateObject } from "../store/validate.ts";

export interface SandboxPod {
  /** Short name from the endpoint's targetRef (or its address). */
  name: string;
  netns: string;
  address: string;
  /** Node-side veth name (inside the node namespace). */
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
  serviceCIDR: string;
  pods: SandboxPod[];
  services: SandboxService[];
}

export const sandboxNodeName = "wpsb-node";

export function planSandbox(pid: number, objects: RawObject[]): SandboxPlan {
  const prefix = `wpsb-${pid}`;
  const pods = new Map<string, SandboxPod>();
  const services: SandboxService[] = [];
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
    if (v.value.addressType !== "IPv4") continue; // the sandbox pods are IPv4-only
    const rawEndpoints = (raw.endpoints as { targetRef?: { name?: string } }[] | undefined) ?? [];
    v.value.endpoints.forEach((endpoint, i) => {
      for (const address of endpoint.addresses) {
        const refName = rawEndpoints[i]?.targetRef?.name;
        let pod = pods.get(address);
        if (!pod) {
          const index = pods.size + 1;
          const name = refName && /^[a-z0-9-]{1,20}$/.test(refName) ? refName : `pod${index}`;
          pod = {
            name,
            netns: `${prefix}-${name}`,
            address,
            hostVeth: `wpsb-p${index}`,
            tcpPorts: [],
            udpPorts: [],
          };
          pods.set(address, pod);
        }
        for (const port of v.value.ports) {
          const list = port.protocol === "UDP" ? pod.udpPorts : port.protocol === "TCP" ? pod.tcpPorts : null;
          if (list && !list.includes(port.port)) list.push(port.port);
        }
      }
    });
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
    serviceCIDR: "10.96.0.0/16",
    pods: [...pods.values()],
    services: services.sort((a, b) => a.key.localeCompare(b.key)),
  };
}
