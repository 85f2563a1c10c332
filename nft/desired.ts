// The desired state of one table, as planners describe it. Each planner returns a TableFragment
// (its own chains, base chains, sets and maps); the agent merges the fragments into one
// DesiredTable, which nft/diff.ts compares with the last-applied one.
import type { BaseChainSpec, DataType, Family, SetElement, SetFlag, Statement } from "./model.ts";

/** One rule inside a desired chain: its statements in order, and an optional comment. */
export interface DesiredRule {
  expr: Statement[];
  comment?: string;
}

export interface DesiredChain {
  name: string;
  /** Present for base chains (type, hook, priority, policy). */
  base?: BaseChainSpec;
  rules: DesiredRule[];
  comment?: string;
}

/** A named set, or a map when `map` (the value type) is present. */
export interface DesiredSet {
  name: string;
  type: DataType | DataType[];
  map?: DataType | DataType[];
  flags?: SetFlag[];
  /** Default element timeout in seconds. */
  timeout?: number;
  size?: number;
  comment?: string;
  elements: SetElement[];
  /**
   * How this set differs from an earlier set object: `elements` equals `delta.base.elements` minus
   * `removed` plus `added`, and the declaration is the same. nft/diff.ts uses it instead of
   * comparing the element arrays when `delta.base` is the very object it diffs against (the
   * applied set), and ignores it otherwise. Producers may drop a delta once a newer set is built
   * from this one, so a chain of sets is not kept alive.
   */
  delta?: SetDelta;
}

/** The elements a set adds to and removes from its base set object (see DesiredSet.delta). */
export interface SetDelta {
  base: DesiredSet;
  /** Elements of `base` (the same objects) that are not in this set, or whose value changed. */
  removed: SetElement[];
  /** Elements of this set that are not in `base`, or whose value changed. */
  added: SetElement[];
}

/**
 * A set whose `elements` are read from `elements()` on first use and kept (a producer may build a
 * large element array only when something reads it), with an optional delta.
 */
export function lazySet(
  declaration: Omit<DesiredSet, "elements" | "delta">,
  elements: () => SetElement[],
  delta?: SetDelta,
): DesiredSet {
  let cached: SetElement[] | undefined;
  const set = { ...declaration } as DesiredSet;
  if ("elements" in set) delete (set as Partial<DesiredSet>).elements;
  if ("delta" in set) delete set.delta;
  Object.defineProperty(set, "elements", {
    enumerable: true,
    configurable: true,
    get: () => {
      cached ??= elements();
      return cached;
    },
    set: (value: SetElement[]) => {
      cached = value;
    },
  });
  // Not enumerable: a copy such as `{ ...set, elements }` has other elements and must not carry it.
  if (delta) Object.defineProperty(set, "delta", { value: delta, writable: true, configurable: true });
  return set;
}

export interface TableFragment {
  chains: Map<string, DesiredChain>;
  sets: Map<string, DesiredSet>;
}

export interface DesiredTable extends TableFragment {
  family: Family;
  name: string;
}

export function emptyFragment(): TableFragment {
  return { chains: new Map(), sets: new Map() };
}

/** Adds a chain to a fragment; a second chain with the same name is an error. */
export function addChain(fragment: TableFragment, chain: DesiredChain): DesiredChain {
  if (fragment.chains.has(chain.name)) throw new Error(`chain ${chain.name}: defined twice in one fragment`);
  fragment.chains.set(chain.name, chain);
  return chain;
}

/** Adds a set or map to a fragment; a second one with the same name is an error. */
export function addSet(fragment: TableFragment, set: DesiredSet): DesiredSet {
  if (fragment.sets.has(set.name)) throw new Error(`set ${set.name}: defined twice in one fragment`);
  fragment.sets.set(set.name, set);
  return set;
}

/**
 * Merges planner fragments into one table. Objects are shared, not copied (a single fragment's
 * maps become the table's: do not change them afterwards). Two fragments defining
 * a chain or set of the same name is an error naming both fragments (by index, or by the label
 * given in `labels`).
 */
export function mergeFragments(
  family: Family,
  name: string,
  fragments: TableFragment[],
  labels?: string[],
): DesiredTable {
  // One fragment cannot collide with itself: share its maps (10,000 chains cost milliseconds to copy).
  if (fragments.length === 1) return { family, name, chains: fragments[0].chains, sets: fragments[0].sets };
  const table: DesiredTable = { family, name, chains: new Map(), sets: new Map() };
  const chainOwner = new Map<string, number>();
  const setOwner = new Map<string, number>();
  const label = (i: number) => labels?.[i] ?? `fragment ${i}`;
  fragments.forEach((fragment, i) => {
    for (const [key, chain] of fragment.chains) {
      const owner = chainOwner.get(key);
      if (owner !== undefined)
        throw new Error(`chain ${key}: defined by both ${label(owner)} and ${label(i)} (name collision)`);
      chainOwner.set(key, i);
      table.chains.set(key, chain);
    }
    for (const [key, set] of fragment.sets) {
      const owner = setOwner.get(key);
      if (owner !== undefined)
        throw new Error(`set ${key}: defined by both ${label(owner)} and ${label(i)} (name collision)`);
      setOwner.set(key, i);
      table.sets.set(key, set);
    }
  });
  return table;
}
