// IP address arithmetic: addresses as bigints so IPv4 and IPv6 share one code path (IPAM, routes, rules).
import { isIPv4, isIPv6 } from "node:net";

export type Family = 4 | 6;

export interface Cidr {
  family: Family;
  /** The network address (host bits zero). */
  base: bigint;
  prefixLength: number;
  /** Number of addresses in the block. */
  size: bigint;
  text: string;
}

export function ipFamily(ip: string): Family {
  if (isIPv4(ip)) return 4;
  if (isIPv6(ip)) return 6;
  throw new Error(`'${ip}' is not an IP address`);
}

export function ipToBigInt(ip: string): bigint {
  if (isIPv4(ip)) return ip.split(".").reduce((acc, part) => (acc << 8n) | BigInt(Number(part)), 0n);
  if (!isIPv6(ip)) throw new Error(`'${ip}' is not an IP address`);
  let text = ip;
  // An embedded IPv4 tail (::ffff:1.2.3.4) becomes two hextets.
  const v4 = text.match(/(\d+\.\d+\.\d+\.\d+)$/);
  if (v4) {
    const n = ipToBigInt(v4[1]);
    text = `${text.slice(0, -v4[1].length)}${(n >> 16n).toString(16)}:${(n & 0xffffn).toString(16)}`;
  }
  const [head, tail] = text.split("::");
  const headParts = head ? head.split(":") : [];
  const tailParts = tail !== undefined && tail !== "" ? tail.split(":") : [];
  const zeros = tail !== undefined ? 8 - headParts.length - tailParts.length : 0;
  const parts = [...headParts, ...Array(zeros).fill("0"), ...tailParts];
  return parts.reduce((acc, part) => (acc << 16n) | BigInt(parseInt(part, 16)), 0n);
}

export function bigIntToIp(value: bigint, family: Family): string {
  if (family === 4) return [24n, 16n, 8n, 0n].map((s) => Number((value >> s) & 0xffn)).join(".");
  const parts: number[] = [];
  for (let i = 7; i >= 0; i--) parts.push(Number((value >> BigInt(i * 16)) & 0xffffn));
  // RFC 5952: compress the longest run (of two or more) of zero hextets.
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (parts[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && parts[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = parts.map((p) => p.toString(16));
  if (bestStart < 0) return hex.join(":");
  return `${hex.slice(0, bestStart).join(":")}::${hex.slice(bestStart + bestLen).join(":")}`;
}

/** Canonical text of an address (lower case, compressed), so equal addresses compare equal. */
export function canonicalIp(ip: string): string {
  // Node's isIPv4 accepts only the canonical dotted quad (no leading zeros).
  if (isIPv4(ip)) return ip;
  return bigIntToIp(ipToBigInt(ip), ipFamily(ip));
}

export function parseCidr(text: string): Cidr {
  const slash = text.indexOf("/");
  if (slash < 0) throw new Error(`'${text}' is not a CIDR (want ADDRESS/PREFIX)`);
  const ip = text.slice(0, slash);
  const family = ipFamily(ip);
  const bits = family === 4 ? 32 : 128;
  const prefixText = text.slice(slash + 1);
  const prefixLength = Number(prefixText);
  if (!/^\d+$/.test(prefixText) || prefixLength > bits)
    throw new Error(`'${text}': prefix length must be 0-${bits}`);
  const hostBits = BigInt(bits - prefixLength);
  const base = (ipToBigInt(ip) >> hostBits) << hostBits;
  return {
    family,
    base,
    prefixLength,
    size: 1n << hostBits,
    text: `${bigIntToIp(base, family)}/${prefixLength}`,
  };
}

export function cidrContains(cidr: Cidr, ip: string): boolean {
  if (ipFamily(ip) !== cidr.family) return false;
  const n = ipToBigInt(ip);
  return n >= cidr.base && n < cidr.base + cidr.size;
}

/**
 * The addresses a pool hands out: for IPv4 not the network address and not the broadcast address
 * (when the block is larger than /31); for IPv6 not the subnet-router anycast address (offset 0).
 */
export function usableRange(cidr: Cidr): { first: bigint; last: bigint } {
  const last = cidr.base + cidr.size - 1n;
  if (cidr.family === 4 && cidr.prefixLength < 31) return { first: cidr.base + 1n, last: last - 1n };
  if (cidr.family === 6 && cidr.prefixLength < 127) return { first: cidr.base + 1n, last };
  return { first: cidr.base, last };
}
