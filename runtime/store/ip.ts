// IP address and CIDR parsing for validation: canonical text forms so planners compare strings safely.
import { isIPv4, isIPv6 } from "node:net";
import type { IpFamily } from "./objects.ts";

export interface ParsedIP {
  family: IpFamily;
  /** Canonical text: dotted quad, or lower-case compressed IPv6 (RFC 5952). */
  text: string;
}

function ipv6Groups(text: string): number[] | null {
  let head = text;
  let tailV4: number[] = [];
  const lastColon = text.lastIndexOf(":");
  const maybeV4 = text.slice(lastColon + 1);
  if (maybeV4.includes(".")) {
    if (!isIPv4(maybeV4)) return null;
    const b = maybeV4.split(".").map(Number);
    tailV4 = [(b[0] << 8) | b[1], (b[2] << 8) | b[3]];
    head = `${text.slice(0, lastColon + 1)}${tailV4.length ? "0:0" : ""}`;
  }
  const halves = head.split("::");
  const parse = (part: string) => (part === "" ? [] : part.split(":").map((g) => Number.parseInt(g, 16)));
  let groups: number[];
  if (halves.length === 2) {
    const left = parse(halves[0]);
    const right = parse(halves[1]);
    groups = [...left, ...new Array(8 - left.length - right.length).fill(0), ...right];
  } else groups = parse(head);
  if (tailV4.length) groups.splice(6, 2, ...tailV4);
  return groups.length === 8 ? groups : null;
}

function formatIPv6(groups: number[]): string {
  // Longest run of two or more zero groups becomes "::" (first one on ties).
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(":");
  return `${hex.slice(0, bestStart).join(":")}::${hex.slice(bestStart + bestLen).join(":")}`;
}

export function parseIP(text: string): ParsedIP | null {
  if (isIPv4(text)) {
    // Leading zeros are ambiguous (octal in some parsers); Kubernetes rejects them too.
    if (text.split(".").some((o) => o.length > 1 && o.startsWith("0"))) return null;
    return { family: "IPv4", text };
  }
  if (isIPv6(text) && !text.includes("%")) {
    const groups = ipv6Groups(text.toLowerCase());
    return groups ? { family: "IPv6", text: formatIPv6(groups) } : null;
  }
  return null;
}

export interface ParsedCIDR {
  family: IpFamily;
  /** Network address (host bits cleared) and prefix length, canonical. */
  text: string;
  prefix: number;
}

export function parseCIDR(text: string): ParsedCIDR | null {
  const slash = text.indexOf("/");
  if (slash < 0) return null;
  const ip = parseIP(text.slice(0, slash));
  const prefixText = text.slice(slash + 1);
  if (!ip || !/^\d{1,3}$/.test(prefixText)) return null;
  const prefix = Number(prefixText);
  const bits = ip.family === "IPv4" ? 32 : 128;
  if (prefix > bits) return null;
  const masked = maskAddress(ip, prefix);
  return { family: ip.family, text: `${masked}/${prefix}`, prefix };
}

function maskAddress(ip: ParsedIP, prefix: number): string {
  if (ip.family === "IPv4") {
    const n = ip.text.split(".").reduce((acc, o) => acc * 256 + Number(o), 0);
    const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
    const m = (n & mask) >>> 0;
    return [m >>> 24, (m >>> 16) & 255, (m >>> 8) & 255, m & 255].join(".");
  }
  const groups = ipv6Groups(ip.text)!;
  const masked = groups.map((g, i) => {
    const keep = Math.max(0, Math.min(16, prefix - i * 16));
    return keep === 0 ? 0 : g & ((0xffff << (16 - keep)) & 0xffff);
  });
  return formatIPv6(masked);
}
