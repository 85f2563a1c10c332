// The standalone source: a directory of YAML/JSON manifests. It re-reads the directory when fs.watch
// reports a change (debounced, since editors and `cp` write in several steps) and on a periodic rescan
// (fs.watch can miss events, e.g. on some bind mounts), and delivers only what changed.
import { type FSWatcher, watch } from "node:fs";
import { readdir, readFile, stat } from "node:fs/promises";
import { join, relative } from "node:path";
import { diffListings, type ListedObject, listingKey, objectFromText } from "./diff-objects.ts";
import { parseManifestText } from "./parse-manifests.ts";
import { objectKey, type RawObject, type Source, type SourceProblem, type SourceSink } from "./source.ts";

export interface ManifestDirOptions {
  dir: string;
  /** Quiet time after a change before re-reading (ms). */
  debounceMs?: number;
  /** Periodic full re-read (ms); 0 disables. */
  rescanMs?: number;
}

interface FileState {
  mtimeMs: number;
  size: number;
  /** Objects of the last version that parsed; kept while a later version has errors. */
  objects: ListedObject[];
  problems: SourceProblem[];
}

const manifestExtensions = [".yaml", ".yml", ".json"];

function isManifestFile(name: string): boolean {
  return !name.startsWith(".") && manifestExtensions.some((ext) => name.endsWith(ext));
}

async function listManifestFiles(dir: string): Promise<string[]> {
  const found: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    if (entry.name.startsWith(".")) continue;
    const path = join(dir, entry.name);
    if (entry.isDirectory()) found.push(...(await listManifestFiles(path)));
    else if (entry.isFile() && isManifestFile(entry.name)) found.push(path);
  }
  return found.sort();
}

export class ManifestDirSource implements Source {
  readonly description: string;
  private readonly dir: string;
  private readonly debounceMs: number;
  private readonly rescanMs: number;
  private files = new Map<string, FileState>();
  private listing = new Map<string, ListedObject>();
  private sink: SourceSink | null = null;
  private watcher: FSWatcher | null = null;
  private debounce: NodeJS.Timeout | null = null;
  private rescan: NodeJS.Timeout | null = null;
  private scanning: Promise<void> | null = null;
  private rescanRequested = false;
  private stopped = false;

  constructor(options: ManifestDirOptions) {
    this.dir = options.dir;
    this.debounceMs = options.debounceMs ?? 100;
    this.rescanMs = options.rescanMs ?? 10_000;
    this.description = `manifests ${options.dir}`;
  }

  async start(sink: SourceSink): Promise<void> {
    const info = await stat(this.dir).catch(() => null);
    if (!info?.isDirectory())
      throw new Error(`manifests directory ${this.dir} does not exist or is not a directory`);
    this.sink = sink;
    await this.scan();
    sink.synced();
    this.watcher = watch(this.dir, { recursive: true }, () => this.changed());
    this.watcher.on("error", () => this.changed());
    if (this.rescanMs > 0) {
      this.rescan = setInterval(() => this.changed(), this.rescanMs);
      this.rescan.unref();
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.watcher?.close();
    if (this.debounce) clearTimeout(this.debounce);
    if (this.rescan) clearInterval(this.rescan);
    await this.scanning;
  }

  /** Re-reads now (after the debounce); also used by tests that do not want to wait for fs.watch. */
  changed(): void {
    if (this.stopped) return;
    if (this.debounce) clearTimeout(this.debounce);
    this.debounce = setTimeout(() => {
      this.debounce = null;
      void this.scan();
    }, this.debounceMs);
  }

  /** One re-read at a time; a change during a scan triggers one more scan afterwards. */
  private scan(): Promise<void> {
    if (this.scanning) {
      this.rescanRequested = true;
      return this.scanning;
    }
    this.scanning = this.scanOnce().finally(() => {
      this.scanning = null;
      if (this.rescanRequested && !this.stopped) {
        this.rescanRequested = false;
        void this.scan();
      }
    });
    return this.scanning;
  }

  private async scanOnce(): Promise<void> {
    const problems: SourceProblem[] = [];
    let paths: string[] = [];
    try {
      paths = await listManifestFiles(this.dir);
    } catch (err) {
      problems.push({ origin: this.dir, message: `cannot list directory: ${(err as Error).message}` });
      // Keep what we had: an unreadable directory is not the same as an empty one.
      this.sink?.problems(problems);
      return;
    }
    const files = new Map<string, FileState>();
    // Objects parsed in this scan, by entry: delivered as they are; older entries are rebuilt from text.
    const parsed = new Map<ListedObject, RawObject>();
    for (const path of paths) {
      const state = await this.readFileState(path, parsed);
      if (state) files.set(path, state);
    }
    this.files = files;

    const next = new Map<string, ListedObject>();
    const origins = new Map<string, string>();
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
        next.set(id, entry);
      }
    }
    const events = diffListings(this.listing, next, (entry) => parsed.get(entry) ?? objectFromText(entry));
    this.listing = next;
    if (this.stopped) return;
    if (events.length > 0) this.sink?.events(events);
    this.sink?.problems(problems);
  }

  private async readFileState(
    path: string,
    parsedObjects: Map<ListedObject, RawObject>,
  ): Promise<FileState | null> {
    const previous = this.files.get(path);
    let info: Awaited<ReturnType<typeof stat>>;
    let text: string;
    try {
      info = await stat(path);
      if (previous && previous.mtimeMs === info.mtimeMs && previous.size === info.size) return previous;
      text = await readFile(path, "utf8");
    } catch {
      return null; // removed between listing and reading
    }
    const name = relative(this.dir, path);
    const parsed = parseManifestText(text, name);
    const syntaxBroken = parsed.problems.some((p) => p.message.startsWith("invalid "));
    const objects: ListedObject[] = parsed.objects.map(({ object }) => {
      const entry = {
        kind: object.kind,
        key: objectKey(object.kind, object.metadata),
        text: JSON.stringify(object),
      };
      parsedObjects.set(entry, object);
      return entry;
    });
    return {
      mtimeMs: info.mtimeMs,
      size: info.size,
      // A half-written or mistyped file keeps the objects of its last good version.
      objects: syntaxBroken && previous ? previous.objects : objects,
      problems: parsed.problems.map((p) =>
        syntaxBroken && previous ? { ...p, message: `${p.message} (keeping the last good version)` } : p,
      ),
    };
  }
}
