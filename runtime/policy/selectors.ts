// Kubernetes label selector semantics (metav1.LabelSelector): matchLabels and every matchExpression
// must all hold; an empty selector selects everything.
import type { LabelSelector, LabelSelectorRequirement } from "../store/objects.ts";

function requirementHolds(req: LabelSelectorRequirement, labels: Record<string, string>): boolean {
  const has = Object.hasOwn(labels, req.key);
  switch (req.operator) {
    case "In":
      return has && req.values.includes(labels[req.key]);
    case "NotIn":
      // As upstream: a missing key satisfies NotIn.
      return !has || !req.values.includes(labels[req.key]);
    case "Exists":
      return has;
    case "DoesNotExist":
      return !has;
  }
}

export function matchesSelector(selector: LabelSelector, labels: Record<string, string>): boolean {
  const wanted = selector.matchLabels;
  for (const key in wanted) {
    if (!Object.hasOwn(wanted, key)) continue;
    if (!Object.hasOwn(labels, key) || labels[key] !== wanted[key]) return false;
  }
  for (const req of selector.matchExpressions) if (!requirementHolds(req, labels)) return false;
  return true;
}

export function isEmptySelector(selector: LabelSelector): boolean {
  return Object.keys(selector.matchLabels).length === 0 && selector.matchExpressions.length === 0;
}

/** A stable text form of a selector, for memoising selections within one evaluation. */
export function selectorKey(selector: LabelSelector): string {
  const labels = Object.keys(selector.matchLabels)
    .sort()
    .map((k) => `${k}=${selector.matchLabels[k]}`);
  const exprs = selector.matchExpressions.map(
    (e) => `${e.key} ${e.operator} ${[...e.values].sort().join(",")}`,
  );
  return JSON.stringify([labels, exprs.sort()]);
}
