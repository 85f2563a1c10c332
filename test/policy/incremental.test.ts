// The incremental reference decider against a full evaluation: over every truth-table scenario's
// policies at once, random runs of pod changes (relabels, moves between nodes, IP changes, finished
// pods, deletions, pods in a namespace without a Namespace object) and, now and then, a namespace
// relabel or a policy removed. After every change the kept-up-to-date decision must equal
// evaluatePolicies of the same snapshot, and most changes must take the incremental path.
import fc from "fast-check";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { IncrementalEvaluator } from "../../runtime/policy/incremental.ts";
import { changedPods } from "../../runtime/policy/pod-changes.ts";
import { evaluatePolicies } from "../../runtime/policy/reference.ts";
import type { RawObject, SourceEvent, WatchedKind } from "../../runtime/sources/source.ts";
import { objectKey } from "../../runtime/sources/source.ts";
import type { Pod } from "../../runtime/store/objects.ts";
import { Store } from "../../runtime/store/store.ts";
import { holds } from "../properties/support.ts";
import { allPods, namespaceObject, namespaces, podIP, podObject } from "./reference-fixtures.ts";
import { allScenarios } from "./scenarios.ts";

const test = suite("policy: the incremental reference decider");
const NODE = "n1";

/** Every policy of every scenario step, one per kind/namespace/name. */
function scenarioPolicies(): RawObject[] {
  const byKey = new Map<string, RawObject>();
  for (const s of allScenarios)
    for (const step of s.steps)
      for (const p of [...(step.policies ?? []), ...(step.clusterPolicies ?? [])]) {
        const o = p as unknown as RawObject;
        byKey.set(`${o.kind} ${o.metadata.namespace ?? ""}/${o.metadata.name}`, o);
      }
  return [...byKey.values()];
}

function event(type: SourceEvent["type"], object: RawObject): SourceEvent {
  const kind = object.kind as WatchedKind;
  return { type, kind, key: objectKey(kind, object.metadata), object };
}

/** Pods of x, y, z and of "w", a namespace no Namespace object exists for. */
const podKeys = [...allPods, "w/a", "w/b"];

type PodOp =
  | { op: "labels"; pod: number; value: string; extra: boolean }
  | { op: "node"; pod: number; local: boolean }
  | { op: "ip"; pod: number; shift: boolean }
  | { op: "phase"; pod: number; finished: boolean }
  | { op: "delete"; pod: number }
  | { op: "namespace-labels"; namespace: number; value: string }
  | { op: "drop-policy"; index: number };

const podIndex = fc.integer({ min: 0, max: podKeys.length - 1 });
const opArb: fc.Arbitrary<PodOp> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({
      op: fc.constant("labels" as const),
      pod: podIndex,
      value: fc.constantFrom("a", "b", "c", "d"),
      extra: fc.boolean(),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({ op: fc.constant("node" as const), pod: podIndex, local: fc.boolean() }),
  },
  { weight: 2, arbitrary: fc.record({ op: fc.constant("ip" as const), pod: podIndex, shift: fc.boolean() }) },
  {
    weight: 1,
    arbitrary: fc.record({ op: fc.constant("phase" as const), pod: podIndex, finished: fc.boolean() }),
  },
  { weight: 1, arbitrary: fc.record({ op: fc.constant("delete" as const), pod: podIndex }) },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant("namespace-labels" as const),
      namespace: fc.integer({ min: 0, max: namespaces.length - 1 }),
      value: fc.constantFrom("x", "y", "z", "q"),
    }),
  },
  { weight: 1, arbitrary: fc.record({ op: fc.constant("drop-policy" as const), index: fc.nat() }) },
);

interface PodState {
  labels: Record<string, string>;
  node: string;
  shifted: boolean;
  finished: boolean;
  present: boolean;
}

function podManifest(key: string, s: PodState): RawObject {
  const base = podObject(key, { labels: s.labels, node: s.node });
  const [ns, name] = key.split("/");
  const ip = ns === "w" ? `10.0.9.${name === "a" ? 1 : 2}` : podIP(key);
  const shifted = s.shifted ? ip.replace(/\.(\d+)$/, (_, n) => `.${Number(n) + 100}`) : ip;
  return {
    ...base,
    status: { phase: s.finished ? "Succeeded" : "Running", podIPs: [{ ip: shifted }] },
  };
}

class World {
  readonly store = new Store();
  readonly pods = new Map<string, PodState>();
  policies = scenarioPolicies();

  constructor() {
    const events: SourceEvent[] = namespaces.map((n) => event("add", namespaceObject(n)));
    podKeys.forEach((key, i) => {
      const state = {
        labels: { pod: key.split("/")[1] },
        node: i % 2 === 0 ? NODE : "n2",
        shifted: false,
        finished: false,
        present: true,
      };
      this.pods.set(key, state);
      events.push(event("add", podManifest(key, state)));
    });
    events.push(...this.policies.map((p) => event("add", p)));
    this.store.apply(events);
  }

  /**
   * The path a relabel or new address of a running pod of x, y or z must take: only peer sets when
   * it is on another node, its own rules too when on this one. Null for other changes.
   */
  expectedPath(op: PodOp): "peers" | "local" | null {
    if (op.op !== "labels" && op.op !== "ip") return null;
    const key = podKeys[op.pod];
    const s = this.pods.get(key)!;
    if (!s.present || s.finished || key.startsWith("w/")) return null;
    return s.node === NODE ? "local" : "peers";
  }

  apply(op: PodOp): void {
    if (op.op === "namespace-labels") {
      const name = namespaces[op.namespace];
      this.store.apply([event("update", namespaceObject(name, { ns: op.value }))]);
      return;
    }
    if (op.op === "drop-policy") {
      if (this.policies.length === 0) return;
      const [dropped] = this.policies.splice(op.index % this.policies.length, 1);
      this.store.apply([event("delete", dropped)]);
      return;
    }
    const key = podKeys[op.pod];
    const s = this.pods.get(key)!;
    if (op.op === "delete") {
      if (!s.present) return;
      s.present = false;
      this.store.apply([event("delete", podManifest(key, s))]);
      return;
    }
    if (op.op === "labels") s.labels = op.extra ? { pod: op.value, tier: "web" } : { pod: op.value };
    if (op.op === "node") s.node = op.local ? NODE : "n2";
    if (op.op === "ip") s.shifted = op.shift;
    if (op.op === "phase") s.finished = op.finished;
    const type = s.present ? "update" : "add";
    s.present = true;
    this.store.apply([event(type, podManifest(key, s))]);
  }
}

test("after every change the incremental decision equals a full evaluation", async () => {
  const counted = { peers: 0, local: 0 };
  await holds(
    "incremental policy decisions",
    fc.property(fc.array(opArb, { minLength: 1, maxLength: 25 }), (ops) => {
      const world = new World();
      const evaluator = new IncrementalEvaluator(NODE);
      evaluator.decide(world.store.snapshot());
      for (const [i, op] of ops.entries()) {
        const expected = world.expectedPath(op);
        world.apply(op);
        const snapshot = world.store.snapshot();
        const got = evaluator.decide(snapshot);
        assert.equal(
          got,
          evaluatePolicies(snapshot, { nodeName: NODE }),
          `after op ${i}: ${JSON.stringify(op)}`,
        );
        if (!expected) continue;
        counted[expected]++;
        assert.is(evaluator.lastPath, expected, `op ${i}: ${JSON.stringify(op)}`);
      }
    }),
    40,
    400,
  );
  assert.ok(counted.peers > 30 && counted.local > 30, `changes drawn: ${JSON.stringify(counted)}`);
});

test("a remote pod relabelled rebuilds only the sets that pick it before or after", () => {
  const world = new World();
  const evaluator = new IncrementalEvaluator(NODE);
  const before = evaluator.decide(world.store.snapshot());
  // x/b (index 1) lives on n2: a remote peer.
  world.apply({ op: "labels", pod: 1, value: "d", extra: false });
  const after = evaluator.decide(world.store.snapshot());
  assert.is(evaluator.lastPath, "peers");
  assert.is(after.pods, before.pods, "the rules are the same array: no pod's rules were rebuilt");
  const changed = [...after.addressSets]
    .filter(([id, v]) => before.addressSets.get(id) !== v)
    .map(([id]) => id);
  assert.ok(changed.length > 0, "some set picked x/b by pod=b");
  assert.ok(
    changed.length < after.addressSets.size,
    `${changed.length} of ${after.addressSets.size} sets rebuilt`,
  );
  const ip = podIP("x/b");
  const moved = changed.filter(
    (id) => before.addressSets.get(id)!.includes(ip) !== after.addressSets.get(id)!.includes(ip),
  );
  assert.ok(moved.length > 0, "x/b left or joined some peer set");
});

test("changedPods lists updates, additions and deletions, and gives up past the limit", () => {
  const pod = (name: string) => ({ name }) as unknown as Pod;
  const a = pod("a");
  const b = pod("b");
  const before = new Map([
    ["n/a", a],
    ["n/b", b],
  ]);
  const b2 = pod("b");
  const c = pod("c");
  const after = new Map([
    ["n/b", b2],
    ["n/c", c],
  ]);
  assert.equal(changedPods(before, after, 10), [
    { key: "n/b", before: b, after: b2 },
    { key: "n/c", before: undefined, after: c },
    { key: "n/a", before: a },
  ]);
  assert.is(changedPods(before, after, 1), null);
  assert.equal(changedPods(before, before, 0), []);
});

test("changedPods lists what a lookup per key finds, in order, up to its limit", async () => {
  /** The answer by a lookup per key: updates and additions in `after`'s order, then deletions. */
  const naive = (before: Map<string, Pod>, after: Map<string, Pod>) => [
    ...[...after]
      .filter(([k, p]) => before.get(k) !== p)
      .map(([key, p]) => ({ key, before: before.get(key), after: p })),
    ...[...before].filter(([k]) => !after.has(k)).map(([key, p]) => ({ key, before: p })),
  ];
  const pods = Array.from({ length: 8 }, (_, i) => ({ name: `p${i}` }) as unknown as Pod);
  const entry = fc.record({ key: fc.nat(7), pod: fc.nat(7) });
  await holds(
    "changedPods",
    fc.property(
      fc.array(entry, { maxLength: 8 }),
      fc.array(fc.oneof(fc.constant("keep"), fc.constant("drop"), fc.constant("swap")), { maxLength: 8 }),
      fc.array(entry, { maxLength: 3 }),
      fc.boolean(),
      (first, edits, added, reorder) => {
        const before = new Map(first.map((e) => [`k${e.key}`, pods[e.pod]]));
        // As the store makes it: a copy, with entries replaced, deleted and added.
        const after = new Map(before);
        [...before.keys()].forEach((key, i) => {
          if (edits[i] === "drop") after.delete(key);
          if (edits[i] === "swap") after.set(key, { ...pods[0] });
        });
        for (const e of added) after.set(`k${e.key}`, pods[e.pod]);
        const next = reorder ? new Map([...after].reverse()) : after;
        const expected = naive(before, next);
        assert.equal(changedPods(before, next, 100), expected);
        assert.equal(changedPods(before, next, expected.length), expected);
        if (expected.length > 0) assert.is(changedPods(before, next, expected.length - 1), null);
      },
    ),
    200,
    2000,
  );
});

test.run();
