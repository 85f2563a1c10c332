// Policy ports as destination port ranges, and named ports resolved against container ports.
// A port entry without a port number means every port of its protocol: {protocol, 0, 65535}.
import type { ContainerPort, Protocol } from "../store/objects.ts";
import type { AddressPort, PortRange } from "./types.ts";

/** A NetworkPolicyPort or a ClusterNetworkPolicy port (protocol absent only with a named port). */
export interface PolicyPort {
  protocol?: Protocol;
  port?: number | string;
  endPort?: number;
}

export const anyPort = { first: 0, last: 65535 } as const;

export function isNamedPort(p: PolicyPort): p is PolicyPort & { port: string } {
  return typeof p.port === "string";
}

/** The range of a port entry that is not a named port. */
export function numericRange(p: PolicyPort): PortRange {
  const protocol = p.protocol ?? "TCP";
  if (typeof p.port !== "number") return { protocol, ...anyPort };
  return { protocol, first: p.port, last: p.endPort ?? p.port };
}

/** Container ports a named policy port picks: the same name and, when the policy gives one, protocol. */
export function resolveNamedPort(
  p: PolicyPort & { port: string },
  containerPorts: ContainerPort[],
): PortRange[] {
  return containerPorts
    .filter((c) => c.name === p.port && (p.protocol === undefined || c.protocol === p.protocol))
    .map((c) => ({ protocol: c.protocol, first: c.port, last: c.port }));
}

/** The named-port targets of one destination pod: (address, protocol, port) for each of its IPs. */
export function namedPortTargets(
  p: PolicyPort & { port: string },
  addresses: string[],
  containerPorts: ContainerPort[],
): AddressPort[] {
  const ranges = resolveNamedPort(p, containerPorts);
  return addresses.flatMap((address) =>
    ranges.map((r) => ({ address, protocol: r.protocol, port: r.first })),
  );
}

function compareRange(a: PortRange, b: PortRange): number {
  if (a.protocol !== b.protocol) return a.protocol < b.protocol ? -1 : 1;
  return a.first - b.first || a.last - b.last;
}

/** Sorted by protocol, first, last; duplicates removed. */
export function sortPortRanges(ranges: PortRange[]): PortRange[] {
  const sorted = [...ranges].sort(compareRange);
  return sorted.filter((r, i) => i === 0 || compareRange(r, sorted[i - 1]) !== 0);
}

function compareAddressPort(a: AddressPort, b: AddressPort): number {
  if (a.address !== b.address) return a.address < b.address ? -1 : 1;
  if (a.protocol !== b.protocol) return a.protocol < b.protocol ? -1 : 1;
  return a.port - b.port;
}

/** Sorted by address, protocol, port; duplicates removed. */
export function sortAddressPorts(list: AddressPort[]): AddressPort[] {
  const sorted = [...list].sort(compareAddressPort);
  return sorted.filter((r, i) => i === 0 || compareAddressPort(r, sorted[i - 1]) !== 0);
}

/** Whether a (protocol, port) is in one of the ranges; an empty list allows everything. */
export function portAllowed(ranges: PortRange[], protocol: Protocol, port: number): boolean {
  return (
    ranges.length === 0 || ranges.some((r) => r.protocol === protocol && r.first <= port && port <= r.last)
  );
}
