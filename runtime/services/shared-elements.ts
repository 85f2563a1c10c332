// The elements services contribute to the shared sets and maps, kept incrementally: re-planning one
// service touches only its own contributions, and a set whose elements did not change keeps its
// DesiredSet object, so nft/'s diff skips it by identity. Two services may claim the same key (one
// pod behind two services; or a conflict, such as two services on one external IP and port): the
// first claimant keeps the element, later ones wait and, for exclusive sets, are reported.
import type { DesiredSet } from "../../nft/desired.ts";
import type { SetElement } from "../../nft/model.ts";
import type { ElementContribution, PlanProblem } from "./service-plan.ts";

interface Claim {
  owner: string;
  contribution: ElementContribution;
}

interface SharedSet {
  /** The declaration; elements are filled from the winning claims. */
  declaration: DesiredSet;
  claims: Map<string, Claim[]>;
  /** The object handed out last; replaced only when the winners change. */
  current: DesiredSet;
  dirty: boolean;
  /** Keys where two owners claim different things is a conflict worth reporting. */
  exclusive: boolean;
  /**
   * Element order: each key keeps its position, and a new key takes the place of a removed one, so
   * a change leaves every other element at its index (nft/'s diff compares by position first).
   */
  slots: (string | undefined)[];
  slotOf: Map<string, number>;
  free: number[];
  /**
   * The winning element of each slot, kept as claims change, so build() copies an array instead of
   * looking every key up again (a slot map holds 16 elements per service: 1.6 M at 100,000).
   */
  elementAt: (SetElement | undefined)[];
  /** Empty slots in elementAt. */
  holes: number;
}

const contributionKey = (c: ElementContribution) => `${c.set}\u0000${c.id}`;

export class SharedElements {
  private readonly sets = new Map<string, SharedSet>();
  private readonly conflicted = new Set<string>();

  declare(declaration: DesiredSet, exclusive: boolean): void {
    this.sets.set(declaration.name, {
      declaration,
      claims: new Map(),
      current: { ...declaration, elements: [] },
      dirty: true,
      exclusive,
      slots: [],
      slotOf: new Map(),
      free: [],
      elementAt: [],
      holes: 0,
    });
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

  /** The shared sets as DesiredSets; unchanged sets are the same objects as last time. */
  build(): DesiredSet[] {
    const out: DesiredSet[] = [];
    for (const s of this.sets.values()) {
      if (s.dirty) {
        const elements =
          s.holes === 0
            ? (s.elementAt.slice() as SetElement[])
            : (s.elementAt.filter((e) => e !== undefined) as SetElement[]);
        s.current = { ...s.declaration, elements };
        s.dirty = false;
      }
      out.push(s.current);
    }
    return out;
  }

  /** One problem per losing claim on an exclusive key. */
  problems(describe: (owner: string) => { namespace: string; name: string }): PlanProblem[] {
    const out: PlanProblem[] = [];
    for (const key of this.conflicted) {
      const [setName, id] = key.split("\u0000");
      const claims = this.sets.get(setName)?.claims.get(id);
      if (!claims || claims.length < 2) continue;
      for (const loser of claims.slice(1)) {
        if (loser.contribution.quiet) continue;
        const who = describe(loser.owner);
        out.push({
          kind: "Service",
          namespace: who.namespace,
          name: who.name,
          field: loser.contribution.field,
          message: `${id} is already used by service ${claims[0].owner}; not programmed for this one`,
        });
      }
    }
    return out;
  }

  private add(owner: string, c: ElementContribution): void {
    const s = this.sets.get(c.set)!;
    const claims = s.claims.get(c.id);
    if (!claims) {
      s.claims.set(c.id, [{ owner, contribution: c }]);
      const reused = s.free.pop();
      if (reused !== undefined) s.holes--;
      const slot = reused ?? s.slots.length;
      s.slots[slot] = c.id;
      s.elementAt[slot] = c.element;
      s.slotOf.set(c.id, slot);
      s.dirty = true;
      return;
    }
    if (claims.some((cl) => cl.owner === owner)) return;
    claims.push({ owner, contribution: c });
    if (s.exclusive) this.conflicted.add(contributionKey(c));
  }

  private remove(owner: string, c: ElementContribution): void {
    const s = this.sets.get(c.set)!;
    const claims = s.claims.get(c.id);
    if (!claims) return;
    const i = claims.findIndex((cl) => cl.owner === owner);
    if (i < 0) return;
    claims.splice(i, 1);
    if (claims.length === 0) {
      s.claims.delete(c.id);
      const slot = s.slotOf.get(c.id)!;
      s.slotOf.delete(c.id);
      s.slots[slot] = undefined;
      s.elementAt[slot] = undefined;
      s.holes++;
      s.free.push(slot);
    } else if (i === 0) s.elementAt[s.slotOf.get(c.id)!] = claims[0].contribution.element;
    if (i === 0) s.dirty = true;
    if (claims.length < 2) this.conflicted.delete(contributionKey(c));
  }

  /** Keeps the owner's place in line; the set changes only if it wins and the value changed. */
  private swap(
    owner: string,
    before: ElementContribution,
    after: ElementContribution,
    changed = false,
  ): void {
    const s = this.sets.get(before.set)!;
    const claims = s.claims.get(before.id);
    const i = claims ? claims.findIndex((cl) => cl.owner === owner) : -1;
    if (!claims || i < 0) {
      this.add(owner, after);
      return;
    }
    // An unchanged value keeps the old element object, so the set's elements stay comparable by identity.
    if (changed) {
      claims[i] = { owner, contribution: after };
      if (i === 0) {
        s.dirty = true;
        s.elementAt[s.slotOf.get(before.id)!] = after.element;
      }
    }
  }
}
