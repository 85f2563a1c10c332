// Label selector semantics (metav1.LabelSelector) as the policy evaluator applies them.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { isEmptySelector, matchesSelector, selectorKey } from "../../runtime/policy/selectors.ts";
import type { LabelSelector, LabelSelectorRequirement } from "../../runtime/store/objects.ts";

const test = suite("policy label selectors");

function selector(
  matchLabels: Record<string, string>,
  ...matchExpressions: LabelSelectorRequirement[]
): LabelSelector {
  return { matchLabels, matchExpressions };
}

const labels = { app: "web", tier: "front", empty: "" };

test("an empty selector selects everything, including no labels", () => {
  assert.ok(isEmptySelector(selector({})));
  assert.ok(matchesSelector(selector({}), {}));
  assert.ok(matchesSelector(selector({}), labels));
  assert.not.ok(isEmptySelector(selector({ app: "web" })));
});

test("matchLabels: every pair must match exactly", () => {
  assert.ok(matchesSelector(selector({ app: "web" }), labels));
  assert.ok(matchesSelector(selector({ app: "web", tier: "front" }), labels));
  assert.not.ok(matchesSelector(selector({ app: "web", tier: "back" }), labels));
  assert.not.ok(matchesSelector(selector({ missing: "" }), labels));
  assert.ok(matchesSelector(selector({ empty: "" }), labels));
});

const cases: [LabelSelectorRequirement, boolean][] = [
  [{ key: "app", operator: "In", values: ["web", "api"] }, true],
  [{ key: "app", operator: "In", values: ["api"] }, false],
  [{ key: "missing", operator: "In", values: ["x"] }, false],
  [{ key: "app", operator: "NotIn", values: ["api"] }, true],
  [{ key: "app", operator: "NotIn", values: ["web"] }, false],
  [{ key: "missing", operator: "NotIn", values: ["x"] }, true],
  [{ key: "empty", operator: "Exists", values: [] }, true],
  [{ key: "missing", operator: "Exists", values: [] }, false],
  [{ key: "missing", operator: "DoesNotExist", values: [] }, true],
  [{ key: "app", operator: "DoesNotExist", values: [] }, false],
];

for (const [req, expected] of cases) {
  test(`matchExpressions ${req.key} ${req.operator} ${req.values.join(",")} -> ${expected}`, () => {
    assert.is(matchesSelector(selector({}, req), labels), expected);
  });
}

test("matchLabels and matchExpressions are AND'ed", () => {
  const s = selector({ app: "web" }, { key: "tier", operator: "In", values: ["back"] });
  assert.not.ok(matchesSelector(s, labels));
  assert.ok(matchesSelector(s, { app: "web", tier: "back" }));
});

test("labels inherited from Object.prototype are not labels", () => {
  assert.not.ok(matchesSelector(selector({}, { key: "toString", operator: "Exists", values: [] }), {}));
});

test("selectorKey ignores the order of labels, expressions and values", () => {
  const a = selector(
    { a: "1", b: "2" },
    { key: "x", operator: "In", values: ["p", "q"] },
    { key: "y", operator: "Exists", values: [] },
  );
  const b = selector(
    { b: "2", a: "1" },
    { key: "y", operator: "Exists", values: [] },
    { key: "x", operator: "In", values: ["q", "p"] },
  );
  assert.is(selectorKey(a), selectorKey(b));
  assert.is.not(selectorKey(a), selectorKey(selector({ a: "1" })));
});

test.run();
