// A recording fake of the apply/read-back API for unit tests of planners and the agent: it keeps
// tables in memory, applies transactions all-or-nothing with the checks nft makes (missing
// objects, duplicates on create, deleting a chain or set that is still referenced), and records
// every transaction with its rendered script. No kernel, no processes.
import type { ApplyOptions, ApplyResult } from "./apply.ts";
import { assertOwnedTable } from "./apply.ts";
import type { DesiredChain, DesiredRule, DesiredSet, DesiredTable } from "./desired.ts";
import type { Family, SetElement } from "./model.ts";
import { normalizeElement, normalizeRule } from "./normalize.ts";
import {
  chainRulesText,
  elementKeyText,
  elementText,
  priorityNumber,
  renderText,
  ruleText,
} from "./render-text.ts";
import type { Operation, Transaction } from "./transaction.ts";

interface FakeChain {
  spec: DesiredChain;
  rules: { handle: number; rule: DesiredRule }[];
}
interface FakeSet {
  spec: DesiredSet;
  /** key text → element */
  elements: Map<string, SetElement>;
}
interface FakeTable {
  family: Family;
  name: string;
  chains: Map<string, FakeChain>;
  sets: Map<string, FakeSet>;
}

export interface RecordedTransaction {
  tx: Transaction;
  /** The native script the real apply would send. */
  script: string;
  netns?: string;
  ok: boolean;
  error?: string;
}

/** The error a failed fake apply throws; `message` reads like nft's. */
export class FakeNftError extends Error {
  constructor(
    message: string,
    readonly operationIndex: number,
    readonly command: string,
  ) {
    super(message);
    this.name = "FakeNftError";
  }
}

export class FakeNft {
  /** Every transaction applied (or attempted), in order. */
  readonly recorded: RecordedTransaction[] = [];
  private readonly namespaces = new Map<string, Map<string, FakeTable>>();
  private nextHandle = 1;
  private injected: Error | null = null;

  /** The next apply fails with `error` and changes nothing. */
  failNext(error: Error = new Error("injected failure")): void {
    this.injected = error;
  }

  /** Same signature as nft/apply.ts applyTransaction. */
  applyTransaction = async (tx: Transaction, opts: ApplyOptions = {}): Promise<ApplyResult> => {
    assertOwnedTable(tx.table);
    const script = renderText(tx);
    const record: RecordedTransaction = {
      tx,
      script,
      ok: false,
      ...(opts.netns ? { netns: opts.netns } : {}),
    };
    this.recorded.push(record);
    if (this.injected) {
      const err = this.injected;
      this.injected = null;
      record.error = err.message;
      throw err;
    }
    const tables = this.tablesOf(opts.netns);
    const working = cloneTables(tables);
    const handleBefore = this.nextHandle;
    try {
      tx.ops.forEach((op, i) => {
        try {
          this.applyOp(working, tx.family, tx.table, op);
        } catch (err) {
          const command = script.split("\n")[i];
          throw new FakeNftError(`${(err as Error).message}\n  failing command: ${command}`, i, command);
        }
      });
    } catch (err) {
      this.nextHandle = handleBefore;
      record.error = (err as Error).message;
      throw err;
    }
    tables.clear();
    for (const [k, v] of working) tables.set(k, v);
    record.ok = true;
    return {
      format: "text",
      operations: tx.size,
      bytes: Buffer.byteLength(script),
      durationMs: 0,
      renderMs: 0,
    };
  };

  /** Same signature as nft/readback.ts readTable. */
  readTable = async (
    family: Family,
    name: string,
    opts: { netns?: string } = {},
  ): Promise<DesiredTable | null> => {
    const t = this.tablesOf(opts.netns).get(`${family} ${name}`);
    if (!t) return null;
    const out: DesiredTable = { family, name, chains: new Map(), sets: new Map() };
    for (const [k, c] of t.chains)
      out.chains.set(k, { ...c.spec, rules: c.rules.map((r) => normalizeRule(r.rule, family)) });
    for (const [k, s] of t.sets) out.sets.set(k, { ...s.spec, elements: [...s.elements.values()] });
    return out;
  };

  /** Tables held in a namespace ("" for the current one), as `family name` strings. */
  tables(netns?: string): string[] {
    return [...this.tablesOf(netns).keys()];
  }

  /** The scripts of the successful transactions, in order. */
  get scripts(): string[] {
    return this.recorded.filter((r) => r.ok).map((r) => r.script);
  }

  private tablesOf(netns = ""): Map<string, FakeTable> {
    let tables = this.namespaces.get(netns);
    if (!tables) {
      tables = new Map();
      this.namespaces.set(netns, tables);
    }
    return tables;
  }

  private applyOp(tables: Map<string, FakeTable>, family: Family, name: string, op: Operation): void {
    const key = `${family} ${name}`;
    if (op.kind === "table") {
      const exists = tables.has(key);
      if (op.verb === "create" && exists) throw new Error("Could not process rule: File exists");
      if ((op.verb === "delete" || op.verb === "flush") && !exists)
        throw new Error("Could not process rule: No such file or directory");
      if (op.verb === "delete") tables.delete(key);
      else if (op.verb === "flush") {
        const t = tables.get(key)!;
        for (const c of t.chains.values()) c.rules = [];
        for (const s of t.sets.values()) s.elements.clear();
      } else if (!exists) tables.set(key, { family, name, chains: new Map(), sets: new Map() });
      return;
    }
    const t = tables.get(key);
    if (!t) throw new Error("Could not process rule: No such file or directory (table)");
    switch (op.kind) {
      case "chain": {
        if ("name" in op) {
          const c = t.chains.get(op.name);
          if (!c) throw new Error(`Could not process rule: No such file or directory (chain ${op.name})`);
          if (op.verb === "flush") c.rules = [];
          else {
            if (c.rules.length > 0)
              throw new Error(`Could not process rule: Device or resource busy (chain ${op.name} has rules)`);
            if (chainReferenced(t, op.name))
              throw new Error(
                `Could not process rule: Device or resource busy (chain ${op.name} is referenced)`,
              );
            t.chains.delete(op.name);
          }
          return;
        }
        const existing = t.chains.get(op.chain.name);
        if (existing && op.verb === "create") throw new Error("Could not process rule: File exists");
        const c = existing ?? { spec: { ...op.chain, rules: [] }, rules: [] };
        if (existing && op.chain.base) {
          // As the kernel: a base chain's policy may change in place, its hook and priority not.
          const was = existing.spec.base;
          if (
            !was ||
            was.type !== op.chain.base.type ||
            was.hook !== op.chain.base.hook ||
            priorityNumber(was.priority) !== priorityNumber(op.chain.base.priority)
          )
            throw new Error("Could not process rule: Operation not supported");
          c.spec = { ...op.chain, rules: [] };
        }
        t.chains.set(op.chain.name, c);
        if (op.withRules) for (const rule of op.chain.rules) this.checkRefs(t, rule, op.chain.name);
        if (op.withRules)
          for (const rule of op.chain.rules) c.rules.push({ handle: this.nextHandle++, rule });
        return;
      }
      case "rule": {
        const c = t.chains.get(op.chain);
        if (!c) throw new Error(`Could not process rule: No such file or directory (chain ${op.chain})`);
        const at = op.handle === undefined ? -1 : c.rules.findIndex((r) => r.handle === op.handle);
        if (op.handle !== undefined && at < 0)
          throw new Error(`Could not process rule: No such file or directory (handle ${op.handle})`);
        if (op.verb === "delete") c.rules.splice(at, 1);
        else {
          this.checkRefs(t, op.rule, op.chain);
          const entry = { handle: this.nextHandle++, rule: op.rule };
          if (op.verb === "replace") c.rules[at] = { handle: op.handle, rule: op.rule };
          else if (op.verb === "insert") c.rules.splice(Math.max(at, 0), 0, entry);
          else c.rules.splice(at < 0 ? c.rules.length : at + 1, 0, entry);
        }
        return;
      }
      case "set":
      case "map": {
        if ("name" in op) {
          const s = t.sets.get(op.name);
          if (!s)
            throw new Error(`Could not process rule: No such file or directory (${op.kind} ${op.name})`);
          if (op.verb === "flush") s.elements.clear();
          else {
            for (const c of t.chains.values())
              if (
                chainRulesText({ name: "", rules: c.rules.map((r) => r.rule) }, family).includes(
                  `@${op.name}`,
                )
              )
                throw new Error(
                  `Could not process rule: Device or resource busy (${op.kind} ${op.name} is referenced)`,
                );
            t.sets.delete(op.name);
          }
          return;
        }
        const existing = t.sets.get(op.set.name);
        if (existing && op.verb === "create") throw new Error("Could not process rule: File exists");
        if (!existing) t.sets.set(op.set.name, { spec: { ...op.set, elements: [] }, elements: new Map() });
        return;
      }
      case "element": {
        const s = t.sets.get(op.set);
        if (!s) throw new Error(`Could not process rule: No such file or directory (set ${op.set})`);
        for (const el of op.elements) {
          const n = normalizeElement(el);
          const k = elementKeyText(n);
          const present = s.elements.get(k);
          if (op.verb === "delete") {
            if (!present) throw new Error(`Could not process rule: No such file or directory (element ${k})`);
            s.elements.delete(k);
          } else {
            if (present && op.verb === "create")
              throw new Error(`Could not process rule: File exists (element ${k})`);
            if (present && elementText(present) !== elementText(n) && n.value !== undefined)
              throw new Error(
                `Could not process rule: Device or resource busy (element ${k} has another value)`,
              );
            const target = verdictTarget(n);
            if (target && !t.chains.has(target))
              throw new Error(`Could not process rule: No such file or directory (chain ${target})`);
            s.elements.set(k, n);
          }
        }
      }
    }
  }

  private checkRefs(t: FakeTable, rule: DesiredRule, chain: string): void {
    const text = ruleText(rule);
    for (const m of text.matchAll(/\b(?:jump|goto) ([A-Za-z][A-Za-z0-9_/.-]*)/g))
      if (!t.chains.has(m[1]))
        throw new Error(`Could not process rule: No such file or directory (chain ${m[1]}, from ${chain})`);
    for (const m of text.matchAll(/@([A-Za-z][A-Za-z0-9_/.-]*)/g))
      if (!t.sets.has(m[1]))
        throw new Error(`Could not process rule: No such file or directory (set ${m[1]}, from ${chain})`);
  }
}

function verdictTarget(el: SetElement): string | undefined {
  const v = el.value as { jump?: { target: string }; goto?: { target: string } } | undefined;
  return v?.jump?.target ?? v?.goto?.target;
}

function chainReferenced(t: FakeTable, name: string): boolean {
  const pattern = new RegExp(
    `\\b(?:jump|goto) ${name.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")}(?![A-Za-z0-9_/.-])`,
  );
  for (const c of t.chains.values()) for (const r of c.rules) if (pattern.test(ruleText(r.rule))) return true;
  for (const s of t.sets.values())
    for (const el of s.elements.values()) if (verdictTarget(el) === name) return true;
  return false;
}

function cloneTables(tables: Map<string, FakeTable>): Map<string, FakeTable> {
  const out = new Map<string, FakeTable>();
  for (const [k, t] of tables) {
    const chains = new Map<string, FakeChain>();
    for (const [n, c] of t.chains) chains.set(n, { spec: c.spec, rules: [...c.rules] });
    const sets = new Map<string, FakeSet>();
    for (const [n, s] of t.sets) sets.set(n, { spec: s.spec, elements: new Map(s.elements) });
    out.set(k, { family: t.family, name: t.name, chains, sets });
  }
  return out;
}
