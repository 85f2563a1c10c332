// The built-in `range` decider, like host-local: per family, the next free address after the last
// one handed out, wrapping around the pod CIDR. Continuing after the last address (instead of
// taking the lowest free one) is the reuse delay: a released address comes back only after the
// rest of the pool has been used once.
import {
  bigIntToIp,
  type Cidr,
  canonicalIp,
  cidrContains,
  ipFamily,
  ipToBigInt,
  parseCidr,
  usableRange,
} from "../net/cidr.ts";
import type { IpamAddress, IpamDecider, IpamDecision, IpamInput, IpamRoute } from "./decider.ts";

/** Parses and checks the pod CIDRs: at most one per family. */
export function parsePodCidrs(podCIDRs: string[]): Cidr[] {
  const cidrs = podCIDRs.map((text) => parseCidr(text));
  for (const family of [4, 6] as const)
    if (cidrs.filter((c) => c.family === family).length > 1)
      throw new Error(`podCIDRs: more than one IPv${family} CIDR (${podCIDRs.join(", ")})`);
  return cidrs;
}

export function defaultRoute(family: 4 | 6): IpamRoute {
  return { dst: family === 4 ? "0.0.0.0/0" : "::/0" };
}

function nextFree(cidr: Cidr, taken: Set<string>, after: string | undefined): string | null {
  const { first, last } = usableRange(cidr);
  const count = last - first + 1n;
  let start = first;
  if (after && cidrContains(cidr, after)) {
    const n = ipToBigInt(after) + 1n;
    start = n > last || n < first ? first : n;
  }
  // Bounded by the pool size and by the number of taken addresses: in a pool bigger than the
  // allocations, a free address is found within taken.size + 1 steps.
  const limit = count < BigInt(taken.size + 1) ? count : BigInt(taken.size + 1);
  let n = start;
  for (let i = 0n; i < limit; i++) {
    const ip = bigIntToIp(n, cidr.family);
    if (!taken.has(ip)) return ip;
    n = n === last ? first : n + 1n;
  }
  return null;
}

export function decideRange(input: IpamInput): IpamDecision {
  const cidrs = parsePodCidrs(input.podCIDRs);
  if (cidrs.length === 0) return { ok: false, reason: "exhausted", message: "the node has no pod CIDR" };
  const { request } = input;
  const mine = (a: { containerId: string; ifName: string }) =>
    a.containerId === request.containerId && a.ifName === request.ifName;
  // Allocations come from the store, which keeps addresses in canonical text.
  const taken = new Set<string>();
  for (const a of input.allocations) if (!mine(a)) taken.add(a.ip);
  const requested = new Map<number, string>();
  for (const raw of request.requestedIPs) {
    let ip: string;
    try {
      ip = canonicalIp(raw);
    } catch {
      return { ok: false, reason: "invalid-request", message: `requested IP '${raw}' is not an IP address` };
    }
    const family = ipFamily(ip);
    if (requested.has(family))
      return {
        ok: false,
        reason: "invalid-request",
        message: `more than one IPv${family} address requested`,
      };
    const cidr = cidrs.find((c) => c.family === family);
    if (!cidr || !cidrContains(cidr, ip))
      return {
        ok: false,
        reason: "requested-unavailable",
        message: `requested IP ${ip} is outside the node's pod CIDRs (${input.podCIDRs.join(", ")})`,
      };
    const { first, last } = usableRange(cidr);
    const n = ipToBigInt(ip);
    if (n < first || n > last)
      return {
        ok: false,
        reason: "requested-unavailable",
        message: `requested IP ${ip} is not a usable host address of ${cidr.text}`,
      };
    if (taken.has(ip)) {
      const holder = input.allocations.find((a) => a.ip === ip)!;
      return {
        ok: false,
        reason: "requested-unavailable",
        message: `requested IP ${ip} is taken by container ${holder.containerId} (${holder.ifName})`,
      };
    }
    requested.set(family, ip);
  }
  const addresses: IpamAddress[] = [];
  const routes: IpamRoute[] = [];
  for (const cidr of cidrs) {
    const ip =
      requested.get(cidr.family) ??
      nextFree(cidr, taken, cidr.family === 4 ? input.lastAllocated.v4 : input.lastAllocated.v6);
    if (ip === null) return { ok: false, reason: "exhausted", message: `pool ${cidr.text} is exhausted` };
    addresses.push({ ip, prefixLength: cidr.family === 4 ? 32 : 128 });
    routes.push(defaultRoute(cidr.family));
  }
  return { ok: true, addresses, routes };
}

export const rangeDecider: IpamDecider = { name: "range", allocate: decideRange };
