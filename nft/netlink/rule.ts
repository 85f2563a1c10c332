// The rule linearizer: a desired rule's statements as the nf_tables expressions nft 1.0.6 would send
// for the same rule text (nft/render-text.ts), with the same registers and the same implicit
// dependency matches (`meta nfproto ipv4` before `ip daddr` in an inet table, `meta l4proto tcp`
// before `tcp dport`), so `nft -j list` reads the rule back as what was written. Anything it cannot
// reproduce exactly throws NetlinkUnsupported, and the caller sends the rule through nft instead.
// Anonymous sets and maps (`tcp dport { 80, 443 }`) are declared by the batch before the rule:
// prepareRule returns them (see nft/netlink/expressions-sets.ts) with a writer for the expressions.
// Lookups of named sets carry no NFTA_LOOKUP_SET_ID: nft puts its cache index there, which the
// kernel uses only when the name does not resolve.
//
// Encoded (ip, ip6 and inet tables): matches (==, !=, <, >, <=, >=, ranges, prefixes, flag lists,
// named and anonymous sets) on ip/ip6 addresses, ttl, hoplimit, length, id; tcp/udp/sctp/udplite/
// dccp/th ports; meta l4proto, nfproto, mark, iif, oif, iifname, oifname (wildcards), length,
// skuid, skgid; ct state, status, mark and original/reply addresses; numgen; jhash; fib; bitwise
// `& | ^`; concatenations. Statements: verdicts, vmap and map lookups (named or anonymous), counter,
// log, reject, dnat/snat (address, range, port, port range, maps incl. address . port), masquerade,
// meta/ct mark set, set add/update with timeout. Left to nft: what nft 1.0.6 rewrites in ways not
// reproduced here (it merges adjacent payload matches; protocol sets in the context), interval maps,
// interval sets of concatenations or host-order values, interface names other than "lo" for iif/oif.
//
// Registers are counted as nft counts them, in 32-bit units from 0: a plain expression takes a whole
// 128-bit register (4 units), a concatenation takes its padded length. The kernel number of unit u
// is 1 + u/4 when u is a multiple of 4 (NFT_REG_1..4), else 8 + u (NFT_REG32_xx).
import type { DesiredRule, DesiredSet } from "../desired.ts";
import type {
  Expression,
  Family,
  Immediate,
  MatchStmt,
  NatArgs,
  NatFlag,
  Statement,
  Verdict,
} from "../model.ts";
import { normalizeRule } from "../normalize.ts";
import { BYTEORDER, NFPROTO, NFTA_RULE } from "./constants.ts";
import { commentUserdata } from "./declarations.ts";
import * as x from "./expressions.ts";
import {
  type AnonymousElement,
  type AnonymousSet,
  intervalElements,
  type SetField,
  typeofUdata,
  udata,
  udataU32,
} from "./expressions-sets.ts";
import {
  CT_ADDR_KEYS,
  CT_KEYS,
  EXPR_TYPE,
  FIB_FLAGS,
  FIB_PRESENT,
  ICMP_CODES,
  ICMPV6_CODES,
  ICMPX_CODES,
  LOG_LEVELS,
  META_KEYS,
  NAT_FLAGS,
  NAT_PROTO_SPECIFIED,
  PAYLOAD_FIELDS,
  PAYLOAD_TYPEOF,
  REJECT_ICMP,
  REJECT_ICMPX,
  REJECT_TCP_RST,
  T,
  TYPE_IDS,
  typeOfData,
  uintBytes,
  unsupported,
  type ValueType,
} from "./expressions-types.ts";
import { NetlinkWriter } from "./writer.ts";

export interface RuleEncodeContext {
  family: Family; // the table's family
  sets: ReadonlyMap<string, DesiredSet>; // the table's named sets and maps (types for @name lookups)
}

// ---------------------------------------------------------------------------------------------
// Left-hand expressions, compiled: a type, a length, and a writer that loads the value into a register.

interface Loaded {
  type: ValueType;
  /** Bytes in the register (a concatenation: the sum of its padded parts). */
  len: number;
  concat: boolean;
  /** The parts of a concatenation. */
  parts?: Loaded[];
  /** nft's byte order of the expression (an anonymous set stores it as its key byte order). */
  byteorder: number;
  /** The typeof user data nft stores for a set keyed by this expression: null for none, undefined when not known here. */
  typeofData?: Buffer | null;
  /** Writes the load into register `dreg`; a payload load can be shortened to `loadLen` bytes. */
  gen(ctx: Linearizer, dreg: number, loadLen?: number): void;
}

/** Payload protocols whose loads need a `meta l4proto` dependency, with their protocol numbers. */
const L4_PROTOCOLS: Record<string, number> = { tcp: 6, udp: 17, sctp: 132, udplite: 136, dccp: 33 };
/** Transport protocols nft knows a header for: a `meta l4proto` match on one pins the context. */
const L4_CONTEXT: Record<string | number, string> = {
  tcp: "tcp",
  udp: "udp",
  sctp: "sctp",
  udplite: "udplite",
  dccp: "dccp",
  icmp: "icmp",
  icmpv6: "icmpv6",
  6: "tcp",
  17: "udp",
  132: "sctp",
  136: "udplite",
  33: "dccp",
  1: "icmp",
  58: "icmpv6",
};
const L3_CONTEXT: Record<string | number, "ip" | "ip6"> = { ipv4: "ip", ipv6: "ip6", 2: "ip", 10: "ip6" };

function padded(len: number): number {
  return (len + 3) & ~3;
}

/** The kernel's number for a register at 32-bit unit `unit` (see the header). */
function regNumber(unit: number): number {
  return unit % 4 === 0 ? 1 + unit / 4 : 8 + unit;
}

const VERDICT_REG = -1;

/** Statements after which nft refuses any other. */
const TERMINAL = new Set([
  "accept",
  "drop",
  "continue",
  "return",
  "jump",
  "goto",
  "vmap",
  "reject",
  "dnat",
  "snat",
  "masquerade",
]);
const VERDICT_KINDS: Record<string, true> = {
  accept: true,
  drop: true,
  continue: true,
  return: true,
  jump: true,
  goto: true,
};

/** A statement's or expression's kind: its only key (no array is allocated to find it). */
function firstKey(o: object): string {
  for (const k in o) return k;
  return "";
}

/** One-byte values (a dependency's protocol number), allocated once. */
const BYTE_VALUES = Array.from({ length: 256 }, (_, i) => Uint8Array.of(i));

/**
 * Loads that depend only on what they load (payload fields, meta and ct keys, numgen, fib), built
 * once: their writers and typeof user data are the same in every rule.
 */
type Key = string | number | undefined;
const loadCache = new Map<Key, Map<Key, Map<Key, Loaded>>>();
function cachedLoad(a: Key, b: Key, c: Key, build: () => Loaded): Loaded {
  let level1 = loadCache.get(a);
  if (level1 === undefined) {
    level1 = new Map();
    loadCache.set(a, level1);
  }
  let level2 = level1.get(b);
  if (level2 === undefined) {
    level2 = new Map();
    level1.set(b, level2);
  }
  let hit = level2.get(c);
  if (hit === undefined) {
    hit = build();
    level2.set(c, hit);
  }
  return hit;
}

/** A protocol context pinned to a set of protocols (`meta l4proto { tcp, udp }`). */
const AMBIGUOUS = "a set of protocols";

/** A set a lookup names: a named set, or an anonymous one declared in the same batch (with its id). */
interface SetRef {
  name: string;
  id?: number;
}

function isObject(e: unknown): e is Record<string, unknown> {
  return typeof e === "object" && e !== null && !Array.isArray(e);
}

function isVerdict(s: object): s is Verdict {
  return "accept" in s || "drop" in s || "continue" in s || "return" in s || "jump" in s || "goto" in s;
}

function setName(ref: unknown, where: string): string {
  if (typeof ref !== "string" || ref.charCodeAt(0) !== 64)
    unsupported(`${where}: anonymous sets and maps need nft`);
  return ref.slice(1);
}

// ---------------------------------------------------------------------------------------------
// The cached loads are built out here, not inside Linearizer's methods: a closure made in a method
// whose other closures use `this` keeps that Linearizer alive, and with it the writer of the batch
// it was encoding (a 100,000-Service full sync's is tens of MiB), for as long as the cache lives.

function metaLoad(m: (typeof META_KEYS)[string]): Loaded {
  return {
    type: m[1],
    len: m[1].len,
    concat: false,
    byteorder: BYTEORDER.host,
    typeofData: typeofUdata(EXPR_TYPE.meta, [udataU32(0, m[0])]),
    gen: (l, dreg) => x.metaLoad(l.w, l.reg(dreg), m[0]),
  };
}

function numgenLoad(mode: string, mod: number, offset = 0): Loaded {
  const type = mode === "inc" ? 0 : 1;
  return {
    type: upTo(mod + offset - 1),
    len: 4,
    concat: false,
    byteorder: BYTEORDER.host,
    typeofData: typeofUdata(EXPR_TYPE.numgen, [udataU32(0, type), udataU32(1, mod), udataU32(2, offset)]),
    gen: (l, dreg) => x.numgen(l.w, l.reg(dreg), type, mod, offset),
  };
}

function fibLoad(f: { result: string }, bits: number, where: string): Loaded {
  const [code, type] =
    f.result === "oif"
      ? [1, T.ifindex]
      : f.result === "oifname"
        ? [2, T.ifname]
        : f.result === "type"
          ? [3, T.fibAddrType]
          : unsupported(`${where}: fib result ${f.result}`);
  return {
    type,
    len: type.len,
    concat: false,
    byteorder: BYTEORDER.host,
    typeofData: typeofUdata(EXPR_TYPE.fib, [udataU32(0, code), udataU32(1, bits)]),
    gen: (l, dreg) => x.fib(l.w, l.reg(dreg), code, bits),
  };
}

function ctAddressLoad(type: ValueType, key: number, dir: number): Loaded {
  return {
    type,
    len: type.len,
    concat: false,
    byteorder: BYTEORDER.big,
    typeofData: typeofUdata(EXPR_TYPE.ct, [udataU32(0, key), udataU32(1, dir)]),
    gen: (l, dreg) => x.ctLoad(l.w, l.reg(dreg), key, dir),
  };
}

function ctLoad(k: [key: number, type: ValueType]): Loaded {
  return {
    type: k[1],
    len: k[1].len,
    concat: false,
    byteorder: BYTEORDER.host,
    typeofData: typeofUdata(EXPR_TYPE.ct, [udataU32(0, k[0]), udataU32(1, 0xffffffff)]),
    gen: (l, dreg) => x.ctLoad(l.w, l.reg(dreg), k[0]),
  };
}

function payloadLoad(p: { protocol: string; field: string }, f: [offset: number, type: ValueType]): Loaded {
  const base =
    p.protocol === "ip" || p.protocol === "ip6" ? x.PAYLOAD_BASE.network : x.PAYLOAD_BASE.transport;
  const [offset, type] = f;
  const [desc, fields] = PAYLOAD_TYPEOF[p.protocol];
  return {
    type,
    len: type.len,
    concat: false,
    byteorder: BYTEORDER.big,
    typeofData: typeofUdata(EXPR_TYPE.payload, [udataU32(0, desc), udataU32(1, fields[p.field])]),
    gen: (l, dreg, loadLen) => x.payloadLoad(l.w, l.reg(dreg), base, offset, loadLen ?? type.len),
  };
}

class Linearizer {
  /** Next free register, in 32-bit units. */
  private regLow = 0;
  /** What earlier matches established: the network and transport protocol. */
  private l3: "ip" | "ip6" | typeof AMBIGUOUS | undefined;
  private l4: string | undefined;
  /** Dependency matches collected while compiling the current statement (metaKey << 8 | value); written before it. */
  private pending: number[] = [];

  /** Anonymous sets and maps in the order the rule declares them. */
  readonly anonymous: AnonymousSet[] = [];

  constructor(
    readonly w: NetlinkWriter,
    readonly ctx: RuleEncodeContext,
    /** The NFTA_SET_ID of each anonymous set, once the encoder has numbered them. */
    /** Given ids, or the first of consecutive ones. */
    private readonly setIds?: readonly number[] | number,
  ) {
    if (ctx.family === "ip") this.l3 = "ip";
    else if (ctx.family === "ip6") this.l3 = "ip6";
    else if (ctx.family !== "inet") unsupported(`family ${ctx.family}: only ip, ip6 and inet tables`);
  }

  // ---- registers

  getRegister(e?: Loaded): number {
    const units = e?.concat ? padded(e.len) / 4 : 4;
    if (this.regLow + units > 16) unsupported("rule needs more registers than the kernel has");
    const reg = this.regLow;
    this.regLow += units;
    return reg;
  }

  releaseRegister(e?: Loaded): void {
    this.regLow -= e?.concat ? padded(e.len) / 4 : 4;
  }

  reg(unit: number): number {
    return unit === VERDICT_REG ? 0 : regNumber(unit);
  }

  // ---- dependencies

  /**
   * Dependencies nft puts at the head of the rule rather than before the statement (a reject's
   * protocol match: nft inserts it there after evaluating everything before the reject).
   */
  private head: number[] = [];

  private needL3(proto: "ip" | "ip6", where: string, atHead = false): void {
    if (this.l3 === proto) return;
    if (this.l3 !== undefined) unsupported(`${where}: ${proto} after ${this.l3}: conflicting protocols`);
    this.l3 = proto;
    const value = proto === "ip" ? 2 : 10;
    (atHead ? this.head : this.pending).push((15 << 8) | value);
  }

  private needL4(proto: string, where: string, atHead = false): void {
    if (this.l4 === proto) return;
    if (this.l4 !== undefined) unsupported(`${where}: ${proto} after ${this.l4}: conflicting protocols`);
    this.l4 = proto;
    const value = L4_PROTOCOLS[proto];
    (atHead ? this.head : this.pending).push((16 << 8) | value);
  }

  /** `meta nfproto X` / `meta l4proto X` as nft inserts it (its own registers, before the statement). */
  private dependency(dep: number): void {
    const r = this.getRegister();
    x.metaLoad(this.w, this.reg(r), dep >> 8);
    x.cmp(this.w, this.reg(r), "==", BYTE_VALUES[dep & 0xff]);
    this.releaseRegister();
  }

  // ---- expressions

  load(e: Expression, where: string): Loaded {
    if (!isObject(e)) unsupported(`${where}: ${JSON.stringify(e)} is not an expression to load`);
    const kind = firstKey(e);
    const r = e as Record<string, unknown>;
    if (kind === "payload") return this.payload(r.payload as { protocol: string; field: string }, where);
    if (kind === "meta") {
      const key = (r.meta as { key: string }).key;
      const m = META_KEYS[key] ?? unsupported(`${where}: meta ${key} not supported`);
      if (key === "nfproto" && this.ctx.family !== "inet")
        unsupported(`${where}: meta nfproto in a ${this.ctx.family} table (nft refuses it outside inet)`);
      return cachedLoad("meta", key, undefined, () => metaLoad(m));
    }
    if (kind === "ct") return this.ct(r.ct as { key: string; family?: string; dir?: string }, where);
    if (kind === "numgen") {
      const { mode, mod, offset } = r.numgen as { mode: string; mod: number; offset?: number };
      return cachedLoad(mode === "inc" ? "numgen inc" : "numgen random", mod, offset, () =>
        numgenLoad(mode, mod, offset),
      );
    }
    if (kind === "jhash") {
      const { expr, mod, seed, offset } = r.jhash as {
        expr: Expression;
        mod: number;
        seed?: number;
        offset?: number;
      };
      const inner = this.load(expr, `${where}.jhash`);
      return {
        type: upTo(mod + (offset ?? 0) - 1),
        len: 4,
        concat: false,
        byteorder: BYTEORDER.host,
        typeofData: typeofUdata(EXPR_TYPE.hash, [
          udataU32(0, 0), // jenkins
          udataU32(1, offset ?? 0),
          udataU32(2, mod),
          udataU32(3, seed ?? 0),
          udataU32(4, seed === undefined ? 0 : 1),
        ]),
        gen: (l, dreg) => {
          const sreg = l.getRegister(inner);
          inner.gen(l, sreg);
          l.releaseRegister(inner);
          x.jhash(l.w, {
            sreg: l.reg(sreg),
            dreg: l.reg(dreg),
            len: inner.len,
            mod,
            seed,
            offset: offset ?? 0,
          });
        },
      };
    }
    if (kind === "fib") return this.fib(r.fib as { result: string; flags: string[] }, false, where);
    if (kind === "concat") {
      const parts = (r.concat as Expression[]).map((p, i) => this.load(p, `${where}.concat[${i}]`));
      const len = parts.reduce((n, p) => n + padded(p.len), 0);
      const typeofs = parts.map((p) => p.typeofData);
      return {
        type: { name: "concat", len, host: false, encode: () => unsupported(`${where}: concatenated value`) },
        len,
        concat: true,
        parts,
        byteorder: BYTEORDER.invalid,
        typeofData: typeofs.every((t) => t)
          ? typeofUdata(
              EXPR_TYPE.concat,
              typeofs.map((t, i) => udata(i, t as Buffer)),
            )
          : undefined,
        gen: (l, dreg) => {
          let at = dreg;
          for (const p of parts) {
            p.gen(l, at);
            at += padded(p.len) / 4;
          }
        },
      };
    }
    if (kind === "map") {
      const { key, data } = r.map as { key: Expression; data: unknown };
      if (isObject(data)) unsupported(`${where}: an anonymous map outside a NAT address`);
      const set = this.namedSet(setName(data, `${where}.map`), `${where}.map`);
      if (set.map === undefined || set.map === "verdict")
        unsupported(`${where}: @${set.name} is not a data map`);
      const k = this.load(key, `${where}.map.key`);
      this.checkKey(k, set, `${where}.map`);
      const valueTypes = Array.isArray(set.map) ? set.map : [set.map];
      const parts = valueTypes.map(typeOfData);
      const len = parts.length === 1 ? parts[0].len : parts.reduce((n, p) => n + padded(p.len), 0);
      return {
        type:
          parts.length === 1
            ? parts[0]
            : { name: "concat", len, host: false, encode: () => unsupported(where) },
        len,
        concat: false,
        byteorder: parts.length === 1 && !parts[0].host ? BYTEORDER.big : BYTEORDER.invalid,
        gen: (l, dreg) => l.mapLookup(k, { name: set.name }, dreg),
      };
    }
    if (kind === "&" || kind === "|" || kind === "^")
      return this.binop(e as Record<string, [Expression, Expression]>, where);
    return unsupported(`${where}: expression ${Object.keys(e)[0]} not supported`);
  }

  /** `fib … oif`; with `present`, the `exists`/`missing` form (a boolean result). */
  private fib(f: { result: string; flags: string[] }, present: boolean, where: string): Loaded {
    let bits = present ? FIB_PRESENT : 0;
    for (const flag of f.flags) bits |= FIB_FLAGS[flag] ?? unsupported(`${where}: fib flag ${flag}`);
    return cachedLoad("fib", f.result, bits, () => fibLoad(f, bits, where));
  }

  private payload(p: { protocol: string; field: string }, where: string): Loaded {
    const f =
      PAYLOAD_FIELDS[p.protocol]?.[p.field] ??
      unsupported(`${where}: ${p.protocol} ${p.field} not supported`);
    if (p.protocol === "ip" || p.protocol === "ip6") this.needL3(p.protocol, where);
    else if (p.protocol in L4_PROTOCOLS) this.needL4(p.protocol, where);
    return cachedLoad(p.protocol, p.field, undefined, () => payloadLoad(p, f));
  }

  private ct(c: { key: string; family?: string; dir?: string }, where: string): Loaded {
    const dir =
      c.dir === undefined ? undefined : c.dir === "original" ? 0 : c.dir === "reply" ? 1 : unsupported(where);
    if (c.family !== undefined) {
      if (this.l3 !== undefined && this.l3 !== c.family)
        unsupported(`${where}: ct ${c.family} after ${this.l3} (nft refuses the conflict)`);
      const key = CT_ADDR_KEYS[`${c.family} ${c.key}`];
      if (key === undefined || dir === undefined)
        unsupported(`${where}: ct ${c.family} ${c.key} needs a direction`);
      const type = c.family === "ip" ? T.ipv4 : T.ipv6;
      return cachedLoad(`ct ${c.family}`, c.key, dir, () => ctAddressLoad(type, key, dir));
    }
    const k = CT_KEYS[c.key] ?? unsupported(`${where}: ct ${c.key} not supported`);
    if (dir !== undefined) unsupported(`${where}: ct ${c.dir} ${c.key} not supported`);
    return cachedLoad("ct", c.key, undefined, () => ctLoad(k));
  }

  /** `a & m | v ^ w …` on a loaded value: nft folds the chain into one bitwise (mask, xor). */
  private binop(e: Record<string, [Expression, Expression]>, where: string): Loaded {
    const chain: { op: string; value: Immediate }[] = [];
    let left: Expression = e as Expression;
    while (isObject(left) && ("&" in left || "|" in left || "^" in left)) {
      const op = "&" in left ? "&" : "|" in left ? "|" : "^";
      const [l, r] = (left as Record<string, [Expression, Expression]>)[op];
      if (typeof r !== "number" && typeof r !== "string") unsupported(`${where}: ${op} needs a constant`);
      chain.unshift({ op, value: r });
      left = l;
    }
    const base = this.load(left, where);
    if (base.concat || base.type.string) unsupported(`${where}: bitwise on ${base.type.name}`);
    const type = base.type;
    const bits = BigInt(type.len * 8);
    const all = (1n << bits) - 1n;
    let mask = all;
    let xor = 0n;
    for (const { op, value } of chain) {
      const v = toBig(type.encode(value), type.host);
      if (op === "&") {
        xor &= v;
        mask &= v;
      } else if (op === "|") {
        const m = all ^ v;
        xor = v ^ (xor & m);
        mask &= m;
      } else {
        xor = v ^ xor;
      }
    }
    return {
      type,
      len: base.len,
      concat: false,
      byteorder: base.byteorder,
      typeofData: null,
      gen: (l, dreg) => {
        base.gen(l, dreg);
        x.bitwise(
          l.w,
          l.reg(dreg),
          fromBig(mask, type.len, type.host),
          fromBig(xor, type.len, type.host),
          true,
        );
      },
    };
  }

  mapLookup(key: Loaded, set: SetRef, dreg: number): void {
    const sreg = dreg === VERDICT_REG ? this.getRegister(key) : dreg;
    const space = key.concat ? padded(key.len) / 4 : 0;
    this.regLow += space;
    key.gen(this, sreg);
    this.regLow -= space;
    x.lookup(this.w, { sreg: this.reg(sreg), dreg: this.reg(dreg), set: set.name, setId: set.id });
    if (dreg === VERDICT_REG) this.releaseRegister(key);
  }

  // ---- anonymous sets and maps

  private declare(set: AnonymousSet): SetRef {
    const index = this.anonymous.length;
    this.anonymous.push(set);
    const ids = this.setIds;
    const id = typeof ids === "number" ? ids + index : (ids?.[index] ?? 0);
    return { name: set.map ? "__map%d" : "__set%d", id };
  }

  private typeId(type: ValueType, where: string): number {
    return TYPE_IDS[type.name] ?? unsupported(`${where}: no set type for ${type.name}`);
  }

  /** A set key's declaration; nft stores the key expression's typeof for sets, and for maps only of a concatenation. */
  private keyField(key: Loaded, withTypeof: boolean, where: string): SetField {
    const typeId = key.parts
      ? key.parts.reduce((acc, p) => (acc << 6) | this.typeId(p.type, where), 0)
      : this.typeId(key.type, where);
    if (withTypeof && key.typeofData === undefined) unsupported(`${where}: a set keyed by this expression`);
    return {
      typeId,
      len: key.len,
      byteorder: key.byteorder,
      ...(withTypeof && key.typeofData ? { typeof: key.typeofData } : {}),
    };
  }

  private setKey(key: Loaded, item: Expression, where: string): Buffer {
    if (!key.parts) {
      if (key.type.string && typeof item === "string" && item.endsWith("*"))
        unsupported(`${where}: wildcard "${item}" in a set`);
      return this.value(key.type, item, where);
    }
    if (!isObject(item) || !("concat" in item))
      unsupported(`${where}: ${JSON.stringify(item)} for a concatenation`);
    const values = item.concat as Expression[];
    if (values.length !== key.parts.length)
      unsupported(`${where}: ${values.length} values for ${key.parts.length}`);
    return concatBytes(key.parts.map((p, i) => this.value(p.type, values[i], where)));
  }

  /** An item of an interval set as an inclusive range of keys. */
  private keyRange(type: ValueType, item: Expression, where: string): [Buffer, Buffer] {
    if (isObject(item) && "prefix" in item) {
      if (type !== T.ipv4 && type !== T.ipv6) unsupported(`${where}: prefix of ${type.name}`);
      const p = item.prefix as { addr: string; len: number };
      const lo = Buffer.from(type.encode(p.addr));
      const hi = Buffer.from(lo);
      if (!Number.isInteger(p.len) || p.len < 0 || p.len > lo.length * 8) unsupported(`${where}: /${p.len}`);
      for (let bit = p.len; bit < lo.length * 8; bit++) {
        lo[bit >> 3] &= ~(0x80 >> (bit & 7));
        hi[bit >> 3] |= 0x80 >> (bit & 7);
      }
      return [lo, hi];
    }
    if (isObject(item) && "range" in item) {
      const [a, b] = item.range as [Expression, Expression];
      return [this.value(type, a, where), this.value(type, b, where)];
    }
    const v = this.value(type, item, where);
    return [v, v];
  }

  /** `KEY { a, b }` / `KEY != { a, b }`: an anonymous set (an interval set when it holds prefixes or ranges). */
  anonymousSet(key: Loaded, items: Expression[], where: string): SetRef {
    const field = this.keyField(key, true, where);
    if (items.length === 0) unsupported(`${where}: empty set`);
    const ranged = items.some((i) => isObject(i) && ("prefix" in i || "range" in i));
    if (!ranged) {
      const elements = items.map((i) => ({ key: this.setKey(key, i, where) }));
      return this.declare({ map: false, interval: false, key: field, size: items.length, elements });
    }
    if (key.parts || key.type.host || key.type.string) unsupported(`${where}: intervals of ${key.type.name}`);
    const { elements, size } = intervalElements(items.map((i) => this.keyRange(key.type, i, where)));
    return this.declare({ map: false, interval: true, key: field, size, elements });
  }

  /** `KEY vmap { k : verdict, … }` or `KEY map { k : value, … }` (value of `data`, a concatenation when several). */
  anonymousMap(key: Loaded, items: unknown[], data: "verdict" | ValueType[], where: string): SetRef {
    const field = this.keyField(key, key.concat, where);
    if (items.length === 0) unsupported(`${where}: empty map`);
    const elements = items.map((item): AnonymousElement => {
      if (!Array.isArray(item) || item.length !== 2)
        unsupported(`${where}: map element ${JSON.stringify(item)}`);
      const [k, v] = item as [Expression, unknown];
      if (isObject(k) && ("prefix" in k || "range" in k)) unsupported(`${where}: interval maps need nft`);
      const keyBytes = this.setKey(key, k, where);
      if (data === "verdict") {
        if (!isObject(v) || !isVerdict(v)) unsupported(`${where}: ${JSON.stringify(v)} is not a verdict`);
        return { key: keyBytes, data: { verdict: v as Verdict } };
      }
      if (data.length === 1)
        return { key: keyBytes, data: { value: this.value(data[0], v as Expression, where) } };
      if (!isObject(v) || !("concat" in v)) unsupported(`${where}: ${JSON.stringify(v)} for a concatenation`);
      const values = v.concat as Expression[];
      if (values.length !== data.length) unsupported(`${where}: ${values.length} values for ${data.length}`);
      return {
        key: keyBytes,
        data: { value: concatBytes(data.map((t, i) => this.value(t, values[i], where))) },
      };
    });
    const dataField: SetField | "verdict" =
      data === "verdict"
        ? "verdict"
        : data.length === 1
          ? {
              typeId: this.typeId(data[0], where),
              len: data[0].len,
              byteorder: data[0].host ? BYTEORDER.host : BYTEORDER.big,
            }
          : {
              typeId: data.reduce((acc, t) => (acc << 6) | this.typeId(t, where), 0),
              len: data.reduce((n, t) => n + padded(t.len), 0),
              byteorder: BYTEORDER.invalid,
            };
    return this.declare({
      map: true,
      interval: false,
      key: field,
      data: dataField,
      size: items.length,
      elements,
    });
  }

  /**
   * A named set's key type against the expression looked up in it. The kernel checks only that
   * the register holds enough bytes; nft refuses a type mismatch, so a mismatch is left to it.
   */
  private checkKey(key: Loaded, set: DesiredSet, where: string): void {
    const expected = Array.isArray(set.type) ? set.type : [set.type];
    const parts = key.parts ?? [key];
    const same =
      expected.length === parts.length &&
      expected.every((t, i) => {
        const want = typeOfData(t);
        return want.name === parts[i].type.name && want.len === parts[i].len;
      });
    if (!same)
      unsupported(
        `${where}: @${set.name} is keyed by ${expected.join(" . ")}, not ${parts.map((p) => p.type.name).join(" . ")}`,
      );
  }

  namedSet(name: string, where: string): DesiredSet {
    return this.ctx.sets.get(name) ?? unsupported(`${where}: no set or map @${name} in the table`);
  }

  // ---- statements

  /** Set after a terminal statement (verdict, vmap, reject, NAT): nft refuses anything after it. */
  private terminated = false;

  /**
   * Writes the rule's expressions. Like nft, it evaluates every statement first (protocol context,
   * dependencies, anonymous sets), then writes them: a reject's dependency goes before everything.
   */
  rule(statements: Statement[]): void {
    refuseMergeablePayloads(statements);
    // Each statement's writer, preceded by the count of dependency matches it needs (in `deps`).
    const emits: (() => void)[] = [];
    const deps: number[] = [];
    for (let i = 0; i < statements.length; i++) {
      const s = statements[i];
      if (this.terminated) unsupported(`expr[${i}]: a statement after a terminal statement (nft refuses it)`);
      const kind = firstKey(s);
      emits.push(this.compile(s, kind, i));
      this.terminated = TERMINAL.has(kind);
      deps.push(this.pending.length, ...this.pending);
      this.pending.length = 0;
    }
    for (const dep of this.head) this.dependency(dep);
    let at = 0;
    for (const emit of emits) {
      const n = deps[at++];
      for (let j = 0; j < n; j++) this.dependency(deps[at++]);
      emit();
    }
  }

  private compile(s: Statement, kind: string, index: number): () => void {
    const where = `expr[${index}]`;
    if (typeof s !== "object" || s === null) unsupported(`${where}: not a statement`);
    if (kind === "match") return this.match((s as MatchStmt).match, `${where}.match`);
    if (kind in VERDICT_KINDS) return () => this.verdict(s as Verdict);
    if (kind === "counter") return () => x.counter(this.w);
    if ("vmap" in s) {
      const { key, data } = s.vmap;
      const k = this.load(key, `${where}.vmap.key`);
      if (typeof data === "object") {
        const ref = this.anonymousMap(k, data.set, "verdict", `${where}.vmap`);
        return () => this.mapLookup(k, ref, VERDICT_REG);
      }
      const set = this.namedSet(setName(data, `${where}.vmap`), `${where}.vmap`);
      if (set.map !== "verdict") unsupported(`${where}.vmap: @${set.name} is not a verdict map`);
      this.checkKey(k, set, `${where}.vmap`);
      return () => this.mapLookup(k, { name: set.name }, VERDICT_REG);
    }
    if ("dnat" in s) return this.nat(1, s.dnat, `${where}.dnat`);
    if ("snat" in s) return this.nat(0, s.snat, `${where}.snat`);
    if ("masquerade" in s) return this.masquerade(s.masquerade, `${where}.masquerade`);
    if ("mangle" in s) return this.mangle(s.mangle, `${where}.mangle`);
    if ("set" in s) return this.setUpdate(s.set, `${where}.set`);
    if ("reject" in s) return this.reject(s.reject, `${where}.reject`);
    if ("log" in s) return this.log(s.log, `${where}.log`);
    return unsupported(`${where}: statement ${Object.keys(s)[0]} not supported`);
  }

  private verdict(v: Verdict): void {
    if ("jump" in v) x.immediateVerdict(this.w, "jump", v.jump.target);
    else if ("goto" in v) x.immediateVerdict(this.w, "goto", v.goto.target);
    else if ("accept" in v) x.immediateVerdict(this.w, "accept");
    else if ("drop" in v) x.immediateVerdict(this.w, "drop");
    else if ("return" in v) x.immediateVerdict(this.w, "return");
    else x.immediateVerdict(this.w, "continue");
  }

  private match(m: MatchStmt["match"], where: string): () => void {
    const { left, right } = m;
    const op = m.op === "in" ? "==" : m.op;
    const l = this.load(left, `${where}.left`);
    // A match that pins the protocol spares later expressions their dependency (nft's context).
    if (
      op === "==" &&
      (typeof right === "string" || typeof right === "number") &&
      isObject(left) &&
      "meta" in left
    ) {
      const key = (left.meta as { key: string }).key;
      const l4 = key === "l4proto" ? L4_CONTEXT[right] : undefined;
      const l3 = key === "nfproto" ? L3_CONTEXT[right] : undefined;
      if (l4) {
        if (this.l4 !== undefined && this.l4 !== l4) unsupported(`${where}: ${l4} after ${this.l4}`);
        this.l4 = l4;
      } else if (l3) {
        if (this.l3 !== undefined && this.l3 !== l3) unsupported(`${where}: ${l3} after ${this.l3}`);
        this.l3 = l3;
      }
    }
    // A set of protocols leaves nft's context holding several: what depends on one is refused or
    // resolved in ways not reproduced here.
    if (op === "==" && isObject(right) && "set" in right && isObject(left) && "meta" in left) {
      const key = (left.meta as { key: string }).key;
      if (key === "l4proto") this.l4 = AMBIGUOUS;
      if (key === "nfproto") this.l3 = AMBIGUOUS;
    }

    if (typeof right === "string" && right.charCodeAt(0) === 64) {
      if (op !== "==" && op !== "!=") unsupported(`${where}: ${op} with a set`);
      const set = this.namedSet(right.slice(1), where);
      if (set.map !== undefined) unsupported(`${where}: ${right} is a map, not a set`);
      this.checkKey(l, set, where);
      return () => {
        const sreg = this.getRegister(l);
        l.gen(this, sreg);
        x.lookup(this.w, { sreg: this.reg(sreg), set: set.name, inverted: op === "!=" });
        this.releaseRegister(l);
      };
    }
    if (isObject(right) && "set" in right) {
      if (op !== "==" && op !== "!=") unsupported(`${where}: ${op} with a set`);
      const ref = this.anonymousSet(l, right.set as Expression[], where);
      return () => {
        const sreg = this.getRegister(l);
        l.gen(this, sreg);
        x.lookup(this.w, { sreg: this.reg(sreg), set: ref.name, setId: ref.id, inverted: op === "!=" });
        this.releaseRegister(l);
      };
    }
    if (l.concat) unsupported(`${where}: a concatenation compared with a value`);

    if (isObject(right) && "range" in right) {
      const [from, to] = right.range as [Expression, Expression];
      if (op !== "==" && op !== "!=") unsupported(`${where}: ${op} with a range`);
      const a = this.value(l.type, from, where);
      const b = this.value(l.type, to, where);
      return () => {
        const sreg = this.getRegister(l);
        l.gen(this, sreg);
        const order = this.toNetworkOrder(l, sreg);
        const [lo, hi] = order ? [reverse(a), reverse(b)] : [a, b];
        if (op === "!=") x.range(this.w, this.reg(sreg), true, lo, hi);
        else {
          x.cmp(this.w, this.reg(sreg), ">=", lo);
          x.cmp(this.w, this.reg(sreg), "<=", hi);
        }
        this.releaseRegister(l);
      };
    }

    if (isObject(right) && "prefix" in right)
      return this.prefixMatch(l, op, right.prefix as { addr: string; len: number }, where);

    if (l.type.string && typeof right === "string" && right.endsWith("*") && !right.endsWith("\\*")) {
      if (op !== "==" && op !== "!=") unsupported(`${where}: ${op} with a wildcard`);
      const stem = Buffer.from(right.slice(0, -1));
      if (stem.length === 0 || stem.length >= 16) unsupported(`${where}: wildcard "${right}"`);
      return () => {
        const sreg = this.getRegister(l);
        l.gen(this, sreg);
        x.cmp(this.w, this.reg(sreg), op, stem);
        this.releaseRegister(l);
      };
    }

    if (typeof right === "boolean") {
      if (!(isObject(left) && "fib" in left) || op !== "==")
        unsupported(`${where}: exists/missing only after fib`);
      const present = this.fib(left.fib as { result: string; flags: string[] }, true, where);
      return () => {
        const sreg = this.getRegister(present);
        present.gen(this, sreg);
        x.cmp(this.w, this.reg(sreg), "==", uintBytes(right ? 1 : 0, 4, true, "boolean"));
        this.releaseRegister(present);
      };
    }

    // A bitmask matched without an operator tests that any of the bits is set.
    if (
      l.type.bits &&
      op === "==" &&
      (Array.isArray(right) || typeof right === "string" || typeof right === "number")
    ) {
      const names = Array.isArray(right) ? right : [right];
      let bits = 0;
      for (const n of names) bits |= Number(toBig(l.type.encode(n), true));
      return () => {
        const sreg = this.getRegister(l);
        l.gen(this, sreg);
        const zero = Buffer.alloc(l.type.len);
        x.bitwise(this.w, this.reg(sreg), uintBytes(bits, 4, true, l.type.name), zero, false);
        x.cmp(this.w, this.reg(sreg), "!=", zero);
        this.releaseRegister(l);
      };
    }
    if (Array.isArray(right)) unsupported(`${where}: ${op} with a flag list`);

    const value = this.value(l.type, right, where);
    return () => {
      const sreg = this.getRegister(l);
      l.gen(this, sreg);
      const ordering = op !== "==" && op !== "!=";
      const swap = ordering && this.toNetworkOrder(l, sreg);
      x.cmp(this.w, this.reg(sreg), op, swap ? reverse(value) : value);
      this.releaseRegister(l);
    };
  }

  /** nft compares host-order values (marks, numgen results) in network order: byteorder hton first. */
  private toNetworkOrder(l: Loaded, sreg: number): boolean {
    if (!l.type.host || l.len === 1) return false;
    x.byteorder(this.w, this.reg(sreg), x.BYTEORDER_OP.hton, l.len, l.len);
    return true;
  }

  private prefixMatch(l: Loaded, op: string, p: { addr: string; len: number }, where: string): () => void {
    if (op !== "==" && op !== "!=") unsupported(`${where}: ${op} with a prefix`);
    if (l.type !== T.ipv4 && l.type !== T.ipv6) unsupported(`${where}: prefix on ${l.type.name}`);
    const addr = l.type.encode(p.addr);
    const bits = addr.length * 8;
    if (!Number.isInteger(p.len) || p.len < 0 || p.len > bits)
      unsupported(`${where}: prefix length ${p.len}`);
    const cmpOp = op as x.CmpOp;
    return () => {
      const sreg = this.getRegister(l);
      if (p.len > 0 && p.len % 8 === 0) {
        const n = p.len / 8;
        l.gen(this, sreg, n);
        x.cmp(this.w, this.reg(sreg), cmpOp, addr.subarray(0, n));
      } else {
        l.gen(this, sreg);
        const mask = Buffer.alloc(addr.length);
        for (let i = 0; i < p.len; i++) mask[i >> 3] |= 0x80 >> (i & 7);
        x.bitwise(this.w, this.reg(sreg), mask, Buffer.alloc(addr.length), false);
        x.cmp(this.w, this.reg(sreg), cmpOp, addr);
      }
      this.releaseRegister(l);
    };
  }

  private value(type: ValueType, v: Expression, where: string): Buffer {
    if (typeof v !== "string" && typeof v !== "number")
      unsupported(`${where}: ${JSON.stringify(v)} as ${type.name}`);
    if (type.string && typeof v === "string") {
      const b = Buffer.alloc(16);
      if (Buffer.byteLength(v) >= 16 || v.includes("\\")) unsupported(`${where}: interface name "${v}"`);
      b.write(v);
      return b;
    }
    return type.encode(v);
  }

  /** An immediate (`type` value) into a fresh register, or a loaded expression. */
  private valueInto(type: ValueType, v: Expression, where: string): { loaded?: Loaded; data?: Buffer } {
    if (typeof v === "string" || typeof v === "number") return { data: this.value(type, v, where) };
    return { loaded: this.load(v, where) };
  }

  private nat(kind: 0 | 1, a: NatArgs, where: string): () => void {
    if (a.port !== undefined && (this.l4 === undefined || this.l4 === AMBIGUOUS))
      unsupported(`${where}: a port needs a transport protocol match before it`);
    let flags = 0;
    for (const f of a.flags ?? []) flags |= NAT_FLAGS[f] ?? unsupported(`${where}: flag ${f}`);
    const family = a.addr === undefined ? this.ctx.family : (a.family ?? this.ctx.family);
    if (family !== "ip" && family !== "ip6" && a.addr !== undefined)
      unsupported(`${where}: family needed in inet`);
    const nfFamily = NFPROTO[family as keyof typeof NFPROTO];
    const addrType = family === "ip6" ? T.ipv6 : T.ipv4;
    if (a.addr !== undefined && this.l3 !== undefined && this.l3 !== family)
      unsupported(`${where}: ${family} NAT after ${this.l3} (nft refuses the conflict)`);

    let addr: { data?: Buffer[]; map?: Loaded } | undefined;
    let concatData = false;
    if (a.addr !== undefined) {
      if (typeof a.addr === "string") addr = { data: [this.value(addrType, a.addr, `${where}.addr`)] };
      else if (isObject(a.addr) && "range" in a.addr) {
        const [lo, hi] = a.addr.range as [Expression, Expression];
        addr = {
          data: [this.value(addrType, lo, `${where}.addr`), this.value(addrType, hi, `${where}.addr`)],
        };
      } else if (isObject(a.addr) && "map" in a.addr && isObject((a.addr.map as { data: unknown }).data)) {
        const { key, data } = a.addr.map as { key: Expression; data: { set: [Expression, Expression][] } };
        const k = this.load(key, `${where}.addr.map.key`);
        const first = data.set[0]?.[1];
        concatData = isObject(first) && "concat" in first;
        if (concatData && a.port !== undefined) unsupported(`${where}: port with an address . port map`);
        const value = concatData ? [addrType, T.service] : [addrType];
        const ref = this.anonymousMap(k, data.set, value, `${where}.addr.map`);
        addr = {
          map: {
            type: addrType,
            len: addrType.len,
            concat: false,
            byteorder: BYTEORDER.big,
            gen: (l, dreg) => l.mapLookup(k, ref, dreg),
          },
        };
      } else if (isObject(a.addr) && "map" in a.addr) {
        const m = this.load(a.addr, `${where}.addr`);
        const data = this.namedSet(setName((a.addr.map as { data: unknown }).data, where), where).map;
        const types = Array.isArray(data) ? data : [data];
        if (types[0] !== (family === "ip6" ? "ipv6_addr" : "ipv4_addr"))
          unsupported(`${where}: map value ${String(data)}`);
        if (types.length === 2 && types[1] === "inet_service") {
          if (a.port !== undefined) unsupported(`${where}: port with an address . port map`);
          concatData = true;
        } else if (types.length !== 1) unsupported(`${where}: map value ${types.join(" . ")}`);
        addr = { map: m };
      } else unsupported(`${where}.addr: ${JSON.stringify(a.addr)}`);
    }
    let port: Buffer[] | undefined;
    if (a.port !== undefined) {
      if (isObject(a.port) && "range" in a.port) {
        const [lo, hi] = a.port.range as [Expression, Expression];
        port = [this.value(T.service, lo, `${where}.port`), this.value(T.service, hi, `${where}.port`)];
      } else port = [this.value(T.service, a.port, `${where}.port`)];
      flags |= NAT_PROTO_SPECIFIED;
    }
    // An address . port map sets the port too: nft wants a transport protocol match first (a set of
    // protocols, `meta l4proto { tcp, udp, sctp }`, is enough for nft 1.0.6).
    if (concatData && this.l4 === undefined)
      unsupported(`${where}: an address . port map needs a transport protocol match before it`);
    return () => {
      const args: x.NatArgs = { type: kind, family: nfFamily, flags };
      let registers = 0;
      if (addr) {
        const amin = this.getRegister();
        registers++;
        if (addr.map) {
          addr.map.gen(this, amin);
          args.addrMin = this.reg(amin);
          if (concatData) args.protoMin = this.reg(amin + padded(addrType.len) / 4);
        } else if (addr.data && addr.data.length === 2) {
          const amax = this.getRegister();
          registers++;
          x.immediateData(this.w, this.reg(amin), addr.data[0]);
          x.immediateData(this.w, this.reg(amax), addr.data[1]);
          args.addrMin = this.reg(amin);
          args.addrMax = this.reg(amax);
        } else if (addr.data) {
          x.immediateData(this.w, this.reg(amin), addr.data[0]);
          args.addrMin = this.reg(amin);
        }
      }
      if (port) {
        const pmin = this.getRegister();
        registers++;
        if (port.length === 2) {
          const pmax = this.getRegister();
          registers++;
          x.immediateData(this.w, this.reg(pmin), port[0]);
          x.immediateData(this.w, this.reg(pmax), port[1]);
          args.protoMin = this.reg(pmin);
          args.protoMax = this.reg(pmax);
        } else {
          x.immediateData(this.w, this.reg(pmin), port[0]);
          args.protoMin = this.reg(pmin);
        }
      }
      while (registers-- > 0) this.releaseRegister();
      x.nat(this.w, args);
    };
  }

  private masquerade(m: { port?: Expression; flags?: NatFlag[] } | null, where: string): () => void {
    let flags = 0;
    for (const f of m?.flags ?? []) flags |= NAT_FLAGS[f] ?? unsupported(`${where}: flag ${f}`);
    let port: Buffer[] | undefined;
    if (m?.port !== undefined) {
      if (this.l4 === undefined || this.l4 === AMBIGUOUS)
        unsupported(`${where}: a port needs a transport protocol match before it`);
      if (isObject(m.port) && "range" in m.port) {
        const [lo, hi] = m.port.range as [Expression, Expression];
        port = [this.value(T.service, lo, where), this.value(T.service, hi, where)];
      } else port = [this.value(T.service, m.port, where)];
      flags |= NAT_PROTO_SPECIFIED;
    }
    return () => {
      if (!port) return x.masq(this.w, flags);
      const pmin = this.getRegister();
      x.immediateData(this.w, this.reg(pmin), port[0]);
      if (port.length === 1) {
        this.releaseRegister();
        return x.masq(this.w, flags, this.reg(pmin));
      }
      const pmax = this.getRegister();
      x.immediateData(this.w, this.reg(pmax), port[1]);
      this.releaseRegister();
      this.releaseRegister();
      x.masq(this.w, flags, this.reg(pmin), this.reg(pmax));
    };
  }

  private mangle(m: { key: Expression; value: Expression }, where: string): () => void {
    const key = m.key as unknown as Record<string, { key: string; dir?: string; family?: string }>;
    let target: { type: ValueType; write: (sreg: number) => void };
    if ("meta" in key) {
      const k = META_KEYS[key.meta.key];
      if (!k || key.meta.key !== "mark") unsupported(`${where}: meta ${key.meta.key} set`);
      target = { type: k[1], write: (sreg) => x.metaSet(this.w, k[0], this.reg(sreg)) };
    } else if ("ct" in key) {
      if (key.ct.key !== "mark" || key.ct.dir !== undefined || key.ct.family !== undefined)
        unsupported(`${where}: ct ${key.ct.key} set`);
      target = { type: T.mark, write: (sreg) => x.ctSet(this.w, 3, this.reg(sreg)) };
    } else unsupported(`${where}: set of ${JSON.stringify(m.key)}`);
    const v = this.valueInto(target.type, m.value, `${where}.value`);
    if (v.loaded && (v.loaded.concat || v.loaded.len !== target.type.len))
      unsupported(`${where}: value length`);
    return () => {
      const sreg = this.getRegister(v.loaded);
      if (v.loaded) v.loaded.gen(this, sreg);
      else x.immediateData(this.w, this.reg(sreg), v.data as Buffer);
      this.releaseRegister(v.loaded);
      target.write(sreg);
    };
  }

  private setUpdate(s: { op: string; elem: Expression; set: string }, where: string): () => void {
    const set = this.namedSet(setName(s.set, where), where);
    if (set.map !== undefined) unsupported(`${where}: @${set.name} is a map`);
    const op = x.DYNSET_OP[s.op as keyof typeof x.DYNSET_OP] ?? unsupported(`${where}: op ${s.op}`);
    let key = s.elem;
    let timeout: number | undefined;
    if (isObject(key) && "elem" in key) {
      const e = key.elem as { val: Expression; timeout?: number; comment?: string };
      if (e.comment !== undefined) unsupported(`${where}: element comment`);
      timeout = e.timeout ? e.timeout * 1000 : undefined;
      key = e.val;
    }
    const k = this.load(key, `${where}.elem`);
    this.checkKey(k, set, where);
    return () => {
      const sreg = this.getRegister(k);
      k.gen(this, sreg);
      this.releaseRegister(k);
      x.dynset(this.w, { sregKey: this.reg(sreg), op, timeout, set: set.name });
    };
  }

  private reject(r: { type?: string; expr?: string } | null, where: string): () => void {
    const type = r?.type;
    if (type === undefined) {
      if (this.l3 === AMBIGUOUS) unsupported(`${where}: reject after a set of network protocols`);
      if (this.l3 === undefined) return () => x.reject(this.w, REJECT_ICMPX, ICMPX_CODES["port-unreachable"]);
      const code = this.l3 === "ip" ? ICMP_CODES["port-unreachable"] : ICMPV6_CODES["port-unreachable"];
      return () => x.reject(this.w, REJECT_ICMP, code);
    }
    if (type === "tcp reset") {
      this.needL4("tcp", where, true);
      return () => x.reject(this.w, REJECT_TCP_RST, 0);
    }
    const codes =
      type === "icmpx" ? ICMPX_CODES : type === "icmp" ? ICMP_CODES : type === "icmpv6" ? ICMPV6_CODES : null;
    if (!codes) return unsupported(`${where}: reject with ${type}`);
    // nft refuses the abstracted ICMP (icmpx) outside inet, bridge and netdev tables.
    if (type === "icmpx" && this.ctx.family !== "inet")
      unsupported(`${where}: icmpx in a ${this.ctx.family} table`);
    const code =
      codes[r?.expr ?? "port-unreachable"] ?? unsupported(`${where}: reject with ${type} ${r?.expr}`);
    if (type === "icmp") this.needL3("ip", where, true);
    if (type === "icmpv6") this.needL3("ip6", where, true);
    return () => x.reject(this.w, type === "icmpx" ? REJECT_ICMPX : REJECT_ICMP, code);
  }

  private log(l: Record<string, unknown> | null, where: string): () => void {
    const args: x.LogArgs = {};
    if (l?.prefix !== undefined) {
      const prefix = String(l.prefix);
      if (Buffer.byteLength(prefix) > 127 || prefix.includes("\\")) unsupported(`${where}: prefix`);
      args.prefix = prefix;
    }
    if (l?.level === "audit" && Object.keys(l).length > 1)
      unsupported(`${where}: log level audit takes no other options (nft refuses them)`);
    if (l?.group !== undefined) {
      args.group = Number(l.group);
      if (l.snaplen !== undefined) args.snaplen = Number(l.snaplen);
      if (l["queue-threshold"] !== undefined) args.qthreshold = Number(l["queue-threshold"]);
      if (l.level !== undefined) unsupported(`${where}: level with group`);
    } else {
      if (l?.snaplen !== undefined || l?.["queue-threshold"] !== undefined)
        unsupported(`${where}: snaplen without group`);
      if (l?.level !== undefined)
        args.level = LOG_LEVELS[String(l.level)] ?? unsupported(`${where}: level ${String(l.level)}`);
    }
    return () => x.log(this.w, args);
  }
}

function toBig(b: Buffer, host: boolean): bigint {
  let v = 0n;
  for (let i = 0; i < b.length; i++) {
    const byte = host ? b[b.length - 1 - i] : b[i];
    v = (v << 8n) | BigInt(byte);
  }
  return v;
}

function fromBig(v: bigint, len: number, host: boolean): Buffer {
  const b = Buffer.alloc(len);
  for (let i = 0; i < len; i++) {
    const byte = Number((v >> BigInt(8 * i)) & 0xffn);
    if (host) b[i] = byte;
    else b[len - 1 - i] = byte;
  }
  return b;
}

function reverse(b: Buffer): Buffer {
  const out = Buffer.allocUnsafe(b.length);
  for (let i = 0; i < b.length; i++) out[i] = b[b.length - 1 - i];
  return out;
}

/**
 * nft merges payload matches of adjacent header fields against constants into one load and compare
 * (`tcp sport 1 tcp dport 2` → a 4-byte load), reordering them, and 1.0.6 does so across other
 * statements and for `!=` too. Rather than reproduce its rules, leave such rules to nft.
 */
function refuseMergeablePayloads(statements: Statement[]): void {
  const fields: { base: string; offset: number; len: number }[] = [];
  for (const s of statements) {
    if (!("match" in s)) continue;
    const { left, right, op } = (s as MatchStmt).match;
    if (op !== "==" && op !== "!=" && op !== "in") continue;
    if (!(typeof right === "number" || (typeof right === "string" && right.charCodeAt(0) !== 64))) continue;
    if (!isObject(left) || !("payload" in left)) continue;
    const { protocol, field } = left.payload as { protocol: string; field: string };
    const f = PAYLOAD_FIELDS[protocol]?.[field];
    if (!f) continue;
    fields.push({
      base: protocol === "ip" || protocol === "ip6" ? "network" : "transport",
      offset: f[0],
      len: f[1].len,
    });
  }
  for (const a of fields)
    for (const b of fields)
      if (a.base === b.base && a.offset + a.len === b.offset && a.len + b.len <= 16)
        unsupported("adjacent payload matches that nft merges into one compare");
}

/** The integer a numgen or jhash yields: nft refuses constants above its largest value. */
function upTo(max: number): ValueType {
  return {
    ...T.u32host,
    encode: (v) => {
      const b = T.u32host.encode(v);
      if (b.readUInt32LE(0) > max) unsupported(`value ${String(v)} exceeds the valid range 0-${max}`);
      return b;
    },
  };
}

/** Values of a concatenation, each padded to 4 bytes. */
function concatBytes(parts: Buffer[]): Buffer {
  return Buffer.concat(
    parts.flatMap((b) => (b.length % 4 ? [b, Buffer.alloc(padded(b.length) - b.length)] : [b])),
  );
}

/** Whether an anonymous set or map (`{ … }`) occurs anywhere in the statements. */
function hasAnonymous(v: unknown): boolean {
  if (Array.isArray(v)) return v.some(hasAnonymous);
  if (!isObject(v)) return false;
  for (const k in v) {
    const child = v[k];
    if (k === "set" && Array.isArray(child)) return true;
    if (typeof child === "object" && child !== null && hasAnonymous(child)) return true;
  }
  return false;
}

/** A rule ready to encode: the anonymous sets it needs first, and its expressions. */
export interface PreparedRule {
  /**
   * Anonymous sets and maps the rule looks up, in the order nft declares them. Each goes into the
   * same batch before the rule: NEWSET (writeAnonymousSet) then NEWSETELEM (writeAnonymousElements)
   * of nft/netlink/expressions-sets.ts, each with an NFTA_SET_ID unique in the batch.
   */
  anonymousSets: AnonymousSet[];
  /** Writes NFTA_RULE_EXPRESSIONS; `setIds[i]` is the NFTA_SET_ID given to anonymousSets[i]. */
  writeExpressions(w: NetlinkWriter, setIds: readonly number[]): void;
}

function linearize(
  w: NetlinkWriter,
  rule: DesiredRule,
  ctx: RuleEncodeContext,
  ids?: readonly number[] | number,
): AnonymousSet[] {
  const lin = new Linearizer(w, ctx, ids);
  const token = w.beginNested(NFTA_RULE.EXPRESSIONS);
  lin.rule(rule.expr);
  w.endNested(token);
  return lin.anonymous;
}

/**
 * Prepares a rule for the batch. Throws NetlinkUnsupported (nft/netlink/values.ts) for anything it
 * cannot encode exactly as nft 1.0.6 would. The rule is normalised first (nft/normalize.ts), as the
 * text path renders it.
 */
export function prepareRule(rule: DesiredRule, ctx: RuleEncodeContext): PreparedRule {
  const normal = normalizeRule(rule, ctx.family);
  if (!hasAnonymous(normal.expr)) return new Prepared(normal, ctx, NO_SETS);
  return new Prepared(normal, ctx, linearize(new NetlinkWriter(512), normal, ctx));
}

const NO_SETS: AnonymousSet[] = [];

class Prepared implements PreparedRule {
  constructor(
    private readonly normal: DesiredRule,
    private readonly ctx: RuleEncodeContext,
    readonly anonymousSets: AnonymousSet[],
  ) {}

  writeExpressions(w: NetlinkWriter, setIds: readonly number[]): void {
    if (setIds.length !== this.anonymousSets.length)
      throw new Error(`rule: ${this.anonymousSets.length} anonymous sets, ${setIds.length} set ids given`);
    linearize(w, this.normal, this.ctx, setIds);
  }
}

/**
 * Writes the rule's NFTA_RULE_EXPRESSIONS in one pass, numbering its anonymous sets from
 * `firstSetId`, and returns those sets: the caller must declare them (with those ids) before the
 * rule's message, so when there are any it discards what was written and writes them first. Most
 * rules have none, and are walked once.
 */
export function writeRuleWithSets(
  w: NetlinkWriter,
  rule: DesiredRule,
  ctx: RuleEncodeContext,
  firstSetId: number,
): AnonymousSet[] {
  return linearize(w, normalizeRule(rule, ctx.family), ctx, firstSetId);
}

/**
 * Writes the nested NFTA_RULE_EXPRESSIONS attribute (type 4) for the rule's statements into w.
 * Throws NetlinkUnsupported (nft/netlink/values.ts) for anything it cannot encode exactly as nft
 * 1.0.6 would, and for rules with anonymous sets (they need prepareRule: their sets go first).
 * After a throw, w holds a partial attribute: discard it.
 */
export function writeRuleExpressions(w: NetlinkWriter, rule: DesiredRule, ctx: RuleEncodeContext): void {
  const prepared = prepareRule(rule, ctx);
  if (prepared.anonymousSets.length > 0)
    unsupported("anonymous sets need their own NEWSET in the batch before the rule (prepareRule)");
  prepared.writeExpressions(w, []);
}

/** NFTA_RULE_USERDATA bytes for a rule comment (nft's udata TLV), or undefined without comment. */
export function ruleUserdata(rule: DesiredRule): Buffer | undefined {
  if (rule.comment === undefined) return undefined;
  return commentUserdata(rule.comment, "rule");
}
