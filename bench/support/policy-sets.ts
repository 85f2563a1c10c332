// An experiment for bench/policy.ts (POLICY_BENCH_SETS=1): what the kernel charges per named set in
// one batch, by set count. Each size goes into a fresh namespace as one netlink batch (planSync from
// nothing + applyTransaction): N empty `ipv4_addr` sets, then the same N sets with a chain whose N
// rules look one of them up each (`ip saddr @s return`, the policy renderer's rule shape), then N
// empty interval sets (the renderer's CIDR sets). A cost
// per set that grows with N points at a per-table linear walk over sets in the kernel.
import { applyTransaction } from "../../nft/apply.ts";
import { chain, match, payload, ret, rule, setRef } from "../../nft/build.ts";
import { addChain, addSet, emptyFragment, mergeFragments } from "../../nft/desired.ts";
import { planSync } from "../../nft/diff.ts";
import { withNetns } from "../../test/support/netns.ts";

const SIZES = (process.env.POLICY_BENCH_SETS_SIZES ?? "500,1000,2000,4000").split(",").map(Number);

async function kernelMs(sets: number, withRules: boolean, interval = false): Promise<number> {
  const fragment = emptyFragment();
  const names = Array.from({ length: sets }, (_, i) => `pol-x-${i.toString(16).padStart(8, "0")}`);
  for (const name of names)
    addSet(fragment, {
      name,
      type: "ipv4_addr",
      elements: [],
      ...(interval ? { flags: ["interval" as const] } : {}),
    });
  if (withRules)
    addChain(
      fragment,
      chain(
        "pol-lookups",
        names.map((name) => rule(match(payload("ip", "saddr"), setRef(name)), ret())),
      ),
    );
  const table = mergeFragments("inet", "wasmplane", [fragment]);
  return withNetns(["pol-sets"], async ([ns]) => {
    const result = await applyTransaction(planSync(null, table).tx, { netns: ns });
    return result.kernelMs ?? result.durationMs;
  });
}

/** Rows: sets, kernel ms for the sets alone and per set, the same with one lookup rule per set. */
export async function measureSetCosts(): Promise<string[][]> {
  await kernelMs(SIZES[0], true); // untimed: the first batch after a pause costs more
  const table = [
    [
      "named sets",
      "kernel: hash sets only",
      "per set",
      "+ one lookup rule each",
      "per set",
      "interval sets only",
      "per set",
    ],
  ];
  const cell = (ms: number, n: number) => [`${ms.toFixed(1)} ms`, `${((ms / n) * 1000).toFixed(0)} µs`];
  for (const n of SIZES) {
    const sets = await kernelMs(n, false);
    const rules = await kernelMs(n, true);
    const interval = await kernelMs(n, false, true);
    table.push([String(n), ...cell(sets, n), ...cell(rules, n), ...cell(interval, n)]);
  }
  return table;
}
