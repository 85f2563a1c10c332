// The peer set ids the rules of pods name through one field: what the incremental evaluator
// (local-rules.ts) and the renderer (render-pods.ts) keep or drop sets by.
import type { PodDirectionPolicy } from "./types.ts";

/** The rule field that names a set: address peers, or address . protocol . port peers. */
export type SetField = "peers" | "addressPorts";

/** Calls `visit` with each set id the pods' rules name through `field` (an id once per rule naming it). */
export function forEachSetId(
  pods: readonly PodDirectionPolicy[],
  field: SetField,
  visit: (id: string) => void,
): void {
  for (const p of pods)
    for (const r of p.rules) {
      const id = r[field];
      if (id !== undefined) visit(id);
    }
}

/** The set ids the pods' rules name through `field`. */
export function namedSetIds(pods: readonly PodDirectionPolicy[], field: SetField): Set<string> {
  const ids = new Set<string>();
  forEachSetId(pods, field, (id) => ids.add(id));
  return ids;
}
