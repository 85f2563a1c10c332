// IPAM pool size, used and free per pod CIDR, from the node's pod CIDRs and the allocations.
import { cidrContains, parseCidr, usableRange } from "../net/cidr.ts";

export interface IpamPool {
  cidr: string;
  size: number;
  used: number;
  free: number;
}

/** Size is the CIDR's usable range (no network or IPv4 broadcast address), capped at 2^53. */
export function ipamPools(podCIDRs: readonly string[], allocations: readonly { ip: string }[]): IpamPool[] {
  return podCIDRs.map((text) => {
    const cidr = parseCidr(text);
    const { first, last } = usableRange(cidr);
    const size = Number(last - first + 1n);
    const used = allocations.filter((a) => {
      try {
        return cidrContains(cidr, a.ip);
      } catch {
        return false;
      }
    }).length;
    return { cidr: text, size, used, free: Math.max(0, size - used) };
  });
}
