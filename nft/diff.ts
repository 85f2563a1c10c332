// The minimal transaction from last-applied to desired state. Chains are compared by their
// canonical text (rendered once per chain object and cached), set elements by key text, so a sync
// at 40,000 chains and 10,000 map elements costs string compares, not deep object walks.
//
// Order inside the transaction matters to nft: a chain must exist before a rule or map element
// jumps to it, and a chain or set can only be deleted once nothing refers to it:
//   1 table (only when rebuilding)   2 new chains (declared empty)   3 new/recreated sets   4 flush changed and removed chains
//   5 element deletes   6 element adds   7 rules of new and changed chains   8 set deletes   9 chain deletes
import type { DesiredChain, DesiredSet, DesiredTable } from "./desired.ts";
import type { SetElement } from "./model.ts";
import { normalizeSetSpec } from "./normalize.ts";
import {
  chainCanonicalText,
  chainRulesText,
  elementTexts,
  priorityNumber,
  setSpecText,
} from "./render-text.ts";
import { Transaction } from "./transaction.ts";
import { validateAddedElements, validateTable } from "./validate.ts";

export interface DiffOptions {
  /**
   * Delete a removed chain that the last-applied state still referenced (from a map element or
   * another chain's rule) in the *next* sync instead of this one: on older kernels deleting such a
   * chain in the same transaction as the reference fails with EBUSY. The chain is flushed now, so it
   * is inert. Default true.
   */
  deferReferencedChainDeletes?: boolean;
  /** Validate new and changed objects before building the transaction. Default true. */
  validate?: boolean;
}

export interface SyncPlan {
  tx: Transaction;
  /** What the kernel holds once `tx` is applied: `desired` plus any flushed, not yet deleted chains. */
  applied: DesiredTable;
  /** Chains flushed now and deleted by the next sync. */
  deferredChains: string[];
  stats: {
    chainsAdded: number;
    chainsChanged: number;
    chainsDeleted: number;
    setsAdded: number;
    setsRecreated: number;
    setsDeleted: number;
    elementsAdded: number;
    elementsDeleted: number;
  };
}

// Chains the kernel still holds because their deletion was deferred, keyed by the DesiredTable
// passed as `desired` in that sync. Callers that keep `applied = desired` after a successful apply
// (the agent does) then get the deletion in the next diff without tracking it themselves.
const pendingDeletes = new WeakMap<DesiredTable, string[]>();

const setSpecCache = new WeakMap<DesiredSet, string>();
function setSpecKey(set: DesiredSet): string {
  let hit = setSpecCache.get(set);
  if (hit === undefined) {
    hit = setSpecText(normalizeSetSpec(set));
    setSpecCache.set(set, hit);
  }
  return hit;
}

const JUMP_TARGET = /\b(?:jump|goto) ([A-Za-z][A-Za-z0-9_/.-]*)/g;

function addTargets(text: string, into: Set<string>): void {
  for (const m of text.matchAll(JUMP_TARGET)) into.add(m[1]);
}

/** A base chain's type, hook, device and priority cannot change in place (the kernel refuses). */
function sameBaseHook(a: DesiredChain, b: DesiredChain): boolean {
  if (!a.base || !b.base) return !a.base && !b.base;
  return (
    a.base.type === b.base.type &&
    a.base.hook === b.base.hook &&
    a.base.device === b.base.device &&
    priorityNumber(a.base.priority) === priorityNumber(b.base.priority)
  );
}

/**
 * Element changes between two element lists, by key. Elements the packet path adds to a dynamic set
 * are not ours to remove (`keepExtra`). Planners usually keep unchanged element objects in place, so
 * a positional identity pass first narrows the work to the positions that differ.
 */
export function diffElements(
  before: SetElement[],
  after: SetElement[],
  keepExtra: boolean,
): { toAdd: SetElement[]; toDelete: SetElement[] } {
  // Identical leading and trailing objects are unchanged (covers appends and removals at the end).
  let start = 0;
  const shorter = Math.min(before.length, after.length);
  while (start < shorter && before[start] === after[start]) start++;
  let endBefore = before.length;
  let endAfter = after.length;
  while (endBefore > start && endAfter > start && before[endBefore - 1] === after[endAfter - 1]) {
    endBefore--;
    endAfter--;
  }
  let oldPart = start === 0 && endBefore === before.length ? before : before.slice(start, endBefore);
  let newPart = start === 0 && endAfter === after.length ? after : after.slice(start, endAfter);
  if (oldPart.length === newPart.length) {
    const changed: number[] = [];
    for (let i = 0; i < newPart.length && changed.length * 4 <= newPart.length; i++)
      if (oldPart[i] !== newPart[i]) changed.push(i);
    if (changed.length * 4 <= newPart.length) {
      const o = oldPart;
      const n = newPart;
      oldPart = changed.map((i) => o[i]);
      newPart = changed.map((i) => n[i]);
    }
  }
  const previous = new Map<string, SetElement>();
  for (const el of oldPart) previous.set(elementTexts(el).key, el);
  const toAdd: SetElement[] = [];
  const toDelete: SetElement[] = [];
  for (const el of newPart) {
    const t = elementTexts(el);
    const prev = previous.get(t.key);
    if (prev !== undefined) {
      previous.delete(t.key);
      if (elementTexts(prev).full === t.full) continue;
      toDelete.push(prev);
    }
    toAdd.push(el);
  }
  if (!keepExtra) for (const el of previous.values()) toDelete.push(el);
  return { toAdd, toDelete };
}

/** Builds the transaction and the state it leaves. Throws NftValidationError on bad input. */
export function planSync(
  applied: DesiredTable | null,
  desired: DesiredTable,
  opts: DiffOptions = {},
): SyncPlan {
  const defer = opts.deferReferencedChainDeletes ?? true;
  const { family, name } = desired;
  const tx = new Transaction(family, name);
  const stats: SyncPlan["stats"] = {
    chainsAdded: 0,
    chainsChanged: 0,
    chainsDeleted: 0,
    setsAdded: 0,
    setsRecreated: 0,
    setsDeleted: 0,
    elementsAdded: 0,
    elementsDeleted: 0,
  };
  if (applied && (applied.family !== family || applied.name !== name))
    throw new Error(
      `diff: applied table ${applied.family} ${applied.name} is not desired table ${family} ${name}`,
    );

  // Without a known previous state, replace the table atomically: whatever an earlier run left
  // (stale chains, sets) goes, and no packet sees a half-built table.
  const base: DesiredTable = applied ?? { family, name, chains: new Map(), sets: new Map() };
  if (!applied) tx.addTable().deleteTable().addTable();

  // --- classify chains
  const newChains: DesiredChain[] = [];
  const changedChains: DesiredChain[] = [];
  const recreatedChains: DesiredChain[] = [];
  // A planner that changed no chain may hand over the very same map: nothing to compare then.
  const sameChains = desired.chains === base.chains;
  for (const [key, chain] of sameChains ? [] : desired.chains) {
    const old = base.chains.get(key);
    if (!old) newChains.push(chain);
    else if (old !== chain && chainCanonicalText(old, family) !== chainCanonicalText(chain, family)) {
      if (sameBaseHook(old, chain)) changedChains.push(chain);
      else recreatedChains.push(chain);
    }
  }
  const pending = applied ? (pendingDeletes.get(applied) ?? []) : [];
  const removedChains: string[] = [];
  if (!sameChains)
    for (const key of base.chains.keys()) if (!desired.chains.has(key)) removedChains.push(key);
  for (const key of pending) if (!desired.chains.has(key) && !base.chains.has(key)) removedChains.push(key);

  // --- classify sets
  const newSets: DesiredSet[] = [];
  const recreatedSets: DesiredSet[] = [];
  const keptSets: [DesiredSet, DesiredSet][] = [];
  for (const [key, set] of desired.sets) {
    const old = base.sets.get(key);
    if (!old) newSets.push(set);
    else if (old !== set && setSpecKey(old) !== setSpecKey(set)) recreatedSets.push(set);
    else keptSets.push([old, set]);
  }
  const removedSets: DesiredSet[] = [];
  for (const [key, set] of base.sets) if (!desired.sets.has(key)) removedSets.push(set);

  // A recreated set must lose every reference first: rewrite the chains that mention it.
  if (recreatedSets.length > 0 || removedSets.length > 0) {
    const names = new Set([...recreatedSets, ...removedSets].map((s) => `@${s.name}`));
    const listed = new Set([...changedChains, ...recreatedChains].map((c) => c.name));
    for (const [key, chain] of desired.chains) {
      if (listed.has(key) || !base.chains.has(key)) continue;
      const text = chainRulesText(chain, family);
      for (const n of names)
        if (text.includes(n)) {
          changedChains.push(chain);
          listed.add(key);
          break;
        }
    }
  }

  if (opts.validate ?? true) {
    validateTable(desired, {
      chains: [...newChains, ...changedChains, ...recreatedChains].map((c) => c.name),
      sets: [...newSets, ...recreatedSets].map((s) => s.name),
    });
  }

  // --- which removed chains are still referenced by the state being replaced
  const deferred: string[] = [];
  const deleteNow: string[] = [];
  if (removedChains.length > 0) {
    const referenced = new Set<string>();
    if (defer) {
      for (const chain of base.chains.values()) addTargets(chainRulesText(chain, family), referenced);
      for (const set of base.sets.values())
        if (set.map === "verdict")
          for (const el of set.elements) addTargets(elementTexts(el).full, referenced);
    }
    for (const key of removedChains) (referenced.has(key) ? deferred : deleteNow).push(key);
  }

  // 2. declare new chains (empty), so rules and elements below may refer to them
  for (const chain of newChains) tx.addChain(chain);
  // Flushed first: older kernels refuse to delete a chain that still holds rules.
  for (const chain of recreatedChains) tx.flushChain(chain.name);
  for (const chain of recreatedChains) tx.deleteChain(chain.name);
  for (const chain of recreatedChains) tx.addChain(chain);
  stats.chainsAdded = newChains.length;
  stats.chainsChanged = changedChains.length + recreatedChains.length;

  // 3. sets: new ones, and recreated ones after their referencing chains are flushed (below)
  for (const set of newSets) tx.addSet(set);
  stats.setsAdded = newSets.length;

  // 4. flush changed and removed chains (drops their references to sets and other chains)
  for (const chain of changedChains) tx.flushChain(chain.name);
  for (const key of removedChains) tx.flushChain(key);

  for (const set of recreatedSets)
    tx.deleteSet(set.name, base.sets.get(set.name)!.map !== undefined).addSet(set);
  stats.setsRecreated = recreatedSets.length;

  // 5./6. elements
  for (const set of [...newSets, ...recreatedSets]) {
    tx.addElements(set.name, set.elements, set.map !== undefined);
    stats.elementsAdded += set.elements.length;
  }
  const adds: [DesiredSet, SetElement[]][] = [];
  for (const [old, set] of keptSets) {
    if (old.elements === set.elements) continue;
    const { toAdd, toDelete } = diffElements(
      old.elements,
      set.elements,
      set.flags?.includes("dynamic") ?? false,
    );
    const isMap = set.map !== undefined;
    tx.deleteElements(set.name, toDelete, isMap);
    stats.elementsDeleted += toDelete.length;
    if (toAdd.length > 0) {
      if (opts.validate ?? true) validateAddedElements(desired, set, toAdd);
      adds.push([set, toAdd]);
    }
  }
  for (const [set, toAdd] of adds) {
    tx.addElements(set.name, toAdd, set.map !== undefined);
    stats.elementsAdded += toAdd.length;
  }

  // 7. rules of new, recreated and changed chains. When rebuilding, every set is created in this
  // same batch and a chain body (`add chain T C { rule; … }`) is the compact form. On an existing
  // table nft 1.0.6 does not load the kernel's sets into its cache for a chain body, so a rule
  // naming `@set` would fail with "No such file or directory": append rules one by one instead.
  if (!applied) {
    for (const chain of newChains) if (chain.rules.length > 0 || chain.base) tx.addChain(chain, true);
  } else {
    for (const chain of [...newChains, ...recreatedChains, ...changedChains]) {
      if (chain.base && changedChains.includes(chain)) tx.addChain(chain); // a new policy, if any
      for (const rule of chain.rules) tx.addRule(chain.name, rule);
    }
  }

  // 8./9. deletions, once nothing refers to them
  for (const set of removedSets) tx.deleteSet(set.name, set.map !== undefined);
  stats.setsDeleted = removedSets.length;
  for (const key of deleteNow) tx.deleteChain(key);
  stats.chainsDeleted = deleteNow.length;

  tx.schema = removedSets.length > 0 ? new Map([...base.sets, ...desired.sets]) : desired.sets;

  let result = desired;
  if (deferred.length > 0) {
    pendingDeletes.set(desired, [...deferred]);
    result = { ...desired, chains: new Map(desired.chains) };
    for (const key of deferred) result.chains.set(key, { name: key, rules: [] });
  }
  return { tx, applied: result, deferredChains: deferred, stats };
}

/** The minimal transaction from `applied` (null: unknown, rebuild the table) to `desired`. */
export function diffTables(
  applied: DesiredTable | null,
  desired: DesiredTable,
  opts: DiffOptions = {},
): Transaction {
  return planSync(applied, desired, opts).tx;
}
