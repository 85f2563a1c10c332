// The files of a manifest directory and how they are read: symlinks are followed (a ConfigMap volume is
// `name -> ..data/name`, `..data -> ..<timestamp>/`), hidden entries are not (so the files behind a
// ConfigMap's `..data` are read once, through the top-level links), a directory reached twice (a
// symlink loop) is read once, and a file is read only up to a size limit.
import type { Stats } from "node:fs";
import { open, readdir, stat } from "node:fs/promises";
import { join, relative } from "node:path";
import type { SourceProblem } from "./source.ts";

const manifestExtensions = [".yaml", ".yml", ".json"];

export function isManifestFile(name: string): boolean {
  return !name.startsWith(".") && manifestExtensions.some((ext) => name.endsWith(ext));
}

/** What tells one version of a file from another without reading it. */
export interface FileIdentity {
  dev: number;
  ino: number;
  size: number;
  mtimeMs: number;
}

export function identityOf(info: Stats): FileIdentity {
  return { dev: info.dev, ino: info.ino, size: info.size, mtimeMs: info.mtimeMs };
}

export function sameIdentity(a: FileIdentity, b: FileIdentity): boolean {
  return a.dev === b.dev && a.ino === b.ino && a.size === b.size && a.mtimeMs === b.mtimeMs;
}

export interface Listing {
  files: string[];
  /** Every directory read (the root first), for the caller's watchers. */
  directories: string[];
  /** Links that lead nowhere or back to a directory already read; they do not fail the listing. */
  problems: SourceProblem[];
}

/**
 * Entries looked at per listing. A symlink may lead anywhere (`/`, a huge tree); 100,000 is far more
 * than a manifest directory holds and is listed in well under a second.
 */
export const defaultMaxEntries = 100_000;

/**
 * The manifest files under `root`, sorted. Throws when a directory cannot be read, or there are more
 * than `maxEntries` entries: a listing with holes would look like deleted files.
 */
export async function listManifestFiles(root: string, maxEntries = defaultMaxEntries): Promise<Listing> {
  const rootInfo = await stat(root);
  const seen = new Set([`${rootInfo.dev}:${rootInfo.ino}`]);
  const files: string[] = [];
  const problems: SourceProblem[] = [];
  const pending = [root];
  const directories: string[] = [];
  let entries = 0;
  for (let dir = pending.pop(); dir !== undefined; dir = pending.pop()) {
    directories.push(dir);
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      if (++entries > maxEntries)
        throw new Error(`more than ${maxEntries} entries (a symlink to a large tree?); not listed`);
      if (entry.name.startsWith(".")) continue;
      const path = join(dir, entry.name);
      let info: Stats | null = null;
      if (entry.isSymbolicLink()) {
        info = await stat(path).catch((err: Error) => {
          if (isManifestFile(entry.name) || !/ENOENT/.test(err.message))
            problems.push({ origin: relative(root, path), message: `symlink not followed: ${err.message}` });
          return null;
        });
        if (!info) continue;
      }
      if (info ? info.isDirectory() : entry.isDirectory()) {
        const dirInfo = info ?? (await stat(path));
        const id = `${dirInfo.dev}:${dirInfo.ino}`;
        if (seen.has(id)) {
          problems.push({
            origin: relative(root, path),
            message: "a directory already read (symlink loop?); not read again",
          });
          continue;
        }
        seen.add(id);
        pending.push(path);
      } else if ((info ? info.isFile() : entry.isFile()) && isManifestFile(entry.name)) {
        files.push(path);
      }
    }
  }
  return { files: files.sort(), directories, problems };
}

export type FileRead =
  | { kind: "text"; text: string; before: FileIdentity; after: FileIdentity }
  | { kind: "too-big"; size: number }
  | { kind: "gone" };

/**
 * The text of `path` if it is at most `maxBytes`, with its identity when opened and after reading
 * (by path, so a file renamed over it counts as a change). A file over the limit is not read at all.
 */
export async function readManifestFile(path: string, maxBytes: number): Promise<FileRead> {
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    handle = await open(path, "r");
  } catch {
    return { kind: "gone" }; // removed between listing and reading
  }
  try {
    const before = identityOf(await handle.stat());
    if (before.size > maxBytes) return { kind: "too-big", size: before.size };
    // One byte more than allowed tells a file that grew since the stat.
    const buffer = Buffer.alloc(Math.min(before.size, maxBytes) + 1);
    let length = 0;
    for (;;) {
      const { bytesRead } = await handle.read(buffer, length, buffer.length - length, length);
      if (bytesRead === 0) break;
      length += bytesRead;
      if (length === buffer.length) break;
    }
    if (length > maxBytes) return { kind: "too-big", size: length };
    const after = await stat(path).catch(() => null);
    if (!after) return { kind: "gone" };
    return { kind: "text", text: buffer.toString("utf8", 0, length), before, after: identityOf(after) };
  } finally {
    await handle.close();
  }
}
