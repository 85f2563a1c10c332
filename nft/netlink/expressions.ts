// The nf_tables kernel expressions a rule is made of, one writer per expression type. Each writes
// one NFTA_LIST_ELEM { NFTA_EXPR_NAME, NFTA_EXPR_DATA { … } } with its attributes in the order
// libnftnl 1.2 builds them, so a rule's bytes are the ones nft 1.0.6 sends. Registers are the
// kernel's numbers (0 = verdict, 1-4 = 128-bit, 8-23 = 32-bit); nft/netlink/rule.ts chooses them.
import { NFTA_DATA, NFTA_EXPR, NFTA_LIST_ELEM, NFTA_VERDICT, VERDICT_CODE } from "./constants.ts";
import { type NetlinkWriter, NLA_F_NESTED } from "./writer.ts";

/** enum nft_cmp_ops */
export const CMP_OP = { "==": 0, "!=": 1, "<": 2, "<=": 3, ">": 4, ">=": 5 } as const;
export type CmpOp = keyof typeof CMP_OP;

/** enum nft_payload_bases */
export const PAYLOAD_BASE = { link: 0, network: 1, transport: 2 } as const;

export const BYTEORDER_OP = { ntoh: 0, hton: 1 } as const;
export const DYNSET_OP = { add: 0, update: 1, delete: 2 } as const;

export type VerdictName = keyof typeof VERDICT_CODE;

// Each writer opens its expression with begin() and closes it with end(): no closures, so a
// 40,000-rule batch allocates nothing per expression.

/**
 * The opening of each expression, prebuilt: NFTA_LIST_ELEM (nested, length filled in by end()),
 * NFTA_EXPR_NAME "name", NFTA_EXPR_DATA (nested, length filled in by end()).
 */
const OPENINGS = new Map<string, Uint8Array>();

function opening(name: string): Uint8Array {
  let bytes = OPENINGS.get(name);
  if (!bytes) {
    const nameLen = 4 + name.length + 1;
    const padded = (nameLen + 3) & ~3;
    bytes = new Uint8Array(4 + padded + 4);
    const dv = new DataView(bytes.buffer);
    dv.setUint16(2, NFTA_LIST_ELEM | NLA_F_NESTED, true);
    dv.setUint16(4, nameLen, true);
    dv.setUint16(6, NFTA_EXPR.NAME, true);
    for (let i = 0; i < name.length; i++) bytes[8 + i] = name.charCodeAt(i);
    dv.setUint16(4 + padded + 2, NFTA_EXPR.DATA | NLA_F_NESTED, true);
    OPENINGS.set(name, bytes);
  }
  return bytes;
}

/** Opens NFTA_LIST_ELEM { NFTA_EXPR_NAME name, NFTA_EXPR_DATA { …; returns the token for end(). */
function begin(w: NetlinkWriter, name: string): number {
  return w.raw(opening(name));
}

/** Closes what begin() opened (the data attribute follows the padded name attribute). */
function end(w: NetlinkWriter, elem: number, name: string): void {
  w.endNested(elem + 4 + ((4 + name.length + 1 + 3) & ~3));
  w.endNested(elem);
}

/** A nested nft_data value: NFTA_DATA_VALUE with the raw bytes. */
function dataAttr(w: NetlinkWriter, type: number, value: Uint8Array): void {
  const token = w.beginNested(type);
  w.bytesAttr(NFTA_DATA.VALUE, value);
  w.endNested(token);
}

function u16Attr(w: NetlinkWriter, type: number, value: number): void {
  w.bytesAttr(type, Uint8Array.of(value >> 8, value & 0xff));
}

const DIRECTION = [Uint8Array.of(0), Uint8Array.of(1)];

export function payloadLoad(w: NetlinkWriter, dreg: number, base: number, offset: number, len: number): void {
  const e = begin(w, "payload");
  w.u32Attr(1, dreg).u32Attr(2, base).u32Attr(3, offset).u32Attr(4, len);
  end(w, e, "payload");
}

export function metaLoad(w: NetlinkWriter, dreg: number, key: number): void {
  const e = begin(w, "meta");
  w.u32Attr(2, key).u32Attr(1, dreg);
  end(w, e, "meta");
}

export function metaSet(w: NetlinkWriter, key: number, sreg: number): void {
  const e = begin(w, "meta");
  w.u32Attr(2, key).u32Attr(3, sreg);
  end(w, e, "meta");
}

export function ctLoad(w: NetlinkWriter, dreg: number, key: number, dir?: number): void {
  const e = begin(w, "ct");
  w.u32Attr(2, key).u32Attr(1, dreg);
  if (dir !== undefined) w.bytesAttr(3, DIRECTION[dir]);
  end(w, e, "ct");
}

export function ctSet(w: NetlinkWriter, key: number, sreg: number, dir?: number): void {
  const e = begin(w, "ct");
  w.u32Attr(2, key);
  if (dir !== undefined) w.bytesAttr(3, DIRECTION[dir]);
  w.u32Attr(4, sreg);
  end(w, e, "ct");
}

export function numgen(w: NetlinkWriter, dreg: number, type: number, mod: number, offset: number): void {
  const e = begin(w, "numgen");
  w.u32Attr(1, dreg).u32Attr(2, mod).u32Attr(3, type).u32Attr(4, offset);
  end(w, e, "numgen");
}

export interface HashArgs {
  sreg: number;
  dreg: number;
  len: number;
  mod: number;
  seed?: number;
  offset: number;
}

export function jhash(w: NetlinkWriter, a: HashArgs): void {
  const e = begin(w, "hash");
  w.u32Attr(1, a.sreg).u32Attr(2, a.dreg).u32Attr(3, a.len).u32Attr(4, a.mod);
  if (a.seed !== undefined) w.u32Attr(5, a.seed);
  w.u32Attr(6, a.offset).u32Attr(7, 0);
  end(w, e, "hash");
}

export function fib(w: NetlinkWriter, dreg: number, result: number, flags: number): void {
  const e = begin(w, "fib");
  w.u32Attr(3, flags).u32Attr(2, result).u32Attr(1, dreg);
  end(w, e, "fib");
}

export function cmp(w: NetlinkWriter, sreg: number, op: CmpOp, data: Uint8Array): void {
  const e = begin(w, "cmp");
  w.u32Attr(1, sreg).u32Attr(2, CMP_OP[op]);
  dataAttr(w, 3, data);
  end(w, e, "cmp");
}

export function range(
  w: NetlinkWriter,
  sreg: number,
  inverted: boolean,
  from: Uint8Array,
  to: Uint8Array,
): void {
  const e = begin(w, "range");
  w.u32Attr(1, sreg).u32Attr(2, inverted ? 1 : 0);
  dataAttr(w, 3, from);
  dataAttr(w, 4, to);
  end(w, e, "range");
}

/** `reg = (reg & mask) ^ xor`; `withOp` adds NFTA_BITWISE_OP (nft sets it only for binary expressions). */
export function bitwise(
  w: NetlinkWriter,
  reg: number,
  mask: Uint8Array,
  xor: Uint8Array,
  withOp: boolean,
): void {
  const e = begin(w, "bitwise");
  w.u32Attr(1, reg).u32Attr(2, reg);
  if (withOp) w.u32Attr(6, 0);
  w.u32Attr(3, mask.length);
  dataAttr(w, 4, mask);
  dataAttr(w, 5, xor);
  end(w, e, "bitwise");
}

export function byteorder(w: NetlinkWriter, reg: number, op: number, len: number, size: number): void {
  const e = begin(w, "byteorder");
  w.u32Attr(1, reg).u32Attr(2, reg).u32Attr(3, op).u32Attr(4, len).u32Attr(5, size);
  end(w, e, "byteorder");
}

export function immediateData(w: NetlinkWriter, dreg: number, data: Uint8Array): void {
  const e = begin(w, "immediate");
  w.u32Attr(1, dreg);
  dataAttr(w, 2, data);
  end(w, e, "immediate");
}

export function immediateVerdict(w: NetlinkWriter, verdict: VerdictName, chain?: string): void {
  const e = begin(w, "immediate");
  w.u32Attr(1, 0);
  const data = w.beginNested(2);
  const v = w.beginNested(NFTA_DATA.VERDICT);
  w.u32Attr(NFTA_VERDICT.CODE, VERDICT_CODE[verdict]);
  if (chain !== undefined) w.stringAttr(NFTA_VERDICT.CHAIN, chain);
  w.endNested(v);
  w.endNested(data);
  end(w, e, "immediate");
}

export interface LookupArgs {
  sreg: number;
  /** Destination register of a map lookup (0 for a verdict map); absent for set membership. */
  dreg?: number;
  set: string;
  /** NFTA_LOOKUP_SET_ID: only for an anonymous set declared in the same batch. */
  setId?: number;
  inverted?: boolean;
}

export function lookup(w: NetlinkWriter, a: LookupArgs): void {
  const e = begin(w, "lookup");
  w.u32Attr(2, a.sreg);
  if (a.dreg !== undefined) w.u32Attr(3, a.dreg);
  w.stringAttr(1, a.set);
  if (a.setId !== undefined) w.u32Attr(4, a.setId);
  if (a.inverted) w.u32Attr(5, 1);
  end(w, e, "lookup");
}

export interface DynsetArgs {
  sregKey: number;
  op: number;
  /** Milliseconds. */
  timeout?: number;
  set: string;
}

export function dynset(w: NetlinkWriter, a: DynsetArgs): void {
  const e = begin(w, "dynset");
  w.u32Attr(4, a.sregKey).u32Attr(3, a.op);
  if (a.timeout !== undefined) w.u64Attr(6, a.timeout);
  w.stringAttr(1, a.set);
  end(w, e, "dynset");
}

export function counter(w: NetlinkWriter): void {
  end(w, begin(w, "counter"), "counter");
}

export interface NatArgs {
  type: 0 | 1; // NFT_NAT_SNAT, NFT_NAT_DNAT
  family: number;
  addrMin?: number;
  addrMax?: number;
  protoMin?: number;
  protoMax?: number;
  flags: number;
}

export function nat(w: NetlinkWriter, a: NatArgs): void {
  const e = begin(w, "nat");
  w.u32Attr(1, a.type).u32Attr(2, a.family);
  if (a.addrMin !== undefined) w.u32Attr(3, a.addrMin);
  if (a.addrMax !== undefined) w.u32Attr(4, a.addrMax);
  if (a.protoMin !== undefined) w.u32Attr(5, a.protoMin);
  if (a.protoMax !== undefined) w.u32Attr(6, a.protoMax);
  if (a.flags) w.u32Attr(7, a.flags);
  end(w, e, "nat");
}

export function masq(w: NetlinkWriter, flags: number, protoMin?: number, protoMax?: number): void {
  const e = begin(w, "masq");
  if (flags) w.u32Attr(1, flags);
  if (protoMin !== undefined) w.u32Attr(2, protoMin);
  if (protoMax !== undefined) w.u32Attr(3, protoMax);
  end(w, e, "masq");
}

export function reject(w: NetlinkWriter, type: number, code?: number): void {
  const e = begin(w, "reject");
  w.u32Attr(1, type);
  if (code !== undefined) w.bytesAttr(2, Uint8Array.of(code));
  end(w, e, "reject");
}

export interface LogArgs {
  prefix?: string;
  group?: number;
  snaplen?: number;
  qthreshold?: number;
  level?: number;
}

export function log(w: NetlinkWriter, a: LogArgs): void {
  const e = begin(w, "log");
  if (a.prefix !== undefined) w.stringAttr(2, a.prefix);
  if (a.group !== undefined) u16Attr(w, 1, a.group);
  if (a.snaplen !== undefined) w.u32Attr(3, a.snaplen);
  if (a.qthreshold !== undefined) u16Attr(w, 4, a.qthreshold);
  if (a.level !== undefined) w.u32Attr(5, a.level);
  end(w, e, "log");
}
