// The store: applies source events, validates each object, and keeps the accepted objects as a Snapshot
// for the planners. A rejected object never poisons the rest. A bad update to an object that was
// accepted before keeps the last accepted version (as the API server refuses an invalid update);
// deleting the object removes both.
import type { SourceEvent, SourceProblem, WatchedKind } from "../sources/source.ts";
import type { Snapshot } from "./objects.ts";
import type { ObjectProblem } from "./problems.ts";
import { type KindTypes, validateObject } from "./validate.ts";

export interface Rejection {
  kind: WatchedKind;
  key: string;
  problems: ObjectProblem[];
  /** An earlier accepted version is still in the snapshot. */
  keepsLastAccepted: boolean;
}

type KindMaps = { [K in WatchedKind]: Map<string, KindTypes[K]> };

export class Store {
  private readonly maps: KindMaps = {
    Service: new Map(),
    EndpointSlice: new Map(),
    Node: new Map(),
    Namespace: new Map(),
    Pod: new Map(),
    NetworkPolicy: new Map(),
    ClusterNetworkPolicy: new Map(),
  };
  private readonly rejections = new Map<string, Rejection>();
  /** The maps handed out by the last snapshot; a kind absent here changed since and is copied again. */
  private readonly handedOut = new Map<WatchedKind, Map<string, unknown>>();
  private readonly sourceProblemsBySource = new Map<string, SourceProblem[]>();
  /** Increases whenever the snapshot changes. */
  version = 0;

  /** Applies a batch of events; returns true when the snapshot changed. */
  apply(events: SourceEvent[]): boolean {
    const before = this.version;
    for (const event of events) this.applyOne(event);
    return this.version !== before;
  }

  private applyOne(event: SourceEvent): void {
    const map = this.maps[event.kind] as Map<string, unknown>;
    const id = `${event.kind} ${event.key}`;
    if (event.type === "delete") {
      this.rejections.delete(id);
      if (map.delete(event.key)) this.changed(event.kind);
      return;
    }
    const result = validateObject(event.kind, event.object);
    if (result.ok) {
      this.rejections.delete(id);
      map.set(event.key, result.value);
      this.changed(event.kind);
      return;
    }
    this.rejections.set(id, {
      kind: event.kind,
      key: event.key,
      problems: result.problems,
      keepsLastAccepted: map.has(event.key),
    });
  }

  setSourceProblems(source: string, problems: SourceProblem[]): void {
    this.sourceProblemsBySource.set(source, problems);
  }

  private changed(kind: WatchedKind): void {
    this.version++;
    this.handedOut.delete(kind);
  }

  /** A frozen copy of one kind's map: the same Map as last time when nothing of that kind changed. */
  private view<K extends WatchedKind>(kind: K): Map<string, KindTypes[K]> {
    let map = this.handedOut.get(kind) as Map<string, KindTypes[K]> | undefined;
    if (!map) {
      map = new Map(this.maps[kind] as Map<string, KindTypes[K]>);
      this.handedOut.set(kind, map);
    }
    return map;
  }

  /**
   * A consistent view for one sync. Maps are never mutated after they are handed out: a kind that
   * changed gets a fresh copy, an unchanged kind the same Map as the previous snapshot (so planners
   * can skip it by identity). Objects are shared and never mutated.
   */
  snapshot(): Snapshot {
    return {
      services: this.view("Service"),
      endpointSlices: this.view("EndpointSlice"),
      nodes: this.view("Node"),
      namespaces: this.view("Namespace"),
      pods: this.view("Pod"),
      networkPolicies: this.view("NetworkPolicy"),
      clusterNetworkPolicies: this.view("ClusterNetworkPolicy"),
    };
  }

  rejected(): Rejection[] {
    return [...this.rejections.values()].sort((a, b) =>
      a.kind === b.kind ? a.key.localeCompare(b.key) : a.kind.localeCompare(b.kind),
    );
  }

  sourceProblems(): SourceProblem[] {
    return [...this.sourceProblemsBySource.values()].flat();
  }

  counts(): Record<WatchedKind, number> {
    const out = {} as Record<WatchedKind, number>;
    for (const kind of Object.keys(this.maps) as WatchedKind[]) out[kind] = this.maps[kind].size;
    return out;
  }
}
