// Small constructors for the model in nft/model.ts, so a planner writes
//   rule(match(meta("l4proto"), "tcp"), match(payload("tcp", "dport"), 80), counter(), dnat("10.0.0.1", 8080))
// instead of nested JSON. Each returns a fresh plain object; nothing here does I/O or validation
// (nft/validate.ts does that before anything is applied).
import type { DesiredChain, DesiredRule, DesiredSet } from "./desired.ts";
import type {
  AnonSetExpr,
  BaseChainSpec,
  ConcatExpr,
  CounterStmt,
  CtExpr,
  CtKey,
  DataType,
  ElemExpr,
  Expression,
  FibExpr,
  FibFlag,
  JhashExpr,
  LogStmt,
  MangleStmt,
  MapLookupExpr,
  MasqueradeStmt,
  MatchOperator,
  MatchStmt,
  MetaExpr,
  MetaKey,
  NatArgs,
  NatFlag,
  NumgenExpr,
  PayloadExpr,
  PayloadProtocol,
  PrefixExpr,
  RangeExpr,
  RejectStmt,
  SetElement,
  SetFlag,
  SetReference,
  SetUpdateStmt,
  Statement,
  Verdict,
  VmapStmt,
} from "./model.ts";

// ---- expressions

export const payload = (protocol: PayloadProtocol, field: string): PayloadExpr => ({
  payload: { protocol, field },
});
export const meta = (key: MetaKey): MetaExpr => ({ meta: { key } });
/** `ct KEY`, or `ct original ip daddr` with `ct("daddr", { dir: "original", family: "ip" })`. */
export const ct = (key: CtKey, where?: { dir?: "original" | "reply"; family?: "ip" | "ip6" }): CtExpr => ({
  ct: { key, ...(where?.family ? { family: where.family } : {}), ...(where?.dir ? { dir: where.dir } : {}) },
});
export const numgen = (mode: "inc" | "random", mod: number, offset?: number): NumgenExpr => ({
  numgen: { mode, mod, ...(offset !== undefined ? { offset } : {}) },
});
export const jhash = (
  expr: Expression,
  mod: number,
  opts: { seed?: number; offset?: number } = {},
): JhashExpr => ({
  jhash: {
    mod,
    ...(opts.offset !== undefined ? { offset: opts.offset } : {}),
    expr,
    ...(opts.seed !== undefined ? { seed: opts.seed } : {}),
  },
});
export const fib = (flags: FibFlag[], result: "oif" | "oifname" | "type"): FibExpr => ({
  fib: { result, flags },
});
export const concat = (...items: Expression[]): ConcatExpr => ({ concat: items });
export const setRef = (name: string): SetReference => `@${name}`;
/** An anonymous set `{ a, b, c }`. */
export const anonSet = (...items: Expression[]): AnonSetExpr => ({ set: items });
/** An anonymous map `{ k1 : v1, k2 : v2 }` (values may be verdicts for a vmap). */
export const anonMap = (entries: [Expression, Expression | Verdict][]): AnonSetExpr => ({ set: entries });
/** A bitmask as flag names, for `ct state established,related` and `ct status dnat`. */
export const flags = (...names: string[]): string[] => names;
export const prefix = (addr: string, len: number): PrefixExpr => ({ prefix: { addr, len } });
/** "10.0.0.0/8" → prefix expression; a plain address is returned unchanged. */
export const cidr = (text: string): Expression => {
  const slash = text.indexOf("/");
  return slash < 0 ? text : prefix(text.slice(0, slash), Number(text.slice(slash + 1)));
};
export const range = (from: Expression, to: Expression): RangeExpr => ({ range: [from, to] });
export const elem = (val: Expression, opts: { timeout?: number; comment?: string } = {}): ElemExpr => ({
  elem: { val, ...opts },
});
export const bitAnd = (a: Expression, b: Expression): Expression => ({ "&": [a, b] });
export const bitOr = (a: Expression, b: Expression): Expression => ({ "|": [a, b] });
/** `KEY map DATA`: DATA is a set name (string) or anonymous map entries. */
export const mapLookup = (key: Expression, data: string | [Expression, Expression][]): MapLookupExpr => ({
  map: { key, data: typeof data === "string" ? setRef(data) : anonMap(data) },
});

// ---- statements

/** `LEFT RIGHT` (nft's implicit ==), or with an explicit operator. */
export const match = (left: Expression, right: Expression, op: MatchOperator = "=="): MatchStmt => ({
  match: { op, left, right },
});
export const notMatch = (left: Expression, right: Expression): MatchStmt => match(left, right, "!=");
export const counter = (): CounterStmt => ({ counter: null });

export const accept = (): Verdict => ({ accept: null });
export const drop = (): Verdict => ({ drop: null });
export const ret = (): Verdict => ({ return: null });
export const jump = (target: string): Verdict => ({ jump: { target } });
export const goto = (target: string): Verdict => ({ goto: { target } });

export const reject = (type?: "tcp reset" | "icmp" | "icmpv6" | "icmpx", expr?: string): RejectStmt => ({
  reject: type === undefined ? null : { type, ...(expr !== undefined ? { expr } : {}) },
});

function familyOf(addr: Expression | undefined, given: "ip" | "ip6" | undefined): "ip" | "ip6" | undefined {
  if (given) return given;
  if (typeof addr === "string") return addr.includes(":") ? "ip6" : "ip";
  if (addr && typeof addr === "object" && "prefix" in addr)
    return addr.prefix.addr.includes(":") ? "ip6" : "ip";
  return undefined;
}

export interface NatOptions {
  family?: "ip" | "ip6";
  flags?: NatFlag[];
}

function nat(addr: Expression | undefined, port: Expression | undefined, opts: NatOptions): NatArgs {
  const family = familyOf(addr, opts.family);
  return {
    ...(family ? { family } : {}),
    ...(addr !== undefined ? { addr } : {}),
    ...(port !== undefined ? { port } : {}),
    ...(opts.flags?.length ? { flags: opts.flags } : {}),
  };
}

/**
 * `dnat ip to ADDR[:PORT]`. The family comes from the address text; pass it in `opts` when the
 * address is an expression (map form: `dnat(mapLookup(ip saddr, "m"), undefined, { family: "ip" })`).
 * nft needs a layer-4 protocol match before a rule that sets a port.
 */
export const dnat = (addr?: Expression, port?: Expression, opts: NatOptions = {}) => ({
  dnat: nat(addr, port, opts),
});
export const snat = (addr?: Expression, port?: Expression, opts: NatOptions = {}) => ({
  snat: nat(addr, port, opts),
});
export const masquerade = (opts: { port?: Expression; flags?: NatFlag[] } = {}): MasqueradeStmt => ({
  masquerade:
    opts.port === undefined && !opts.flags?.length
      ? null
      : {
          ...(opts.port !== undefined ? { port: opts.port } : {}),
          ...(opts.flags?.length ? { flags: opts.flags } : {}),
        },
});
export const markSet = (value: Expression): MangleStmt => ({ mangle: { key: meta("mark"), value } });
export const ctMarkSet = (value: Expression): MangleStmt => ({ mangle: { key: ct("mark"), value } });
/** `update @set { KEY timeout 30s }` from the packet path. */
export const setUpdate = (
  op: "add" | "update" | "delete",
  setName: string,
  key: Expression,
  timeout?: number,
): SetUpdateStmt => ({
  set: { op, elem: timeout === undefined ? key : elem(key, { timeout }), set: setRef(setName) },
});
export const log = (opts: LogStmt["log"] = null): LogStmt => ({
  log: opts && Object.keys(opts).length ? opts : null,
});
/** `KEY vmap DATA`: DATA is a map name (string) or anonymous `[key, verdict]` entries. */
export const vmap = (key: Expression, data: string | [Expression, Verdict][]): VmapStmt => ({
  vmap: { key, data: typeof data === "string" ? setRef(data) : anonMap(data) },
});

// ---- rules, chains, sets

export const rule = (...expr: Statement[]): DesiredRule => ({ expr });
export const commentedRule = (comment: string, ...expr: Statement[]): DesiredRule => ({ expr, comment });

export const chain = (name: string, rules: DesiredRule[] = [], comment?: string): DesiredChain => ({
  name,
  rules,
  ...(comment !== undefined ? { comment } : {}),
});
export const baseChain = (name: string, base: BaseChainSpec, rules: DesiredRule[] = []): DesiredChain => ({
  name,
  base,
  rules,
});

export const element = (
  key: Expression,
  value?: Expression | Verdict,
  opts: { timeout?: number; comment?: string } = {},
): SetElement => ({ key, ...(value !== undefined ? { value } : {}), ...opts });

export interface SetOptions {
  flags?: SetFlag[];
  timeout?: number;
  size?: number;
  comment?: string;
}

export const namedSet = (
  name: string,
  type: DataType | DataType[],
  elements: SetElement[] = [],
  opts: SetOptions = {},
): DesiredSet => ({ name, type, elements, ...opts });

export const namedMap = (
  name: string,
  type: DataType | DataType[],
  valueType: DataType | DataType[],
  elements: SetElement[] = [],
  opts: SetOptions = {},
): DesiredSet => ({ name, type, map: valueType, elements, ...opts });
