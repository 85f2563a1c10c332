// Settings shared by the property tests. The default run is small and seeded, so `npm test` stays
// fast and repeatable; WASMPLANE_PROPERTIES_LONG=1 multiplies the runs and draws a new seed each
// time (printed, so a failure can be replayed with WASMPLANE_PROPERTIES_SEED=<seed>).
import fc from "fast-check";

const LONG = process.env.WASMPLANE_PROPERTIES_LONG === "1";
const SEED_TEXT = process.env.WASMPLANE_PROPERTIES_SEED;

/** Whether the long mode was asked for. */
export const longMode = LONG;

function seed(): number {
  if (SEED_TEXT !== undefined) {
    const n = Number(SEED_TEXT);
    if (!Number.isInteger(n)) throw new Error(`WASMPLANE_PROPERTIES_SEED: want an integer, got ${SEED_TEXT}`);
    return n;
  }
  return LONG ? Date.now() % 2 ** 31 : 20261207;
}

/** fast-check parameters: `runs` cases by default, `longRuns` in the long mode. */
export function params(name: string, runs: number, longRuns: number): fc.Parameters<unknown> {
  const s = seed();
  if (LONG) process.stdout.write(`  property "${name}": ${longRuns} runs, seed ${s}\n`);
  return { numRuns: LONG ? longRuns : runs, seed: s, includeErrorInReport: true };
}

/** Runs a property and rethrows fast-check's report (seed, path, shrunk counterexample) as one Error. */
export async function holds<T>(
  name: string,
  property: fc.IAsyncPropertyWithHooks<T> | fc.IPropertyWithHooks<T>,
  runs: number,
  longRuns: number,
): Promise<void> {
  await fc.assert(property as fc.IAsyncProperty<T>, params(name, runs, longRuns) as fc.Parameters<T>);
}
