// Reads multi-document YAML one document at a time, with the guards a hostile file needs: a document
// of a kind we ignore is recognised from its parse tree and never composed or built; a document nested
// deeper than the limit is rejected before composing (the yaml composer recurses per level and runs
// out of stack at ~1,000 levels); alias expansion is capped; nothing thrown escapes.
import {
  Composer,
  CST,
  type Document,
  isMap,
  isNode,
  isSeq,
  LineCounter,
  Parser,
  type YAMLParseError,
} from "yaml";
import { isWatchedKind } from "./source.ts";

export interface YamlLimits {
  /** Collections nested in one document (maps and sequences). */
  maxDepth: number;
  /** The yaml library's `maxAliasCount`: uses of an anchor × the aliases inside it, per document. */
  maxAliasCount: number;
}

/** Where the values of a YAML text go; `doc` is the document index, `where` "" or " items[i]". */
export interface YamlDocumentSink {
  value(value: unknown, doc: number, where: string): void;
  /** A document (or List item) of a kind we do not watch. */
  ignored(): void;
  /** A document or item that could not be read; the file is not to be trusted as a whole. */
  invalid(doc: number, where: string, message: string): void;
}

/** A kind that is neither watched nor a List: its document can be skipped unread. */
function isIgnoredKind(kind: unknown): boolean {
  return typeof kind === "string" && !isWatchedKind(kind) && !kind.endsWith("List");
}

const scalarTokens = new Set(["scalar", "single-quoted-scalar", "double-quoted-scalar", "block-scalar"]);

function scalarText(token: CST.Token | null | undefined): string | undefined {
  if (!token || !scalarTokens.has(token.type)) return undefined;
  return CST.resolveAsScalar(token)?.value;
}

/** The top-level `kind` of a document from its parse tree, when it is a plain string. */
function peekKind(document: CST.Document): string | undefined {
  const root = document.value;
  if (!root || (root.type !== "block-map" && root.type !== "flow-collection")) return undefined;
  for (const item of root.items) {
    if (scalarText(item.key) === "kind") return scalarText(item.value);
  }
  return undefined;
}

interface Shape {
  tooDeep: boolean;
  aliases: boolean;
}

/** Whether collections nest deeper than `limit`, and whether there are aliases; iterative. */
export function inspectDocument(document: CST.Document, limit: number): Shape {
  const shape = { tooDeep: false, aliases: false };
  const stack: [CST.Token | null | undefined, number][] = [[document.value, 0]];
  while (stack.length > 0) {
    const [token, depth] = stack.pop() as [CST.Token | null | undefined, number];
    if (token?.type === "alias") shape.aliases = true;
    if (!token || !CST.isCollection(token)) continue;
    if (depth + 1 > limit) return { ...shape, tooDeep: true };
    for (const item of token.items) {
      stack.push([item.key, depth + 1], [item.value, depth + 1]);
    }
  }
  return shape;
}

type Plan = "ignored" | "too-deep" | "build" | "build-whole";

function planDocument(document: CST.Document, limits: YamlLimits): Plan {
  if (isIgnoredKind(peekKind(document))) return "ignored";
  const shape = inspectDocument(document, limits.maxDepth);
  if (shape.tooDeep) return "too-deep";
  // Each toJS call resolves aliases against the whole document: List items one call each would be
  // quadratic, so a document with aliases is built in one call.
  return shape.aliases ? "build-whole" : "build";
}

function describeError(err: YAMLParseError, lines: LineCounter): string {
  const { line, col } = lines.linePos(err.pos[0]);
  return `invalid YAML: ${err.message.split("\n")[0]} at line ${line}, column ${col}`;
}

function buildMessage(err: unknown, limits: YamlLimits): string {
  const message = err instanceof Error ? err.message : String(err);
  if (message.startsWith("Excessive alias count"))
    return `YAML aliases expand past the limit (${limits.maxAliasCount} alias uses); not read`;
  if (err instanceof RangeError) return `too large or too deeply nested to read (${message})`;
  return `cannot read: ${message}`;
}

/**
 * Builds a document's value; the items of a List one by one, skipping those of ignored kinds, unless
 * `whole` (the document has aliases).
 */
function buildDocument(
  doc: Document.Parsed,
  index: number,
  whole: boolean,
  limits: YamlLimits,
  sink: YamlDocumentSink,
): void {
  const options = { maxAliasCount: limits.maxAliasCount };
  const root = doc.contents;
  const kind: unknown = isMap(root) ? root.get("kind") : undefined;
  const items = isMap(root) ? root.get("items") : undefined;
  if (!whole && typeof kind === "string" && kind.endsWith("List") && isSeq(items)) {
    for (const [i, item] of items.items.entries()) {
      const where = ` items[${i}]`;
      if (isMap(item) && isIgnoredKind(item.get("kind"))) {
        sink.ignored();
        continue;
      }
      try {
        sink.value(isNode(item) ? item.toJS(doc, options) : item, index, where);
      } catch (err) {
        sink.invalid(index, where, buildMessage(err, limits));
      }
    }
    return;
  }
  try {
    sink.value(doc.toJS(options), index, "");
  } catch (err) {
    sink.invalid(index, "", buildMessage(err, limits));
  }
}

/** Feeds every document of `text` to `sink`; returns the number of documents. */
export function readYamlDocuments(text: string, limits: YamlLimits, sink: YamlDocumentSink): number {
  const lines = new LineCounter();
  const composer = new Composer();
  const plans: Plan[] = [];
  let count = 0;
  const handle = (doc: Document.Parsed) => {
    const index = count++;
    const plan = plans[index];
    if (doc.errors.length > 0) return sink.invalid(index, "", describeError(doc.errors[0], lines));
    if (plan === "ignored") return sink.ignored();
    if (plan === "too-deep")
      return sink.invalid(index, "", `nested deeper than ${limits.maxDepth} levels; not read`);
    buildDocument(doc, index, plan === "build-whole", limits, sink);
  };
  for (const token of new Parser(lines.addNewLine).parse(text)) {
    let next: CST.Token = token;
    if (token.type === "document") {
      const plan = planDocument(token, limits);
      plans.push(plan);
      // An empty document keeps the composer's numbering and its handling of `---`/`...` as it was.
      if (plan === "ignored" || plan === "too-deep") next = { ...token, value: undefined };
    }
    for (const doc of composer.next(next)) handle(doc as Document.Parsed);
  }
  for (const doc of composer.end()) handle(doc as Document.Parsed);
  return count;
}
