// The standalone source: a directory of YAML/JSON manifests. It re-reads the directory when fs.watch
// reports a change (debounced, since editors and `cp` write in several steps) and on a periodic rescan
// (fs.watch can miss events, e.g. on some bind mounts, or in the targets of symlinks), and delivers
// only what changed. A file is acted on only once it has stopped changing (see `settled`), and a file
// that cannot be read whole (too big, a syntax error, a limit) keeps the objects of its last good
// version: what the source delivers never shrinks because of a half-written or hostile file.
import { type FSWatcher, watch } from "node:fs";
import { stat } from "node:fs/promises";
import { relative } from "node:path";
import { changedEntries, diffListings, type ListedObject, listedObject, listingKey } from "./diff-objects.ts";
import {
  type FileIdentity,
  identityOf,
  type Listing,
  listManifestFiles,
  readManifestFile,
  sameIdentity,
} from "./manifest-files.ts";
import { parseManifestText } from "./parse-manifests.ts";
import type { RawObject, Source, SourceProblem, SourceSink } from "./source.ts";

/**
 * 4 MiB. A real manifest file is far smaller: a ConfigMap volume holds 1 MiB in all, the API server
 * stores objects of at most ~1.5 MiB, and 9,000 Services with their EndpointSlices as kubectl writes
 * them are 4 MiB of YAML (split a set that large into several files). Parsing YAML costs 0.1-1 s per
 * MiB of one core, during which the agent does nothing else, and its heap grows with the file (a
 * 50 MB file blocked the scan for 5.8 s and left RSS at 1.9 GB): a bigger file is not read at all.
 */
export const defaultMaxFileBytes = 4 * 1024 * 1024;

export interface ManifestDirOptions {
  dir: string;
  /** Quiet time after a change before re-reading (ms). */
  debounceMs?: number;
  /** Periodic full re-read (ms); 0 disables. */
  rescanMs?: number;
  /**
   * A changed file is read once its mtime is this old, or it looked the same this long ago (ms):
   * a writer that pauses for less than this mid-file is never read half-way.
   */
  settleMs?: number;
  /** Files larger than this are reported and not read (bytes). */
  maxFileBytes?: number;
  /** How long `start` waits for files that are still changing before it resolves without `synced` (ms). */
  startWaitMs?: number;
}

/** The same files with the same states (a state is kept as the same object while its file is unchanged). */
function sameStates(a: Map<string, FileState>, b: Map<string, FileState>): boolean {
  if (a.size !== b.size) return false;
  for (const [path, state] of b) if (a.get(path) !== state) return false;
  return true;
}

/** An identity no file has: a file state with it is read again on the next scan. */
const UNREAD: FileIdentity = { dev: -1, ino: -1, size: -1, mtimeMs: -1 };

interface FileState {
  identity: FileIdentity;
  /** Objects of the last version that could be read whole; kept while a later version cannot. */
  objects: ListedObject[];
  problems: SourceProblem[];
}

/** A changed file seen but not read yet: its identity at the last look, and since when it changes. */
interface Look {
  identity: FileIdentity;
  at: number;
  since: number;
}

interface ScanResult {
  files: Map<string, FileState>;
  /** Changed files not read yet because they are still changing. */
  deferred: string[];
}

const message = (err: unknown) => (err instanceof Error ? err.message : String(err));

export class ManifestDirSource implements Source {
  readonly description: string;
  private readonly dir: string;
  private readonly debounceMs: number;
  private readonly rescanMs: number;
  private readonly settleMs: number;
  private readonly maxFileBytes: number;
  private readonly startWaitMs: number;
  private files = new Map<string, FileState>();
  private looks = new Map<string, Look>();
  private listing = new Map<string, ListedObject>();
  /** The problems of the files in the listing and of merging them (duplicates), as of the last merge. */
  private listingProblems: SourceProblem[] = [];
  private sink: SourceSink | null = null;
  /**
   * One non-recursive watcher per directory read. Node 20's recursive watcher on Linux watches each
   * file's inode, so once a file was replaced by rename, later renames onto the same name went
   * unreported until the periodic rescan; a directory watcher sees every rename.
   */
  private readonly watchers = new Map<string, FSWatcher>();
  private debounce: NodeJS.Timeout | null = null;
  private settleTimer: NodeJS.Timeout | null = null;
  private rescan: NodeJS.Timeout | null = null;
  private scanning: Promise<void> | null = null;
  private rescanRequested = false;
  /** The first listing is done: changes are scanned from now on. */
  private started = false;
  private syncedSent = false;
  private stopped = false;

  constructor(options: ManifestDirOptions) {
    this.dir = options.dir;
    this.debounceMs = options.debounceMs ?? 100;
    this.rescanMs = options.rescanMs ?? 10_000;
    this.settleMs = options.settleMs ?? 500;
    this.maxFileBytes = options.maxFileBytes ?? defaultMaxFileBytes;
    this.startWaitMs = options.startWaitMs ?? 5_000;
    this.description = `manifests ${options.dir}`;
  }

  /**
   * Rejects, without calling `synced`, when the directory is missing or cannot be listed: a caller
   * must not sync from a source that never listed anything. Resolves after the first listing; calls
   * `synced` then, or later once files that were still being written have settled.
   */
  async start(sink: SourceSink): Promise<void> {
    const info = await stat(this.dir).catch((err: NodeJS.ErrnoException) => {
      const why = err.code === "ENOENT" ? "does not exist" : `cannot be read (${err.message})`;
      throw new Error(`manifests directory ${this.dir} ${why}`);
    });
    if (!info.isDirectory()) throw new Error(`manifests directory ${this.dir} is not a directory`);
    this.sink = sink;
    const complete = await this.initialScan();
    if (this.stopped) return;
    this.started = true;
    if (this.rescanMs > 0) {
      this.rescan = setInterval(() => this.changed(), this.rescanMs);
      this.rescan.unref();
    }
    if (complete) this.markSynced();
    else this.armSettle();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const w of this.watchers.values()) w.close();
    this.watchers.clear();
    if (this.debounce) clearTimeout(this.debounce);
    if (this.settleTimer) clearTimeout(this.settleTimer);
    if (this.rescan) clearInterval(this.rescan);
    await this.scanning;
  }

  /** Re-reads now (after the debounce); also used by tests that do not want to wait for fs.watch. */
  changed(): void {
    if (this.stopped || !this.started) return;
    if (this.debounce) clearTimeout(this.debounce);
    this.debounce = setTimeout(() => {
      this.debounce = null;
      void this.scan();
    }, this.debounceMs);
  }

  private markSynced(): void {
    if (this.syncedSent || this.stopped) return;
    this.syncedSent = true;
    this.sink?.synced();
  }

  /** A scan after the settle time, for files that were still changing. */
  private armSettle(): void {
    if (this.settleTimer || this.stopped) return;
    this.settleTimer = setTimeout(() => {
      this.settleTimer = null;
      void this.scan();
    }, this.settleMs);
  }

  /** Until nothing is still changing, or startWaitMs; a listing that fails rejects. */
  private async initialScan(): Promise<boolean> {
    const deadline = Date.now() + this.startWaitMs;
    for (;;) {
      let listing: Listing;
      try {
        listing = await listManifestFiles(this.dir);
      } catch (err) {
        throw new Error(`manifests directory ${this.dir} cannot be listed: ${message(err)}`);
      }
      const { deferred } = await this.scanFiles(listing);
      if (deferred.length === 0 || this.stopped || Date.now() >= deadline) return deferred.length === 0;
      await new Promise((resolve) => setTimeout(resolve, Math.min(this.settleMs, deadline - Date.now())));
    }
  }

  /** One re-read at a time; a change during a scan triggers one more scan afterwards. Never rejects. */
  private scan(): Promise<void> {
    if (this.scanning) {
      this.rescanRequested = true;
      return this.scanning;
    }
    this.scanning = this.scanOnce()
      .catch((err) => this.sink?.problems([{ origin: this.dir, message: `scan failed: ${message(err)}` }]))
      .finally(() => {
        this.scanning = null;
        if (this.rescanRequested && !this.stopped) {
          this.rescanRequested = false;
          void this.scan();
        }
      });
    return this.scanning;
  }

  private async scanOnce(): Promise<void> {
    let listing: Listing;
    try {
      listing = await listManifestFiles(this.dir);
    } catch (err) {
      // Keep what we had: an unreadable directory is not the same as an empty one.
      this.sink?.problems([{ origin: this.dir, message: `cannot list directory: ${message(err)}` }]);
      return;
    }
    const { deferred } = await this.scanFiles(listing);
    if (deferred.length > 0) this.armSettle();
    else this.markSynced();
  }

  /** Reads the listed files, delivers the changes and the problems. */
  /** Watches the directories of the latest listing, and only those. */
  private watchDirectories(directories: string[]): void {
    if (this.stopped) return;
    const wanted = new Set(directories);
    for (const [dir, w] of this.watchers)
      if (!wanted.has(dir)) {
        w.close();
        this.watchers.delete(dir);
      }
    for (const dir of wanted) {
      if (this.watchers.has(dir)) continue;
      try {
        const w = watch(dir, () => this.changed());
        w.on("error", () => this.changed());
        this.watchers.set(dir, w);
      } catch {
        // Gone since the listing: the next listing drops it; the periodic rescan covers the gap.
      }
    }
  }

  private async scanFiles(listing: Listing): Promise<ScanResult> {
    this.watchDirectories(listing.directories);
    const parsed = new Map<ListedObject, RawObject>();
    const result: ScanResult = { files: new Map(), deferred: [] };
    for (const path of listing.files) {
      const state = await this.readFileState(path, parsed);
      if (state === "deferred") {
        result.deferred.push(path);
        const previous = this.files.get(path);
        if (previous) result.files.set(path, previous);
      } else if (state) result.files.set(path, state);
    }
    const unchanged = result.deferred.length === 0 && sameStates(this.files, result.files);
    this.files = result.files;
    for (const path of this.looks.keys()) if (!result.deferred.includes(path)) this.looks.delete(path);

    const problems = [...listing.problems, ...this.waitingProblems(result.deferred)];
    if (unchanged) {
      // No file was read: the listing and its problems are the last scan's. (The periodic rescan of
      // a large directory, every 10 s, made ~80 MiB of garbage at 100,000 Services otherwise.)
      if (!this.stopped) this.sink?.problems([...problems, ...this.listingProblems]);
      return result;
    }
    const listingProblems: SourceProblem[] = [];
    const { next, fileOf } = this.mergeFiles(result.files, listingProblems);
    await this.recoverObjects(next, fileOf, parsed, listingProblems);
    const events = diffListings(this.listing, next, (entry) => parsed.get(entry)!);
    this.listing = next;
    this.listingProblems = listingProblems;
    if (this.stopped) return result;
    if (events.length > 0) this.sink?.events(events);
    this.sink?.problems([...problems, ...listingProblems]);
    return result;
  }

  /** The listing of all files: the first file that defines an object wins, later ones are reported. */
  private mergeFiles(
    files: Map<string, FileState>,
    problems: SourceProblem[],
  ): { next: Map<string, ListedObject>; fileOf: Map<string, string> } {
    const next = new Map<string, ListedObject>();
    const origins = new Map<string, string>();
    const fileOf = new Map<string, string>();
    for (const [path, state] of files) {
      problems.push(...state.problems);
      for (const entry of state.objects) {
        const id = listingKey(entry.kind, entry.key);
        const first = origins.get(id);
        if (first !== undefined) {
          problems.push({
            origin: relative(this.dir, path),
            message: `${entry.kind} ${entry.key}: duplicate of the one in ${first}; ignored`,
          });
          continue;
        }
        origins.set(id, relative(this.dir, path));
        fileOf.set(id, path);
        next.set(id, entry);
      }
    }
    return { next, fileOf };
  }

  /**
   * The objects of new or changed entries that this scan did not parse. Only a digest of each object
   * is kept between scans, so an object that takes over from a duplicate (its first definition went
   * away) while its own file did not change is read again from that file. One that is not in the
   * file as it is now (the file changed since, or cannot be read whole) stays as the last listing
   * had it, with a problem, and its file is read again on the next scan.
   */
  private async recoverObjects(
    next: Map<string, ListedObject>,
    fileOf: Map<string, string>,
    parsed: Map<ListedObject, RawObject>,
    problems: SourceProblem[],
  ): Promise<void> {
    const byFile = new Map<string, [string, ListedObject][]>();
    for (const [id, entry] of changedEntries(this.listing, next)) {
      if (parsed.has(entry)) continue;
      const path = fileOf.get(id)!;
      const list = byFile.get(path) ?? [];
      list.push([id, entry]);
      byFile.set(path, list);
    }
    for (const [path, entries] of byFile) {
      const found = await this.objectsNow(path);
      for (const [id, entry] of entries) {
        const hit = found.get(id);
        if (hit?.digest === entry.digest) {
          parsed.set(entry, hit.object);
          continue;
        }
        const before = this.listing.get(id);
        if (before) next.set(id, before);
        else next.delete(id);
        problems.push({
          origin: relative(this.dir, path),
          message: `${entry.kind} ${entry.key}: not in the file as it is now; read again on the next scan`,
        });
        const state = this.files.get(path);
        if (state) this.files.set(path, { ...state, identity: UNREAD });
      }
    }
  }

  /** The objects of `path` as it is now, by listing key (none when it cannot be read). */
  private async objectsNow(path: string): Promise<Map<string, { object: RawObject; digest: string }>> {
    const out = new Map<string, { object: RawObject; digest: string }>();
    const read = await readManifestFile(path, this.maxFileBytes).catch(() => null);
    if (read?.kind !== "text") return out;
    for (const { object, text } of parseManifestText(read.text, relative(this.dir, path)).objects) {
      const entry = listedObject(object, text);
      out.set(listingKey(entry.kind, entry.key), { object, digest: entry.digest });
    }
    return out;
  }

  /** Files changing for much longer than a write takes: the operator should know why nothing happens. */
  private waitingProblems(deferred: string[]): SourceProblem[] {
    const now = Date.now();
    return deferred.flatMap((path) => {
      const since = this.looks.get(path)?.since ?? now;
      if (now - since < 10 * this.settleMs) return [];
      const seconds = Math.round((now - since) / 1000);
      return [
        {
          origin: relative(this.dir, path),
          message: `still changing after ${seconds} s; not read until it stops`,
        },
      ];
    });
  }

  /**
   * Whether a changed file has stopped changing: its mtime is settleMs old, or it looked the same
   * settleMs ago (for an mtime in the future). Otherwise this look is remembered.
   */
  private settled(path: string, identity: FileIdentity, now: number): boolean {
    if (identity.mtimeMs <= now - this.settleMs) return true;
    const look = this.looks.get(path);
    if (look && sameIdentity(look.identity, identity)) return now - look.at >= this.settleMs;
    this.looks.set(path, { identity, at: now, since: look?.since ?? now });
    return false;
  }

  /** A file's state now: read, kept, not read yet ("deferred"), or gone (null). Never rejects. */
  private async readFileState(
    path: string,
    parsed: Map<ListedObject, RawObject>,
  ): Promise<FileState | "deferred" | null> {
    const previous = this.files.get(path);
    try {
      return await this.readChangedFile(path, previous, parsed);
    } catch (err) {
      // An I/O error on one file: report it, keep what we had, and try again on the next scan.
      const kept = previous ? " (keeping the last good version)" : "";
      return {
        identity: UNREAD,
        objects: previous?.objects ?? [],
        problems: [{ origin: relative(this.dir, path), message: `cannot read: ${message(err)}${kept}` }],
      };
    }
  }

  private async readChangedFile(
    path: string,
    previous: FileState | undefined,
    parsed: Map<ListedObject, RawObject>,
  ): Promise<FileState | "deferred" | null> {
    const info = await stat(path).catch(() => null);
    if (!info) return null; // removed between listing and reading
    const identity = identityOf(info);
    if (previous && sameIdentity(previous.identity, identity)) return previous;
    if (identity.size > this.maxFileBytes) return this.tooBig(path, identity, previous);
    const now = Date.now();
    if (!this.settled(path, identity, now)) return "deferred";
    const read = await readManifestFile(path, this.maxFileBytes);
    if (read.kind === "gone") return null;
    if (read.kind === "too-big") return this.tooBig(path, { ...identity, size: read.size }, previous);
    // Changed while we read it: a writer is at work; look again later.
    if (!sameIdentity(read.before, identity) || !sameIdentity(read.before, read.after)) {
      this.looks.set(path, { identity: read.after, at: now, since: this.looks.get(path)?.since ?? now });
      return "deferred";
    }
    return this.parseFile(path, read.text, identity, previous, parsed);
  }

  private tooBig(path: string, identity: FileIdentity, previous: FileState | undefined): FileState {
    const kept = previous ? " (keeping the last good version)" : "";
    return {
      identity,
      objects: previous?.objects ?? [],
      problems: [
        {
          origin: relative(this.dir, path),
          message: `${identity.size} bytes, over the limit of ${this.maxFileBytes} per manifest file; not read${kept}`,
        },
      ],
    };
  }

  private parseFile(
    path: string,
    text: string,
    identity: FileIdentity,
    previous: FileState | undefined,
    parsedObjects: Map<ListedObject, RawObject>,
  ): FileState {
    const parsed = parseManifestText(text, relative(this.dir, path));
    const objects: ListedObject[] = parsed.objects.map(({ object, text }) => {
      const entry = listedObject(object, text);
      parsedObjects.set(entry, object);
      return entry;
    });
    // A file that could not be read whole keeps the objects of its last good version.
    const keep = parsed.invalid && previous !== undefined;
    return {
      identity,
      objects: keep ? previous.objects : objects,
      problems: parsed.problems.map((p) =>
        keep ? { ...p, message: `${p.message} (keeping the last good version)` } : p,
      ),
    };
  }
}
