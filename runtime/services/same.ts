// Equality of store objects by content. The store hands out a new object for every update, even
// when only metadata the planner does not read changed (an annotation, a re-sent EndpointSlice), so
// the planner compares content before working anything out again.
import type { EndpointSlice, Service } from "../store/objects.ts";

/** Whether two plain data values (objects, arrays, strings, numbers, booleans) have equal content. */
export function sameData(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!sameData(a[i], b[i])) return false;
    return true;
  }
  const ra = a as Record<string, unknown>;
  const rb = b as Record<string, unknown>;
  // for-in rather than Object.keys: no key arrays allocated for the many small objects of a slice.
  let count = 0;
  for (const k in ra) {
    if (!Object.hasOwn(rb, k) || !sameData(ra[k], rb[k])) return false;
    count++;
  }
  for (const _ in rb) count--;
  return count === 0;
}

/** Equal in everything but annotations (which only choose the LB algorithm and its parameters). */
export function sameServiceSpec(a: Service, b: Service): boolean {
  if (a === b) return true;
  const keys = Object.keys(a) as (keyof Service)[];
  if (keys.length !== Object.keys(b).length) return false;
  for (const k of keys)
    if (k !== "annotations" && (!Object.hasOwn(b, k) || !sameData(a[k], b[k]))) return false;
  return true;
}

/** The same slices in the same order, each the same object or equal in content. */
export function sameSlices(a: EndpointSlice[], b: EndpointSlice[]): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i] && !sameData(a[i], b[i])) return false;
  return true;
}
