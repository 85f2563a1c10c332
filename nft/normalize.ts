// Puts rules and sets in the form the kernel lists them, so what we render and what `nft -j list`
// returns compare equal. Every rewrite here keeps the meaning; nft adds the dropped protocol
// dependencies back when it reads the rule. Returns the input object unchanged when nothing applies
// (the common case), so normalising 100,000 planner rules costs one walk and no copies.
import { isIPv6 } from "node:net";
import type { DesiredRule, DesiredSet } from "./desired.ts";
import type {
  AnonSetExpr,
  Expression,
  Family,
  MatchStmt,
  NatArgs,
  SetElement,
  Statement,
  Verdict,
} from "./model.ts";

const L4_PROTOCOLS = new Set(["tcp", "udp", "udplite", "sctp", "dccp", "icmp", "icmpv6"]);
const NFPROTO_PAYLOAD: Record<string, string> = { ipv4: "ip", ipv6: "ip6" };

/** Compressed lowercase IPv6 text ("fd00::0001" → "fd00::1"). */
export function canonicalIPv6(addr: string): string {
  return new URL(`http://[${addr}]/`).hostname.slice(1, -1);
}

function normalizeString(s: string): string {
  return s.includes(":") && isIPv6(s) ? canonicalIPv6(s) : s;
}

export function normalizeExpr(e: Expression): Expression {
  if (typeof e === "string") return normalizeString(e);
  if (typeof e !== "object") return e;
  if (Array.isArray(e)) return e.length === 1 ? e[0] : e;
  if ("prefix" in e) {
    const addr = normalizeString(e.prefix.addr);
    const full = addr.includes(":") ? 128 : 32;
    if (e.prefix.len === full) return addr;
    return addr === e.prefix.addr ? e : { prefix: { addr, len: e.prefix.len } };
  }
  if ("numgen" in e) {
    if (e.numgen.offset !== 0) return e;
    return { numgen: { mode: e.numgen.mode, mod: e.numgen.mod } };
  }
  if ("jhash" in e) {
    const { offset, ...rest } = e.jhash;
    const expr = normalizeExpr(rest.expr);
    if (offset !== 0 && expr === rest.expr) return e;
    return { jhash: { ...rest, expr, ...(offset ? { offset } : {}) } };
  }
  if ("ct" in e) {
    // nft 1.0.6 lists `ct original ip daddr` as key "ip daddr" with no family.
    const m = /^(ip6?) (.+)$/.exec(e.ct.key);
    if (!m) return e;
    return {
      ct: { key: m[2] as never, family: m[1] as "ip" | "ip6", ...(e.ct.dir ? { dir: e.ct.dir } : {}) },
    };
  }
  if ("concat" in e) return mapSame(e.concat, normalizeExpr, (concat) => ({ concat }), e);
  if ("range" in e) {
    const a = normalizeExpr(e.range[0]);
    const b = normalizeExpr(e.range[1]);
    return a === e.range[0] && b === e.range[1] ? e : { range: [a, b] };
  }
  if ("set" in e) return sortIntervalItems(mapSame(e.set, normalizeSetItem, (set) => ({ set }), e));
  if ("map" in e) {
    const key = normalizeExpr(e.map.key);
    const data =
      typeof e.map.data === "string" ? e.map.data : (normalizeExpr(e.map.data) as typeof e.map.data);
    return key === e.map.key && data === e.map.data ? e : { map: { key, data } };
  }
  if ("elem" in e) {
    const val = normalizeExpr(e.elem.val);
    if (val === e.elem.val && e.elem.expires === undefined) return e;
    const { expires: _expires, ...rest } = e.elem;
    return { elem: { ...rest, val } };
  }
  if ("&" in e) {
    const a = normalizeExpr(e["&"][0]);
    const b = normalizeExpr(e["&"][1]);
    return a === e["&"][0] && b === e["&"][1] ? e : { "&": [a, b] };
  }
  return e;
}

const isIntervalItem = (item: unknown) =>
  typeof item === "object" && item !== null && !Array.isArray(item) && ("prefix" in item || "range" in item);

/**
 * An anonymous set holding a prefix or range is an interval set, which nft lists in key order
 * (`{ fe80::/10, :: }` reads back as `{ ::, fe80::/10 }`): give its items one canonical order.
 */
function sortIntervalItems(e: AnonSetExpr): AnonSetExpr {
  if (!e.set.some(isIntervalItem) || e.set.some((item) => Array.isArray(item) && item.length === 2)) return e;
  const keyed = e.set.map((item) => [JSON.stringify(item), item] as const);
  const sorted = [...keyed].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  return sorted.every((k, i) => k === keyed[i]) ? e : { set: sorted.map((k) => k[1]) };
}

function normalizeSetItem(
  item: Expression | [Expression, Expression | Verdict],
): Expression | [Expression, Expression | Verdict] {
  if (Array.isArray(item) && item.length === 2 && typeof item[1] === "object" && item[1] !== null) {
    const k = normalizeExpr(item[0]);
    const v = isVerdictValue(item[1]) ? item[1] : normalizeExpr(item[1] as Expression);
    return k === item[0] && v === item[1] ? item : [k, v];
  }
  if (Array.isArray(item) && item.length === 2 && typeof item[0] !== "string") {
    const pair = item as [Expression, Expression];
    const k = normalizeExpr(pair[0]);
    const v = normalizeExpr(pair[1]);
    return k === pair[0] && v === pair[1] ? item : [k, v];
  }
  return normalizeExpr(item as Expression);
}

function isVerdictValue(v: object): v is Verdict {
  return "jump" in v || "goto" in v || "accept" in v || "drop" in v || "return" in v || "continue" in v;
}

function mapSame<T, R>(items: T[], fn: (t: T) => T, wrap: (items: T[]) => R, original: R): R {
  let out: T[] | null = null;
  for (let i = 0; i < items.length; i++) {
    const n = fn(items[i]);
    if (n !== items[i] && !out) out = items.slice(0, i);
    if (out) out.push(n);
  }
  return out ? wrap(out) : original;
}

function defaultReject(family: Family): { type: string; expr: string } | null {
  if (family === "inet" || family === "bridge" || family === "netdev")
    return { type: "icmpx", expr: "port-unreachable" };
  if (family === "ip") return { type: "icmp", expr: "port-unreachable" };
  if (family === "ip6") return { type: "icmpv6", expr: "port-unreachable" };
  return null;
}

function normalizeFlags<T extends { flags?: string[] | string }>(args: T): T {
  if (typeof args.flags === "string") return { ...args, flags: [args.flags] };
  if (args.flags && args.flags.length === 0) {
    const { flags: _flags, ...rest } = args;
    return rest as T;
  }
  return args;
}

function isMetaL4proto(e: Expression): boolean {
  return (
    typeof e === "object" &&
    e !== null &&
    "meta" in e &&
    (e as { meta: { key: string } }).meta.key === "l4proto"
  );
}

export function normalizeStatement(s: Statement, family: Family): Statement {
  if ("match" in s) {
    const left = normalizeExpr(s.match.left);
    let right = normalizeExpr(s.match.right);
    // A one-element anonymous set is listed as the element itself.
    if (typeof right === "object" && !Array.isArray(right) && "set" in right && right.set.length === 1) {
      const only = right.set[0];
      if (!Array.isArray(only) || typeof only[0] === "string") right = only as Expression;
    }
    // nft lists protocol 58 by its /etc/protocols name, ipv6-icmp; the model writes icmpv6.
    if (right === "ipv6-icmp" && isMetaL4proto(left)) right = "icmpv6";
    const op = s.match.op === "in" ? "==" : s.match.op;
    if (left === s.match.left && right === s.match.right && op === s.match.op) return s;
    return { match: { op, left, right } };
  }
  if ("counter" in s) return s.counter === null ? s : { counter: null };
  if ("reject" in s) {
    const r = s.reject;
    if (r === null) return s;
    const d = defaultReject(family);
    if (!r.type || (d && r.type === d.type && r.expr === d.expr)) return { reject: null };
    return s;
  }
  if ("dnat" in s || "snat" in s) {
    const isDnat = "dnat" in s;
    const args = isDnat ? s.dnat : (s as { snat: NatArgs }).snat;
    const addr = args.addr !== undefined ? normalizeExpr(args.addr) : undefined;
    const port = args.port !== undefined ? normalizeExpr(args.port) : undefined;
    const flagsOk = args.flags === undefined || (Array.isArray(args.flags) && args.flags.length > 0);
    const familyOk = args.addr !== undefined || args.family === undefined;
    if (addr === args.addr && port === args.port && flagsOk && familyOk) return s;
    const out: NatArgs = normalizeFlags({ ...args });
    if (addr !== undefined) out.addr = addr;
    if (port !== undefined) out.port = port;
    if (addr === undefined) delete out.family;
    return isDnat ? { dnat: out } : { snat: out };
  }
  if ("masquerade" in s) {
    const m = s.masquerade;
    if (m === null) return s;
    const n = normalizeFlags(m);
    return n.port === undefined && !n.flags ? { masquerade: null } : { masquerade: n };
  }
  if ("log" in s) return s.log !== null && Object.keys(s.log).length === 0 ? { log: null } : s;
  if ("vmap" in s) {
    const key = normalizeExpr(s.vmap.key);
    const data =
      typeof s.vmap.data === "string" ? s.vmap.data : (normalizeExpr(s.vmap.data) as typeof s.vmap.data);
    return key === s.vmap.key && data === s.vmap.data ? s : { vmap: { key, data } };
  }
  if ("mangle" in s) {
    const value = normalizeExpr(s.mangle.value);
    return value === s.mangle.value ? s : { mangle: { key: s.mangle.key, value } };
  }
  if ("set" in s) {
    const elem = normalizeExpr(s.set.elem);
    return elem === s.set.elem ? s : { set: { ...s.set, elem } };
  }
  return s;
}

/** The protocol a `meta l4proto X` / `meta nfproto X` match pins, as a payload protocol name. */
function dependencyOf(s: Statement): { kind: "l4" | "l3"; protocol: string } | null {
  if (!("match" in s)) return null;
  const m = (s as MatchStmt).match;
  if (
    m.op !== "==" ||
    typeof m.right !== "string" ||
    typeof m.left !== "object" ||
    !("meta" in (m.left as object))
  )
    return null;
  const key = (m.left as { meta: { key: string } }).meta.key;
  if (key === "l4proto" && L4_PROTOCOLS.has(m.right)) return { kind: "l4", protocol: m.right };
  if (key === "nfproto" && NFPROTO_PAYLOAD[m.right])
    return { kind: "l3", protocol: NFPROTO_PAYLOAD[m.right] };
  return null;
}

/** Whether a payload expression of `protocol` occurs anywhere in `value`. */
function usesProtocol(value: unknown, protocol: string): boolean {
  if (value === null || typeof value !== "object") return false;
  if (Array.isArray(value)) return value.some((v) => usesProtocol(v, protocol));
  const payload = (value as { payload?: { protocol: string } }).payload;
  if (payload && payload.protocol === protocol) return true;
  for (const key in value) if (usesProtocol((value as Record<string, unknown>)[key], protocol)) return true;
  return false;
}

function rewriteTh(value: unknown, protocol: string): unknown {
  if (value === null || typeof value !== "object") return value;
  if (Array.isArray(value)) return value.map((v) => rewriteTh(v, protocol));
  const payload = (value as { payload?: { protocol: string; field: string } }).payload;
  if (payload && payload.protocol === "th") return { payload: { protocol, field: payload.field } };
  const out: Record<string, unknown> = {};
  for (const key in value) out[key] = rewriteTh((value as Record<string, unknown>)[key], protocol);
  return out;
}

/**
 * nft lists a rule without the `meta l4proto tcp` (or `meta nfproto ipv4`) match that a later
 * `tcp …` (or `ip …`) expression already implies, and prints `th dport` after such a match as
 * `tcp dport`. Do the same.
 */
function dropImpliedDependencies(expr: Statement[]): Statement[] {
  for (let i = 0; i < expr.length; i++) {
    const dep = dependencyOf(expr[i]);
    if (!dep) continue;
    let rest = expr.slice(i + 1);
    if (dep.kind === "l4" && usesProtocol(rest, "th")) rest = rewriteTh(rest, dep.protocol) as Statement[];
    if (!usesProtocol(rest, dep.protocol)) continue;
    return dropImpliedDependencies([...expr.slice(0, i), ...rest]);
  }
  return expr;
}

export function normalizeRule(rule: DesiredRule, family: Family): DesiredRule {
  let expr: Statement[] | null = null;
  for (let i = 0; i < rule.expr.length; i++) {
    const n = normalizeStatement(rule.expr[i], family);
    if (n !== rule.expr[i] && !expr) expr = rule.expr.slice(0, i);
    if (expr) expr.push(n);
  }
  const deduped = dropImpliedDependencies(expr ?? rule.expr);
  if (deduped === rule.expr) return rule;
  return rule.comment !== undefined ? { expr: deduped, comment: rule.comment } : { expr: deduped };
}

const FLAG_ORDER = ["constant", "interval", "timeout"];
const DEFAULT_DYNAMIC_SIZE = 65535;

/** A set's declaration as the kernel lists it (elements untouched). */
export function normalizeSetSpec(set: DesiredSet): Omit<DesiredSet, "elements"> {
  const { elements: _elements, ...spec } = set;
  // nft 1.0.6 does not list "dynamic" in JSON and adds a default size to sets with timeouts.
  const flags = FLAG_ORDER.filter((f) => set.flags?.includes(f as never)) as DesiredSet["flags"];
  const out: Omit<DesiredSet, "elements"> = { name: spec.name, type: spec.type };
  if (spec.map !== undefined) out.map = spec.map;
  if (flags?.length) out.flags = flags;
  if (spec.timeout !== undefined) out.timeout = spec.timeout;
  // nor the size of a constant set (nft sends none for it).
  if (spec.size !== undefined && spec.size !== DEFAULT_DYNAMIC_SIZE && !set.flags?.includes("constant"))
    out.size = spec.size;
  if (spec.comment !== undefined) out.comment = spec.comment;
  return out;
}

export function normalizeElement(el: SetElement): SetElement {
  const key = normalizeExpr(el.key);
  const value =
    el.value === undefined ||
    (typeof el.value === "object" && !Array.isArray(el.value) && isVerdictValue(el.value))
      ? el.value
      : normalizeExpr(el.value as Expression);
  if (key === el.key && value === el.value) return el;
  return { ...el, key, ...(value !== undefined ? { value } : {}) };
}
