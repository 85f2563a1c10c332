// The minimal transaction from last-applied to desired state. Chains are compared by their
// canonical text (rendered once per chain object and cached), set elements by key text, so a sync
// at 40,000 chains and 10,000 map elements costs string compares, not deep object walks.
//
// Order inside the transaction matters to nft: a chain must exist before a rule or map element
// jumps to it, and a chain or set can only be deleted once nothing refers to it:
//   1 table (only when rebuilding)   2 new chains (declared empty)   3 new/recreated sets   4 flush changed and removed chains
//   5 element deletes   6 element adds   7 rules of new and changed chains   8 set deletes   9 chain deletes
// Each phase is a function below; what refers to what (jump and goto targets, @set lookups) is
// read from the typed rules and elements (nft/references.ts).

import { commonEnds } from "./common-ends.ts";
import type { DesiredChain, DesiredSet, DesiredTable, SetDelta } from "./desired.ts";
import type { SetElement } from "./model.ts";
import { normalizeSetSpec } from "./normalize.ts";
import { elementRefs, rulesRefs } from "./references.ts";
import { chainCanonicalText, elementTexts, priorityNumber, setSpecText } from "./render-text.ts";
import { sameValue } from "./same-value.ts";
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

/**
 * A table as a sync left it. `pendingChainDeletes` names removed chains that sync only flushed (see
 * deferReferencedChainDeletes): the kernel still holds them, empty, and the next sync from this
 * table deletes them. planSync records them on the `desired` table it is given, so a caller that
 * keeps `desired` as its applied state passes them back; the plan's `applied` lists them as empty
 * chains instead.
 */
export interface AppliedTable extends DesiredTable {
  pendingChainDeletes?: readonly string[];
  /**
   * The sets each chain looks up, by chain name, with the chain object they were read from. Built
   * the first time a sync removes or recreates a set, and carried from applied state to applied
   * state, so the next such sync reads only the chains that are new objects.
   */
  chainSetRefs?: ChainSetRefs;
}

type ChainSetRefs = Map<string, { chain: DesiredChain; sets: Set<string> }>;

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

/** How the chains differ; `changed` chains keep their base hook, `recreated` ones cannot. */
interface ChainChanges {
  added: DesiredChain[];
  changed: DesiredChain[];
  recreated: DesiredChain[];
  /** Names of chains to remove, whether they are deleted now or deferred. */
  removed: string[];
}

interface SetChanges {
  added: DesiredSet[];
  /** The declaration changed: delete and declare again. */
  recreated: DesiredSet[];
  /**
   * [applied, desired] pairs of different objects with the same declaration; their elements are
   * diffed. A set that is the very applied object is left out (unchanged by identity).
   */
  kept: [DesiredSet, DesiredSet][];
  removed: DesiredSet[];
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

function classifyChains(base: AppliedTable, desired: DesiredTable): ChainChanges {
  const out: ChainChanges = { added: [], changed: [], recreated: [], removed: [] };
  // A planner that changed no chain may hand over the very same map: nothing to compare then.
  const sameChains = desired.chains === base.chains;
  if (!sameChains) {
    for (const [key, chain] of desired.chains) {
      const old = base.chains.get(key);
      if (!old) out.added.push(chain);
      else if (
        old !== chain &&
        !sameValue(old, chain) &&
        chainCanonicalText(old, desired.family) !== chainCanonicalText(chain, desired.family)
      )
        (sameBaseHook(old, chain) ? out.changed : out.recreated).push(chain);
    }
    for (const key of base.chains.keys()) if (!desired.chains.has(key)) out.removed.push(key);
  }
  for (const key of base.pendingChainDeletes ?? [])
    if (!desired.chains.has(key) && !base.chains.has(key)) out.removed.push(key);
  return out;
}

function classifySets(base: DesiredTable, desired: DesiredTable): SetChanges {
  const out: SetChanges = { added: [], recreated: [], kept: [], removed: [] };
  const spec = (set: DesiredSet) => setSpecText(normalizeSetSpec(set));
  for (const [key, set] of desired.sets) {
    const old = base.sets.get(key);
    if (old === set) continue;
    if (!old) out.added.push(set);
    // A delta of the applied object keeps its declaration (DesiredSet.delta).
    else if (!deltaOf(old, set) && spec(old) !== spec(set)) out.recreated.push(set);
    else out.kept.push([old, set]);
  }
  for (const [key, set] of base.sets) if (!desired.sets.has(key)) out.removed.push(set);
  return out;
}

/**
 * A recreated or removed set must lose every reference first: chains that stay and look it up are
 * flushed and refilled, so they are appended to `chains.changed`.
 */
function chainsUsingGoneSets(
  base: AppliedTable,
  desired: DesiredTable,
  chains: ChainChanges,
  sets: SetChanges,
): ChainSetRefs | undefined {
  if (sets.recreated.length === 0 && sets.removed.length === 0) return base.chainSetRefs;
  const gone = new Set([...sets.recreated, ...sets.removed].map((s) => `@${s.name}`));
  const listed = new Set([...chains.changed, ...chains.recreated].map((c) => c.name));
  const index = currentSetRefs(base.chainSetRefs, desired);
  for (const [key, chain] of desired.chains) {
    if (listed.has(key) || !base.chains.has(key)) continue;
    for (const ref of index.get(key)!.sets)
      if (gone.has(ref)) {
        chains.changed.push(chain);
        listed.add(key);
        break;
      }
  }
  return index;
}

/** `index` brought up to `desired`: entries of gone chains dropped, new chain objects read. */
function currentSetRefs(index: ChainSetRefs | undefined, desired: DesiredTable): ChainSetRefs {
  const out: ChainSetRefs = index ?? new Map();
  for (const key of out.keys()) if (!desired.chains.has(key)) out.delete(key);
  for (const [key, chain] of desired.chains) {
    if (out.get(key)?.chain === chain) continue;
    const used = new Set<string>();
    rulesRefs(chain.rules, { sets: used });
    out.set(key, { chain, sets: used });
  }
  return out;
}

/** Chains the applied state jumps or goes to, from its rules and verdict map elements. */
function referencedChains(base: DesiredTable): Set<string> {
  const chains = new Set<string>();
  const into = { chains };
  for (const chain of base.chains.values()) rulesRefs(chain.rules, into);
  for (const set of base.sets.values())
    if (set.map === "verdict") for (const el of set.elements) elementRefs(el, into);
  return chains;
}

/** Removed chains the state being replaced still refers to are only flushed now (see DiffOptions). */
function splitRemovedChains(
  base: DesiredTable,
  removed: string[],
  defer: boolean,
): { deferred: string[]; deleteNow: string[] } {
  const deferred: string[] = [];
  const deleteNow: string[] = [];
  if (removed.length === 0) return { deferred, deleteNow };
  const referenced = defer ? referencedChains(base) : new Set<string>();
  for (const key of removed) (referenced.has(key) ? deferred : deleteNow).push(key);
  return { deferred, deleteNow };
}

/** Phases 2 to 4: declare new chains and sets, flush what changes or goes, recreate sets. */
function emitDeclarations(tx: Transaction, base: DesiredTable, chains: ChainChanges, sets: SetChanges): void {
  // 2. new chains (empty), so rules and elements below may refer to them
  for (const chain of chains.added) tx.addChain(chain);
  // Flushed first: older kernels refuse to delete a chain that still holds rules.
  for (const chain of chains.recreated) tx.flushChain(chain.name);
  for (const chain of chains.recreated) tx.deleteChain(chain.name);
  for (const chain of chains.recreated) tx.addChain(chain);
  // 3. new sets; recreated ones once the chains that refer to them are flushed
  for (const set of sets.added) tx.addSet(set);
  // 4. flush changed and removed chains (drops their references to sets and other chains)
  for (const chain of chains.changed) tx.flushChain(chain.name);
  for (const key of chains.removed) tx.flushChain(key);
  for (const set of sets.recreated)
    tx.deleteSet(set.name, base.sets.get(set.name)!.map !== undefined).addSet(set);
}

/**
 * Element changes between two element lists, by key. Elements the packet path adds to a dynamic set
 * are not ours to remove (`keepExtra`). Planners usually keep unchanged element objects in place (or
 * make equal ones), so a positional pass by identity or equal fields first narrows the work to the
 * positions that differ.
 */
export function diffElements(
  before: SetElement[],
  after: SetElement[],
  keepExtra: boolean,
): { toAdd: SetElement[]; toDelete: SetElement[] } {
  // Identical leading and trailing objects are unchanged (covers appends and removals at the end).
  const { start, endBefore, endAfter } = commonEnds(before, after);
  let oldPart = start === 0 && endBefore === before.length ? before : before.slice(start, endBefore);
  let newPart = start === 0 && endAfter === after.length ? after : after.slice(start, endAfter);
  if (oldPart.length === newPart.length) {
    const changed: number[] = [];
    for (let i = 0; i < newPart.length && changed.length * 4 <= newPart.length; i++)
      if (oldPart[i] !== newPart[i] && !sameValue(oldPart[i], newPart[i])) changed.push(i);
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

/** `set.delta` when it is relative to `applied` itself (identity); otherwise the sets are compared whole. */
function deltaOf(applied: DesiredSet, set: DesiredSet): SetDelta | undefined {
  return set.delta !== undefined && set.delta.base === applied ? set.delta : undefined;
}

/** Phases 5 and 6: every element of new and recreated sets, the changes of kept ones. */
function emitElements(
  tx: Transaction,
  desired: DesiredTable,
  sets: SetChanges,
  validate: boolean,
): { added: number; deleted: number } {
  let added = 0;
  let deleted = 0;
  for (const set of [...sets.added, ...sets.recreated]) {
    tx.addElements(set.name, set.elements, set.map !== undefined);
    added += set.elements.length;
  }
  const adds: [DesiredSet, SetElement[]][] = [];
  for (const [old, set] of sets.kept) {
    const delta = deltaOf(old, set);
    // With a delta of the applied object, only its removed and added elements are compared
    // (O(change)); a key both removed and added with the same element cancels out.
    const { toAdd, toDelete } = delta
      ? diffElements(delta.removed, delta.added, false)
      : old.elements === set.elements
        ? { toAdd: [], toDelete: [] }
        : diffElements(old.elements, set.elements, set.flags?.includes("dynamic") ?? false);
    tx.deleteElements(set.name, toDelete, set.map !== undefined);
    deleted += toDelete.length;
    if (toAdd.length > 0) {
      if (validate) validateAddedElements(desired, set, toAdd);
      adds.push([set, toAdd]);
    }
  }
  for (const [set, toAdd] of adds) {
    tx.addElements(set.name, toAdd, set.map !== undefined);
    added += toAdd.length;
  }
  return { added, deleted };
}

/**
 * Phase 7: rules of new, recreated and changed chains. When rebuilding, every set is created in this
 * same batch and a chain body (`add chain T C { rule; … }`) is the compact form. On an existing
 * table nft 1.0.6 does not load the kernel's sets into its cache for a chain body, so a rule
 * naming `@set` would fail with "No such file or directory": append rules one by one instead.
 */
function emitRules(tx: Transaction, chains: ChainChanges, rebuilding: boolean): void {
  if (rebuilding) {
    for (const chain of chains.added) if (chain.rules.length > 0 || chain.base) tx.addChain(chain, true);
    return;
  }
  const changed = new Set(chains.changed);
  for (const chain of [...chains.added, ...chains.recreated, ...chains.changed]) {
    if (chain.base && changed.has(chain)) tx.addChain(chain); // a new policy, if any
    for (const rule of chain.rules) tx.addRule(chain.name, rule);
  }
}

/** Phases 8 and 9: deletions, once nothing refers to them. */
function emitDeletions(tx: Transaction, sets: SetChanges, deleteNow: string[]): void {
  for (const set of sets.removed) tx.deleteSet(set.name, set.map !== undefined);
  for (const key of deleteNow) tx.deleteChain(key);
}

/** The desired sets and, until the transaction deletes them, the removed ones (the encoder looks both up). */
function withRemovedSets(sets: Map<string, DesiredSet>, removed: DesiredSet[]): Map<string, DesiredSet> {
  const out = new Map(sets);
  for (const set of removed) out.set(set.name, set);
  return out;
}

/**
 * What the kernel holds after the sync: `desired`, plus the deferred chains, empty. Records the
 * deferred chains on `desired` too (AppliedTable), for a caller that keeps `desired`.
 */
function appliedAfter(desired: AppliedTable, deferred: string[]): AppliedTable {
  if (deferred.length === 0) {
    if (desired.pendingChainDeletes !== undefined) delete desired.pendingChainDeletes;
    return desired;
  }
  desired.pendingChainDeletes = [...deferred];
  const chains = new Map(desired.chains);
  for (const key of deferred) chains.set(key, { name: key, rules: [] });
  return { family: desired.family, name: desired.name, chains, sets: desired.sets };
}

/**
 * Builds the transaction from `applied` (null: unknown, rebuild the table) to `desired`, and the
 * state it leaves. Throws NftValidationError on bad input.
 */
export function planSync(
  applied: AppliedTable | null,
  desired: AppliedTable,
  opts: DiffOptions = {},
): SyncPlan {
  const { family, name } = desired;
  if (applied && (applied.family !== family || applied.name !== name))
    throw new Error(
      `diff: applied table ${applied.family} ${applied.name} is not desired table ${family} ${name}`,
    );
  const validate = opts.validate ?? true;
  const base: AppliedTable = applied ?? { family, name, chains: new Map(), sets: new Map() };
  const chains = classifyChains(base, desired);
  const sets = classifySets(base, desired);
  const chainSetRefs = chainsUsingGoneSets(base, desired, chains, sets);
  if (validate)
    validateTable(desired, {
      chains: [...chains.added, ...chains.changed, ...chains.recreated].map((c) => c.name),
      sets: [...sets.added, ...sets.recreated].map((s) => s.name),
    });
  const { deferred, deleteNow } = splitRemovedChains(
    base,
    chains.removed,
    opts.deferReferencedChainDeletes ?? true,
  );

  const tx = new Transaction(family, name);
  // Without a known previous state, replace the table atomically: whatever an earlier run left
  // (stale chains, sets) goes, and no packet sees a half-built table.
  if (!applied) tx.addTable().deleteTable().addTable();
  emitDeclarations(tx, base, chains, sets);
  const elements = emitElements(tx, desired, sets, validate);
  emitRules(tx, chains, !applied);
  emitDeletions(tx, sets, deleteNow);
  tx.schema = sets.removed.length > 0 ? withRemovedSets(desired.sets, sets.removed) : desired.sets;

  const stats: SyncPlan["stats"] = {
    chainsAdded: chains.added.length,
    chainsChanged: chains.changed.length + chains.recreated.length,
    chainsDeleted: deleteNow.length,
    setsAdded: sets.added.length,
    setsRecreated: sets.recreated.length,
    setsDeleted: sets.removed.length,
    elementsAdded: elements.added,
    elementsDeleted: elements.deleted,
  };
  const after = appliedAfter(desired, deferred);
  if (chainSetRefs) after.chainSetRefs = chainSetRefs;
  return { tx, applied: after, deferredChains: deferred, stats };
}

/** The minimal transaction from `applied` (null: unknown, rebuild the table) to `desired`. */
export function diffTables(
  applied: DesiredTable | null,
  desired: DesiredTable,
  opts: DiffOptions = {},
): Transaction {
  return planSync(applied, desired, opts).tx;
}
