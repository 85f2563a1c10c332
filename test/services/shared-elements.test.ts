// runtime/services/shared-elements.ts: the shared sets it builds after a change are deltas of the
// previous objects (DesiredSet.delta), their elements are built only when read, and a chain of sets
// is not kept alive.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import type { DesiredSet } from "../../nft/desired.ts";
import type { SetElement } from "../../nft/model.ts";
import { elementTexts } from "../../nft/render-text.ts";
import type { ElementContribution } from "../../runtime/services/service-plan.ts";
import { SharedElements } from "../../runtime/services/shared-elements.ts";

const test = suite("shared elements");

const c = (id: string, value = ""): ElementContribution => ({
  set: "m",
  id,
  value,
  field: "spec",
  element: value ? { key: id, value } : { key: id },
});
const texts = (els: SetElement[]) => els.map((e) => elementTexts(e).full);
const build = (s: SharedElements): DesiredSet => s.build()[0];

function shared(): SharedElements {
  const s = new SharedElements();
  s.declare({ name: "m", type: "ipv4_addr", map: "ipv4_addr", elements: [] }, true);
  return s;
}

test("a change is a delta of the previous object; elements in slot order when read", () => {
  const s = shared();
  s.replace("a", [], [c("10.0.0.1", "10.1.0.1"), c("10.0.0.2", "10.1.0.2")]);
  const first = build(s);
  assert.equal(texts(first.elements), ["10.0.0.1 : 10.1.0.1", "10.0.0.2 : 10.1.0.2"]);
  s.replace(
    "a",
    [c("10.0.0.1", "10.1.0.1"), c("10.0.0.2", "10.1.0.2")],
    [c("10.0.0.2", "10.1.0.9"), c("10.0.0.3", "10.1.0.3")],
  );
  const second = build(s);
  assert.ok(second !== first);
  assert.ok(second.delta?.base === first, "relative to the object handed out before");
  assert.equal(texts(second.delta!.removed).sort(), ["10.0.0.1 : 10.1.0.1", "10.0.0.2 : 10.1.0.2"]);
  assert.ok(
    second.delta!.removed.every((e) => first.elements.includes(e)),
    "the base's own objects",
  );
  assert.equal(texts(second.delta!.added).sort(), ["10.0.0.2 : 10.1.0.9", "10.0.0.3 : 10.1.0.3"]);
  // 10.0.0.3 took the slot 10.0.0.1 left.
  assert.equal(texts(second.elements), ["10.0.0.3 : 10.1.0.3", "10.0.0.2 : 10.1.0.9"]);
  assert.equal(
    texts(first.elements),
    ["10.0.0.1 : 10.1.0.1", "10.0.0.2 : 10.1.0.2"],
    "the old set is unchanged",
  );
  assert.not.ok("delta" in { ...second }, "a copy does not carry the delta");
});

test("only the newest link of the chain is kept; no change keeps the object", () => {
  const s = shared();
  s.replace("a", [], [c("10.0.0.1")]);
  const first = build(s);
  s.replace("a", [c("10.0.0.1")], [c("10.0.0.2")]);
  const second = build(s);
  s.replace("a", [c("10.0.0.2")], [c("10.0.0.3")]);
  const third = build(s);
  assert.ok(third.delta?.base === second);
  assert.is(second.delta, undefined, "the older delta is dropped");
  assert.ok(first !== second);
  // The same element removed and added back before a build: no change, the same object.
  const back = c("10.0.0.4");
  s.replace("a", [c("10.0.0.3")], [back]);
  const fourth = build(s);
  s.replace("a", [back], []);
  s.replace("a", [], [back]);
  assert.ok(build(s) === fourth);
});

test("a change of most keys comes without a delta (the diff compares whole sets)", () => {
  const s = shared();
  const many = (from: number) => Array.from({ length: 1500 }, (_, i) => c(`10.${from}.${i >> 8}.${i & 255}`));
  s.replace("a", [], many(1));
  build(s);
  s.replace("a", many(1), many(2));
  const next = build(s);
  assert.is(next.delta, undefined);
  assert.is(next.elements.length, 1500);
  s.replace("a", many(2), [...many(2).slice(1), c("10.9.0.1")]);
  assert.ok(build(s).delta?.base === next, "tracked again after that build");
});

test.run();
