// Fuzzing the store: mutated manifests of every kind the store validates never make `apply` throw,
// and every rejection names the object (kind, namespace, name) and a field path that leads to what
// the mutation changed.
import fc from "fast-check";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { isClusterScoped, objectKey, type RawObject } from "../../runtime/sources/source.ts";
import { formatProblem, type ObjectProblem } from "../../runtime/store/problems.ts";
import { Store } from "../../runtime/store/store.ts";
import { validateObject } from "../../runtime/store/validate.ts";
import {
  type FuzzedKind,
  fuzzedKind,
  manifestMutation,
  mutate,
  type Path,
  validObjects,
} from "./manifest-gen.ts";
import { holds } from "./support.ts";

const test = suite("property: fuzzed manifests through the store");

/** "spec.ports[1].port" → ["spec", "ports", "1", "port"]; a bracket may hold dots ("[a.b/c]"). */
export function fieldSegments(field: string): string[] {
  return [...field.matchAll(/\[("(?:[^"\\]|\\.)*")\]|\[([^\]]*)\]|([^.[\]]+)/g)].map((m) =>
    m[1] !== undefined ? (JSON.parse(m[1]) as string) : (m[2] ?? m[3]),
  );
}

/** A field path: names, [index] or [map key], and ["quoted key"] where a key would be ambiguous. */
const FIELD = /^[A-Za-z][A-Za-z0-9]*((\.[A-Za-z][A-Za-z0-9]*)|(\["(?:[^"\\]|\\.)*"\])|(\[[^\]"]*\]))*$/;

/**
 * The problem is about the changed value or what contains it (one path is a prefix of the other),
 * or a cross-field problem whose message names the changed field ("must equal spec.clusterIP").
 */
function related(p: ObjectProblem, path: Path): boolean {
  const last = path[path.length - 1];
  if (typeof last === "string" && last.length > 1 && p.message.includes(last)) return true;
  const a = fieldSegments(p.field);
  const b = path.map(String);
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return false;
  return true;
}

function expectedIdentity(kind: FuzzedKind, object: RawObject): { namespace: string; name: string } {
  const m = object.metadata as unknown;
  const meta = typeof m === "object" && m !== null && !Array.isArray(m) ? (m as Record<string, unknown>) : {};
  const name = typeof meta.name === "string" ? meta.name : "";
  const ns = typeof meta.namespace === "string" && meta.namespace ? meta.namespace : "default";
  return { name, namespace: isClusterScoped(kind) ? "" : ns };
}

/** Why a rejection is malformed, or null when every problem names the object and a field. */
export function badRejection(
  kind: FuzzedKind,
  object: RawObject,
  paths: Path[],
  problems: ObjectProblem[],
  /** A reference loop makes paths through it ambiguous: the changed-path check is left out. */
  looped = false,
): string | null {
  if (problems.length === 0) return "rejected without a problem";
  const id = expectedIdentity(kind, object);
  for (const p of problems) {
    const text = formatProblem(p);
    if (p.kind !== kind || p.namespace !== id.namespace || p.name !== id.name)
      return `problem does not name ${kind} ${id.namespace}/${id.name}: ${text}`;
    if (!FIELD.test(p.field))
      return `problem field is not a field path: ${JSON.stringify(p.field)} in ${text}`;
    if (typeof p.message !== "string" || p.message.trim() === "") return `problem without a message: ${text}`;
  }
  if (!looped && !problems.some((p) => paths.some((path) => related(p, path))))
    return `no problem points at a changed path (${paths.map((p) => p.join(".")).join(", ")}): ${problems.map(formatProblem).join(" | ")}`;
  return null;
}

function short(value: unknown): string {
  try {
    const t = JSON.stringify(value);
    return t.length > 400 ? `${t.slice(0, 400)}…` : t;
  } catch (err) {
    return `(not printable: ${(err as Error).message})`;
  }
}

test("every valid seed object is accepted (the mutations start from valid objects)", () => {
  for (const [kind, object] of Object.entries(validObjects)) {
    const result = validateObject(kind as FuzzedKind, object);
    assert.ok(result.ok, `${kind}: ${result.ok ? "" : result.problems.map(formatProblem).join("; ")}`);
  }
});

test("a mutated manifest never throws, and each rejection names the object and a changed field", async () => {
  await holds(
    "store fuzz",
    fc.property(fuzzedKind, fc.array(manifestMutation, { minLength: 1, maxLength: 3 }), (kind, mutations) => {
      const { object, paths } = mutate(validObjects[kind], mutations);
      const store = new Store();
      const key = objectKey(kind, validObjects[kind].metadata);
      try {
        store.apply([{ type: "add", kind, key, object }]);
        store.snapshot();
      } catch (err) {
        throw new Error(
          `store.apply threw ${(err as Error).stack?.split("\n").slice(0, 3).join(" / ")} on ${short(object)}`,
        );
      }
      const rejected = store.rejected();
      if (rejected.length === 0) return;
      const looped = mutations.some((m) => m.op === "cycle");
      const why = badRejection(kind, object, paths, rejected[0].problems, looped);
      if (why) throw new Error(`${why}\n  object: ${short(object)}`);
    }),
    400,
    20_000,
  );
});

test("the fuzzer is not vacuous: most mutations are rejected, some accepted", () => {
  let rejected = 0;
  let accepted = 0;
  for (const [kind, mutations] of fc.sample(
    fc.tuple(fuzzedKind, fc.array(manifestMutation, { minLength: 1, maxLength: 3 })),
    {
      numRuns: 300,
      seed: 5,
    },
  )) {
    const { object } = mutate(validObjects[kind], mutations);
    if (validateObject(kind, object).ok) accepted++;
    else rejected++;
  }
  assert.ok(rejected > 150, `${rejected} of 300 rejected`);
  assert.ok(accepted > 0, `${accepted} of 300 accepted`);
});

test.run();
