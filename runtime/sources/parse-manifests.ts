// Turns the text of one manifest file into raw objects: multi-document YAML, JSON, and `kind: List`
// (or any `…List` kind with `items`). Kinds wasmplane does not watch are counted and skipped.
import { Composer, Parser, parseAllDocuments } from "yaml";
import { isWatchedKind, type RawObject, type SourceProblem } from "./source.ts";

export interface ParsedManifests {
  objects: { object: RawObject; origin: string }[];
  problems: SourceProblem[];
  /** Documents of kinds we do not watch (Deployments, ConfigMaps…). */
  ignored: number;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

export function parseManifestText(text: string, file: string): ParsedManifests {
  const out: ParsedManifests = { objects: [], problems: [], ignored: 0 };
  let documents: unknown[];
  if (file.endsWith(".json")) {
    try {
      documents = [JSON.parse(text)];
    } catch (err) {
      out.problems.push({ origin: file, message: `invalid JSON: ${(err as Error).message}` });
      return out;
    }
  } else {
    documents = parseYamlDocuments(text, file, out);
  }
  documents.forEach((doc, index) => {
    collect(doc, documents.length > 1 ? `${file}#${index}` : file, out);
  });
  return out;
}

/**
 * One document at a time (as parseAllDocuments does internally, without holding every Document and
 * its nodes until the end: a file of thousands of documents otherwise peaks at ~150 MiB of heap).
 * Error messages come from parseAllDocuments, which adds line and column, on the rare broken file.
 */
function parseYamlDocuments(text: string, file: string, out: ParsedManifests): unknown[] {
  const documents: unknown[] = [];
  let broken = false;
  for (const doc of new Composer().compose(new Parser().parse(text))) {
    if (doc.errors.length > 0) broken = true;
    // A copy, the same values: toJS builds arrays with push and strings as slices of the file, ~2×
    // the heap of the copy (40 vs 22 MiB for 20,000 objects), and a scan holds them all until the store
    // has validated the batch.
    else if (!broken) documents.push(structuredClone(doc.toJS()));
  }
  if (!broken) return documents;
  documents.length = 0;
  for (const [index, doc] of parseAllDocuments(text).entries()) {
    if (doc.errors.length > 0) {
      out.problems.push({ origin: `${file}#${index}`, message: `invalid YAML: ${doc.errors[0].message}` });
      continue;
    }
    documents.push(structuredClone(doc.toJS()));
  }
  return documents;
}

function collect(doc: unknown, origin: string, out: ParsedManifests): void {
  if (doc === null || doc === undefined) return; // an empty document, e.g. a trailing `---`
  if (!isRecord(doc)) {
    out.problems.push({ origin, message: "expected an object with apiVersion, kind and metadata" });
    return;
  }
  const kind = doc.kind;
  if (typeof kind === "string" && kind.endsWith("List") && Array.isArray(doc.items)) {
    doc.items.forEach((item, i) => {
      collect(item, `${origin} items[${i}]`, out);
    });
    return;
  }
  if (typeof kind !== "string" || kind === "") {
    out.problems.push({ origin, message: "kind: required" });
    return;
  }
  if (!isWatchedKind(kind)) {
    out.ignored++;
    return;
  }
  const metadata = doc.metadata;
  if (!isRecord(metadata) || typeof metadata.name !== "string" || metadata.name === "") {
    out.problems.push({ origin, message: `${kind}: metadata.name: required` });
    return;
  }
  if (metadata.namespace !== undefined && typeof metadata.namespace !== "string") {
    out.problems.push({ origin, message: `${kind} ${metadata.name}: metadata.namespace: must be a string` });
    return;
  }
  out.objects.push({ object: doc as RawObject, origin });
}
