// Declarations as nft 1.0.6 sends them: tables (comment), chains (base chain hook, priority,
// policy, device; comment) and named sets and maps (key and value types, flags, timeout, size, the
// user data nft lists them by), and the elements of interval sets declared in the same batch
// (nft's layout: sorted, an end element after each range, a leading end at zero). Each writer
// writes the attributes after the table name. Anything nft would send differently, or refuse,
// throws NetlinkUnsupported.
import type { DesiredChain, DesiredSet } from "../desired.ts";
import type { BaseChainSpec, DataType, Expression, SetElement, Verdict } from "../model.ts";
import { declaredByTypeof, priorityNumber } from "../render-text.ts";
import {
  BYTEORDER,
  ELEM_F_INTERVAL_OPEN,
  ELEM_INTERVAL_END,
  NFT_DATA_VERDICT,
  NFTA_CHAIN,
  NFTA_DATA,
  NFTA_SET,
  NFTA_SET_DESC,
  NFTA_SET_ELEM,
  NFTA_SET_ELEM_LIST,
  SET_F,
  UDATA_ELEM_FLAGS,
  UDATA_SET,
} from "./constants.ts";
import {
  increment,
  intervalElements,
  typeofUdata,
  udata,
  udataU32,
  VERDICT_TYPEOF,
  writeVerdict,
} from "./expressions-sets.ts";
import { encodeValue, NetlinkUnsupported } from "./values.ts";
import type { NetlinkWriter } from "./writer.ts";

const unsupported = (message: string): never => {
  throw new NetlinkUnsupported(message);
};

/** nft refuses comments longer than this many bytes (NFTNL_UDATA_COMMENT_MAXLEN). */
export const COMMENT_MAX = 128;

/** A comment's bytes, NUL-terminated, or NetlinkUnsupported for one nft refuses or cannot read. */
export function commentBytes(comment: string, what: string): Buffer {
  const text = Buffer.from(`${comment}\0`);
  if (text.length - 1 > COMMENT_MAX)
    unsupported(`${what}: comment longer than ${COMMENT_MAX} bytes (nft refuses it)`);
  if (text.indexOf(0) !== text.length - 1 || /["\n]/.test(comment))
    unsupported(`${what}: comment with a quote, newline or NUL (nft cannot read it)`);
  return text;
}

/** The nftnl user-data block holding one comment (TLV type 0: tables, chains, rules, elements). */
export function commentUserdata(comment: string, what = "comment"): Buffer {
  return udata(0, commentBytes(comment, what));
}

// ---------------------------------------------------------------------------------------------
// Tables and chains

const NFTA_TABLE = { FLAGS: 2, USERDATA: 6 } as const;
const NFTA_CHAIN_USERDATA = 12;
const NFTA_HOOK = { HOOKNUM: 1, PRIORITY: 2, DEV: 3 } as const;
const NF_ACCEPT = 1;
const NF_DROP = 0;

/** NEWTABLE attributes after the name: flags (0, as nft always sends) and the comment. */
export function writeTableAttributes(w: NetlinkWriter, comment: string | undefined): void {
  w.u32Attr(NFTA_TABLE.FLAGS, 0);
  if (comment !== undefined) w.bytesAttr(NFTA_TABLE.USERDATA, commentUserdata(comment, "table"));
}

/** Hook numbers of the ip, ip6 and inet families (NF_INET_*). */
const INET_HOOKS: Record<string, number> = {
  prerouting: 0,
  input: 1,
  forward: 2,
  output: 3,
  postrouting: 4,
  ingress: 5,
};

function writeHook(w: NetlinkWriter, chain: string, base: BaseChainSpec): void {
  const hook = INET_HOOKS[base.hook] ?? unsupported(`chain ${chain}: hook ${base.hook}`);
  if ((base.hook === "ingress") !== (base.device !== undefined))
    unsupported(`chain ${chain}: a device goes with the ingress hook only`);
  let priority = Number.NaN;
  try {
    priority = priorityNumber(base.priority);
  } catch {
    unsupported(`chain ${chain}: priority ${String(base.priority)}`);
  }
  if (!Number.isInteger(priority) || priority < -(2 ** 31) || priority >= 2 ** 31)
    unsupported(`chain ${chain}: priority ${priority}`);
  const token = w.beginNested(NFTA_CHAIN.HOOK);
  w.u32Attr(NFTA_HOOK.HOOKNUM, hook);
  w.u32Attr(NFTA_HOOK.PRIORITY, priority);
  if (base.device !== undefined) {
    if (Buffer.byteLength(base.device) >= 16 || /["\n\0]/.test(base.device))
      unsupported(`chain ${chain}: device "${base.device}"`);
    w.stringAttr(NFTA_HOOK.DEV, base.device);
  }
  w.endNested(token);
}

/** NEWCHAIN attributes after the table name: name, base chain type, policy and hook, comment. */
export function writeChainAttributes(w: NetlinkWriter, chain: DesiredChain, family: string): void {
  w.stringAttr(NFTA_CHAIN.NAME, chain.name);
  const base = chain.base;
  if (base) {
    if (family !== "ip" && family !== "ip6" && family !== "inet")
      unsupported(`chain ${chain.name}: base chains of ${family} tables`);
    if (base.type !== "filter" && base.type !== "nat" && base.type !== "route")
      unsupported(`chain ${chain.name}: type ${base.type}`);
    w.stringAttr(NFTA_CHAIN.TYPE, base.type);
    const policy = base.policy ?? "accept";
    if (policy !== "accept" && policy !== "drop") unsupported(`chain ${chain.name}: policy ${policy}`);
    w.u32Attr(NFTA_CHAIN.POLICY, policy === "accept" ? NF_ACCEPT : NF_DROP);
    writeHook(w, chain.name, base);
  }
  if (chain.comment !== undefined)
    w.bytesAttr(NFTA_CHAIN_USERDATA, commentUserdata(chain.comment, `chain ${chain.name}`));
}

// ---------------------------------------------------------------------------------------------
// Named sets and maps

const NFTA_SET_FIELD_LEN = 1;

/** nft's datatype of each DataType: id, length in bytes, byte order. */
const TYPES: Partial<Record<DataType, { id: number; len: number; order: number }>> = {
  nf_proto: { id: 2, len: 1, order: BYTEORDER.host },
  integer: { id: 4, len: 4, order: BYTEORDER.host },
  ipv4_addr: { id: 7, len: 4, order: BYTEORDER.big },
  ipv6_addr: { id: 8, len: 16, order: BYTEORDER.big },
  ether_addr: { id: 9, len: 6, order: BYTEORDER.big },
  inet_proto: { id: 12, len: 1, order: BYTEORDER.invalid },
  inet_service: { id: 13, len: 2, order: BYTEORDER.big },
  mark: { id: 19, len: 4, order: BYTEORDER.host },
  iface_index: { id: 20, len: 4, order: BYTEORDER.host },
  ct_state: { id: 26, len: 4, order: BYTEORDER.host },
  ifname: { id: 41, len: 16, order: BYTEORDER.host },
};

interface Field {
  id: number;
  len: number;
  order: number;
  /** Lengths of a concatenation's parts (unpadded). */
  parts?: number[];
}

function field(set: string, types: DataType | DataType[]): Field {
  const list = Array.isArray(types) ? types : [types];
  const infos = list.map((t) => TYPES[t] ?? unsupported(`set ${set}: type ${t}`));
  if (list.length === 1) return { ...infos[0] };
  return {
    id: infos.reduce((acc, t) => (acc << 6) | t.id, 0) >>> 0,
    len: infos.reduce((n, t) => n + ((t.len + 3) & ~3), 0),
    order: BYTEORDER.invalid,
    parts: infos.map((t) => t.len),
  };
}

/** What nft stores as the typeof of a concatenation declared by type names: a concat, no parts. */
const CONCAT_TYPEOF = typeofUdata(13, []);
/** `typeof numgen inc mod 1`: how nft/render-text.ts declares an integer key. */
const NUMGEN_TYPEOF = typeofUdata(23, [udataU32(0, 0), udataU32(1, 1), udataU32(2, 0)]);

/**
 * The typeof of each type's example expression in nft/render-text.ts's TYPEOF_EXAMPLES (`ip daddr`:
 * payload of ip (12), field 12; `meta l4proto`: meta key 16; `th dport`: payload of th (11), field 2).
 */
const PART_TYPEOF: Partial<Record<DataType, Buffer>> = {
  ipv4_addr: typeofUdata(7, [udataU32(0, 12), udataU32(1, 12)]),
  ipv6_addr: typeofUdata(7, [udataU32(0, 13), udataU32(1, 9)]),
  inet_proto: typeofUdata(9, [udataU32(0, 16)]),
  inet_service: typeofUdata(7, [udataU32(0, 11), udataU32(1, 2)]),
  mark: typeofUdata(9, [udataU32(0, 3)]),
  integer: NUMGEN_TYPEOF,
};

/** The typeof nft stores for a declaration by `typeof` (render-text's typeofText): a concat lists its parts. */
function typeofOf(set: string, types: DataType | DataType[]): Buffer {
  const one = (t: DataType) => PART_TYPEOF[t] ?? unsupported(`set ${set}: typeof of ${t}`);
  if (!Array.isArray(types)) return one(types);
  return typeofUdata(
    13,
    types.map((t, i) => udata(i, one(t))),
  );
}

function setUserdata(set: DesiredSet, key: Field, data: Field | "verdict" | undefined): Buffer {
  const parts = [udataU32(UDATA_SET.keyByteorder, key.order)];
  if (data !== undefined)
    parts.push(udataU32(UDATA_SET.dataByteorder, data === "verdict" ? BYTEORDER.invalid : data.order));
  const byTypeof = declaredByTypeof(set.type);
  const typeofKey = set.type === "integer" || byTypeof;
  if (byTypeof) parts.push(udata(UDATA_SET.keyTypeof, typeofOf(set.name, set.type)));
  else if (key.parts) parts.push(udata(UDATA_SET.keyTypeof, CONCAT_TYPEOF));
  else if (typeofKey) parts.push(udata(UDATA_SET.keyTypeof, NUMGEN_TYPEOF));
  if (data !== undefined) {
    if (data === "verdict") {
      if (typeofKey) parts.push(udata(UDATA_SET.dataTypeof, VERDICT_TYPEOF));
    } else if (byTypeof && set.map !== undefined)
      parts.push(udata(UDATA_SET.dataTypeof, typeofOf(set.name, set.map)));
    else if (typeofKey) unsupported(`map ${set.name}: an integer key with a ${String(set.map)} value`);
    else if (data.parts) parts.push(udata(UDATA_SET.dataTypeof, CONCAT_TYPEOF));
    parts.push(udataU32(UDATA_SET.dataInterval, 0));
  }
  if (set.comment !== undefined)
    parts.push(udata(UDATA_SET.comment, commentBytes(set.comment, `set ${set.name}`)));
  return Buffer.concat(parts);
}

/** NEWSET attributes after the table name, for a named set or map; `id` is its NFTA_SET_ID in the batch. */
export function writeSetDeclaration(w: NetlinkWriter, set: DesiredSet, id: number): void {
  const key = field(set.name, set.type);
  const data =
    set.map === undefined ? undefined : set.map === "verdict" ? "verdict" : field(set.name, set.map);
  const flags = set.flags ?? [];
  const interval = flags.includes("interval");
  const timeout = flags.includes("timeout") || set.timeout !== undefined;
  let bits = 0;
  if (flags.includes("constant")) bits |= SET_F.constant;
  if (interval) bits |= SET_F.interval;
  if (data !== undefined) bits |= SET_F.map;
  if (timeout) bits |= SET_F.timeout;
  if (flags.includes("dynamic")) bits |= SET_F.eval;
  if (interval && key.parts) bits |= SET_F.concat;
  if (set.timeout !== undefined && (!Number.isFinite(set.timeout) || set.timeout < 0))
    unsupported(`set ${set.name}: timeout ${set.timeout}`);
  if (set.size !== undefined && (!Number.isInteger(set.size) || set.size <= 0 || set.size >= 2 ** 32))
    unsupported(`set ${set.name}: size ${set.size}`);
  w.stringAttr(NFTA_SET.NAME, set.name);
  w.u32Attr(NFTA_SET.FLAGS, bits);
  w.u32Attr(NFTA_SET.KEY_TYPE, key.id);
  w.u32Attr(NFTA_SET.KEY_LEN, key.len);
  if (data !== undefined) {
    w.u32Attr(NFTA_SET.DATA_TYPE, data === "verdict" ? NFT_DATA_VERDICT : data.id);
    w.u32Attr(NFTA_SET.DATA_LEN, data === "verdict" ? 0 : data.len);
  }
  w.u32Attr(NFTA_SET.ID, id);
  const concatDesc = interval && key.parts;
  // nft sends no size for a constant set (the kernel sizes it by its elements).
  const size = flags.includes("constant") ? undefined : set.size;
  if (size !== undefined || concatDesc) {
    const desc = w.beginNested(NFTA_SET.DESC);
    if (size !== undefined) w.u32Attr(NFTA_SET_DESC.SIZE, size);
    if (concatDesc && key.parts) {
      const concat = w.beginNested(NFTA_SET_DESC.CONCAT);
      for (const len of key.parts) {
        const elem = w.beginNested(1);
        w.u32Attr(NFTA_SET_FIELD_LEN, len);
        w.endNested(elem);
      }
      w.endNested(concat);
    }
    w.endNested(desc);
  }
  if (set.timeout !== undefined) w.u64Attr(NFTA_SET.TIMEOUT, Math.round(set.timeout * 1000));
  w.bytesAttr(NFTA_SET.USERDATA, setUserdata(set, key, data));
}

// ---------------------------------------------------------------------------------------------
// Elements of interval sets (declared in the same batch: nothing in the kernel to merge with)

const BIG_ENDIAN_TYPES = new Set<DataType>([
  "ipv4_addr",
  "ipv6_addr",
  "ether_addr",
  "inet_proto",
  "inet_service",
]);

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** One key part as an inclusive range of its bytes (a value, a prefix, a range). */
function partRange(set: string, type: DataType, item: unknown): [Buffer, Buffer] {
  if (!BIG_ENDIAN_TYPES.has(type)) unsupported(`set ${set}: intervals of ${type}`);
  if (isObject(item) && "prefix" in item) {
    if (type !== "ipv4_addr" && type !== "ipv6_addr") unsupported(`set ${set}: a prefix of ${type}`);
    const p = item.prefix as { addr: string; len: number };
    const lo = encodeValue(type, p.addr);
    const hi = Buffer.from(lo);
    if (!Number.isInteger(p.len) || p.len < 0 || p.len > lo.length * 8) unsupported(`set ${set}: /${p.len}`);
    for (let bit = p.len; bit < lo.length * 8; bit++) {
      lo[bit >> 3] &= ~(0x80 >> (bit & 7));
      hi[bit >> 3] |= 0x80 >> (bit & 7);
    }
    return [lo, hi];
  }
  if (isObject(item) && "range" in item) {
    const [a, b] = item.range as [unknown, unknown];
    const range: [Buffer, Buffer] = [encodeValue(type, a), encodeValue(type, b)];
    if (Buffer.compare(range[0], range[1]) > 0) unsupported(`set ${set}: a range that ends before it starts`);
    return range;
  }
  const v = encodeValue(type, item);
  return [v, v];
}

function padTo4(parts: Buffer[]): Buffer {
  return Buffer.concat(parts.flatMap((b) => (b.length % 4 ? [b, Buffer.alloc(4 - (b.length % 4))] : [b])));
}

function writeData(w: NetlinkWriter, set: DesiredSet, value: unknown): void {
  if (value === undefined) unsupported(`map ${set.name}: element without a value`);
  const token = w.beginNested(NFTA_SET_ELEM.DATA);
  if (set.map === "verdict") writeVerdict(w, value as Verdict);
  else {
    const types = Array.isArray(set.map) ? set.map : [set.map as DataType];
    const parts =
      types.length === 1 ? [value] : isObject(value) && "concat" in value ? (value.concat as unknown[]) : [];
    if (parts.length !== types.length) unsupported(`map ${set.name}: value ${JSON.stringify(value)}`);
    w.bytesAttr(
      NFTA_DATA.VALUE,
      types.length === 1
        ? encodeValue(types[0], parts[0])
        : padTo4(types.map((t, i) => encodeValue(t, parts[i]))),
    );
  }
  w.endNested(token);
}

function writeKey(w: NetlinkWriter, type: number, key: Buffer): void {
  const token = w.beginNested(type);
  w.bytesAttr(NFTA_DATA.VALUE, key);
  w.endNested(token);
}

/**
 * NEWSETELEM attributes after the table name for elements added to an interval set declared
 * earlier in the same batch (so empty in the kernel): nft's layout. nft refuses overlapping
 * ranges of a named set and keeps adjacent ones apart; overlapping or adjacent ones are left to it.
 */
export function writeIntervalElements(
  w: NetlinkWriter,
  set: DesiredSet,
  setId: number,
  elements: SetElement[],
): void {
  for (const el of elements)
    if (el.timeout !== undefined || el.comment !== undefined)
      unsupported(`set ${set.name}: timeouts and comments on interval elements`);
  const types = Array.isArray(set.type) ? set.type : [set.type];
  w.stringAttr(NFTA_SET_ELEM_LIST.SET, set.name);
  w.u32Attr(4, setId); // NFTA_SET_ELEM_LIST_SET_ID
  const list = w.beginNested(NFTA_SET_ELEM_LIST.ELEMENTS);
  let index = 0;
  if (types.length > 1) {
    // Concatenations: one element per item with its first and last key (KEY, KEY_END), as given.
    for (const el of elements) {
      const parts =
        isObject(el.key) && "concat" in el.key
          ? (el.key.concat as Expression[])
          : unsupported(`set ${set.name}: key`);
      if (parts.length !== types.length) unsupported(`set ${set.name}: ${parts.length} key parts`);
      const ranges = types.map((t, i) => partRange(set.name, t, parts[i]));
      const item = w.beginNested(++index);
      writeKey(w, NFTA_SET_ELEM.KEY, padTo4(ranges.map((r) => r[0])));
      writeKey(w, NFTA_SET_ELEM.KEY_END, padTo4(ranges.map((r) => r[1])));
      if (set.map !== undefined) writeData(w, set, el.value);
      w.endNested(item);
    }
    w.endNested(list);
    return;
  }
  const ranges = elements.map((el) => ({ range: partRange(set.name, types[0], el.key), el }));
  ranges.sort((a, b) => Buffer.compare(a.range[0], b.range[0]));
  for (let i = 1; i < ranges.length; i++) {
    const after = increment(ranges[i - 1].range[1]);
    if (!after || Buffer.compare(ranges[i].range[0], after) <= 0)
      unsupported(`set ${set.name}: overlapping or adjacent intervals (left to nft)`);
  }
  // intervalElements lays out the same list (start, end after it, a leading end at zero).
  const { elements: layout } = intervalElements(ranges.map((r) => r.range));
  let start = 0;
  for (const e of layout) {
    const item = w.beginNested(++index);
    if (e.end) w.u32Attr(NFTA_SET_ELEM.FLAGS, ELEM_INTERVAL_END);
    writeKey(w, NFTA_SET_ELEM.KEY, e.key);
    if (!e.end) {
      if (set.map !== undefined) writeData(w, set, ranges[start].el.value);
      start++;
    }
    if (e.open) w.bytesAttr(NFTA_SET_ELEM.USERDATA, udataU32(UDATA_ELEM_FLAGS, ELEM_F_INTERVAL_OPEN));
    w.endNested(item);
  }
  w.endNested(list);
}
