// Validation problems: each names the object (kind, namespace, name) and the field, so an operator
// can find the line to fix. Same shape as the planners' PlanProblem.

export interface ObjectProblem {
  kind: string;
  /** "" for cluster-scoped kinds. */
  namespace: string;
  name: string;
  /** JSON path into the object, e.g. "spec.ports[1].port". */
  field: string;
  message: string;
}

/** `Service default/web: spec.ports[1].port: must be 1-65535, got 70000` */
export function formatProblem(p: ObjectProblem): string {
  const id = p.namespace ? `${p.namespace}/${p.name}` : p.name;
  return `${p.kind} ${id}: ${p.field}: ${p.message}`;
}

/** Describes a value for an error message, short. */
export function show(value: unknown): string {
  if (typeof value === "string") return JSON.stringify(value);
  if (value === undefined) return "nothing";
  const text = boundedJson(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

/**
 * JSON for a preview: nesting past a few levels and objects seen before (a YAML alias can make a
 * cycle) print as "…", so a hostile value can neither overflow the stack nor throw.
 */
function boundedJson(value: unknown): string {
  const depth = new Map<object, number>();
  try {
    return (
      JSON.stringify(value, function (this: unknown, _key: string, v: unknown) {
        if (typeof v !== "object" || v === null) return v;
        if (depth.has(v)) return "…";
        const d = (typeof this === "object" && this !== null ? (depth.get(this) ?? 0) : 0) + 1;
        if (d > 4) return "…";
        depth.set(v, d);
        return v;
      }) ?? String(value)
    );
  } catch {
    return `(a ${typeof value} that cannot be shown)`;
  }
}
