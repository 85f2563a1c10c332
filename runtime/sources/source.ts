// A source delivers raw Kubernetes objects as add/update/delete events. Two sources share this shape:
// the manifest directory (standalone mode, tests, the sandbox) and, later, the Kubernetes API informers.
// Sources do not validate beyond what they need to key an object; the store validates.

import { flat } from "../store/flat.ts";

export const watchedKinds = [
  "Service",
  "EndpointSlice",
  "Node",
  "Namespace",
  "Pod",
  "NetworkPolicy",
  "ClusterNetworkPolicy",
] as const;
export type WatchedKind = (typeof watchedKinds)[number];

export function isWatchedKind(kind: unknown): kind is WatchedKind {
  return typeof kind === "string" && (watchedKinds as readonly string[]).includes(kind);
}

/** Cluster-scoped kinds are keyed by name alone; the others by "namespace/name". */
export function isClusterScoped(kind: WatchedKind): boolean {
  return kind === "Node" || kind === "Namespace" || kind === "ClusterNetworkPolicy";
}

/** A Kubernetes object as it came from the source: parsed JSON/YAML, not yet validated. */
export interface RawObject {
  apiVersion?: string;
  kind: WatchedKind;
  metadata: { name: string; namespace?: string; [field: string]: unknown };
  [field: string]: unknown;
}

export type SourceEvent =
  | { type: "add" | "update"; kind: WatchedKind; key: string; object: RawObject }
  | { type: "delete"; kind: WatchedKind; key: string; object: RawObject };

/** Something a source could not turn into objects (an unreadable file, a document without a name). */
export interface SourceProblem {
  /** Where: a file path and document index, or an API resource. */
  origin: string;
  message: string;
}

export interface SourceSink {
  /** A batch of events from one scan or one watch delivery; apply them together. */
  events(events: SourceEvent[]): void;
  /** Called once, after the first complete listing: the store now holds everything the source knows. */
  synced(): void;
  /** The full current set of problems of this source (replaces the previous set). */
  problems(problems: SourceProblem[]): void;
}

export interface Source {
  /** A short description for logs and status, e.g. "manifests /etc/wasmplane/manifests". */
  readonly description: string;
  /** Starts delivering events; resolves once watching has begun (not necessarily after `synced`). */
  start(sink: SourceSink): Promise<void>;
  stop(): Promise<void>;
}

/** "namespace/name", or "name" for cluster-scoped kinds. Namespaced objects without one are in "default". */
export function objectKey(kind: WatchedKind, metadata: { name: string; namespace?: string }): string {
  return isClusterScoped(kind) ? metadata.name : flat(metadata.namespace || "default", "/", metadata.name);
}
