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
 * The opening of an expression, prebuilt: NFTA_LIST_ELEM (nested, length filled in by end()),
 * NFTA_EXPR_NAME "name", NFTA_EXPR_DATA (nested, length filled in by end()), then the headers of
 * the leading 32-bit attributes (types `u32s`), whose values put() patches in.
 */
class Opening {
  readonly bytes: Uint8Array;
  /** Offset of NFTA_EXPR_DATA from the start. */
  readonly data: number;
  constructor(name: string, u32s: number[] = []) {
    const nameLen = 4 + name.length + 1;
    this.data = 4 + ((nameLen + 3) & ~3);
    const bytes = new Uint8Array(this.data + 4 + 8 * u32s.length);
    const dv = new DataView(bytes.buffer);
    dv.setUint16(2, NFTA_LIST_ELEM | NLA_F_NESTED, true);
    dv.setUint16(4, nameLen, true);
    dv.setUint16(6, NFTA_EXPR.NAME, true);
    for (let i = 0; i < name.length; i++) bytes[8 + i] = name.charCodeAt(i);
    dv.setUint16(this.data + 2, NFTA_EXPR.DATA | NLA_F_NESTED, true);
    u32s.forEach((type, i) => {
      dv.setUint16(this.data + 4 + 8 * i, 8, true);
      dv.setUint16(this.data + 4 + 8 * i + 2, type, true);
    });
    this.bytes = bytes;
  }
}

/** Opens the expression (with its leading 32-bit attributes, values to patch); returns the token for end(). */
function begin(w: NetlinkWriter, open: Opening): number {
  return w.raw(open.bytes);
}

/** Writes the value of the opening's i-th 32-bit attribute. */
function put(w: NetlinkWriter, e: number, open: Opening, i: number, value: number): void {
  w.putU32(e + open.data + 8 + 8 * i, value);
}

/** Closes what begin() opened. */
function end(w: NetlinkWriter, e: number, open: Opening): void {
  w.endNested(e + open.data);
  w.endNested(e);
}

const PAYLOAD = new Opening("payload", [1, 2, 3, 4]);
const META_LOAD = new Opening("meta", [2, 1]);
const META_SET = new Opening("meta", [2, 3]);
const CT = new Opening("ct", [2]);
const NUMGEN = new Opening("numgen", [1, 2, 3, 4]);
const HASH = new Opening("hash", [1, 2, 3, 4]);
const FIB = new Opening("fib", [3, 2, 1]);
const CMP = new Opening("cmp", [1, 2]);
const RANGE = new Opening("range", [1, 2]);
const BITWISE = new Opening("bitwise", [1, 2]);
const BYTEORDER = new Opening("byteorder", [1, 2, 3, 4, 5]);
const IMMEDIATE = new Opening("immediate", [1]);
const LOOKUP = new Opening("lookup", [2]);
const DYNSET = new Opening("dynset", [4, 3]);
const COUNTER = new Opening("counter");
const NAT = new Opening("nat", [1, 2]);
const MASQ = new Opening("masq");
const REJECT = new Opening("reject", [1]);
const LOG = new Opening("log");

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
  const e = begin(w, PAYLOAD);
  put(w, e, PAYLOAD, 0, dreg);
  put(w, e, PAYLOAD, 1, base);
  put(w, e, PAYLOAD, 2, offset);
  put(w, e, PAYLOAD, 3, len);
  end(w, e, PAYLOAD);
}

export function metaLoad(w: NetlinkWriter, dreg: number, key: number): void {
  const e = begin(w, META_LOAD);
  put(w, e, META_LOAD, 0, key);
  put(w, e, META_LOAD, 1, dreg);
  end(w, e, META_LOAD);
}

export function metaSet(w: NetlinkWriter, key: number, sreg: number): void {
  const e = begin(w, META_SET);
  put(w, e, META_SET, 0, key);
  put(w, e, META_SET, 1, sreg);
  end(w, e, META_SET);
}

export function ctLoad(w: NetlinkWriter, dreg: number, key: number, dir?: number): void {
  const e = begin(w, CT);
  put(w, e, CT, 0, key);
  w.u32Attr(1, dreg);
  if (dir !== undefined) w.bytesAttr(3, DIRECTION[dir]);
  end(w, e, CT);
}

export function ctSet(w: NetlinkWriter, key: number, sreg: number, dir?: number): void {
  const e = begin(w, CT);
  put(w, e, CT, 0, key);
  if (dir !== undefined) w.bytesAttr(3, DIRECTION[dir]);
  w.u32Attr(4, sreg);
  end(w, e, CT);
}

export function numgen(w: NetlinkWriter, dreg: number, type: number, mod: number, offset: number): void {
  const e = begin(w, NUMGEN);
  put(w, e, NUMGEN, 0, dreg);
  put(w, e, NUMGEN, 1, mod);
  put(w, e, NUMGEN, 2, type);
  put(w, e, NUMGEN, 3, offset);
  end(w, e, NUMGEN);
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
  const e = begin(w, HASH);
  put(w, e, HASH, 0, a.sreg);
  put(w, e, HASH, 1, a.dreg);
  put(w, e, HASH, 2, a.len);
  put(w, e, HASH, 3, a.mod);
  if (a.seed !== undefined) w.u32Attr(5, a.seed);
  w.u32Attr(6, a.offset).u32Attr(7, 0);
  end(w, e, HASH);
}

export function fib(w: NetlinkWriter, dreg: number, result: number, flags: number): void {
  const e = begin(w, FIB);
  put(w, e, FIB, 0, flags);
  put(w, e, FIB, 1, result);
  put(w, e, FIB, 2, dreg);
  end(w, e, FIB);
}

export function cmp(w: NetlinkWriter, sreg: number, op: CmpOp, data: Uint8Array): void {
  const e = begin(w, CMP);
  put(w, e, CMP, 0, sreg);
  put(w, e, CMP, 1, CMP_OP[op]);
  dataAttr(w, 3, data);
  end(w, e, CMP);
}

export function range(
  w: NetlinkWriter,
  sreg: number,
  inverted: boolean,
  from: Uint8Array,
  to: Uint8Array,
): void {
  const e = begin(w, RANGE);
  put(w, e, RANGE, 0, sreg);
  put(w, e, RANGE, 1, inverted ? 1 : 0);
  dataAttr(w, 3, from);
  dataAttr(w, 4, to);
  end(w, e, RANGE);
}

/** `reg = (reg & mask) ^ xor`; `withOp` adds NFTA_BITWISE_OP (nft sets it only for binary expressions). */
export function bitwise(
  w: NetlinkWriter,
  reg: number,
  mask: Uint8Array,
  xor: Uint8Array,
  withOp: boolean,
): void {
  const e = begin(w, BITWISE);
  put(w, e, BITWISE, 0, reg);
  put(w, e, BITWISE, 1, reg);
  if (withOp) w.u32Attr(6, 0);
  w.u32Attr(3, mask.length);
  dataAttr(w, 4, mask);
  dataAttr(w, 5, xor);
  end(w, e, BITWISE);
}

export function byteorder(w: NetlinkWriter, reg: number, op: number, len: number, size: number): void {
  const e = begin(w, BYTEORDER);
  put(w, e, BYTEORDER, 0, reg);
  put(w, e, BYTEORDER, 1, reg);
  put(w, e, BYTEORDER, 2, op);
  put(w, e, BYTEORDER, 3, len);
  put(w, e, BYTEORDER, 4, size);
  end(w, e, BYTEORDER);
}

export function immediateData(w: NetlinkWriter, dreg: number, data: Uint8Array): void {
  const e = begin(w, IMMEDIATE);
  put(w, e, IMMEDIATE, 0, dreg);
  dataAttr(w, 2, data);
  end(w, e, IMMEDIATE);
}

export function immediateVerdict(w: NetlinkWriter, verdict: VerdictName, chain?: string): void {
  const e = begin(w, IMMEDIATE);
  put(w, e, IMMEDIATE, 0, 0);
  const data = w.beginNested(2);
  const v = w.beginNested(NFTA_DATA.VERDICT);
  w.u32Attr(NFTA_VERDICT.CODE, VERDICT_CODE[verdict]);
  if (chain !== undefined) w.stringAttr(NFTA_VERDICT.CHAIN, chain);
  w.endNested(v);
  w.endNested(data);
  end(w, e, IMMEDIATE);
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
  const e = begin(w, LOOKUP);
  put(w, e, LOOKUP, 0, a.sreg);
  if (a.dreg !== undefined) w.u32Attr(3, a.dreg);
  w.stringAttr(1, a.set);
  if (a.setId !== undefined) w.u32Attr(4, a.setId);
  if (a.inverted) w.u32Attr(5, 1);
  end(w, e, LOOKUP);
}

export interface DynsetArgs {
  sregKey: number;
  op: number;
  /** Milliseconds. */
  timeout?: number;
  set: string;
}

export function dynset(w: NetlinkWriter, a: DynsetArgs): void {
  const e = begin(w, DYNSET);
  put(w, e, DYNSET, 0, a.sregKey);
  put(w, e, DYNSET, 1, a.op);
  if (a.timeout !== undefined) w.u64Attr(6, a.timeout);
  w.stringAttr(1, a.set);
  end(w, e, DYNSET);
}

export function counter(w: NetlinkWriter): void {
  end(w, begin(w, COUNTER), COUNTER);
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
  const e = begin(w, NAT);
  put(w, e, NAT, 0, a.type);
  put(w, e, NAT, 1, a.family);
  if (a.addrMin !== undefined) w.u32Attr(3, a.addrMin);
  if (a.addrMax !== undefined) w.u32Attr(4, a.addrMax);
  if (a.protoMin !== undefined) w.u32Attr(5, a.protoMin);
  if (a.protoMax !== undefined) w.u32Attr(6, a.protoMax);
  if (a.flags) w.u32Attr(7, a.flags);
  end(w, e, NAT);
}

export function masq(w: NetlinkWriter, flags: number, protoMin?: number, protoMax?: number): void {
  const e = begin(w, MASQ);
  if (flags) w.u32Attr(1, flags);
  if (protoMin !== undefined) w.u32Attr(2, protoMin);
  if (protoMax !== undefined) w.u32Attr(3, protoMax);
  end(w, e, MASQ);
}

export function reject(w: NetlinkWriter, type: number, code?: number): void {
  const e = begin(w, REJECT);
  put(w, e, REJECT, 0, type);
  if (code !== undefined) w.bytesAttr(2, Uint8Array.of(code));
  end(w, e, REJECT);
}

export interface LogArgs {
  prefix?: string;
  group?: number;
  snaplen?: number;
  qthreshold?: number;
  level?: number;
}

export function log(w: NetlinkWriter, a: LogArgs): void {
  const e = begin(w, LOG);
  if (a.prefix !== undefined) w.stringAttr(2, a.prefix);
  if (a.group !== undefined) u16Attr(w, 1, a.group);
  if (a.snaplen !== undefined) w.u32Attr(3, a.snaplen);
  if (a.qthreshold !== undefined) u16Attr(w, 4, a.qthreshold);
  if (a.level !== undefined) w.u32Attr(5, a.level);
  end(w, e, LOG);
}
