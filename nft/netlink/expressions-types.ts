// What nft knows about the values rules compare and the keys they load: the byte layout of each
// value type (length, byte order, names of constants and bits), and the kernel numbers of payload
// fields, meta and ct keys, fib flags, NAT flags, log levels and reject codes. Used by the rule
// linearizer (nft/netlink/rule.ts); values it cannot lay out exactly throw NetlinkUnsupported.
import type { DataType, Immediate, NatFlag } from "../model.ts";
import { encodeValue, NetlinkUnsupported, valueLength } from "./values.ts";

/** How a value is laid out in a register. */
export interface ValueType {
  name: string;
  /** Bytes. */
  len: number;
  /** Host byte order (little-endian here): ordering compares need a byteorder conversion. */
  host: boolean;
  /** Names of single bits, for bitmask types (`ct state established,related`). */
  bits?: Record<string, number>;
  /** An interface name: compared as a NUL-padded string, `eth*` as a prefix. */
  string?: boolean;
  encode(value: Immediate): Buffer;
}

export function unsupported(message: string): never {
  throw new NetlinkUnsupported(message);
}

export function uintBytes(value: Immediate, len: number, host: boolean, what: string): Buffer {
  const n = typeof value === "string" && /^(0x[0-9a-f]+|\d+)$/i.test(value) ? Number(value) : value;
  const max = len >= 4 ? 0xffffffff : 2 ** (len * 8) - 1;
  if (typeof n !== "number" || !Number.isInteger(n) || n < 0 || n > max)
    unsupported(`${what} ${String(value)}: not an integer in 0..${max}`);
  const b = len <= 4 ? Buffer.allocUnsafe(len) : Buffer.alloc(len);
  if (len === 1) b.writeUInt8(n);
  else if (len === 2) host ? b.writeUInt16LE(n) : b.writeUInt16BE(n);
  else host ? b.writeUInt32LE(n) : b.writeUInt32BE(n);
  return b;
}

const fromDataType = (type: DataType): ValueType => ({
  name: type,
  len: valueLength(type),
  host: false,
  ...(type === "ifname" ? { string: true } : {}),
  encode: (v) => encodeValue(type, v),
});

const integer = (name: string, len: number, host: boolean): ValueType => ({
  name,
  len,
  host,
  encode: (v) => uintBytes(v, len, host, name),
});

const named = (name: string, len: number, host: boolean, names: Record<string, number>): ValueType => ({
  name,
  len,
  host,
  encode: (v) =>
    typeof v === "string" && v in names
      ? uintBytes(names[v], len, host, name)
      : uintBytes(v, len, host, name),
});

const bitmask = (name: string, bits: Record<string, number>): ValueType => ({
  name,
  len: 4,
  host: true,
  bits,
  encode: (v) =>
    typeof v === "string" && v in bits ? uintBytes(bits[v], 4, true, name) : uintBytes(v, 4, true, name),
});

export const T = {
  ipv4: fromDataType("ipv4_addr"),
  ipv6: fromDataType("ipv6_addr"),
  service: fromDataType("inet_service"),
  proto: fromDataType("inet_proto"),
  nfproto: fromDataType("nf_proto"),
  ifname: fromDataType("ifname"),
  mark: integer("mark", 4, true),
  u32host: integer("integer", 4, true),
  u8: integer("integer", 1, false),
  u16: integer("integer", 2, false),
  ifindex: {
    name: "iface_index",
    len: 4,
    host: true,
    // nft resolves a name in the namespace it runs in; only the loopback's index is known here.
    encode: (v: Immediate) =>
      v === "lo" ? uintBytes(1, 4, true, "iface_index") : uintBytes(v, 4, true, "iface_index"),
  } satisfies ValueType,
  ctState: bitmask("ct_state", { invalid: 1, established: 2, related: 4, new: 8, untracked: 64 }),
  ctStatus: bitmask("ct_status", {
    expected: 1,
    "seen-reply": 2,
    assured: 4,
    confirmed: 8,
    snat: 16,
    dnat: 32,
    dying: 512,
  }),
  fibAddrType: named("fib_addrtype", 4, true, {
    unspec: 0,
    unicast: 1,
    local: 2,
    broadcast: 3,
    anycast: 4,
    multicast: 5,
    blackhole: 6,
    unreachable: 7,
    prohibit: 8,
  }),
};

const DATA_TYPES: Partial<Record<DataType, ValueType>> = {
  ipv4_addr: T.ipv4,
  ipv6_addr: T.ipv6,
  inet_service: T.service,
  inet_proto: T.proto,
  nf_proto: T.nfproto,
  ifname: T.ifname,
  mark: T.mark,
  integer: T.u32host,
  iface_index: T.ifindex,
  ct_state: T.ctState,
};

export function typeOfData(type: DataType): ValueType {
  return DATA_TYPES[type] ?? unsupported(`data type ${type}: no netlink encoding`);
}

export const PAYLOAD_FIELDS: Record<string, Record<string, [offset: number, type: ValueType]>> = {
  ip: { saddr: [12, T.ipv4], daddr: [16, T.ipv4], ttl: [8, T.u8], length: [2, T.u16], id: [4, T.u16] },
  ip6: { saddr: [8, T.ipv6], daddr: [24, T.ipv6], hoplimit: [7, T.u8], length: [4, T.u16] },
  tcp: { sport: [0, T.service], dport: [2, T.service] },
  udp: { sport: [0, T.service], dport: [2, T.service], length: [4, T.u16] },
  sctp: { sport: [0, T.service], dport: [2, T.service] },
  udplite: { sport: [0, T.service], dport: [2, T.service] },
  dccp: { sport: [0, T.service], dport: [2, T.service] },
  th: { sport: [0, T.service], dport: [2, T.service] },
};

export const META_KEYS: Record<string, [key: number, type: ValueType]> = {
  length: [0, T.u32host],
  mark: [3, T.mark],
  iif: [4, T.ifindex],
  oif: [5, T.ifindex],
  iifname: [6, T.ifname],
  oifname: [7, T.ifname],
  skuid: [10, T.u32host],
  skgid: [11, T.u32host],
  nfproto: [15, T.nfproto],
  l4proto: [16, T.proto],
};

export const CT_KEYS: Record<string, [key: number, type: ValueType]> = {
  state: [0, T.ctState],
  status: [2, T.ctStatus],
  mark: [3, T.mark],
};

export const CT_ADDR_KEYS: Record<string, number> = {
  "ip saddr": 19,
  "ip daddr": 20,
  "ip6 saddr": 21,
  "ip6 daddr": 22,
};

export const FIB_FLAGS: Record<string, number> = { saddr: 1, daddr: 2, mark: 4, iif: 8, oif: 16 };
export const FIB_PRESENT = 32;

export const NAT_FLAGS: Record<NatFlag, number> = {
  random: 0x4,
  persistent: 0x8,
  "fully-random": 0x10,
  netmap: 0x40,
};
export const NAT_PROTO_SPECIFIED = 0x2;

export const LOG_LEVELS: Record<string, number> = {
  emerg: 0,
  alert: 1,
  crit: 2,
  err: 3,
  warn: 4,
  notice: 5,
  info: 6,
  debug: 7,
  audit: 8,
};

export const ICMP_CODES: Record<string, number> = {
  "net-unreachable": 0,
  "host-unreachable": 1,
  "prot-unreachable": 2,
  "port-unreachable": 3,
  "net-prohibited": 9,
  "host-prohibited": 10,
  "admin-prohibited": 13,
};
export const ICMPV6_CODES: Record<string, number> = {
  "no-route": 0,
  "admin-prohibited": 1,
  "addr-unreachable": 3,
  "port-unreachable": 4,
  "policy-fail": 5,
  "reject-route": 6,
};
export const ICMPX_CODES: Record<string, number> = {
  "no-route": 0,
  "port-unreachable": 1,
  "host-unreachable": 2,
  "admin-prohibited": 3,
};

export const REJECT_ICMP = 0;
export const REJECT_TCP_RST = 1;
export const REJECT_ICMPX = 2;

/** nft datatype ids (enum datatypes), by ValueType name: a set's key and data types. */
export const TYPE_IDS: Record<string, number> = {
  nf_proto: 2,
  integer: 4,
  ipv4_addr: 7,
  ipv6_addr: 8,
  inet_proto: 12,
  inet_service: 13,
  mark: 19,
  iface_index: 20,
  ct_state: 26,
  ct_status: 28,
  fib_addrtype: 38,
  ifname: 41,
};

/** A payload field as nft identifies it in a set's typeof: protocol description id, template index. */
export const PAYLOAD_TYPEOF: Record<string, [desc: number, fields: Record<string, number>]> = {
  udp: [6, { sport: 1, dport: 2, length: 3 }],
  udplite: [7, { sport: 1, dport: 2 }],
  tcp: [8, { sport: 1, dport: 2 }],
  dccp: [9, { sport: 1, dport: 2 }],
  sctp: [10, { sport: 1, dport: 2 }],
  th: [11, { sport: 1, dport: 2 }],
  ip: [12, { length: 5, id: 6, ttl: 8, saddr: 11, daddr: 12 }],
  ip6: [13, { length: 5, hoplimit: 7, saddr: 8, daddr: 9 }],
};

/** nft expression kinds (enum expr_types) as stored in a set's typeof. */
export const EXPR_TYPE = {
  verdict: 1,
  payload: 7,
  meta: 9,
  ct: 12,
  concat: 13,
  numgen: 23,
  hash: 24,
  fib: 26,
} as const;
