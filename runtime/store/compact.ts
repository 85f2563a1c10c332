// Trims the arrays of a validated object to their length. Validators build arrays with push (and
// filter), and V8 then keeps room for 16 more elements: a one-address list costs ~190 bytes instead of
// ~40. The store holds every object for the life of the agent (at 10,000 services × 3 endpoints that
// spare room was ~10 MiB of heap), so each accepted object is trimmed once. Empty lists become one
// shared frozen array: a Service without external IPs, load-balancer IPs or source ranges had three.

function isPlainObject(value: object): value is Record<string, unknown> {
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/** Every empty list of a kept object is this one (frozen: kept objects are not changed in place). */
const EMPTY: readonly never[] = Object.freeze([]);

function compact(value: unknown): unknown {
  if (typeof value !== "object" || value === null) return value;
  if (Array.isArray(value)) return value.length === 0 ? EMPTY : value.map(compact);
  if (isPlainObject(value)) {
    for (const key of Object.keys(value)) {
      const field = value[key];
      if (typeof field === "object" && field !== null) value[key] = compact(field);
    }
  }
  return value;
}

/** The same object, its arrays (at any depth) replaced by exactly-sized copies (empty ones by one shared frozen array). */
export function compactArrays<T extends object>(value: T): T {
  return compact(value) as T;
}
