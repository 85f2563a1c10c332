// A transaction in the spirit of knftables: an ordered list of operations on one table, rendered
// as one nft script and applied in one `nft -f` run (all or nothing). Operations name objects of
// the transaction's table only; nothing here can touch another table or the whole ruleset.
import type { DesiredChain, DesiredRule, DesiredSet } from "./desired.ts";
import type { Family, SetElement } from "./model.ts";

export type Operation =
  | { verb: "add" | "create" | "flush" | "delete"; kind: "table"; comment?: string }
  /** add/create a chain; with `withRules` its rules are added in the same command. */
  | { verb: "add" | "create"; kind: "chain"; chain: DesiredChain; withRules: boolean }
  | { verb: "flush" | "delete"; kind: "chain"; name: string }
  | { verb: "add" | "insert"; kind: "rule"; chain: string; rule: DesiredRule; handle?: number }
  | { verb: "replace"; kind: "rule"; chain: string; rule: DesiredRule; handle: number }
  | { verb: "delete"; kind: "rule"; chain: string; handle: number }
  | { verb: "add" | "create"; kind: "set" | "map"; set: DesiredSet }
  | { verb: "flush" | "delete"; kind: "set" | "map"; name: string }
  | {
      verb: "add" | "create" | "delete";
      kind: "element";
      set: string;
      isMap: boolean;
      elements: SetElement[];
    };

/** An ordered batch of operations on the table `family name`. */
export class Transaction {
  readonly ops: Operation[] = [];
  /**
   * The table's named sets and maps as they will be after the transaction (planSync fills it in).
   * The netlink encoder needs their key and value types to encode elements; without it, element
   * operations go through the nft executable.
   */
  schema?: ReadonlyMap<string, DesiredSet>;
  constructor(
    readonly family: Family,
    readonly table: string,
  ) {}

  get size(): number {
    return this.ops.length;
  }

  addTable(comment?: string): this {
    return this.push({ verb: "add", kind: "table", ...(comment !== undefined ? { comment } : {}) });
  }
  createTable(comment?: string): this {
    return this.push({ verb: "create", kind: "table", ...(comment !== undefined ? { comment } : {}) });
  }
  /** Removes every rule of every chain and every element of every set in the table. */
  flushTable(): this {
    return this.push({ verb: "flush", kind: "table" });
  }
  deleteTable(): this {
    return this.push({ verb: "delete", kind: "table" });
  }

  /** Declares a chain (a no-op when it exists). With `withRules`, also appends its rules. */
  addChain(chain: DesiredChain, withRules = false): this {
    return this.push({ verb: "add", kind: "chain", chain, withRules });
  }
  /** Like addChain, but fails when the chain exists. */
  createChain(chain: DesiredChain, withRules = false): this {
    return this.push({ verb: "create", kind: "chain", chain, withRules });
  }
  flushChain(name: string): this {
    return this.push({ verb: "flush", kind: "chain", name });
  }
  deleteChain(name: string): this {
    return this.push({ verb: "delete", kind: "chain", name });
  }

  /** Appends a rule (or, with a handle, adds it after the rule with that handle). */
  addRule(chain: string, rule: DesiredRule, handle?: number): this {
    return this.push({ verb: "add", kind: "rule", chain, rule, ...(handle !== undefined ? { handle } : {}) });
  }
  /** Prepends a rule (or, with a handle, inserts it before the rule with that handle). */
  insertRule(chain: string, rule: DesiredRule, handle?: number): this {
    return this.push({
      verb: "insert",
      kind: "rule",
      chain,
      rule,
      ...(handle !== undefined ? { handle } : {}),
    });
  }
  replaceRule(chain: string, handle: number, rule: DesiredRule): this {
    return this.push({ verb: "replace", kind: "rule", chain, rule, handle });
  }
  deleteRule(chain: string, handle: number): this {
    return this.push({ verb: "delete", kind: "rule", chain, handle });
  }

  /** Declares a set, or a map when `set.map` is present. Elements are added by addElements. */
  addSet(set: DesiredSet): this {
    return this.push({ verb: "add", kind: set.map !== undefined ? "map" : "set", set });
  }
  createSet(set: DesiredSet): this {
    return this.push({ verb: "create", kind: set.map !== undefined ? "map" : "set", set });
  }
  flushSet(name: string, isMap = false): this {
    return this.push({ verb: "flush", kind: isMap ? "map" : "set", name });
  }
  deleteSet(name: string, isMap = false): this {
    return this.push({ verb: "delete", kind: isMap ? "map" : "set", name });
  }

  addElements(
    set: string,
    elements: SetElement[],
    isMap = elements.some((e) => e.value !== undefined),
  ): this {
    if (elements.length === 0) return this;
    return this.push({ verb: "add", kind: "element", set, isMap, elements });
  }
  createElements(
    set: string,
    elements: SetElement[],
    isMap = elements.some((e) => e.value !== undefined),
  ): this {
    if (elements.length === 0) return this;
    return this.push({ verb: "create", kind: "element", set, isMap, elements });
  }
  /** Deletes elements by key (values, timeouts and comments are ignored). */
  deleteElements(set: string, elements: SetElement[], isMap = false): this {
    if (elements.length === 0) return this;
    return this.push({ verb: "delete", kind: "element", set, isMap, elements });
  }

  private push(op: Operation): this {
    this.ops.push(op);
    return this;
  }
}
