// The events that turn one listing of objects into the next: adds, updates (content changed) and deletes.
import type { RawObject, SourceEvent, WatchedKind } from "./source.ts";

/**
 * One object of a listing. Only its canonical JSON is kept between scans, not the parsed object: the
 * store holds the validated form, and a second parsed copy of every object would double the memory.
 */
export interface ListedObject {
  kind: WatchedKind;
  key: string;
  /** Canonical JSON of the object: tells an unchanged object (not re-delivered), and rebuilds it. */
  text: string;
}

/** Map key for a listing: "Kind namespace/name". */
export function listingKey(kind: WatchedKind, key: string): string {
  return `${kind} ${key}`;
}

/** The object of an entry from its text; `objectOf` callers pass a parsed object when they still have it. */
export function objectFromText(entry: ListedObject): RawObject {
  return JSON.parse(entry.text) as RawObject;
}

export function diffListings(
  previous: Map<string, ListedObject>,
  next: Map<string, ListedObject>,
  objectOf: (entry: ListedObject) => RawObject = objectFromText,
): SourceEvent[] {
  const events: SourceEvent[] = [];
  for (const [id, entry] of next) {
    const before = previous.get(id);
    if (!before) events.push({ type: "add", kind: entry.kind, key: entry.key, object: objectOf(entry) });
    else if (before.text !== entry.text)
      events.push({ type: "update", kind: entry.kind, key: entry.key, object: objectOf(entry) });
  }
  for (const [id, entry] of previous) {
    if (!next.has(id))
      events.push({ type: "delete", kind: entry.kind, key: entry.key, object: objectOf(entry) });
  }
  return events;
}
