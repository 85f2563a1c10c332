// The planner's configuration, checked once and split by IP family.

import { cidrContains as containsAddress, parseCidr } from "../net/cidr.ts";
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
  /**
   * "maps" (default): plain ClusterIP ports are 1–16 slot elements of one data map, every other port
   * a chain (docs/services.md, "The maps shape"). "chains": one chain per service port and family.
   */
  shape?: ServiceShape;
}

export type ServiceShape = "chains" | "maps";

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
  shape: ServiceShape;
  families: Record<Family, FamilyConfig>;
}

/** Checks every address and CIDR; an error names the config field and the bad value. */
export function resolveConfig(config: ServiceProxyConfig): ResolvedConfig {
  if (!config.nodeName) throw new Error("service proxy config: nodeName is required");
  if (config.shape !== undefined && config.shape !== "chains" && config.shape !== "maps")
    throw new Error(`service proxy config: shape "${String(config.shape)}" is not "chains" or "maps"`);
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
    shape: config.shape ?? "maps",
    families,
  };
}

export const familyOf = (address: string): Family => (address.includes(":") ? 6 : 4);

/** Whether `cidr` ("a.b.c.d/n" or IPv6) contains `address`; false for another family or bad input. */
export function cidrContains(cidr: string, address: string): boolean {
  try {
    return containsAddress(parseCidr(cidr), address);
  } catch {
    return false;
  }
}
