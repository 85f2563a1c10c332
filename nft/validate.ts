// Checks a desired table before anything is applied, so a planner bug gives an error naming the
// object and field instead of an nft parse error (or worse, a rule that means something else).
import { isIPv4, isIPv6 } from "node:net";
import type { DesiredChain, DesiredSet, DesiredTable } from "./desired.ts";
import type { DataType, Expression, Family, NatArgs, SetElement, Statement, Verdict } from "./model.ts";
import { elementKeyTextOnce, priorityNumber } from "./render-text.ts";

export interface ValidationProblem {
  /** "table inet wasmplane", "chain svc-x", "set services". */
  object: string;
  /** Where in the object: "rules[2].expr[0].jump.target", "elements[5].key". */
  field: string;
  message: string;
}

export class NftValidationError extends Error {
  constructor(readonly problems: ValidationProblem[]) {
    const shown = problems.slice(0, 20).map((p) => `  ${p.object} ${p.field}: ${p.message}`);
    if (problems.length > 20) shown.push(`  … and ${problems.length - 20} more`);
    super(
      `invalid nftables state (${problems.length} problem${problems.length === 1 ? "" : "s"}):\n${shown.join("\n")}`,
    );
    this.name = "NftValidationError";
  }
}

const NAME = /^[A-Za-z][A-Za-z0-9_/.-]*$/;
const MAX_NAME = 255;
const MAX_COMMENT = 128;
const FAMILIES = new Set(["ip", "ip6", "inet", "arp", "bridge", "netdev"]);
const L4 = new Set(["tcp", "udp", "udplite", "sctp", "dccp", "icmp", "icmpv6", "igmp", "esp", "ah", "gre"]);
const NAT_HOOKS = new Set(["prerouting", "input", "output", "postrouting"]);

export function nameProblem(name: unknown): string | null {
  if (typeof name !== "string" || name.length === 0) return "must be a non-empty string";
  if (name.length > MAX_NAME) return `"${name.slice(0, 40)}…" is longer than ${MAX_NAME} characters`;
  if (!NAME.test(name)) return `"${name}" is not a valid nft name (a letter, then letters, digits, _ / . -)`;
  return null;
}

function commentProblem(comment: unknown): string | null {
  if (comment === undefined) return null;
  if (typeof comment !== "string") return "must be a string";
  if (Buffer.byteLength(comment) > MAX_COMMENT) return `longer than ${MAX_COMMENT} bytes`;
  if (/["\n\r\\]/.test(comment)) return "must not contain quotes, backslashes or line breaks";
  return null;
}

/** Address problems: bad text, a prefix length out of range, or host bits set below the prefix. */
export function addressProblem(value: unknown, family?: "ip" | "ip6"): string | null {
  if (typeof value === "object" && value !== null && "prefix" in value) {
    const { addr, len } = (value as { prefix: { addr: unknown; len: unknown } }).prefix;
    const p = addressProblem(addr, family);
    if (p) return p;
    const max = isIPv4(addr as string) ? 32 : 128;
    if (!Number.isInteger(len) || (len as number) < 0 || (len as number) > max)
      return `prefix length ${String(len)} is not in 0..${max}`;
    if (!hostBitsZero(addr as string, len as number))
      return `${String(addr)}/${String(len)} has host bits set`;
    return null;
  }
  if (typeof value === "object" && value !== null && "range" in value) {
    const [a, b] = (value as { range: unknown[] }).range;
    return addressProblem(a, family) ?? addressProblem(b, family);
  }
  if (typeof value !== "string") return `expected an address, got ${JSON.stringify(value)}`;
  if (value.startsWith("@")) return null;
  if (family === "ip" && !isIPv4(value)) return `"${value}" is not an IPv4 address`;
  if (family === "ip6" && !isIPv6(value)) return `"${value}" is not an IPv6 address`;
  if (!family && !isIPv4(value) && !isIPv6(value)) return `"${value}" is not an IP address`;
  return null;
}

function hostBitsZero(addr: string, len: number): boolean {
  const bytes = addressBytes(addr);
  for (let bit = len; bit < bytes.length * 8; bit++) if (bytes[bit >> 3] & (0x80 >> (bit & 7))) return false;
  return true;
}

function addressBytes(addr: string): number[] {
  if (isIPv4(addr)) return addr.split(".").map(Number);
  const [head, tail] = addr.includes("::") ? addr.split("::") : [addr, ""];
  const h = head ? head.split(":") : [];
  const t = tail ? tail.split(":") : [];
  const groups = [...h, ...Array(8 - h.length - t.length).fill("0"), ...t];
  return groups.flatMap((g) => {
    const n = Number.parseInt(g, 16);
    return [n >> 8, n & 0xff];
  });
}

const PAYLOAD_ADDRESS_FIELDS = new Set(["saddr", "daddr"]);

/** The address family an expression yields, when it yields an address. */
function addressFamilyOf(e: Expression): "ip" | "ip6" | undefined {
  if (typeof e !== "object" || Array.isArray(e)) return undefined;
  if ("payload" in e && PAYLOAD_ADDRESS_FIELDS.has(e.payload.field)) {
    if (e.payload.protocol === "ip") return "ip";
    if (e.payload.protocol === "ip6") return "ip6";
  }
  if ("ct" in e && (e.ct.key === "saddr" || e.ct.key === "daddr")) return e.ct.family;
  return undefined;
}

interface Context {
  table: DesiredTable;
  problems: ValidationProblem[];
  object: string;
}

function problem(ctx: Context, field: string, message: string): void {
  ctx.problems.push({ object: ctx.object, field, message });
}

function isVerdict(v: unknown): v is Verdict {
  if (typeof v !== "object" || v === null || Array.isArray(v)) return false;
  return "jump" in v || "goto" in v || "accept" in v || "drop" in v || "return" in v || "continue" in v;
}

function checkVerdict(ctx: Context, field: string, v: Verdict): void {
  const target = "jump" in v ? v.jump.target : "goto" in v ? v.goto.target : undefined;
  if (target === undefined) return;
  if (!ctx.table.chains.has(target)) problem(ctx, `${field}.target`, `unknown chain "${target}"`);
  else if (ctx.table.chains.get(target)?.base) problem(ctx, `${field}.target`, `"${target}" is a base chain`);
}

function checkSetRef(ctx: Context, field: string, ref: string, want: "set" | "map" | "vmap" | "any"): void {
  const name = ref.slice(1);
  const set = ctx.table.sets.get(name);
  if (!set) {
    problem(ctx, field, `unknown set or map "${name}"`);
    return;
  }
  const isVmap = set.map === "verdict";
  if (want === "set" && set.map !== undefined)
    problem(ctx, field, `"${name}" is a map, a set is needed here`);
  if (want === "map" && (set.map === undefined || isVmap)) problem(ctx, field, `"${name}" is not a data map`);
  if (want === "vmap" && !isVmap) problem(ctx, field, `"${name}" is not a verdict map`);
}

/** Walks an expression for references and addresses; `family` is the address family expected here. */
function checkExpr(ctx: Context, field: string, e: Expression, family?: "ip" | "ip6"): void {
  if (typeof e === "string") {
    if (e.startsWith("@")) checkSetRef(ctx, field, e, "set");
    else if (family) {
      const p = addressProblem(e, family);
      if (p) problem(ctx, field, p);
    }
    return;
  }
  if (typeof e !== "object" || Array.isArray(e)) return;
  if ("prefix" in e || "range" in e) {
    if (family || "prefix" in e) {
      const p = addressProblem(e, family);
      if (p) problem(ctx, field, p);
    }
    return;
  }
  if ("concat" in e) {
    for (let i = 0; i < e.concat.length; i++) checkExpr(ctx, `${field}.concat[${i}]`, e.concat[i]);
  } else if ("set" in e) {
    e.set.forEach((item, i) => {
      if (Array.isArray(item) && item.length === 2 && typeof item[0] !== "string") {
        checkExpr(ctx, `${field}.set[${i}][0]`, item[0] as Expression, family);
        const v = item[1];
        if (isVerdict(v)) checkVerdict(ctx, `${field}.set[${i}][1]`, v);
      } else checkExpr(ctx, `${field}.set[${i}]`, item as Expression, family);
    });
  } else if ("map" in e) {
    checkExpr(ctx, `${field}.map.key`, e.map.key);
    if (typeof e.map.data === "string") checkSetRef(ctx, `${field}.map.data`, e.map.data, "map");
    else checkExpr(ctx, `${field}.map.data`, e.map.data);
  } else if ("jhash" in e) {
    checkExpr(ctx, `${field}.jhash.expr`, e.jhash.expr);
    if (!(Number.isInteger(e.jhash.mod) && e.jhash.mod > 0))
      problem(ctx, `${field}.jhash.mod`, "must be a positive integer");
  } else if ("numgen" in e) {
    if (!(Number.isInteger(e.numgen.mod) && e.numgen.mod > 0))
      problem(ctx, `${field}.numgen.mod`, "must be a positive integer");
  } else if ("elem" in e) checkExpr(ctx, `${field}.elem.val`, e.elem.val, family);
}

function pinsTransportProtocol(s: Statement): boolean {
  if (!("match" in s)) return false;
  const { left } = s.match;
  if (typeof left !== "object" || Array.isArray(left)) return false;
  if ("meta" in left && left.meta.key === "l4proto") return true;
  if ("payload" in left && L4.has(left.payload.protocol)) return true;
  if ("concat" in left)
    return left.concat.some(
      (c) => typeof c === "object" && !Array.isArray(c) && "meta" in c && c.meta.key === "l4proto",
    );
  return false;
}

function checkNat(ctx: Context, field: string, args: NatArgs, tableFamily: Family, l4Seen: boolean): void {
  if (args.addr !== undefined && tableFamily === "inet" && !args.family)
    problem(
      ctx,
      `${field}.family`,
      `an inet table needs the address family ("ip" or "ip6") of a NAT address`,
    );
  if (args.addr !== undefined)
    checkExpr(ctx, `${field}.addr`, args.addr, typeof args.addr === "string" ? args.family : undefined);
  if (args.port !== undefined) {
    if (!l4Seen)
      problem(
        ctx,
        `${field}.port`,
        "setting a port needs a transport protocol match first (e.g. meta l4proto tcp)",
      );
    const p = args.port;
    if (typeof p === "number" && !(Number.isInteger(p) && p >= 0 && p <= 65535))
      problem(ctx, `${field}.port`, `${p} is not a port (0..65535)`);
  }
}

function checkStatement(
  ctx: Context,
  field: string,
  s: Statement,
  tableFamily: Family,
  l4Seen: boolean,
): void {
  if (typeof s !== "object" || s === null) {
    problem(ctx, field, `not a statement: ${JSON.stringify(s)}`);
    return;
  }
  if ("match" in s) {
    const fam = addressFamilyOf(s.match.left);
    checkExpr(ctx, `${field}.match.left`, s.match.left);
    checkExpr(ctx, `${field}.match.right`, s.match.right, fam);
  } else if ("vmap" in s) {
    checkExpr(ctx, `${field}.vmap.key`, s.vmap.key);
    if (typeof s.vmap.data === "string") checkSetRef(ctx, `${field}.vmap.data`, s.vmap.data, "vmap");
    else checkExpr(ctx, `${field}.vmap.data`, s.vmap.data);
  } else if ("dnat" in s) checkNat(ctx, `${field}.dnat`, s.dnat, tableFamily, l4Seen);
  else if ("snat" in s) checkNat(ctx, `${field}.snat`, s.snat, tableFamily, l4Seen);
  else if ("masquerade" in s) {
    if (s.masquerade?.port !== undefined && !l4Seen)
      problem(ctx, `${field}.masquerade.port`, "setting a port needs a transport protocol match first");
  } else if ("set" in s) {
    checkSetRef(ctx, `${field}.set.set`, s.set.set, "set");
    checkExpr(ctx, `${field}.set.elem`, s.set.elem);
  } else if ("mangle" in s) checkExpr(ctx, `${field}.mangle.value`, s.mangle.value);
  else if (isVerdict(s)) checkVerdict(ctx, field, s);
  else if ("log" in s) {
    const p = commentProblem(s.log?.prefix);
    if (p) problem(ctx, `${field}.log.prefix`, p);
  }
}

function validateChain(ctx: Context, chain: DesiredChain, key: string, family: Family): void {
  ctx.object = `chain ${key}`;
  if (chain.name !== key) problem(ctx, "name", `"${chain.name}" does not match its key "${key}"`);
  const n = nameProblem(chain.name);
  if (n) problem(ctx, "name", n);
  const c = commentProblem(chain.comment);
  if (c) problem(ctx, "comment", c);
  if (chain.base) {
    const { type, hook, priority, policy } = chain.base;
    if (!["filter", "nat", "route"].includes(type)) problem(ctx, "base.type", `unknown chain type "${type}"`);
    if (type === "nat" && !NAT_HOOKS.has(hook))
      problem(ctx, "base.hook", `a nat chain cannot use hook "${hook}"`);
    if (type === "route" && hook !== "output") problem(ctx, "base.hook", `a route chain needs hook output`);
    try {
      priorityNumber(priority);
    } catch (err) {
      problem(ctx, "base.priority", (err as Error).message);
    }
    if (policy !== undefined && policy !== "accept" && policy !== "drop")
      problem(ctx, "base.policy", `"${policy}" is not accept or drop`);
  }
  if (!Array.isArray(chain.rules)) {
    problem(ctx, "rules", "must be an array");
    return;
  }
  chain.rules.forEach((rule, r) => {
    const rc = commentProblem(rule.comment);
    if (rc) problem(ctx, `rules[${r}].comment`, rc);
    if (!Array.isArray(rule.expr) || rule.expr.length === 0) {
      problem(ctx, `rules[${r}].expr`, "must be a non-empty array of statements");
      return;
    }
    let l4Seen = false;
    rule.expr.forEach((s, i) => {
      checkStatement(ctx, `rules[${r}].expr[${i}]`, s, family, l4Seen);
      if (pinsTransportProtocol(s)) l4Seen = true;
    });
  });
}

const PROTOCOL_NAMES = new Set([...L4, "icmp", "igmp"]);

function numberProblem(type: "inet_service" | "inet_proto" | "mark" | "integer", v: unknown): string | null {
  const max = type === "inet_service" ? 65535 : type === "inet_proto" ? 255 : 0xffffffff;
  if (type === "inet_proto" && typeof v === "string" && PROTOCOL_NAMES.has(v)) return null;
  if (typeof v === "number" && Number.isInteger(v) && v >= 0 && v <= max) return null;
  return `${JSON.stringify(v)} is not a valid ${type} (0..${max}${type === "inet_proto" ? " or a protocol name" : ""})`;
}

/** Whether `value` is a valid element part of data type `type`. */
function typeProblem(type: DataType, value: unknown, interval: boolean): string | null {
  const rangeOrPrefix =
    typeof value === "object" && value !== null && ("range" in value || "prefix" in value);
  if (rangeOrPrefix && !interval)
    return `${JSON.stringify(value)} is a range or prefix, but the set has no interval flag`;
  switch (type) {
    case "ipv4_addr":
      return addressProblem(value, "ip");
    case "ipv6_addr":
      return addressProblem(value, "ip6");
    case "inet_service":
    case "inet_proto":
    case "mark":
    case "integer": {
      if (typeof value === "object" && value !== null && "range" in value) {
        const [a, b] = (value as { range: unknown[] }).range;
        return numberProblem(type, a) ?? numberProblem(type, b);
      }
      return numberProblem(type, value);
    }
    case "ifname":
      return typeof value === "string" && value.length > 0 && value.length <= 15
        ? null
        : `${JSON.stringify(value)} is not an interface name`;
    case "ether_addr":
      return typeof value === "string" && /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/i.test(value)
        ? null
        : `${JSON.stringify(value)} is not a MAC address`;
    default:
      return null;
  }
}

function checkTyped(
  ctx: Context,
  field: () => string,
  type: DataType | DataType[],
  value: unknown,
  interval: boolean,
): void {
  const single = typeof type === "string" ? type : type.length === 1 ? type[0] : null;
  if (single === "verdict") {
    if (!isVerdict(value)) problem(ctx, field(), `expected a verdict, got ${JSON.stringify(value)}`);
    else checkVerdict(ctx, field(), value);
    return;
  }
  if (single !== null) {
    const p = typeProblem(single, value, interval);
    if (p) problem(ctx, field(), p);
    return;
  }
  const types = type as DataType[];
  const parts =
    typeof value === "object" && value !== null && "concat" in value
      ? (value as { concat: unknown[] }).concat
      : null;
  if (!parts || parts.length !== types.length) {
    problem(
      ctx,
      field(),
      `expected a concatenation of ${types.length} values (${types.join(" . ")}), got ${JSON.stringify(value)}`,
    );
    return;
  }
  for (let i = 0; i < parts.length; i++) {
    const p = typeProblem(types[i], parts[i], interval);
    if (p) problem(ctx, `${field()}.concat[${i}]`, p);
  }
}

function validateElements(ctx: Context, set: DesiredSet, elements: SetElement[], offset = 0): void {
  const interval = set.flags?.includes("interval") ?? false;
  const timeouts = set.flags?.includes("timeout") ?? false;
  const seen = new Map<string, number>();
  // Values are often one object shared by many elements (a map's slots of one endpoint): checked once.
  const goodValues = new Set<unknown>();
  let i = 0;
  const at = () => `elements[${offset + i}]`;
  const keyField = () => `${at()}.key`;
  const valueField = () => `${at()}.value`;
  for (; i < elements.length; i++) {
    const el = elements[i];
    const key = elementKeyTextOnce(el);
    const first = seen.get(key);
    if (first !== undefined) problem(ctx, keyField(), `${key} is already elements[${first}]`);
    else seen.set(key, offset + i);
    checkTyped(ctx, keyField, set.type, el.key, interval);
    if (set.map === undefined && el.value !== undefined)
      problem(ctx, valueField(), "a set element has no value (this is not a map)");
    if (set.map !== undefined) {
      if (el.value === undefined) problem(ctx, valueField(), "a map element needs a value");
      else if (!goodValues.has(el.value)) {
        const before = ctx.problems.length;
        checkTyped(ctx, valueField, set.map, el.value, false);
        if (ctx.problems.length === before && typeof el.value === "object") goodValues.add(el.value);
      }
    }
    if (el.timeout !== undefined && !timeouts) problem(ctx, `${at()}.timeout`, "the set has no timeout flag");
    const c = commentProblem(el.comment);
    if (c) problem(ctx, `${at()}.comment`, c);
  }
}

const KNOWN_TYPES = new Set<string>([
  "ipv4_addr",
  "ipv6_addr",
  "ether_addr",
  "inet_proto",
  "inet_service",
  "mark",
  "ifname",
  "iface_index",
  "verdict",
  "integer",
  "ct_state",
  "nf_proto",
]);

function validateSet(ctx: Context, set: DesiredSet, key: string): void {
  ctx.object = `${set.map !== undefined ? "map" : "set"} ${key}`;
  if (set.name !== key) problem(ctx, "name", `"${set.name}" does not match its key "${key}"`);
  const n = nameProblem(set.name);
  if (n) problem(ctx, "name", n);
  const c = commentProblem(set.comment);
  if (c) problem(ctx, "comment", c);
  for (const t of typeof set.type === "string" ? [set.type] : set.type)
    if (!KNOWN_TYPES.has(t) || t === "verdict") problem(ctx, "type", `"${t}" is not a key type`);
  if (set.map !== undefined)
    for (const t of typeof set.map === "string" ? [set.map] : set.map)
      if (!KNOWN_TYPES.has(t)) problem(ctx, "map", `"${t}" is not a data type`);
  if (set.timeout !== undefined && !set.flags?.includes("timeout"))
    problem(ctx, "timeout", "a default timeout needs flags timeout");
  if (!Array.isArray(set.elements)) problem(ctx, "elements", "must be an array");
  else validateElements(ctx, set, set.elements);
}

function newContext(table: DesiredTable): Context {
  return { table, problems: [], object: `table ${table.family} ${table.name}` };
}

/**
 * Validates the chains and sets named in `only` (all when absent) against the whole table
 * (references resolve anywhere in it). Throws NftValidationError listing every problem.
 */
export function validateTable(
  table: DesiredTable,
  only?: { chains?: Iterable<string>; sets?: Iterable<string> },
): void {
  const ctx = newContext(table);
  if (!FAMILIES.has(table.family)) problem(ctx, "family", `"${table.family}" is not an nftables family`);
  const n = nameProblem(table.name);
  if (n) problem(ctx, "name", n);
  for (const key of only?.chains ?? table.chains.keys())
    validateChain(ctx, table.chains.get(key)!, key, table.family);
  for (const key of only?.sets ?? table.sets.keys()) validateSet(ctx, table.sets.get(key)!, key);
  if (ctx.problems.length > 0) throw new NftValidationError(ctx.problems);
}

/** Validates elements about to be added to an existing set (duplicates, types, verdict targets). */
export function validateAddedElements(table: DesiredTable, set: DesiredSet, elements: SetElement[]): void {
  const ctx = newContext(table);
  ctx.object = `${set.map !== undefined ? "map" : "set"} ${set.name}`;
  validateElements(ctx, set, elements);
  if (ctx.problems.length > 0) throw new NftValidationError(ctx.problems);
}
