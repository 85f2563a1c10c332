// The planner's configuration, checked once and split by IP family.
import { parseCIDR, parseIP } from "../store/ip.ts";
import type { Family } from "./names.ts";

export interface ServiceProxyConfig {
  nodeName: string;
  nodeIPs: string[];
  clusterCIDRs: string[];
  serviceCIDRs: string[];
  masqueradeAll: boolean;
  nodeZone?: string;
  /** LB algorithm asked for when a service has no `lb.wasmplane.io/algorithm` annotation. Default "random". */
  defaultLbAlgorithm?: string;
}

export interface FamilyConfig {
  family: Family;
  nodeIPs: string[];
  clusterCIDRs: string[];
  serviceCIDRs: string[];
}

export interface ResolvedConfig {
  nodeName: string;
  nodeZone?: string;
  masqueradeAll: boolean;
  defaultLbAlgorithm: string;
  families: Record<Family, FamilyConfig>;
}

/** Checks every address and CIDR; an error names the config field and the bad value. */
export function resolveConfig(config: ServiceProxyConfig): ResolvedConfig {
  if (!config.nodeName) throw new Error("service proxy config: nodeName is required");
  const families: Record<Family, FamilyConfig> = {
    4: { family: 4, nodeIPs: [], clusterCIDRs: [], serviceCIDRs: [] },
    6: { family: 6, nodeIPs: [], clusterCIDRs: [], serviceCIDRs: [] },
  };
  config.nodeIPs.forEach((text, i) => {
    const ip = parseIP(text);
    if (!ip) throw new Error(`service proxy config: nodeIPs[${i}] "${text}" is not an IP address`);
    families[ip.family === "IPv4" ? 4 : 6].nodeIPs.push(ip.text);
  });
  for (const field of ["clusterCIDRs", "serviceCIDRs"] as const) {
    config[field].forEach((text, i) => {
      const cidr = parseCIDR(text);
      if (!cidr) throw new Error(`service proxy config: ${field}[${i}] "${text}" is not a CIDR`);
      families[cidr.family === "IPv4" ? 4 : 6][field].push(cidr.text);
    });
  }
  return {
    nodeName: config.nodeName,
    ...(config.nodeZone ? { nodeZone: config.nodeZone } : {}),
    masqueradeAll: config.masqueradeAll,
    defaultLbAlgorithm: config.defaultLbAlgorithm ?? "random",
    families,
  };
}

export const familyOf = (address: string): Family => (address.includes(":") ? 6 : 4);

/** Whether `cidr` ("a.b.c.d/n" or IPv6) contains `address` (same family assumed by the caller). */
export function cidrContains(cidr: string, address: string): boolean {
  const [net, lenText] = cidr.split("/");
  const len = Number(lenText);
  const a = addressBits(net);
  const b = addressBits(address);
  if (!a || !b || a.length !== b.length) return false;
  for (let i = 0; i < len; i++) if (a[i] !== b[i]) return false;
  return true;
}

function addressBits(text: string): number[] | null {
  const ip = parseIP(text);
  if (!ip) return null;
  const bits: number[] = [];
  if (ip.family === "IPv4") {
    for (const octet of ip.text.split(".")) for (let i = 7; i >= 0; i--) bits.push((Number(octet) >> i) & 1);
    return bits;
  }
  const [head, tail] = ip.text.includes("::") ? ip.text.split("::") : [ip.text, undefined];
  const left = head ? head.split(":") : [];
  const right = tail ? tail.split(":") : [];
  const groups =
    tail === undefined ? left : [...left, ...new Array(8 - left.length - right.length).fill("0"), ...right];
  for (const g of groups) {
    const n = Number.parseInt(g, 16);
    for (let i = 15; i >= 0; i--) bits.push((n >> i) & 1);
  }
  return bits;
}
