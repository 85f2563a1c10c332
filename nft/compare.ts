// Equality of tables as nft sees them: chains by canonical text, sets by declaration and by the
// set of element texts (order-free). Used by tests and to check read-back against what we applied.
import type { DesiredSet, DesiredTable } from "./desired.ts";
import { normalizeElement, normalizeSetSpec } from "./normalize.ts";
import { chainCanonicalText, elementText, setSpecText } from "./render-text.ts";

function setTexts(set: DesiredSet): { spec: string; elements: string[] } {
  return {
    spec: setSpecText(normalizeSetSpec(set)),
    elements: set.elements.map((e) => elementText(normalizeElement(e))).sort(),
  };
}

/** Every difference between two tables, one line each; empty when they are equal. */
export function tableDifferences(a: DesiredTable, b: DesiredTable): string[] {
  const out: string[] = [];
  if (a.family !== b.family || a.name !== b.name)
    out.push(`table: ${a.family} ${a.name} vs ${b.family} ${b.name}`);
  for (const [key, chain] of a.chains) {
    const other = b.chains.get(key);
    if (!other) out.push(`chain ${key}: only in the first`);
    else {
      const x = chainCanonicalText(chain, a.family);
      const y = chainCanonicalText(other, b.family);
      if (x !== y) out.push(`chain ${key}:\n    ${x}\n  vs\n    ${y}`);
    }
  }
  for (const key of b.chains.keys()) if (!a.chains.has(key)) out.push(`chain ${key}: only in the second`);
  for (const [key, set] of a.sets) {
    const other = b.sets.get(key);
    if (!other) {
      out.push(`set ${key}: only in the first`);
      continue;
    }
    const x = setTexts(set);
    const y = setTexts(other);
    if (x.spec !== y.spec) out.push(`set ${key}: ${x.spec} vs ${y.spec}`);
    const ys = new Set(y.elements);
    const xs = new Set(x.elements);
    for (const e of x.elements) if (!ys.has(e)) out.push(`set ${key}: element ${e} only in the first`);
    for (const e of y.elements) if (!xs.has(e)) out.push(`set ${key}: element ${e} only in the second`);
  }
  for (const key of b.sets.keys()) if (!a.sets.has(key)) out.push(`set ${key}: only in the second`);
  return out;
}
