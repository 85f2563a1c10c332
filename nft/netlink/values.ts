// Byte encodings of nft data values, as the kernel stores them in registers, set keys and map data.
// Multi-byte network fields (addresses, ports) are big-endian; values the kernel produces in host
// order (meta mark, numgen and jhash results, ct state, interface indexes) are little-endian on
// every host this runs on (x86-64, arm64). A concatenation pads each part to 4 bytes.
import { isIP } from "node:net";
import type { DataType } from "../model.ts";

/** Thrown for a value this encoder does not handle; callers fall back to the nft executable. */
export class NetlinkUnsupported extends Error {
  constructor(message: string) {
    super(message);
    this.name = "NetlinkUnsupported";
  }
}

const PROTOCOLS: Record<string, number> = {
  icmp: 1,
  igmp: 2,
  tcp: 6,
  udp: 17,
  gre: 47,
  esp: 50,
  ah: 51,
  icmpv6: 58,
  sctp: 132,
  udplite: 136,
};
const NF_PROTOS: Record<string, number> = { ipv4: 2, ipv6: 10 };
const CT_STATES: Record<string, number> = { invalid: 1, established: 2, related: 4, new: 8, untracked: 64 };
const IFNAMSIZ = 16;

/** Bytes a value of `type` occupies (before concatenation padding). */
export function valueLength(type: DataType): number {
  switch (type) {
    case "ipv4_addr":
      return 4;
    case "ipv6_addr":
      return 16;
    case "ether_addr":
      return 6;
    case "inet_proto":
    case "nf_proto":
      return 1;
    case "inet_service":
      return 2;
    case "ifname":
      return IFNAMSIZ;
    case "mark":
    case "integer":
    case "iface_index":
    case "ct_state":
      return 4;
    default:
      throw new NetlinkUnsupported(`data type ${type}: no netlink encoding`);
  }
}

function byte(n: number): Buffer {
  const b = Buffer.allocUnsafe(1);
  b[0] = n;
  return b;
}

function integer(value: unknown, what: string, max: number): number {
  if (typeof value === "number" && Number.isInteger(value) && value >= 0 && value <= max) return value;
  const n = typeof value === "string" && /^(0x[0-9a-f]+|\d+)$/i.test(value) ? Number(value) : value;
  if (typeof n !== "number" || !Number.isInteger(n) || n < 0 || n > max)
    throw new NetlinkUnsupported(`${what} ${String(value)}: not an integer in 0..${max}`);
  return n;
}

function named(table: Record<string, number>, value: unknown, what: string, max: number): number {
  if (typeof value === "string" && value in table) return table[value];
  return integer(value, what, max);
}

/** Dotted-quad text as 4 bytes (as node:net's isIPv4 accepts it: no leading zeros), or null. */
function parseIPv4(text: string): Buffer | null {
  const out = Buffer.allocUnsafe(4);
  let part = 0;
  let n = 0;
  let digits = 0;
  for (let i = 0; i <= text.length; i++) {
    const c = i < text.length ? text.charCodeAt(i) : 46;
    if (c === 46) {
      if (digits === 0 || part > 3) return null;
      out[part++] = n;
      n = 0;
      digits = 0;
    } else if (c >= 48 && c <= 57) {
      if (digits > 0 && n === 0) return null; // a leading zero
      n = n * 10 + (c - 48);
      if (++digits > 3 || n > 255) return null;
    } else return null;
  }
  return part === 4 ? out : null;
}

function ipv4(value: unknown): Buffer {
  const b = typeof value === "string" ? parseIPv4(value) : null;
  if (!b) throw new NetlinkUnsupported(`ipv4_addr ${String(value)}: not an IPv4 address`);
  return b;
}

function ipv6(value: unknown): Buffer {
  if (typeof value !== "string" || isIP(value) !== 6)
    throw new NetlinkUnsupported(`ipv6_addr ${String(value)}: not an IPv6 address`);
  let text = value;
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4) {
    const b = ipv4(v4[1]);
    text = `${text.slice(0, -v4[1].length)}${((b[0] << 8) | b[1]).toString(16)}:${((b[2] << 8) | b[3]).toString(16)}`;
  }
  const [head, tail] = text.includes("::") ? text.split("::") : [text, undefined];
  const left = head ? head.split(":") : [];
  const right = tail ? tail.split(":") : [];
  const groups =
    tail === undefined ? left : [...left, ...Array(8 - left.length - right.length).fill("0"), ...right];
  const out = Buffer.alloc(16);
  for (const [i, g] of groups.entries()) out.writeUInt16BE(Number.parseInt(g, 16), i * 2);
  return out;
}

/** Encodes one value of one data type (no padding). */
export function encodeValue(type: DataType, value: unknown): Buffer {
  switch (type) {
    case "ipv4_addr":
      return ipv4(value);
    case "ipv6_addr":
      return ipv6(value);
    case "ether_addr": {
      if (typeof value !== "string" || !/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/i.test(value))
        throw new NetlinkUnsupported(`ether_addr ${String(value)}: not a MAC address`);
      return Buffer.from(value.split(":").map((h) => Number.parseInt(h, 16)));
    }
    case "inet_proto":
      return byte(named(PROTOCOLS, value, "inet_proto", 255));
    case "nf_proto":
      return byte(named(NF_PROTOS, value, "nf_proto", 255));
    case "inet_service": {
      const b = Buffer.allocUnsafe(2);
      b.writeUInt16BE(integer(value, "inet_service", 65535));
      return b;
    }
    case "mark":
    case "integer":
    case "iface_index": {
      const b = Buffer.allocUnsafe(4);
      b.writeUInt32LE(integer(value, type, 0xffffffff));
      return b;
    }
    case "ct_state": {
      const names = Array.isArray(value) ? value : [value];
      const b = Buffer.alloc(4);
      b.writeUInt32LE(
        names.reduce<number>((bits, n) => bits | named(CT_STATES, n, "ct_state", 0xffffffff), 0),
      );
      return b;
    }
    case "ifname": {
      if (typeof value !== "string" || Buffer.byteLength(value) >= IFNAMSIZ || value.includes("*"))
        throw new NetlinkUnsupported(`ifname ${String(value)}: not an exact interface name`);
      const b = Buffer.alloc(IFNAMSIZ);
      b.write(value);
      return b;
    }
    default:
      throw new NetlinkUnsupported(`data type ${type}: no netlink encoding`);
  }
}

/** Length of a concatenated key: each part padded to 4 bytes. */
export function concatLength(types: DataType[]): number {
  return types.reduce((n, t) => n + ((valueLength(t) + 3) & ~3), 0);
}

/** Encodes a key or data value of `types` (one type, or a concatenation of several). */
export function encodeKey(types: DataType | DataType[], parts: unknown[]): Buffer {
  const list = Array.isArray(types) ? types : [types];
  if (list.length === 1) return encodeValue(list[0], parts[0]);
  if (parts.length !== list.length)
    throw new NetlinkUnsupported(`concatenation of ${list.join(" . ")}: ${parts.length} values given`);
  const out = Buffer.alloc(concatLength(list));
  let at = 0;
  list.forEach((t, i) => {
    encodeValue(t, parts[i]).copy(out, at);
    at += (valueLength(t) + 3) & ~3;
  });
  return out;
}
