// Anonymous sets and maps of a rule (`tcp dport { 80, 443 }`, `numgen random mod 2 vmap { 0 : goto a,
// 1 : goto b }`): nft sends each as its own NEWSET (flags anonymous|constant, a "__set%d" or
// "__map%d" name the kernel numbers, an id the rule's lookup names) and NEWSETELEM before the rule,
// in the same batch. This file builds both messages' attributes as nft 1.0.6 does, user data
// included: nft lists a set's values by the key byte order and "typeof" it stored there.
import type { Verdict } from "../model.ts";
import {
  BYTEORDER,
  ELEM_F_INTERVAL_OPEN,
  ELEM_INTERVAL_END,
  NFT_DATA_VERDICT,
  NFTA_DATA,
  NFTA_SET,
  NFTA_SET_DESC,
  NFTA_SET_ELEM,
  NFTA_SET_ELEM_LIST,
  NFTA_VERDICT,
  SET_F,
  UDATA_ELEM_FLAGS,
  UDATA_SET,
  VERDICT_CODE,
} from "./constants.ts";
import { unsupported } from "./expressions-types.ts";
import type { NetlinkWriter } from "./writer.ts";

/** One TLV of nftnl user data: type, length (of the value), value. */
export function udata(type: number, value: Buffer): Buffer {
  if (value.length > 255) unsupported("set user data too long");
  return Buffer.concat([Buffer.from([type, value.length]), value]);
}

export function udataU32(type: number, value: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(value >>> 0);
  return udata(type, b);
}

/** The "typeof" of an expression: its kind and what identifies it (nft's expr build_udata). */
export function typeofUdata(etype: number, data: Buffer[]): Buffer {
  return Buffer.concat([udataU32(0, etype), udata(1, Buffer.concat(data))]);
}

/** The typeof user data of a verdict map's values. */
export const VERDICT_TYPEOF = typeofUdata(1, []);

/** What a set's key or a map's value is made of. */
export interface SetField {
  /** nft datatype id (a concatenation: the ids folded 6 bits at a time). */
  typeId: number;
  /** Bytes (a concatenation: the padded parts). */
  len: number;
  byteorder: number;
  /** The typeof user data of the key expression, when nft stores one. */
  typeof?: Buffer;
}

export type SetData = { value: Buffer } | { verdict: Verdict };

export interface AnonymousElement {
  key: Buffer;
  data?: SetData;
  /** An interval's end marker (the first value after the range). */
  end?: boolean;
  /** The start of a range that runs to the end of the key space. */
  open?: boolean;
}

export interface AnonymousSet {
  map: boolean;
  interval: boolean;
  key: SetField;
  /** For maps: the value type ("verdict" for a verdict map). */
  data?: SetField | "verdict";
  /** The number nft declares as the set's size. */
  size: number;
  elements: AnonymousElement[];
}

/** A sorted, merged list of inclusive [start, end] ranges as interval elements (nft's layout). */
export function intervalElements(ranges: [Buffer, Buffer][]): { elements: AnonymousElement[]; size: number } {
  if (ranges.length === 0) unsupported("empty anonymous set");
  const sorted = [...ranges].sort((a, b) => Buffer.compare(a[0], b[0]));
  const merged: [Buffer, Buffer][] = [];
  for (const [start, end] of sorted) {
    if (Buffer.compare(start, end) > 0) unsupported("range with its end before its start");
    const last = merged[merged.length - 1];
    // Overlapping or adjacent ranges become one, as nft merges them.
    if (
      last &&
      (Buffer.compare(start, last[1]) <= 0 || Buffer.compare(start, increment(last[1]) ?? start) === 0)
    ) {
      if (Buffer.compare(end, last[1]) > 0) last[1] = end;
    } else merged.push([start, end]);
  }
  const elements: AnonymousElement[] = [];
  const zero = Buffer.alloc(merged[0][0].length);
  if (!merged[0][0].equals(zero)) elements.push({ key: zero, end: true });
  for (const [start, end] of merged) {
    const after = increment(end);
    if (after) elements.push({ key: start }, { key: after, end: true });
    else elements.push({ key: start, open: true });
  }
  return { elements, size: 2 * merged.length + (merged[0][0].equals(zero) ? 0 : 1) };
}

/** The big-endian number one greater, or undefined when it would overflow. */
export function increment(b: Buffer): Buffer | undefined {
  const out = Buffer.from(b);
  for (let i = out.length - 1; i >= 0; i--) {
    if (out[i] < 255) {
      out[i]++;
      return out;
    }
    out[i] = 0;
  }
  return undefined;
}

function setUserdata(set: AnonymousSet): Buffer {
  const parts = [udataU32(UDATA_SET.keyByteorder, set.key.byteorder)];
  if (set.map) {
    const data = set.data === "verdict" ? BYTEORDER.invalid : (set.data?.byteorder ?? 0);
    parts.push(udataU32(UDATA_SET.dataByteorder, data));
  }
  if (set.interval) parts.push(udataU32(UDATA_SET.mergeElements, 1));
  if (set.key.typeof) parts.push(udata(UDATA_SET.keyTypeof, set.key.typeof));
  if (set.data === "verdict") parts.push(udata(UDATA_SET.dataTypeof, VERDICT_TYPEOF));
  if (set.map) parts.push(udataU32(UDATA_SET.dataInterval, 0));
  return Buffer.concat(parts);
}

/** NEWSET attributes after the table name. */
export function writeAnonymousSet(w: NetlinkWriter, set: AnonymousSet, id: number): void {
  w.stringAttr(NFTA_SET.NAME, set.map ? "__map%d" : "__set%d");
  w.u32Attr(
    NFTA_SET.FLAGS,
    SET_F.anonymous | SET_F.constant | (set.interval ? SET_F.interval : 0) | (set.map ? SET_F.map : 0),
  );
  w.u32Attr(NFTA_SET.KEY_TYPE, set.key.typeId);
  w.u32Attr(NFTA_SET.KEY_LEN, set.key.len);
  if (set.map) {
    w.u32Attr(NFTA_SET.DATA_TYPE, set.data === "verdict" ? NFT_DATA_VERDICT : (set.data?.typeId ?? 0));
    w.u32Attr(NFTA_SET.DATA_LEN, set.data === "verdict" ? 0 : (set.data?.len ?? 0));
  }
  w.u32Attr(NFTA_SET.ID, id);
  w.nested(NFTA_SET.DESC, () => w.u32Attr(NFTA_SET_DESC.SIZE, set.size));
  w.bytesAttr(NFTA_SET.USERDATA, setUserdata(set));
}

/** NFTA_DATA_VERDICT: a verdict as map data (an element's value). */
export function writeVerdict(w: NetlinkWriter, verdict: Verdict): void {
  const kind = typeof verdict === "object" && verdict !== null ? Object.keys(verdict)[0] : undefined;
  if (kind === undefined || !(kind in VERDICT_CODE))
    unsupported(`${JSON.stringify(verdict)} is not a verdict`);
  const code = VERDICT_CODE[kind as keyof typeof VERDICT_CODE];
  const token = w.beginNested(NFTA_DATA.VERDICT);
  w.u32Attr(NFTA_VERDICT.CODE, code);
  if (kind === "jump" || kind === "goto") {
    const target = (verdict as Record<string, { target?: string }>)[kind]?.target;
    if (!target) unsupported(`${kind} without a target chain`);
    w.stringAttr(NFTA_VERDICT.CHAIN, target);
  }
  w.endNested(token);
}

/** NEWSETELEM attributes after the table name. */
export function writeAnonymousElements(w: NetlinkWriter, set: AnonymousSet, id: number): void {
  w.stringAttr(NFTA_SET_ELEM_LIST.SET, set.map ? "__map%d" : "__set%d");
  w.u32Attr(4, id); // NFTA_SET_ELEM_LIST_SET_ID
  w.nested(NFTA_SET_ELEM_LIST.ELEMENTS, () => {
    set.elements.forEach((el, i) => {
      w.nested(i + 1, () => {
        if (el.end) w.u32Attr(NFTA_SET_ELEM.FLAGS, ELEM_INTERVAL_END);
        w.nested(NFTA_SET_ELEM.KEY, () => w.bytesAttr(NFTA_DATA.VALUE, el.key));
        if (el.data && "value" in el.data) {
          const value = el.data.value;
          w.nested(NFTA_SET_ELEM.DATA, () => w.bytesAttr(NFTA_DATA.VALUE, value));
        } else if (el.data) {
          const verdict = el.data.verdict;
          w.nested(NFTA_SET_ELEM.DATA, () => writeVerdict(w, verdict));
        }
        if (el.open) w.bytesAttr(NFTA_SET_ELEM.USERDATA, udataU32(UDATA_ELEM_FLAGS, ELEM_F_INTERVAL_OPEN));
      });
    });
  });
}
