// The elements services contribute to the shared sets and maps, kept incrementally: re-planning one
// service touches only its own contributions, and a set whose elements did not change keeps its
// DesiredSet object, so nft/'s diff skips it by identity. Two services may claim the same key (one
// pod behind two services; or a conflict, such as two services on one external IP and port): the
// first claimant keeps the element, later ones wait and, for exclusive sets, are reported.
import { type DesiredSet, lazySet } from "../../nft/desired.ts";
import type { SetElement } from "../../nft/model.ts";
import type { ElementContribution, PlanProblem } from "./service-plan.ts";

interface Claim {
  owner: string;
  contribution: ElementContribution;
}

/**
 * One key of a set: its slot and its claims, the winner first. One object per key (400,000 at
 * 100,000 Services), so the common case, one claim, is kept inline and only the others in a list.
 */
interface KeyState {
  slot: number;
  owner: string;
  contribution: ElementContribution;
  /** Later claims, in order; absent while there is one. */
  waiting?: Claim[];
}

interface SharedSet {
  /** The declaration; elements are filled from the winning claims. */
  declaration: DesiredSet;
  keys: Map<string, KeyState>;
  /** The object handed out last; replaced only when the winners change. */
  current: DesiredSet;
  /** Keys where two owners claim different things is a conflict worth reporting. */
  exclusive: boolean;
  /**
   * Element order: each key keeps its slot, and a new key takes the slot of a removed one, so a
   * change leaves every other element at its index (nft/'s diff compares by position first).
   */
  slotCount: number;
  free: number[];
  /**
   * The winning element of each slot (the slot map holds 3 … 16 per plain ClusterIP port: 300,000 at
   * 100,000 Services of 3 endpoints).
   */
  elementAt: ChunkedSlots;
  /**
   * The winning element of each key changed since the last build, as it was then (undefined: none).
   * Null when too many keys changed, or before the first build: build() hands out no delta then.
   */
  before: Map<string, SetElement | undefined> | null;
}

/**
 * Slot-indexed elements in fixed chunks, copied on write: build() takes a snapshot of the chunk list
 * (length / CHUNK pointers) instead of copying every element, and a write after it copies one chunk.
 */
const CHUNK = 512;

class ChunkedSlots {
  private chunks: (SetElement | undefined)[][] = [];
  /** The generation each chunk was last copied in; chunks of older generations are shared with snapshots. */
  private chunkGen: number[] = [];
  private gen = 0;

  get(slot: number): SetElement | undefined {
    return this.chunks[Math.floor(slot / CHUNK)]?.[slot % CHUNK];
  }

  set(slot: number, el: SetElement | undefined): void {
    const c = Math.floor(slot / CHUNK);
    if (this.chunkGen[c] !== this.gen) {
      this.chunks[c] = this.chunks[c]?.slice() ?? [];
      this.chunkGen[c] = this.gen;
    }
    this.chunks[c][slot % CHUNK] = el;
  }

  /** The elements in slot order, without empty slots; later writes do not change them. */
  snapshot(): () => SetElement[] {
    const chunks = this.chunks.slice();
    this.gen++;
    return () => {
      const out: SetElement[] = [];
      for (const chunk of chunks) for (const el of chunk) if (el !== undefined) out.push(el);
      return out;
    };
  }
}

/** Above this many changed keys (and a quarter of the set), a build hands out no delta. */
const MAX_TRACKED = 1024;

const contributionKey = (c: ElementContribution) => `${c.set}\u0000${c.id}`;

export class SharedElements {
  private readonly sets = new Map<string, SharedSet>();
  private readonly conflicted = new Set<string>();
  /** Sets whose winners may have changed since the last build. */
  private readonly dirty = new Set<string>();

  declare(declaration: DesiredSet, exclusive: boolean): void {
    this.sets.set(declaration.name, {
      declaration,
      keys: new Map(),
      current: { ...declaration, elements: [] },
      exclusive,
      slotCount: 0,
      free: [],
      elementAt: new ChunkedSlots(),
      before: null,
    });
    this.dirty.add(declaration.name);
  }

  /** Replaces `owner`'s contributions `before` by `after`, touching only what differs. */
  replace(owner: string, before: ElementContribution[], after: ElementContribution[]): void {
    if (before.length === 0) {
      for (const c of after) this.add(owner, c);
      return;
    }
    // One service may contribute a key twice (a pod's address for two ports): count it once.
    const next = new Map(after.map((c) => [contributionKey(c), c]));
    const previous = new Map(before.map((c) => [contributionKey(c), c]));
    for (const c of previous.values()) {
      const n = next.get(contributionKey(c));
      if (n && n.value === c.value) {
        next.delete(contributionKey(c));
        this.swap(owner, c, n);
      } else if (n) {
        next.delete(contributionKey(c));
        this.swap(owner, c, n, true);
      } else this.remove(owner, c);
    }
    for (const c of next.values()) this.add(owner, c);
  }

  /**
   * The shared sets as DesiredSets; unchanged sets are the same objects as last time. A changed set
   * carries a delta relative to the previous object (DesiredSet.delta) when few keys changed, and
   * its element array is built only when something reads it.
   */
  build(): DesiredSet[] {
    const out: DesiredSet[] = [];
    for (const s of this.sets.values()) {
      if (this.dirty.has(s.declaration.name)) this.rebuild(s);
      out.push(s.current);
    }
    this.dirty.clear();
    return out;
  }

  private rebuild(s: SharedSet): void {
    const previous = s.current;
    let delta: DesiredSet["delta"];
    if (s.before) {
      const removed: SetElement[] = [];
      const added: SetElement[] = [];
      for (const [id, was] of s.before) {
        const now = s.keys.get(id)?.contribution.element;
        if (was === now) continue;
        if (was !== undefined) removed.push(was);
        if (now !== undefined) added.push(now);
      }
      s.before.clear();
      if (removed.length === 0 && added.length === 0) return;
      delta = { base: previous, removed, added };
    }
    // Only the newest link is kept: the previous set's own delta would hold every older set alive.
    delete previous.delta;
    const { elements: _elements, delta: _delta, ...declaration } = s.declaration;
    s.current = lazySet(declaration, s.elementAt.snapshot(), delta);
    s.before = new Map();
  }

  /** Records `id`'s winning element before it changes (for the next build's delta). */
  private touch(s: SharedSet, id: string): void {
    this.dirty.add(s.declaration.name);
    if (!s.before || s.before.has(id)) return;
    if (s.before.size >= MAX_TRACKED && s.before.size * 4 >= s.keys.size) {
      s.before = null;
      return;
    }
    s.before.set(id, s.keys.get(id)?.contribution.element);
  }

  /** One problem per losing claim on an exclusive key. */
  problems(describe: (owner: string) => { namespace: string; name: string }): PlanProblem[] {
    const out: PlanProblem[] = [];
    for (const conflict of this.conflicted) {
      const [setName, id] = conflict.split("\u0000");
      const key = this.sets.get(setName)?.keys.get(id);
      for (const loser of key?.waiting ?? []) {
        if (loser.contribution.quiet) continue;
        const who = describe(loser.owner);
        out.push({
          kind: "Service",
          namespace: who.namespace,
          name: who.name,
          field: loser.contribution.field,
          message: `${id} is already used by service ${key!.owner}; not programmed for this one`,
        });
      }
    }
    return out;
  }

  private add(owner: string, c: ElementContribution): void {
    const s = this.sets.get(c.set)!;
    const key = s.keys.get(c.id);
    if (!key) {
      this.touch(s, c.id);
      const slot = s.free.pop() ?? s.slotCount++;
      s.keys.set(c.id, { slot, owner, contribution: c });
      s.elementAt.set(slot, c.element);
      return;
    }
    if (key.owner === owner || key.waiting?.some((cl) => cl.owner === owner)) return;
    key.waiting ??= [];
    key.waiting.push({ owner, contribution: c });
    if (s.exclusive) this.conflicted.add(contributionKey(c));
  }

  private remove(owner: string, c: ElementContribution): void {
    const s = this.sets.get(c.set)!;
    const key = s.keys.get(c.id);
    if (!key) return;
    if (key.owner === owner) {
      this.touch(s, c.id);
      const next = key.waiting?.shift();
      if (next) {
        key.owner = next.owner;
        key.contribution = next.contribution;
        s.elementAt.set(key.slot, next.contribution.element);
      } else {
        s.keys.delete(c.id);
        s.elementAt.set(key.slot, undefined);
        s.free.push(key.slot);
      }
    } else {
      const i = key.waiting?.findIndex((cl) => cl.owner === owner) ?? -1;
      if (i < 0) return;
      key.waiting!.splice(i, 1);
    }
    if (key.waiting?.length === 0) delete key.waiting;
    if (!key.waiting) this.conflicted.delete(contributionKey(c));
  }

  /** Keeps the owner's place in line; the set changes only if it wins and the value changed. */
  private swap(
    owner: string,
    before: ElementContribution,
    after: ElementContribution,
    changed = false,
  ): void {
    const s = this.sets.get(before.set)!;
    const key = s.keys.get(before.id);
    if (key?.owner === owner) {
      // An unchanged value keeps the old element object, so the set's elements stay comparable by identity.
      if (!changed) return;
      this.touch(s, before.id);
      key.contribution = after;
      s.elementAt.set(key.slot, after.element);
      return;
    }
    const i = key?.waiting?.findIndex((cl) => cl.owner === owner) ?? -1;
    if (i < 0) this.add(owner, after);
    else if (changed) key!.waiting![i] = { owner, contribution: after };
  }
}
