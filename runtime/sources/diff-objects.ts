// The events that turn one listing of objects into the next: adds, updates (content changed) and deletes.
import type { RawObject, SourceEvent, WatchedKind } from "./source.ts";

export interface ListedObject {
  kind: WatchedKind;
  key: string;
  object: RawObject;
  /** Canonical JSON of the object, so an unchanged object is not re-delivered. */
  text: string;
}

/** Map key for a listing: "Kind namespace/name". */
export function listingKey(kind: WatchedKind, key: string): string {
  return `${kind} ${key}`;
}

export function diffListings(
  previous: Map<string, ListedObject>,
  next: Map<string, ListedObject>,
): SourceEvent[] {
  const events: SourceEvent[] = [];
  for (const [id, entry] of next) {
    const before = previous.get(id);
    if (!before) events.push({ type: "add", kind: entry.kind, key: entry.key, object: entry.object });
    else if (before.text !== entry.text)
      events.push({ type: "update", kind: entry.kind, key: entry.key, object: entry.object });
  }
  for (const [id, entry] of previous) {
    if (!next.has(id))
      events.push({ type: "delete", kind: entry.kind, key: entry.key, object: entry.object });
  }
  return events;
}
