import { suite } from "uvu";
import * as assert from "uvu/assert";
import {
  accept,
  chain,
  commentedRule,
  concat,
  dnat,
  drop,
  element,
  goto,
  jump,
  log,
  mapLookup,
  match,
  meta,
  namedMap,
  namedSet,
  payload,
  rule,
  setRef,
  setUpdate,
  vmap,
} from "../../nft/build.ts";
import { tableDifferences } from "../../nft/compare.ts";
import {
  addChain,
  addSet,
  type DesiredTable,
  emptyFragment,
  lazySet,
  mergeFragments,
  type TableFragment,
} from "../../nft/desired.ts";
import { type AppliedTable, diffElements, diffTables, planSync } from "../../nft/diff.ts";
import { FakeNft } from "../../nft/fake.ts";
import { rulesRefs } from "../../nft/references.ts";
import { renderText } from "../../nft/render-text.ts";
import { serviceShapedTable } from "./service-shape.ts";

const test = suite("nft diff");

function table(build: (f: TableFragment) => void): DesiredTable {
  const f = emptyFragment();
  build(f);
  return mergeFragments("inet", "wasmplane", [f]);
}

/** Applies desired states one after another through diff + the fake, checking each result. */
async function syncAll(states: DesiredTable[]): Promise<{ fake: FakeNft; scripts: string[] }> {
  const fake = new FakeNft();
  let applied: DesiredTable | null = null;
  const scripts: string[] = [];
  for (const desired of states) {
    const plan = planSync(applied, desired);
    scripts.push(renderText(plan.tx));
    await fake.applyTransaction(plan.tx);
    const held = await fake.readTable("inet", "wasmplane");
    assert.equal(tableDifferences(plan.applied, held!), [], "the fake holds what planSync said it would");
    applied = desired;
  }
  return { fake, scripts };
}

test("from nothing: the table is rebuilt atomically with chains declared before use", () => {
  const t = serviceShapedTable(2);
  const lines = renderText(diffTables(null, t)).trim().split("\n");
  assert.equal(lines.slice(0, 3), [
    "add table inet wasmplane",
    "delete table inet wasmplane",
    "add table inet wasmplane",
  ]);
  const firstRuleLine = lines.findIndex((l) => l.includes("{ ip saddr"));
  const lastBareChain = lines.map((l) => /^add chain inet wasmplane [^ ]+$/.test(l)).lastIndexOf(true);
  const elementLine = lines.findIndex((l) => l.startsWith("add element"));
  assert.ok(
    lastBareChain < elementLine && elementLine < firstRuleLine,
    "declare chains, then elements, then rules",
  );
});

test("no change: empty transaction", () => {
  const a = serviceShapedTable(50);
  const b = serviceShapedTable(50); // equal content, different objects
  assert.is(diffTables(a, b).size, 0);
  assert.is(diffTables(a, a).size, 0);
});

test("one service port change: one element replaced and nothing else", () => {
  const a = serviceShapedTable(100);
  const b = serviceShapedTable(100, "wasmplane", (i) => (i === 42 ? 8443 : 80 + (i % 2)));
  const text = renderText(diffTables(a, b));
  assert.is(
    text,
    "delete element inet wasmplane services { 10.96.0.42 . tcp . 80 }\nadd element inet wasmplane services { 10.96.0.42 . tcp . 8443 : goto svc-42 }\n",
  );
});

test("a changed element value is deleted and re-added; a changed chain is flushed and refilled", async () => {
  const a = table((f) => {
    addChain(f, chain("x", [rule(accept())]));
    addChain(f, chain("y", [rule(drop())]));
    addSet(f, namedMap("m", "ipv4_addr", "verdict", [element("10.0.0.1", goto("x"))]));
  });
  const b = table((f) => {
    addChain(f, chain("x", [rule(accept())]));
    addChain(f, chain("y", [rule(match(payload("ip", "saddr"), "10.1.1.1"), drop())]));
    addSet(f, namedMap("m", "ipv4_addr", "verdict", [element("10.0.0.1", goto("y"))]));
  });
  const { scripts } = await syncAll([a, b]);
  assert.is(
    scripts[1],
    [
      "flush chain inet wasmplane y",
      "delete element inet wasmplane m { 10.0.0.1 }",
      "add element inet wasmplane m { 10.0.0.1 : goto y }",
      "add rule inet wasmplane y ip saddr 10.1.1.1 drop",
      "",
    ].join("\n"),
  );
});

test("a removed chain still referenced by a deleted map element is flushed now and deleted next sync", async () => {
  const a = table((f) => {
    addChain(f, chain("svc-1", [rule(jump("ep-1"))]));
    addChain(f, chain("ep-1", [rule(accept())]));
    addChain(f, chain("svc-2", [rule(accept())]));
    addSet(
      f,
      namedMap("m", "ipv4_addr", "verdict", [
        element("10.0.0.1", goto("svc-1")),
        element("10.0.0.2", goto("svc-2")),
      ]),
    );
  });
  const b = table((f) => {
    addChain(f, chain("svc-2", [rule(accept())]));
    addSet(f, namedMap("m", "ipv4_addr", "verdict", [element("10.0.0.2", goto("svc-2"))]));
  });
  const plan = planSync(a, b);
  assert.equal(plan.deferredChains.sort(), ["ep-1", "svc-1"]);
  const text = renderText(plan.tx);
  assert.ok(text.includes("flush chain inet wasmplane svc-1"));
  assert.not.ok(text.includes("delete chain"), "no chain deletion in the same transaction as the reference");
  assert.ok(plan.applied.chains.has("svc-1"), "the resulting state still holds the flushed chain");
  // The next sync (the caller keeps applied = desired) deletes them.
  const next = renderText(diffTables(b, b));
  assert.is(
    next,
    "flush chain inet wasmplane svc-1\nflush chain inet wasmplane ep-1\ndelete chain inet wasmplane svc-1\ndelete chain inet wasmplane ep-1\n",
  );
  // And the whole sequence holds up in the fake, which refuses to delete referenced chains.
  const { fake } = await syncAll([a, b, b]);
  assert.equal([...(await fake.readTable("inet", "wasmplane"))!.chains.keys()], ["svc-2"]);
});

test("without deferral, unreferenced removed chains are deleted in the same transaction", () => {
  const a = table((f) => {
    addChain(f, chain("old", [rule(accept())]));
    addChain(f, chain("keep", [rule(accept())]));
  });
  const b = table((f) => addChain(f, chain("keep", [rule(accept())])));
  assert.is(
    renderText(diffTables(a, b)),
    "flush chain inet wasmplane old\ndelete chain inet wasmplane old\n",
  );
  const c = table((f) => {
    addChain(f, chain("old", [rule(accept())]));
    addSet(f, namedMap("m", "ipv4_addr", "verdict", [element("10.0.0.1", goto("old"))]));
  });
  const d = table((f) => addSet(f, namedMap("m", "ipv4_addr", "verdict", [])));
  assert.ok(
    renderText(diffTables(c, d, { deferReferencedChainDeletes: false })).includes(
      "delete chain inet wasmplane old",
    ),
  );
});

test("a set whose type changes is recreated after the chains using it are flushed", async () => {
  const a = table((f) => {
    addSet(f, namedSet("allowed", "ipv4_addr", [element("10.0.0.1")]));
    addChain(f, chain("c", [rule(match(payload("ip", "saddr"), setRef("allowed")), accept())]));
  });
  const b = table((f) => {
    addSet(f, namedSet("allowed", ["ipv4_addr", "inet_service"], [element(concat("10.0.0.1", 80))]));
    addChain(
      f,
      chain("c", [
        rule(match(concat(payload("ip", "saddr"), payload("tcp", "dport")), setRef("allowed")), accept()),
      ]),
    );
  });
  const { scripts } = await syncAll([a, b]);
  const lines = scripts[1].trim().split("\n");
  assert.ok(
    lines.indexOf("flush chain inet wasmplane c") < lines.indexOf("delete set inet wasmplane allowed"),
  );
});

test("element order does not matter; only keys and values do", () => {
  const els = [
    element("10.0.0.1", goto("a")),
    element("10.0.0.2", goto("a")),
    element("10.0.0.3", goto("b")),
  ];
  const spec = (list: typeof els) =>
    table((f) => {
      addChain(f, chain("a", [rule(accept())]));
      addChain(f, chain("b", [rule(drop())]));
      addSet(f, namedMap("m", "ipv4_addr", "verdict", list));
    });
  assert.is(diffTables(spec(els), spec([els[2], els[0], els[1]])).size, 0);
  const moved = [
    element("10.0.0.3", goto("b")),
    element("10.0.0.1", goto("b")),
    element("10.0.0.2", goto("a")),
  ];
  assert.is(
    renderText(diffTables(spec(els), spec(moved))),
    "delete element inet wasmplane m { 10.0.0.1 }\nadd element inet wasmplane m { 10.0.0.1 : goto b }\n",
  );
});

test("elements the packet path adds to a dynamic set are never deleted", () => {
  const spec = (els: string[]) =>
    table((f) => {
      addSet(
        f,
        namedSet(
          "aff",
          "ipv4_addr",
          els.map((e) => element(e)),
          { flags: ["dynamic", "timeout"], timeout: 60 },
        ),
      );
      addChain(f, chain("c", [rule(setUpdate("update", "aff", payload("ip", "saddr")))]));
    });
  // applied holds an element the kernel added (as read back after a restart)
  assert.is(diffTables(spec(["10.0.0.9"]), spec([])).size, 0);
});

test("at 40,000 chains a one-element change stays one element", () => {
  const a = serviceShapedTable(10_000);
  const b = serviceShapedTable(10_000, "wasmplane", (i) => (i === 9_999 ? 9999 : 80 + (i % 2)));
  const plan = planSync(a, b);
  assert.is(plan.tx.size, 2);
  assert.equal(plan.stats.elementsAdded, 1);
  assert.equal(plan.stats.elementsDeleted, 1);
  assert.ok(Buffer.byteLength(renderText(plan.tx)) < 2048);
});

test("an element added to an existing map is validated: a goto to a missing chain is named", () => {
  const a = serviceShapedTable(3);
  const services = a.sets.get("services")!;
  const b: DesiredTable = {
    ...a,
    sets: new Map(a.sets).set("services", {
      ...services,
      elements: [...services.elements, element(concat("10.97.0.1", "tcp", 80), goto("svc-missing"))],
    }),
  };
  assert.throws(
    () => planSync(a, b),
    (e: Error) =>
      /map services/.test(e.message) &&
      /elements\[0\]\.value/.test(e.message) &&
      /svc-missing/.test(e.message),
  );
  // the same map object for chains: nothing compared, still exactly one element added
  const ok: DesiredTable = {
    ...a,
    sets: new Map(a.sets).set("services", {
      ...services,
      elements: [...services.elements, element(concat("10.97.0.1", "tcp", 80), goto("svc-0"))],
    }),
  };
  assert.is(planSync(a, ok).tx.size, 1);
});

test("diffElements: appends, removals and a change between unchanged runs are found exactly", () => {
  const els = Array.from({ length: 1000 }, (_, i) => element(`10.0.${i >> 8}.${i & 255}`));
  const appended = [...els, element("10.9.0.1")];
  assert.equal(diffElements(els, appended, false), { toAdd: [appended[1000]], toDelete: [] });
  assert.equal(diffElements(appended, els, false), { toAdd: [], toDelete: [appended[1000]] });
  const middle = [...els.slice(0, 500), element("10.9.0.2"), ...els.slice(501), element("10.9.0.3")];
  const d = diffElements(els, middle, false);
  assert.equal(d.toDelete, [els[500]]);
  assert.equal(d.toAdd, [middle[500], middle[1000]]);
  // equal keys with a new value: the old element goes, the new one comes
  const revalued = els.map((e, i) => (i === 7 ? element(`10.0.0.7`, undefined, { comment: "c" }) : e));
  assert.equal(diffElements(els, revalued, false), { toAdd: [revalued[7]], toDelete: [els[7]] });
});

test("deferred chains travel as data: on plan.applied as empty chains, on desired as pendingChainDeletes", () => {
  const a = table((f) => {
    addChain(f, chain("svc-1", [rule(accept())]));
    addChain(f, chain("svc-2", [rule(accept())]));
    addSet(
      f,
      namedMap("m", "ipv4_addr", "verdict", [
        element("10.0.0.1", goto("svc-1")),
        element("10.0.0.2", goto("svc-2")),
      ]),
    );
  });
  const deferOne = () => {
    const b: AppliedTable = table((f) => {
      addChain(f, chain("svc-2", [rule(accept())]));
      addSet(f, namedMap("m", "ipv4_addr", "verdict", [element("10.0.0.2", goto("svc-2"))]));
    });
    return { b, plan: planSync(a, b) };
  };
  const deleteText = "flush chain inet wasmplane svc-1\ndelete chain inet wasmplane svc-1\n";

  // The caller keeps plan.applied (the agent does): the flushed chain is in it, empty.
  const first = deferOne();
  assert.equal(first.plan.deferredChains, ["svc-1"]);
  assert.equal(first.plan.applied.chains.get("svc-1"), { name: "svc-1", rules: [] });
  assert.is(renderText(planSync(first.plan.applied, first.b).tx), deleteText);

  // The caller keeps desired: the deferred chains are recorded on it, and cleared by the sync that
  // deletes them.
  const second = deferOne();
  assert.equal(second.b.pendingChainDeletes, ["svc-1"], "recorded on the desired table");
  assert.is(renderText(planSync(second.b, second.b).tx), deleteText);
  assert.is(second.b.pendingChainDeletes, undefined);
  assert.is(planSync(second.b, second.b).tx.size, 0, "a third sync has nothing left to delete");

  // A copy without the marker knows nothing of the flushed chain: the state is the data, not a
  // hidden map keyed by the object.
  const third = deferOne();
  const { family, name, chains, sets } = third.b;
  const copy: DesiredTable = { family, name, chains, sets };
  assert.is(planSync(copy, copy).tx.size, 0);
});

test("references come from the typed model: jumps in anonymous vmaps and map lookups, set names exactly", () => {
  const chains = new Set<string>();
  const sets = new Set<string>();
  rulesRefs(
    [
      rule(
        vmap(meta("mark"), [
          [1, goto("a")],
          [2, jump("b")],
        ]),
      ),
      rule(match(payload("ip", "saddr"), setRef("s")), dnat(mapLookup(payload("ip", "daddr"), "m"))),
      rule(setUpdate("add", "dyn", payload("ip", "saddr")), jump("c")),
      commentedRule("jump d", log({ prefix: "goto e" }), accept()),
      rule(vmap(payload("ip", "daddr"), "v")),
    ],
    { chains, sets },
  );
  assert.equal([...chains].sort(), ["a", "b", "c"], "comments and log prefixes are not references");
  assert.equal([...sets].sort(), ["@dyn", "@m", "@s", "@v"]);
});

test("a comment that reads like a jump does not defer a chain delete", () => {
  const a = table((f) => {
    addChain(f, chain("old", [rule(accept())]));
    addChain(f, chain("keep", [commentedRule("jump old", accept())]));
  });
  const b = table((f) => addChain(f, chain("keep", [commentedRule("jump old", accept())])));
  const plan = planSync(a, b);
  assert.equal(plan.deferredChains, []);
  assert.is(renderText(plan.tx), "flush chain inet wasmplane old\ndelete chain inet wasmplane old\n");
});

test("removing set a does not rewrite a chain that only uses set ab", () => {
  const a = table((f) => {
    addSet(f, namedSet("a", "ipv4_addr", [element("10.0.0.1")]));
    addSet(f, namedSet("ab", "ipv4_addr", [element("10.0.0.2")]));
    addChain(f, chain("c", [rule(match(payload("ip", "saddr"), setRef("ab")), accept())]));
  });
  const b = table((f) => {
    addSet(f, namedSet("ab", "ipv4_addr", [element("10.0.0.2")]));
    addChain(f, chain("c", [rule(match(payload("ip", "saddr"), setRef("ab")), accept())]));
  });
  assert.is(renderText(diffTables(a, b)), "delete set inet wasmplane a\n");
});

/** A table holding one set `s` of addresses 10.0.0.I for each I in `hosts`. */
function addressTable(set: ReturnType<typeof namedSet>): DesiredTable {
  return table((f) => addSet(f, set));
}
const addresses = (hosts: number[]) => hosts.map((i) => element(`10.0.0.${i}`));

test("a set given as a delta of the applied set object: only its changes, elements never read", () => {
  const applied = addressTable(namedSet("s", "ipv4_addr", addresses([1, 2, 3])));
  const old = applied.sets.get("s")!;
  let read = 0;
  const { elements: _elements, ...declaration } = old;
  const next = lazySet(
    declaration,
    () => {
      read++;
      return [old.elements[0], old.elements[2], element("10.0.0.4")];
    },
    { base: old, removed: [old.elements[1]], added: [element("10.0.0.4")] },
  );
  const plan = planSync(applied, addressTable(next));
  assert.is(
    renderText(plan.tx),
    "delete element inet wasmplane s { 10.0.0.2 }\nadd element inet wasmplane s { 10.0.0.4 }\n",
  );
  assert.is(read, 0, "the element array was not built");
});

test("a delta removing and adding the same element cancels out", () => {
  const applied = addressTable(namedSet("s", "ipv4_addr", addresses([1, 2])));
  const old = applied.sets.get("s")!;
  const { elements, ...declaration } = old;
  const next = lazySet(declaration, () => elements, {
    base: old,
    removed: [elements[0]],
    added: [element("10.0.0.1")],
  });
  assert.is(planSync(applied, addressTable(next)).tx.size, 0);
});

test("a delta of another object than the applied one is ignored: the sets are compared whole", async () => {
  // The applied set holds 1, 2, 3; the delta's base (a failed sync's set, say) held 1 and 5.
  const applied = addressTable(namedSet("s", "ipv4_addr", addresses([1, 2, 3])));
  const stale = namedSet("s", "ipv4_addr", addresses([1, 5]));
  const next = lazySet({ name: "s", type: "ipv4_addr" }, () => addresses([1, 5, 6]), {
    base: stale,
    removed: [],
    added: [element("10.0.0.6")],
  });
  const plan = planSync(applied, addressTable(next));
  assert.is(
    renderText(plan.tx),
    "delete element inet wasmplane s { 10.0.0.2, 10.0.0.3 }\nadd element inet wasmplane s { 10.0.0.5, 10.0.0.6 }\n",
  );
  // From nothing (a first sync), and from a read-back of the kernel, it is a whole set too.
  assert.ok(renderText(planSync(null, addressTable(next)).tx).includes("s { 10.0.0.1, 10.0.0.5, 10.0.0.6 }"));
  const fake = new FakeNft();
  await fake.applyTransaction(planSync(null, applied).tx);
  const held = (await fake.readTable("inet", "wasmplane"))!;
  const fromHeld = planSync(held, addressTable(next));
  await fake.applyTransaction(fromHeld.tx);
  assert.equal(tableDifferences((await fake.readTable("inet", "wasmplane"))!, addressTable(next)), []);
});

test.run();
