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
