// Drift: where the table a full resync reads back from the kernel differs from the one the agent
// last applied (someone ran `nft` by hand, another tool rewrote a chain, the table was deleted). The
// resync's transaction goes from what was read back to the desired table, so it repairs every
// difference found here; this only names them, for the log and /metrics.
import { tableDifferences } from "../../nft/compare.ts";
import type { DesiredTable } from "../../nft/desired.ts";

function emptyLike(table: DesiredTable): DesiredTable {
  return { family: table.family, name: table.name, chains: new Map(), sets: new Map() };
}

/** The table without the elements of `dynamicSets`: the packet path fills those (session affinity). */
function withoutElementsOf(table: DesiredTable, dynamicSets: ReadonlySet<string>): DesiredTable {
  const sets = new Map(table.sets);
  for (const name of dynamicSets) {
    const set = sets.get(name);
    if (set) sets.set(name, { ...set, elements: [] });
  }
  return { ...table, sets };
}

/**
 * One line per difference (a chain, a set declaration, a set element) between what the agent last
 * applied and what the kernel holds; `kernel` null means our table is gone. Elements of dynamic sets
 * are left out: the kernel adds them as packets pass, and the diff keeps them too.
 */
export function tableDrift(applied: DesiredTable, kernel: DesiredTable | null): string[] {
  const dynamic = new Set([...applied.sets].filter(([, s]) => s.flags?.includes("dynamic")).map(([k]) => k));
  return tableDifferences(
    withoutElementsOf(applied, dynamic),
    withoutElementsOf(kernel ?? emptyLike(applied), dynamic),
  );
}
