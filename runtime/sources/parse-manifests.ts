// Turns the text of one manifest file into raw objects: multi-document YAML, JSON, and `kind: List`
// (or any `…List` kind with `items`). Kinds wasmplane does not watch are counted and skipped. Whatever
// the text, the result is objects and problems naming the file and document: nothing is thrown.
import { isWatchedKind, type RawObject, type SourceProblem } from "./source.ts";
import { readYamlDocuments } from "./yaml-documents.ts";

export interface ParsedManifests {
  /** `text` is the object's JSON, which `object` was parsed from: plain JSON values only. */
  objects: { object: RawObject; origin: string; text: string }[];
  problems: SourceProblem[];
  /** Documents of kinds we do not watch (Deployments, ConfigMaps…). */
  ignored: number;
  /**
   * Part of the text could not be read (a syntax error, a limit): the objects are what could be read,
   * and a caller holding an earlier version of the file should keep that one instead.
   */
  invalid: boolean;
}

export const manifestLimits = {
  /**
   * Nesting of maps and lists, per document and per object. A NetworkPolicy needs about 10, 12 inside
   * a List; 100 leaves room for anything real, and is far below where the yaml composer runs out of
   * stack (~1,000 levels).
   */
  maxDepth: 100,
  /** Lists inside Lists. kubectl writes one level; more is legal, but 10 is already absurd. */
  maxListDepth: 10,
  /** The yaml library's default, set explicitly: a 393-byte alias bomb goes far past it. */
  maxAliasCount: 100,
  /**
   * Values (scalars, maps, lists) per file once aliases are expanded, the way the JSON text of each
   * object spells them out. A file at the size limit without aliases holds fewer than this (a
   * Service and its EndpointSlice, as kubectl writes them, are ~50 values in ~450 bytes).
   */
  maxValues: 2 ** 21,
} as const;

interface Collected {
  objects: { object: RawObject; text: string; doc: number; where: string }[];
  problems: { doc: number; where: string; message: string; parse: boolean }[];
  ignored: number;
  invalid: boolean;
  /** Values still allowed in this file (manifestLimits.maxValues). */
  valuesLeft: number;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

export function parseManifestText(text: string, file: string): ParsedManifests {
  const acc: Collected = {
    objects: [],
    problems: [],
    ignored: 0,
    invalid: false,
    valuesLeft: manifestLimits.maxValues,
  };
  let documents = 1;
  try {
    if (file.endsWith(".json")) collectJson(text, acc);
    else
      documents = readYamlDocuments(text, manifestLimits, {
        value: (value, doc, where) => collect(value, doc, where, acc),
        ignored: () => acc.ignored++,
        invalid: (doc, where, message) => invalid(acc, doc, where, message),
      });
  } catch (err) {
    // Not expected (each document is guarded), but no text may crash the caller.
    invalid(acc, 0, "", `cannot read: ${(err as Error).message}`);
  }
  // One document is named by the file alone; a YAML parse problem always names its document.
  const origin = (doc: number, where: string, parse = false) =>
    `${file}${documents > 1 || (parse && !file.endsWith(".json")) ? `#${doc}` : ""}${where}`;
  return {
    objects: acc.objects.map((o) => ({ object: o.object, origin: origin(o.doc, o.where), text: o.text })),
    problems: acc.problems.map((p) => ({ origin: origin(p.doc, p.where, p.parse), message: p.message })),
    ignored: acc.ignored,
    invalid: acc.invalid,
  };
}

function collectJson(text: string, acc: Collected): void {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    invalid(acc, 0, "", `invalid JSON: ${(err as Error).message}`);
    return;
  }
  collect(value, 0, "", acc);
}

function invalid(acc: Collected, doc: number, where: string, message: string): void {
  acc.invalid = true;
  acc.problems.push({ doc, where, message, parse: true });
}

function problem(acc: Collected, doc: number, where: string, message: string): void {
  acc.problems.push({ doc, where, message, parse: false });
}

/** One document's value: an object, or a List of them (expanded with a stack, not recursion). */
function collect(root: unknown, doc: number, rootWhere: string, acc: Collected): void {
  const stack: { value: unknown; where: string; lists: number }[] = [
    { value: root, where: rootWhere, lists: 0 },
  ];
  while (stack.length > 0) {
    const { value, where, lists } = stack.pop() as (typeof stack)[number];
    if (value === null || value === undefined) continue; // an empty document, e.g. a trailing `---`
    if (!isRecord(value)) {
      problem(acc, doc, where, "expected an object with apiVersion, kind and metadata");
      continue;
    }
    const kind = value.kind;
    if (typeof kind === "string" && kind.endsWith("List") && Array.isArray(value.items)) {
      if (lists >= manifestLimits.maxListDepth) {
        invalid(
          acc,
          doc,
          where,
          `${kind} nested in more than ${manifestLimits.maxListDepth} Lists; not read`,
        );
        continue;
      }
      for (let i = value.items.length - 1; i >= 0; i--)
        stack.push({ value: value.items[i], where: `${where} items[${i}]`, lists: lists + 1 });
      continue;
    }
    const object = checkObject(value, acc);
    if (typeof object === "string") problem(acc, doc, where, object);
    else if (object) acc.objects.push({ ...object, doc, where });
  }
}

/** The object when it is one we watch and can key; a problem message; or null for ignored kinds. */
function checkObject(
  value: Record<string, unknown>,
  acc: Collected,
): { object: RawObject; text: string } | string | null {
  const kind = value.kind;
  if (typeof kind !== "string" || kind === "") return "kind: required";
  if (!isWatchedKind(kind)) {
    acc.ignored++;
    return null;
  }
  const metadata = value.metadata;
  if (!isRecord(metadata) || typeof metadata.name !== "string" || metadata.name === "")
    return `${kind}: metadata.name: required`;
  if (metadata.namespace !== undefined && typeof metadata.namespace !== "string")
    return `${kind} ${metadata.name}: metadata.namespace: must be a string`;
  const size = checkSize(value, acc);
  if (size) {
    acc.invalid = true;
    return `${kind} ${metadata.name}: ${size}; not read`;
  }
  // A copy through JSON: the values an API server would send (no Date, Map or shared references
  // from YAML tags and aliases), and compact: toJS builds arrays with push and strings as slices of the
  // file, ~2× the heap of the copy (40 vs 22 MiB for 20,000 objects), and a scan holds them all until
  // the store has validated the batch. The walk above bounds what JSON.stringify recurses into.
  const text = JSON.stringify(value);
  return { object: JSON.parse(text) as RawObject, text };
}

/**
 * Walks the object as its JSON text will spell it out (aliases expanded) with a stack: deeper than
 * maxDepth (a cycle, made by an alias inside its own anchor, is infinitely deep), or more values
 * than the file has left, is a problem message. Walks after this one (clone, JSON) are then bounded.
 */
function checkSize(root: unknown, acc: Collected): string | null {
  const stack: [unknown, number][] = [[root, 1]];
  while (stack.length > 0) {
    const [value, depth] = stack.pop() as [unknown, number];
    if (--acc.valuesLeft < 0)
      return `more than ${manifestLimits.maxValues} values in the file (YAML aliases?)`;
    if (typeof value !== "object" || value === null) continue;
    if (depth > manifestLimits.maxDepth) return `nested deeper than ${manifestLimits.maxDepth} levels`;
    for (const child of Array.isArray(value) ? value : Object.values(value)) stack.push([child, depth + 1]);
  }
  return null;
}
