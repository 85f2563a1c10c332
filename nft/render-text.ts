// Renders the model as native nft syntax (what `nft -f` reads). This is the fast path for large
// transactions: on nft 1.0.6 the JSON parser is much slower, and it cannot read some forms it lists
// (a concatenated map value type, for one). Pure string building, no validation.
import type { DesiredChain, DesiredRule, DesiredSet } from "./desired.ts";
import type {
  BaseChainSpec,
  ChainPriority,
  DataType,
  Expression,
  Family,
  MatchStmt,
  NatArgs,
  SetElement,
  Statement,
  Verdict,
} from "./model.ts";
import { normalizeElement, normalizeExpr, normalizeRule } from "./normalize.ts";
import type { Operation, Transaction } from "./transaction.ts";

const STANDARD_PRIORITIES: Record<string, number> = {
  raw: -300,
  mangle: -150,
  dstnat: -100,
  filter: 0,
  security: 50,
  srcnat: 100,
};

/** A chain priority as the number the kernel lists ("dstnat" → -100, "filter+5" → 5). */
export function priorityNumber(priority: ChainPriority): number {
  if (typeof priority === "number") return priority;
  const m = /^([a-z]+)\s*(?:([+-])\s*(\d+))?$/.exec(priority);
  const base = m ? STANDARD_PRIORITIES[m[1]] : undefined;
  if (!m || base === undefined) throw new Error(`unknown chain priority "${priority}"`);
  const offset = m[3] ? Number(m[3]) : 0;
  return m[2] === "-" ? base - offset : base + offset;
}

/** A string as nft reads it: bare when it is a plain word, else double-quoted. */
export function quoteString(s: string): string {
  return /^[A-Za-z0-9_][A-Za-z0-9_.:/-]*$/.test(s) ? s : `"${s}"`;
}

/**
 * A key or value type as a declaration. "integer" (what numgen and jhash yield) has no type name nft
 * accepts in a declaration, so it is declared by example: `typeof numgen inc mod 1`.
 */
export function typeText(type: DataType | DataType[]): string {
  if (type === "integer") return "typeof numgen inc mod 1";
  if (declaredByTypeof(type)) return `typeof ${typeofText(type)}`;
  return typeof type === "string" ? type : type.join(" . ");
}

/**
 * An expression of each type, for declarations by `typeof`: a concatenation with an integer part
 * (`ip daddr . meta l4proto . th dport . numgen random mod 16`) can only be declared that way, since
 * nft 1.0.6 refuses `integer` in a `type` concatenation ("variable sized data types").
 */
export const TYPEOF_EXAMPLES: Partial<Record<DataType, string>> = {
  ipv4_addr: "ip daddr",
  ipv6_addr: "ip6 daddr",
  inet_proto: "meta l4proto",
  inet_service: "th dport",
  mark: "meta mark",
  integer: "numgen inc mod 1",
};

/** A concatenated key with an integer part: declared as `typeof …`, and then its map value too. */
export function declaredByTypeof(type: DataType | DataType[]): boolean {
  return Array.isArray(type) && type.includes("integer");
}

/** `ip daddr . th dport` for [ipv4_addr, inet_service]; a type without an example is an error. */
export function typeofText(type: DataType | DataType[]): string {
  const list = Array.isArray(type) ? type : [type];
  return list
    .map((t) => {
      const example = TYPEOF_EXAMPLES[t];
      if (example === undefined) throw new Error(`type ${t}: no typeof expression for a declaration`);
      return example;
    })
    .join(" . ");
}

function immediateText(value: string | number | boolean): string {
  if (typeof value === "number") return String(value);
  if (typeof value === "boolean") return value ? "exists" : "missing";
  if (value.length > 0 && value.charCodeAt(0) === 64) return value; // "@set"
  return quoteString(value);
}

export function verdictText(v: Verdict): string {
  // Joined, not a template: planners keep this text per element, and a template's result is a rope.
  if ("jump" in v) return ["jump", v.jump.target].join(" ");
  if ("goto" in v) return ["goto", v.goto.target].join(" ");
  if ("accept" in v) return "accept";
  if ("drop" in v) return "drop";
  if ("return" in v) return "return";
  return "continue";
}

function isVerdict(v: object): v is Verdict {
  return "jump" in v || "goto" in v || "accept" in v || "drop" in v || "return" in v || "continue" in v;
}

function valueText(v: Expression | Verdict): string {
  return typeof v === "object" && !Array.isArray(v) && isVerdict(v)
    ? verdictText(v)
    : exprText(v as Expression);
}

/** `{ a, b }`, or `{ k : v, … }` for a map (in a map or vmap lookup every item is a pair). */
function anonItemsText(items: (Expression | [Expression, Expression | Verdict])[], map = false): string {
  let out = "{ ";
  for (let i = 0; i < items.length; i++) {
    if (i > 0) out += ", ";
    const item = items[i];
    out +=
      (map && Array.isArray(item)) || isPair(item)
        ? `${exprText(item[0] as Expression)} : ${valueText(item[1] as Expression | Verdict)}`
        : exprText(item as Expression);
  }
  return `${out} }`;
}

function isPair(
  item: Expression | [Expression, Expression | Verdict],
): item is [Expression, Expression | Verdict] {
  // A flag list is an array of strings; a map pair is [key, value] where value may be an object.
  return (
    Array.isArray(item) && item.length === 2 && !(typeof item[0] === "string" && typeof item[1] === "string")
  );
}

export function exprText(e: Expression): string {
  if (typeof e !== "object") return immediateText(e);
  if (Array.isArray(e)) return e.join(",");
  if ("payload" in e) return `${e.payload.protocol} ${e.payload.field}`;
  if ("meta" in e) return `meta ${e.meta.key}`;
  if ("ct" in e) {
    const { key, dir, family } = e.ct;
    return `ct${dir ? ` ${dir}` : ""}${family ? ` ${family}` : ""} ${key}`;
  }
  if ("concat" in e) return e.concat.map(exprText).join(" . ");
  if ("prefix" in e) return `${e.prefix.addr}/${e.prefix.len}`;
  if ("range" in e) return `${exprText(e.range[0])}-${exprText(e.range[1])}`;
  if ("set" in e) return anonItemsText(e.set);
  if ("map" in e) {
    const data = e.map.data;
    return `${exprText(e.map.key)} map ${typeof data === "string" ? data : anonItemsText(data.set, true)}`;
  }
  if ("numgen" in e) {
    const { mode, mod, offset } = e.numgen;
    return `numgen ${mode} mod ${mod}${offset ? ` offset ${offset}` : ""}`;
  }
  if ("jhash" in e) {
    const { expr, mod, seed, offset } = e.jhash;
    return `jhash ${exprText(expr)} mod ${mod}${seed !== undefined ? ` seed 0x${seed.toString(16)}` : ""}${offset ? ` offset ${offset}` : ""}`;
  }
  if ("fib" in e) return `fib ${e.fib.flags.join(" . ")} ${e.fib.result}`;
  if ("elem" in e) return elemOptionsText(exprText(e.elem.val), e.elem.timeout, e.elem.comment);
  if ("&" in e) return `${exprText(e["&"][0])} & ${exprText(e["&"][1])}`;
  if ("|" in e) return `${exprText(e["|"][0])} | ${exprText(e["|"][1])}`;
  if ("^" in e) return `${exprText(e["^"][0])} ^ ${exprText(e["^"][1])}`;
  if ("<<" in e) return `${exprText(e["<<"][0])} << ${exprText(e["<<"][1])}`;
  if (">>" in e) return `${exprText(e[">>"][0])} >> ${exprText(e[">>"][1])}`;
  throw new Error(`cannot render expression ${JSON.stringify(e)}`);
}

function elemOptionsText(key: string, timeout: number | undefined, comment: string | undefined): string {
  let out = key;
  if (timeout !== undefined) out += ` timeout ${timeout}s`;
  if (comment !== undefined) out += ` comment "${comment}"`;
  return out;
}

const STRING_KEYS = new Set(["iifname", "oifname", "ibrname", "obrname"]);

function matchText(m: MatchStmt["match"]): string {
  const left = exprText(m.left);
  // Interface names are strings that may look like keywords ("accept") or carry wildcards: quote.
  const right =
    typeof m.right === "string" &&
    typeof m.left === "object" &&
    "meta" in m.left &&
    STRING_KEYS.has(m.left.meta.key) &&
    m.right.charCodeAt(0) !== 64
      ? `"${m.right}"`
      : exprText(m.right);
  return m.op === "==" || m.op === "in" ? `${left} ${right}` : `${left} ${m.op} ${right}`;
}

function natText(verb: string, a: NatArgs): string {
  let out = verb;
  // A port-only translation takes no family (`dnat to :80`; nft rejects `dnat ip to :80`).
  if (a.family && a.addr !== undefined) out += ` ${a.family}`;
  if (a.addr !== undefined || a.port !== undefined) {
    out += " to ";
    if (a.addr !== undefined) {
      const addr = exprText(a.addr);
      out += a.port !== undefined && a.family === "ip6" && typeof a.addr === "string" ? `[${addr}]` : addr;
    }
    if (a.port !== undefined) out += `:${exprText(a.port)}`;
  }
  if (a.flags?.length) out += ` ${a.flags.join(",")}`;
  return out;
}

export function statementText(s: Statement): string {
  if ("match" in s) return matchText(s.match);
  if ("counter" in s) return "counter";
  if ("vmap" in s) {
    const data = s.vmap.data;
    return `${exprText(s.vmap.key)} vmap ${typeof data === "string" ? data : anonItemsText(data.set, true)}`;
  }
  if ("dnat" in s) return natText("dnat", s.dnat);
  if ("snat" in s) return natText("snat", s.snat);
  if ("masquerade" in s) {
    const m = s.masquerade;
    let out = "masquerade";
    if (m?.port !== undefined) out += ` to :${exprText(m.port)}`;
    if (m?.flags?.length) out += ` ${m.flags.join(",")}`;
    return out;
  }
  if ("mangle" in s) return `${exprText(s.mangle.key)} set ${exprText(s.mangle.value)}`;
  if ("set" in s) return `${s.set.op} ${s.set.set} { ${exprText(s.set.elem)} }`;
  if ("reject" in s) {
    const r = s.reject;
    if (!r?.type) return "reject";
    return r.expr ? `reject with ${r.type} ${r.expr}` : `reject with ${r.type}`;
  }
  if ("log" in s) {
    const l = s.log;
    let out = "log";
    if (l?.prefix !== undefined) out += ` prefix "${l.prefix}"`;
    if (l?.level !== undefined) out += ` level ${l.level}`;
    if (l?.group !== undefined) out += ` group ${l.group}`;
    if (l?.snaplen !== undefined) out += ` snaplen ${l.snaplen}`;
    if (l?.["queue-threshold"] !== undefined) out += ` queue-threshold ${l["queue-threshold"]}`;
    return out;
  }
  return verdictText(s);
}

/** One rule as nft text (no trailing separator). */
export function ruleText(rule: DesiredRule): string {
  let out = "";
  for (let i = 0; i < rule.expr.length; i++) {
    if (i > 0) out += " ";
    out += statementText(rule.expr[i]);
  }
  if (rule.comment !== undefined) out += ` comment "${rule.comment}"`;
  return out;
}

/** The `{ type … hook … priority …; policy …; }` part of a base chain declaration. */
export function baseChainText(base: BaseChainSpec): string {
  let out = `type ${base.type} hook ${base.hook}`;
  if (base.device !== undefined) out += ` device "${base.device}"`;
  out += ` priority ${priorityNumber(base.priority)}; policy ${base.policy ?? "accept"};`;
  return out;
}

/** A set or map declaration body: `{ type K : V; flags …; timeout Ns; }` (elements go separately). */
export function setSpecText(set: Omit<DesiredSet, "elements">): string {
  const byTypeof = declaredByTypeof(set.type);
  let out = set.type === "integer" || byTypeof ? `{ ${typeText(set.type)}` : `{ type ${typeText(set.type)}`;
  if (set.map !== undefined)
    out += ` : ${byTypeof && set.map !== "verdict" ? typeofText(set.map) : typeText(set.map)}`;
  out += ";";
  if (set.flags?.length) out += ` flags ${set.flags.join(",")};`;
  if (set.timeout !== undefined) out += ` timeout ${set.timeout}s;`;
  if (set.size !== undefined) out += ` size ${set.size};`;
  if (set.comment !== undefined) out += ` comment "${set.comment}";`;
  return `${out} }`;
}

/** The key of an element as nft text (what a delete names). */
export function elementKeyText(el: SetElement): string {
  return exprText(el.key);
}

/** A whole element: `KEY [timeout Ns] [comment "…"] [: VALUE]`. */
export function elementText(el: SetElement): string {
  const key = elemOptionsText(exprText(el.key), el.timeout, el.comment);
  return el.value === undefined ? key : `${key} : ${valueText(el.value)}`;
}

// ---------------------------------------------------------------------------------------------
// Chains as text, cached: desired chains are immutable once handed to nft/, so each chain object is
// normalised and rendered once and the text serves both the diff (compare) and the script (apply).

const chainRulesCache = new WeakMap<DesiredChain, { family: Family; text: string }>();

/**
 * The same string, flattened. Text built with `+=` is a tree of concatenation nodes, ~5× the size of
 * its characters; the caches keep a text as long as its chain or element lives (at 10,000 services
 * ~15 MiB of heap for a 4 MB script). Reading a character makes V8 flatten the string in place.
 */
function flat(text: string): string {
  text.charCodeAt(0);
  return text;
}

/** The chain's rules, normalised, as `rule; rule; ` (empty for a chain without rules). */
export function chainRulesText(chain: DesiredChain, family: Family): string {
  const hit = chainRulesCache.get(chain);
  if (hit && hit.family === family) return hit.text;
  let text = "";
  for (const rule of chain.rules) text += `${ruleText(normalizeRule(rule, family))}; `;
  chainRulesCache.set(chain, { family, text: flat(text) });
  return text;
}

/**
 * Everything that makes a chain what it is (base declaration and rules), for equality checks.
 * The comment is left out: nft 1.0.6 does not list chain comments in JSON, so read-back cannot see it.
 */
export function chainCanonicalText(chain: DesiredChain, family: Family): string {
  return chain.base
    ? `{ ${baseChainText(chain.base)} } ${chainRulesText(chain, family)}`
    : chainRulesText(chain, family);
}

// ---------------------------------------------------------------------------------------------
// Transactions as an nft script: exactly one line per operation, so an error's line number names
// the operation that failed.

export interface ElementTexts {
  /** The normalised key, as a delete names it. */
  key: string;
  /** The whole normalised element (key, options, value). */
  full: string;
}

const elementCache = new WeakMap<SetElement, ElementTexts>();

/** An element's normalised key and full text, cached per element object (elements are immutable). */
export function elementTexts(el: SetElement): ElementTexts {
  let hit = elementCache.get(el);
  if (!hit) {
    const n = normalizeElement(el);
    hit = { key: flat(elementKeyText(n)), full: flat(elementText(n)) };
    elementCache.set(el, hit);
  }
  return hit;
}

/**
 * An element's normalised key text, from the cache when elementTexts filled it; otherwise made and not
 * cached (a first sync validates every element's key once and never compares them).
 */
export function elementKeyTextOnce(el: SetElement): string {
  return elementCache.get(el)?.key ?? exprText(normalizeExpr(el.key));
}

function elementsText(elements: SetElement[], keysOnly: boolean): string {
  let out = "{ ";
  for (let i = 0; i < elements.length; i++) {
    if (i > 0) out += ", ";
    const t = elementTexts(elements[i]);
    out += keysOnly ? t.key : t.full;
  }
  return `${out} }`;
}

export function operationText(op: Operation, family: Family, table: string): string {
  const where = `${family} ${table}`;
  switch (op.kind) {
    case "table":
      return op.comment !== undefined
        ? `${op.verb} table ${where} { comment "${op.comment}"; }`
        : `${op.verb} table ${where}`;
    case "chain": {
      if ("name" in op) return `${op.verb} chain ${where} ${op.name}`;
      const c = op.chain;
      let body = "";
      if (c.base) body += `${baseChainText(c.base)} `;
      if (c.comment !== undefined) body += `comment "${c.comment}"; `;
      if (op.withRules) body += chainRulesText(c, family);
      return body ? `${op.verb} chain ${where} ${c.name} { ${body}}` : `${op.verb} chain ${where} ${c.name}`;
    }
    case "rule":
      if (op.verb === "delete") return `delete rule ${where} ${op.chain} handle ${op.handle}`;
      return `${op.verb} rule ${where} ${op.chain}${op.handle !== undefined ? ` handle ${op.handle}` : ""} ${ruleText(normalizeRule(op.rule, family))}`;
    case "set":
    case "map":
      if ("name" in op) return `${op.verb} ${op.kind} ${where} ${op.name}`;
      return `${op.verb} ${op.kind} ${where} ${op.set.name} ${setSpecText(op.set)}`;
    case "element":
      return `${op.verb} element ${where} ${op.set} ${elementsText(op.elements, op.verb === "delete")}`;
  }
}

/** The whole transaction as an nft script for `nft -f -`. */
export function renderText(tx: Transaction): string {
  let out = "";
  for (const op of tx.ops) out += `${operationText(op, tx.family, tx.table)}\n`;
  return out;
}
