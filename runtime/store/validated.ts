import type { ObjectProblem } from "./problems.ts";

/** The outcome of validating one raw object: the normalised value, or every problem found. */
export type Validated<T> = { ok: true; value: T } | { ok: false; problems: ObjectProblem[] };
