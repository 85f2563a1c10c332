// Reads a table back from the kernel (`nft -j list table`) into the same model planners produce,
// normalised so that a table we applied reads back equal to what we rendered. Used to reconcile
// after a restart and by tests to assert on what the kernel holds.
import { type NftRunOptions, runNft } from "./apply.ts";
import type { DesiredChain, DesiredRule, DesiredSet, DesiredTable } from "./desired.ts";
import type { DataType, Expression, Family, SetElement, SetFlag, Statement, Verdict } from "./model.ts";
import { normalizeElement, normalizeRule } from "./normalize.ts";

type ListedObject = Record<string, Record<string, unknown>>;

function splitType(t: unknown): DataType | DataType[] {
  if (Array.isArray(t)) return t as DataType[];
  const s = String(t);
  return s.includes(" . ") ? (s.split(" . ") as DataType[]) : (s as DataType);
}

function isVerdict(v: unknown): v is Verdict {
  if (typeof v !== "object" || v === null || Array.isArray(v)) return false;
  return "jump" in v || "goto" in v || "accept" in v || "drop" in v || "return" in v || "continue" in v;
}

/** One listed element: a value, `{ elem: { val, timeout, comment } }`, or for maps `[key, value]`. */
export function parseElement(raw: unknown, isMap: boolean): SetElement {
  let key: unknown = raw;
  let value: unknown;
  if (isMap && Array.isArray(raw) && raw.length === 2) [key, value] = raw;
  const el: SetElement = { key: key as Expression };
  if (typeof key === "object" && key !== null && "elem" in key) {
    const e = (key as { elem: { val: Expression; timeout?: number; comment?: string } }).elem;
    el.key = e.val;
    if (e.timeout !== undefined) el.timeout = e.timeout;
    if (e.comment !== undefined) el.comment = e.comment;
  }
  if (value !== undefined) el.value = isVerdict(value) ? value : (value as Expression);
  return normalizeElement(el);
}

function parseSet(o: Record<string, unknown>, isMap: boolean): DesiredSet {
  const set: DesiredSet = { name: String(o.name), type: splitType(o.type), elements: [] };
  if (isMap) set.map = splitType(o.map);
  const flags = (Array.isArray(o.flags) ? o.flags : o.flags ? [o.flags] : []) as SetFlag[];
  const order: SetFlag[] = ["constant", "interval", "timeout"];
  const kept = order.filter((f) => flags.includes(f));
  if (kept.length) set.flags = kept;
  if (typeof o.timeout === "number") set.timeout = o.timeout;
  // nft gives sets with timeouts a default size of 65535; it is not something we declared.
  if (typeof o.size === "number" && o.size !== 65535) set.size = o.size;
  if (typeof o.comment === "string") set.comment = o.comment;
  if (Array.isArray(o.elem)) set.elements = o.elem.map((e) => parseElement(e, isMap));
  if (set.timeout !== undefined)
    for (const el of set.elements) if (el.timeout === set.timeout) delete el.timeout;
  return set;
}

function parseChain(o: Record<string, unknown>): DesiredChain {
  const chain: DesiredChain = { name: String(o.name), rules: [] };
  if (typeof o.hook === "string") {
    chain.base = {
      type: o.type as NonNullable<DesiredChain["base"]>["type"],
      hook: o.hook as NonNullable<DesiredChain["base"]>["hook"],
      priority: Number(o.prio),
      policy: (o.policy as "accept" | "drop" | undefined) ?? "accept",
    };
    if (typeof o.dev === "string") chain.base.device = o.dev;
  }
  if (typeof o.comment === "string") chain.comment = o.comment;
  return chain;
}

/** Turns `nft -j list table` output into a table; null when the table is not in the output. */
export function parseTableListing(json: string, family: Family, name: string): DesiredTable | null {
  const doc = JSON.parse(json) as { nftables?: ListedObject[] };
  const table: DesiredTable = { family, name, chains: new Map(), sets: new Map() };
  let found = false;
  for (const item of doc.nftables ?? []) {
    const [kind, o] = Object.entries(item)[0] ?? [];
    if (!o || (kind !== "metainfo" && (o.family !== family || (o.table ?? o.name) !== name))) continue;
    if (kind === "table") found = true;
    else if (kind === "chain") table.chains.set(String(o.name), parseChain(o));
    else if (kind === "set" || kind === "map") table.sets.set(String(o.name), parseSet(o, kind === "map"));
    else if (kind === "rule") {
      const chain = table.chains.get(String(o.chain));
      if (!chain) throw new Error(`nft listing: rule in unknown chain ${String(o.chain)}`);
      const rule: DesiredRule = { expr: o.expr as Statement[] };
      if (typeof o.comment === "string") rule.comment = o.comment;
      chain.rules.push(normalizeRule(rule, family));
    }
  }
  return found ? table : null;
}

/** Reads `family name` from the kernel; null when the table does not exist. */
export async function readTable(
  family: Family,
  name: string,
  opts: NftRunOptions = {},
): Promise<DesiredTable | null> {
  const out = await runNft(["-j", "list", "table", family, name], opts);
  if (out.code !== 0) {
    if (/No such file or directory/.test(out.stderr)) return null;
    throw new Error(
      `nft list table ${family} ${name}${opts.netns ? ` in netns ${opts.netns}` : ""}: ${out.stderr.trim()}`,
    );
  }
  return parseTableListing(out.stdout, family, name);
}
