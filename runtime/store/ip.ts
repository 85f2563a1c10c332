// IP address and CIDR parsing for validation: canonical text forms so planners compare strings safely.
// The arithmetic is runtime/net/cidr.ts; this adds the stricter rules Kubernetes applies to input.
import { isIPv4, isIPv6 } from "node:net";
import { canonicalIp, parseCidr } from "../net/cidr.ts";
import type { IpFamily } from "./objects.ts";

export interface ParsedIP {
  family: IpFamily;
  /** Canonical text: dotted quad, or lower-case compressed IPv6 (RFC 5952). */
  text: string;
}

export function parseIP(text: string): ParsedIP | null {
  if (isIPv4(text)) {
    // Leading zeros are ambiguous (octal in some parsers); Kubernetes rejects them too.
    if (text.split(".").some((o) => o.length > 1 && o.startsWith("0"))) return null;
    return { family: "IPv4", text };
  }
  // A zone index (fe80::1%eth0) is not an address a Kubernetes object may carry.
  if (isIPv6(text) && !text.includes("%")) return { family: "IPv6", text: canonicalIp(text.toLowerCase()) };
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
  if (prefix > (ip.family === "IPv4" ? 32 : 128)) return null;
  return { family: ip.family, text: parseCidr(`${ip.text}/${prefix}`).text, prefix };
}
