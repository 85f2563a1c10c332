// The events that turn one listing of objects into the next: adds, updates (content changed) and deletes.
import { hash } from "node:crypto";
import { isClusterScoped, objectKey, type RawObject, type SourceEvent, type WatchedKind } from "./source.ts";

/**
 * One object of a listing. Only a digest of its canonical JSON is kept between scans, not the object
 * or its text: the store holds the validated form, and the text of every object was the largest
 * part of the agent's memory after the planner's (about 0.9 KB per Service with its EndpointSlice).
 */
export interface ListedObject {
  kind: WatchedKind;
  key: string;
  /** SHA-256 of the object's canonical JSON: tells an unchanged object, which is not re-delivered. */
  digest: string;
}

/** The listing entry of an object parsed from its canonical JSON `text`. */
export function listedObject(object: RawObject, text: string): ListedObject {
  return {
    kind: object.kind,
    key: objectKey(object.kind, object.metadata),
    digest: hash("sha256", text, "base64"),
  };
}

/** Map key for a listing: "Kind namespace/name". */
export function listingKey(kind: WatchedKind, key: string): string {
  return `${kind} ${key}`;
}

/** What a delete event carries: the store needs only the kind and key. */
function deletedObject(entry: ListedObject): RawObject {
  if (isClusterScoped(entry.kind)) return { kind: entry.kind, metadata: { name: entry.key } };
  const slash = entry.key.indexOf("/");
  return {
    kind: entry.kind,
    metadata: { namespace: entry.key.slice(0, slash), name: entry.key.slice(slash + 1) },
  };
}

/**
 * The events from `previous` to `next`. `objectOf` gives the parsed object of every entry that is
 * new or changed (the caller parses or re-reads them first).
 */
export function diffListings(
  previous: Map<string, ListedObject>,
  next: Map<string, ListedObject>,
  objectOf: (entry: ListedObject) => RawObject,
): SourceEvent[] {
  const events: SourceEvent[] = [];
  for (const [id, entry] of next) {
    const before = previous.get(id);
    if (!before) events.push({ type: "add", kind: entry.kind, key: entry.key, object: objectOf(entry) });
    else if (before.digest !== entry.digest)
      events.push({ type: "update", kind: entry.kind, key: entry.key, object: objectOf(entry) });
  }
  for (const [id, entry] of previous) {
    if (!next.has(id))
      events.push({ type: "delete", kind: entry.kind, key: entry.key, object: deletedObject(entry) });
  }
  return events;
}

/** The entries of `next` that are new or changed against `previous`: the ones diffListings needs objects for. */
export function changedEntries(
  previous: Map<string, ListedObject>,
  next: Map<string, ListedObject>,
): [id: string, entry: ListedObject][] {
  const out: [string, ListedObject][] = [];
  for (const [id, entry] of next) if (previous.get(id)?.digest !== entry.digest) out.push([id, entry]);
  return out;
}
