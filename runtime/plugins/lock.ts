// The lock file pins every plugin by sha256, relative to the lock file's directory: the module, and
// its sidecar manifest when it has one (a manifest inside the module is covered by the module's hash).
// A module or manifest whose bytes differ is refused until `wasmplane plugin lock` records the new hash.
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { dirname, join, relative, resolve, sep } from "node:path";
import { inspectModule } from "./admission.ts";

export const LOCK_VERSION = 1;

export interface LockEntry {
  sha256: string;
  /** sha256 of the sidecar `<module>.manifest.json`; absent when the manifest is inside the module. */
  manifestSha256?: string;
  name?: string;
  kind?: string;
  version?: string;
}

export interface LockFile {
  lockVersion: number;
  plugins: Record<string, LockEntry>;
}

/** The key under which a module is locked: its path relative to the lock file, with '/' separators. */
export function lockKey(lockPath: string, modulePath: string): string {
  return relative(dirname(resolve(lockPath)), resolve(modulePath))
    .split(sep)
    .join("/");
}

export function readLock(lockPath: string): LockFile {
  if (!existsSync(lockPath))
    throw new Error(
      `lock file ${lockPath} does not exist; create it with \`wasmplane plugin lock --lock ${lockPath}\``,
    );
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(lockPath, "utf8"));
  } catch (err) {
    throw new Error(`lock file ${lockPath}: not JSON: ${(err as Error).message}`);
  }
  const lock = raw as LockFile;
  if (lock?.lockVersion !== LOCK_VERSION || typeof lock.plugins !== "object" || lock.plugins === null)
    throw new Error(`lock file ${lockPath}: want { "lockVersion": ${LOCK_VERSION}, "plugins": { … } }`);
  for (const [key, entry] of Object.entries(lock.plugins)) {
    if (typeof entry?.sha256 !== "string" || !/^[0-9a-f]{64}$/.test(entry.sha256))
      throw new Error(`lock file ${lockPath}: plugins["${key}"].sha256 is not a sha256 hex digest`);
    if (entry.manifestSha256 !== undefined && !/^[0-9a-f]{64}$/.test(entry.manifestSha256))
      throw new Error(`lock file ${lockPath}: plugins["${key}"].manifestSha256 is not a sha256 hex digest`);
  }
  return lock;
}

/** What the lock pins for a module, or an error saying how to lock it. */
export function lockedPin(lock: LockFile, lockPath: string, modulePath: string): LockEntry {
  const key = lockKey(lockPath, modulePath);
  const entry = lock.plugins[key];
  if (!entry)
    throw new Error(
      `${modulePath} is not in lock file ${lockPath} (as "${key}"); run \`wasmplane plugin lock\``,
    );
  return entry;
}

/** The admission fields for a pin: `{ ...pinPolicy(pin) }` in an AdmissionPolicy. */
export function pinPolicy(pin: LockEntry): { expectedSha256: string; expectedManifestSha256?: string } {
  return { expectedSha256: pin.sha256, expectedManifestSha256: pin.manifestSha256 };
}

/** Every .wasm below `dir`, sorted. */
export function findModules(dir: string): string[] {
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  for (const entry of readdirSync(dir).sort()) {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) out.push(...findModules(path));
    else if (entry.endsWith(".wasm")) out.push(path);
  }
  return out;
}

/** Writes a lock file for `modules` (replacing it); returns the entries written. */
export function writeLock(lockPath: string, modules: string[]): LockFile {
  const lock: LockFile = { lockVersion: LOCK_VERSION, plugins: {} };
  for (const path of [...modules].sort()) {
    const info = inspectModule(readFileSync(path), path);
    const entry: LockEntry = { sha256: info.sha256 };
    if (info.manifestSource?.kind === "sidecar") entry.manifestSha256 = info.manifestSource.sha256;
    if (info.manifest)
      Object.assign(entry, {
        name: info.manifest.name,
        kind: info.manifest.kind,
        version: info.manifest.version,
      });
    lock.plugins[lockKey(lockPath, path)] = entry;
  }
  writeFileSync(lockPath, `${JSON.stringify(lock, null, 2)}\n`);
  return lock;
}
