// Property: planSync's transaction, applied to FakeNft (which refuses what nft refuses: missing
// objects, duplicates, deleting a referenced chain or set), takes the table from any applied state
// to the desired one. Deferred chain deletes leave flushed chains that the next sync removes.
// The state the planner starts from is the one the agent would have: the previous desired table,
// the plan's `applied`, a read-back of the table, or unknown (null: rebuild). The desired sets come
// whole, or as deltas (DesiredSet.delta) of the applied set object (the fast path), or of another
// object with other elements (a stale base: the planner must compare whole).
import fc from "fast-check";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { tableDifferences } from "../../nft/compare.ts";
import { type DesiredSet, type DesiredTable, lazySet } from "../../nft/desired.ts";
import { planSync, type SyncPlan } from "../../nft/diff.ts";
import { FakeNft } from "../../nft/fake.ts";
import type { SetElement } from "../../nft/model.ts";
import { normalizeSetSpec } from "../../nft/normalize.ts";
import { chainCanonicalText, elementTexts, renderText, setSpecText } from "../../nft/render-text.ts";
import type { Transaction } from "../../nft/transaction.ts";
import { buildTable, type TableShape, tableShape } from "./nft-gen.ts";
import { holds } from "./support.ts";

const test = suite("property: planSync through FakeNft");

type Start = "previous" | "planApplied" | "readBack" | "unknown";
const start = fc.constantFrom<Start>("previous", "previous", "planApplied", "readBack", "unknown");

type Delta = "whole" | "ofApplied" | "ofStale";
const deltaMode = fc.constantFrom<Delta>("whole", "ofApplied", "ofApplied", "ofStale");

/** What `set` adds to and removes from `base`, by element text. */
function elementDelta(base: SetElement[], set: SetElement[]): { removed: SetElement[]; added: SetElement[] } {
  const full = (els: SetElement[]) => new Set(els.map((e) => elementTexts(e).full));
  const inSet = full(set);
  const inBase = full(base);
  return {
    removed: base.filter((e) => !inSet.has(elementTexts(e).full)),
    added: set.filter((e) => !inBase.has(elementTexts(e).full)),
  };
}

/**
 * `desired` with each set that has a same-declared counterpart in `applied` given as a delta: of
 * that very object, or of a stale copy of it whose elements differ (every other element dropped).
 */
const deltasMade = { ofApplied: 0, ofStale: 0 };

function asDeltas(desired: DesiredTable, applied: DesiredTable | null, mode: Delta): DesiredTable {
  if (mode === "whole" || applied === null) return desired;
  const spec = (set: DesiredSet) => setSpecText(normalizeSetSpec(set));
  const sets = new Map<string, DesiredSet>();
  for (const [name, set] of desired.sets) {
    const was = applied.sets.get(name);
    if (!was || spec(was) !== spec(set)) {
      sets.set(name, set);
      continue;
    }
    const base =
      mode === "ofApplied" ? was : { ...was, elements: was.elements.filter((_, i) => i % 2 === 0) };
    deltasMade[mode]++;
    const { elements, delta: _delta, ...declaration } = set;
    sets.set(
      name,
      lazySet(declaration, () => elements, { base, ...elementDelta(base.elements, elements) }),
    );
  }
  return { ...desired, sets };
}

/** Base chain priorities change between states too: such a chain must be recreated. */
const shapes = tableShape;

async function held(fake: FakeNft): Promise<DesiredTable> {
  const t = await fake.readTable("inet", "wasmplane");
  if (!t) throw new Error("the fake holds no table");
  return t;
}

/**
 * What the kernel checks and the fake does not: an existing base chain cannot change its type,
 * hook or priority (only its policy). `before` is the table the transaction starts from.
 */
function baseChainChanges(tx: Transaction, before: DesiredTable | null): string[] {
  const out: string[] = [];
  const live = new Map(before?.chains ?? []);
  for (const op of tx.ops) {
    if (op.kind === "table" && op.verb === "delete") live.clear();
    if (op.kind === "chain" && "name" in op && op.verb === "delete") live.delete(op.name);
    if (op.kind !== "chain" || !("chain" in op) || !op.chain.base) continue;
    const old = live.get(op.chain.name)?.base;
    const hookOf = (b: typeof old) =>
      b ? chainCanonicalText({ name: "x", base: { ...b, policy: "accept" }, rules: [] }, "inet") : "";
    if (old && hookOf(old) !== hookOf(op.chain.base))
      out.push(`add chain ${op.chain.name} changes ${hookOf(old)} to ${hookOf(op.chain.base)}`);
    live.set(op.chain.name, op.chain);
  }
  return out;
}

/** The table minus the empty chains whose deletion was deferred. */
function withoutDeferred(table: DesiredTable, deferred: string[]): DesiredTable {
  const chains = new Map(table.chains);
  for (const name of deferred) if (chains.get(name)?.rules.length === 0) chains.delete(name);
  return { ...table, chains };
}

interface Synced {
  fake: FakeNft;
  /** The table and plan of the last sync, to start the next one from. */
  previous: DesiredTable | null;
  plan: SyncPlan | null;
}

async function sync(s: Synced, wanted: DesiredTable, from: Start, delta: Delta = "whole"): Promise<SyncPlan> {
  const applied =
    s.previous === null || from === "unknown"
      ? null
      : from === "previous"
        ? s.previous
        : from === "planApplied"
          ? s.plan!.applied
          : await held(s.fake);
  const before = s.previous === null ? null : await held(s.fake);
  const desired = asDeltas(wanted, applied ?? s.previous, delta);
  const plan = planSync(applied, desired);
  const refused = baseChainChanges(plan.tx, before);
  if (refused.length > 0)
    throw new Error(`the kernel would refuse:\n${refused.join("\n")}\n${renderText(plan.tx)}`);
  try {
    await s.fake.applyTransaction(plan.tx);
  } catch (err) {
    throw new Error(
      `the fake refused the plan (from ${from}, sets ${delta}): ${(err as Error).message}\n${renderText(plan.tx)}`,
    );
  }
  s.previous = desired;
  s.plan = plan;
  return plan;
}

function expectSame(a: DesiredTable, b: DesiredTable, what: string): void {
  const diff = tableDifferences(a, b);
  if (diff.length > 0) throw new Error(`${what}:\n${diff.join("\n")}`);
}

async function runSequence(
  steps: { shape: TableShape; from: Start; delta: Delta }[],
): Promise<{ deferred: number }> {
  const s: Synced = { fake: new FakeNft(), previous: null, plan: null };
  let deferred = 0;
  for (const [n, step] of steps.entries()) {
    const desired = buildTable(step.shape);
    const plan = await sync(s, desired, step.from, step.delta);
    const now = await held(s.fake);
    expectSame(plan.applied, now, `step ${n} (from ${step.from}): the fake differs from plan.applied`);
    expectSame(
      desired,
      withoutDeferred(now, plan.deferredChains),
      `step ${n}: the fake differs from desired`,
    );
    deferred += plan.deferredChains.length;
  }
  // One more sync with the last table deletes what was deferred: the fake then holds exactly it.
  const last = s.previous!;
  const again = await sync(s, buildTable(steps.at(-1)!.shape), "previous");
  expectSame(last, await held(s.fake), "after the follow-up sync the fake differs from desired");
  assert.equal(again.deferredChains, [], "the follow-up sync defers nothing");
  // And from a read-back of the converged table, there is nothing left to do.
  const idle = planSync(await held(s.fake), buildTable(steps.at(-1)!.shape));
  if (idle.tx.size > 0)
    throw new Error(`planning from the read-back converged table is not empty:\n${renderText(idle.tx)}`);
  return { deferred };
}

const sequences = fc.array(fc.record({ shape: shapes, from: start, delta: deltaMode }), {
  minLength: 1,
  maxLength: 6,
});

test("the planned transaction takes the fake from any applied state to the desired table", async () => {
  await holds(
    "planSync through FakeNft",
    fc.asyncProperty(sequences, async (steps) => {
      await runSequence(steps);
    }),
    150,
    3000,
  );
});

test("the generator reaches deferred deletes, recreated sets and verdict maps (not vacuous)", async () => {
  let deferred = 0;
  let recreated = 0;
  let vmapElements = 0;
  for (const steps of fc.sample(sequences, { numRuns: 60, seed: 3 })) {
    const r = await runSequence(steps);
    deferred += r.deferred;
    let prev: DesiredTable | null = null;
    for (const step of steps) {
      const t = buildTable(step.shape);
      vmapElements += t.sets.get("vAddr")?.elements.length ?? 0;
      if (prev) recreated += planSync(prev, t).stats.setsRecreated;
      prev = t;
    }
  }
  assert.ok(deferred > 0, "some chain deletions were deferred");
  assert.ok(recreated > 0, "some sets were recreated");
  assert.ok(vmapElements > 0, "verdict maps had elements");
  assert.ok(deltasMade.ofApplied > 0 && deltasMade.ofStale > 0, "sets came as deltas of both kinds");
});

test.run();
