// Names of everything the service planner puts in the shared table. Fixed objects start with
// `services-`; per-service-port objects start with `svc-` plus a kind letter and the IP family:
//   svc-c4-NS/NAME/PROTO/PORT   endpoint selection over cluster endpoints (Cluster policy)
//   svc-l4-…                    endpoint selection over this node's endpoints (Local policy)
//   svc-x4-…                    external traffic (NodePort, external IPs, load-balancer IPs)
//   svc-f4-…                    loadBalancerSourceRanges firewall
//   svc-a4-…/ADDR/PORT          ClientIP affinity set of one endpoint (a set, not a chain)
// Namespace, service and port names are DNS labels, so they are safe inside nft names; "/" keeps the
// parts apart because no part can contain it.

import { flat } from "../store/flat.ts";

export type Family = 4 | 6;

/** The mark bit that asks the postrouting chain to masquerade (kube-proxy's default bit). */
export const MASQUERADE_MARK = 0x4000;

export const chains = {
  natPrerouting: "services-nat-prerouting",
  natOutput: "services-nat-output",
  natPostrouting: "services-nat-postrouting",
  filterPrerouting: "services-filter-prerouting",
  filterInput: "services-filter-input",
  filterForward: "services-filter-forward",
  filterOutput: "services-filter-output",
  filterOutputPostDnat: "services-filter-output-post-dnat",
  dispatch: "services-dispatch",
  /** The "maps" shape's slot map lookups (base-rules.ts slotRules). */
  slots: "services-slots",
  markMasquerade: "services-mark-masquerade",
  masquerading: "services-masquerading",
  endpointsCheck: "services-endpoints-check",
  nodePortEndpointsCheck: "services-nodeport-endpoints-check",
  firewallCheck: "services-firewall-check",
  clusterIPsCheck: "services-cluster-ips-check",
  reject: "services-reject",
} as const;

/** Per-family shared sets and maps. */
export function sets(family: Family): SetNames {
  return family === 4 ? SETS4 : SETS6;
}

function setNames(family: Family) {
  return {
    /** ip . proto . port : verdict — ClusterIP, external IP and load-balancer IP dispatch. */
    serviceIPs: `services-ips${family}`,
    /** proto . port : verdict — NodePort dispatch on the node IPs. */
    nodePorts: `services-nodeports${family}`,
    /** The node IPs that accept NodePort traffic. */
    nodePortIPs: `services-nodeport-ips${family}`,
    /** Every active ClusterIP. */
    clusterIPs: `services-cluster-ips${family}`,
    /** The pod CIDRs of the cluster (traffic from them is "local"). */
    clusterCIDRs: `services-cluster-cidrs${family}`,
    /** ip . proto . port : verdict — reject or drop when a service has no usable endpoint. */
    noEndpoints: `services-no-endpoints${family}`,
    /** proto . port : verdict — the same for node ports. */
    noEndpointNodePorts: `services-no-endpoint-nodeports${family}`,
    /** ip . proto . port : verdict — destinations guarded by loadBalancerSourceRanges. */
    firewall: `services-firewall${family}`,
    /** endpoint . endpoint — a connection from an endpoint to itself through its service (hairpin). */
    hairpin: `services-hairpin${family}`,
    /** ip . proto . port . slot : endpoint . port — plain ClusterIP ports in the "maps" shape (slots.ts). */
    backends: `services-backends${family}`,
  };
}

export type SetNames = ReturnType<typeof setNames>;
const SETS4 = setNames(4);
const SETS6 = setNames(6);

/** "NS/NAME/PROTO/PORTNAME", the part every per-service-port name shares. */
export function servicePortBase(namespace: string, name: string, protocol: string, portName: string): string {
  return flat(namespace, "/", name, "/", protocol.toLowerCase(), "/", portName);
}

export const clusterChain = (family: Family, base: string) => flat("svc-c", family, "-", base);
export const localChain = (family: Family, base: string) => flat("svc-l", family, "-", base);
export const externalChain = (family: Family, base: string) => flat("svc-x", family, "-", base);
export const firewallChain = (family: Family, base: string) => flat("svc-f", family, "-", base);
/** IPv6 colons are not allowed in nft names; dots are, and cannot be confused within one family. */
export const affinitySet = (family: Family, base: string, address: string, port: number) =>
  flat("svc-a", family, "-", base, "/", address.replaceAll(":", "."), "/", port);

/** "ip . proto . port": a service address's key in the dispatch maps, as element ids spell it. */
export const addressId = (ip: string, proto: string, port: number) => flat(ip, " . ", proto, " . ", port);

/** The LbRequest key of a service port. */
export const lbKey = (namespace: string, name: string, portName: string) =>
  flat(namespace, "/", name, ":", portName);
