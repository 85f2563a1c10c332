// The nf_tables kernel expressions a rule is made of, one writer per expression type. Each writes
// one NFTA_LIST_ELEM { NFTA_EXPR_NAME, NFTA_EXPR_DATA { … } } with its attributes in the order
// libnftnl 1.2 builds them, so a rule's bytes are the ones nft 1.0.6 sends. Registers are the
// kernel's numbers (0 = verdict, 1-4 = 128-bit, 8-23 = 32-bit); nft/netlink/rule.ts chooses them.
import { NFTA_DATA, NFTA_EXPR, NFTA_LIST_ELEM, NFTA_VERDICT, VERDICT_CODE } from "./constants.ts";
import type { NetlinkWriter } from "./writer.ts";

/** enum nft_cmp_ops */
export const CMP_OP = { "==": 0, "!=": 1, "<": 2, "<=": 3, ">": 4, ">=": 5 } as const;
export type CmpOp = keyof typeof CMP_OP;

/** enum nft_payload_bases */
export const PAYLOAD_BASE = { link: 0, network: 1, transport: 2 } as const;

export const BYTEORDER_OP = { ntoh: 0, hton: 1 } as const;
export const DYNSET_OP = { add: 0, update: 1, delete: 2 } as const;

export type VerdictName = keyof typeof VERDICT_CODE;

function expr(w: NetlinkWriter, name: string, fill: (w: NetlinkWriter) => void): void {
  const elem = w.beginNested(NFTA_LIST_ELEM);
  w.stringAttr(NFTA_EXPR.NAME, name);
  w.nested(NFTA_EXPR.DATA, fill);
  w.endNested(elem);
}

/** A nested nft_data value: NFTA_DATA_VALUE with the raw bytes. */
function dataAttr(w: NetlinkWriter, type: number, value: Uint8Array): void {
  w.nested(type, (d) => d.bytesAttr(NFTA_DATA.VALUE, value));
}

function u16Attr(w: NetlinkWriter, type: number, value: number): void {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(value);
  w.bytesAttr(type, b);
}

export function payloadLoad(w: NetlinkWriter, dreg: number, base: number, offset: number, len: number): void {
  expr(w, "payload", (e) => e.u32Attr(1, dreg).u32Attr(2, base).u32Attr(3, offset).u32Attr(4, len));
}

export function metaLoad(w: NetlinkWriter, dreg: number, key: number): void {
  expr(w, "meta", (e) => e.u32Attr(2, key).u32Attr(1, dreg));
}

export function metaSet(w: NetlinkWriter, key: number, sreg: number): void {
  expr(w, "meta", (e) => e.u32Attr(2, key).u32Attr(3, sreg));
}

export function ctLoad(w: NetlinkWriter, dreg: number, key: number, dir?: number): void {
  expr(w, "ct", (e) => {
    e.u32Attr(2, key).u32Attr(1, dreg);
    if (dir !== undefined) e.bytesAttr(3, Buffer.from([dir]));
  });
}

export function ctSet(w: NetlinkWriter, key: number, sreg: number, dir?: number): void {
  expr(w, "ct", (e) => {
    e.u32Attr(2, key);
    if (dir !== undefined) e.bytesAttr(3, Buffer.from([dir]));
    e.u32Attr(4, sreg);
  });
}

export function numgen(w: NetlinkWriter, dreg: number, type: number, mod: number, offset: number): void {
  expr(w, "numgen", (e) => e.u32Attr(1, dreg).u32Attr(2, mod).u32Attr(3, type).u32Attr(4, offset));
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
  expr(w, "hash", (e) => {
    e.u32Attr(1, a.sreg).u32Attr(2, a.dreg).u32Attr(3, a.len).u32Attr(4, a.mod);
    if (a.seed !== undefined) e.u32Attr(5, a.seed);
    e.u32Attr(6, a.offset).u32Attr(7, 0);
  });
}

export function fib(w: NetlinkWriter, dreg: number, result: number, flags: number): void {
  expr(w, "fib", (e) => e.u32Attr(3, flags).u32Attr(2, result).u32Attr(1, dreg));
}

export function cmp(w: NetlinkWriter, sreg: number, op: CmpOp, data: Uint8Array): void {
  expr(w, "cmp", (e) => {
    e.u32Attr(1, sreg).u32Attr(2, CMP_OP[op]);
    dataAttr(e, 3, data);
  });
}

export function range(
  w: NetlinkWriter,
  sreg: number,
  inverted: boolean,
  from: Uint8Array,
  to: Uint8Array,
): void {
  expr(w, "range", (e) => {
    e.u32Attr(1, sreg).u32Attr(2, inverted ? 1 : 0);
    dataAttr(e, 3, from);
    dataAttr(e, 4, to);
  });
}

/** `reg = (reg & mask) ^ xor`; `withOp` adds NFTA_BITWISE_OP (nft sets it only for binary expressions). */
export function bitwise(
  w: NetlinkWriter,
  reg: number,
  mask: Uint8Array,
  xor: Uint8Array,
  withOp: boolean,
): void {
  expr(w, "bitwise", (e) => {
    e.u32Attr(1, reg).u32Attr(2, reg);
    if (withOp) e.u32Attr(6, 0);
    e.u32Attr(3, mask.length);
    dataAttr(e, 4, mask);
    dataAttr(e, 5, xor);
  });
}

export function byteorder(w: NetlinkWriter, reg: number, op: number, len: number, size: number): void {
  expr(w, "byteorder", (e) =>
    e.u32Attr(1, reg).u32Attr(2, reg).u32Attr(3, op).u32Attr(4, len).u32Attr(5, size),
  );
}

export function immediateData(w: NetlinkWriter, dreg: number, data: Uint8Array): void {
  expr(w, "immediate", (e) => {
    e.u32Attr(1, dreg);
    dataAttr(e, 2, data);
  });
}

export function immediateVerdict(w: NetlinkWriter, verdict: VerdictName, chain?: string): void {
  expr(w, "immediate", (e) => {
    e.u32Attr(1, 0);
    e.nested(2, (d) =>
      d.nested(NFTA_DATA.VERDICT, (v) => {
        v.u32Attr(NFTA_VERDICT.CODE, VERDICT_CODE[verdict]);
        if (chain !== undefined) v.stringAttr(NFTA_VERDICT.CHAIN, chain);
      }),
    );
  });
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
  expr(w, "lookup", (e) => {
    e.u32Attr(2, a.sreg);
    if (a.dreg !== undefined) e.u32Attr(3, a.dreg);
    e.stringAttr(1, a.set);
    if (a.setId !== undefined) e.u32Attr(4, a.setId);
    if (a.inverted) e.u32Attr(5, 1);
  });
}

export interface DynsetArgs {
  sregKey: number;
  op: number;
  /** Milliseconds. */
  timeout?: number;
  set: string;
}

export function dynset(w: NetlinkWriter, a: DynsetArgs): void {
  expr(w, "dynset", (e) => {
    e.u32Attr(4, a.sregKey).u32Attr(3, a.op);
    if (a.timeout !== undefined) e.u64Attr(6, a.timeout);
    e.stringAttr(1, a.set);
  });
}

export function counter(w: NetlinkWriter): void {
  expr(w, "counter", () => {});
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
  expr(w, "nat", (e) => {
    e.u32Attr(1, a.type).u32Attr(2, a.family);
    if (a.addrMin !== undefined) e.u32Attr(3, a.addrMin);
    if (a.addrMax !== undefined) e.u32Attr(4, a.addrMax);
    if (a.protoMin !== undefined) e.u32Attr(5, a.protoMin);
    if (a.protoMax !== undefined) e.u32Attr(6, a.protoMax);
    if (a.flags) e.u32Attr(7, a.flags);
  });
}

export function masq(w: NetlinkWriter, flags: number, protoMin?: number, protoMax?: number): void {
  expr(w, "masq", (e) => {
    if (flags) e.u32Attr(1, flags);
    if (protoMin !== undefined) e.u32Attr(2, protoMin);
    if (protoMax !== undefined) e.u32Attr(3, protoMax);
  });
}

export function reject(w: NetlinkWriter, type: number, code?: number): void {
  expr(w, "reject", (e) => {
    e.u32Attr(1, type);
    if (code !== undefined) e.bytesAttr(2, Buffer.from([code]));
  });
}

export interface LogArgs {
  prefix?: string;
  group?: number;
  snaplen?: number;
  qthreshold?: number;
  level?: number;
}

export function log(w: NetlinkWriter, a: LogArgs): void {
  expr(w, "log", (e) => {
    if (a.prefix !== undefined) e.stringAttr(2, a.prefix);
    if (a.group !== undefined) u16Attr(e, 1, a.group);
    if (a.snaplen !== undefined) e.u32Attr(3, a.snaplen);
    if (a.qthreshold !== undefined) u16Attr(e, 4, a.qthreshold);
    if (a.level !== undefined) e.u32Attr(5, a.level);
  });
}
