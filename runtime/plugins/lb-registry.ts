// The LB plugins serving now, one per algorithm, and why the others are refused. A reload re-reads
// the lock and swaps in a changed module only once it passes admission; until then the previously
// admitted module keeps serving.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { inspectModule, manifestPinProblem, PluginRefused } from "./admission.ts";
import type { Capability } from "./capabilities.ts";
import type { LoadedLbPlugin } from "./lb-admit.ts";
import { type LockEntry, type LockFile, lockedPin, readLock } from "./lock.ts";
import type { PluginWorker, PluginWorkerStats } from "./plugin-worker.ts";

export interface PluginStatus {
  algorithm: string;
  /** The serving module's manifest name (the file name for the shipped plugins). */
  name?: string;
  path: string;
  /** The module serving now (undefined when none was ever admitted). */
  sha256?: string;
  version?: string;
  /** Capabilities the serving module was granted (log, random, clock). */
  grants?: Capability[];
  /** Why the current module on disk is refused (the previous one may still serve). */
  refused?: string;
  stats?: PluginWorkerStats & { invalidPlans: number; pluginErrors: number };
}

/** How often a reload swapped this module in for a running one of the same algorithm. */
export interface PluginSwapCount {
  kind: "lb";
  name: string;
  version: string;
  sha256: string;
  swaps: number;
}

export interface ReloadReport {
  loaded: string[];
  replaced: string[];
  unchanged: string[];
  removed: string[];
  refused: { algorithm: string; error: string }[];
}

export type AdmitLbPlugin = (algorithm: string, path: string, pin: LockEntry) => Promise<LoadedLbPlugin>;

/** The lock file, or why it cannot be read (every module is then refused with that reason). */
function readLockOrError(lockFile: string): { lock: LockFile } | { error: string } {
  try {
    return { lock: readLock(lockFile) };
  } catch (err) {
    return { error: (err as Error).message };
  }
}

/** Whether `current` was admitted with the bytes `pin` locks, from the same path. */
function servesPin(current: LoadedLbPlugin, path: string, pin: LockEntry): boolean {
  return (
    current.sha256 === pin.sha256 && current.manifestSha256 === pin.manifestSha256 && current.path === path
  );
}

/** Why the module on disk no longer matches its pin, if it does not. */
function onDiskProblem(path: string, pin: LockEntry): string | undefined {
  const onDisk = inspectModule(readFileSync(path), path);
  return onDisk.sha256 !== pin.sha256
    ? `sha256 ${onDisk.sha256} differs from the locked ${pin.sha256}; if the change is intended, run \`wasmplane plugin lock\``
    : manifestPinProblem(onDisk.manifestSource, pin.manifestSha256);
}

export class LbPluginRegistry {
  private readonly loaded = new Map<string, LoadedLbPlugin>();
  private readonly refused = new Map<string, { path: string; error: string }>();
  private readonly swapCounts = new Map<string, PluginSwapCount>();

  constructor(
    private readonly lockFile: string,
    private readonly admit: AdmitLbPlugin,
    private readonly log: (line: string) => void,
  ) {}

  /** The plugin serving `algorithm`, or the error its requests fail with. */
  lookup(algorithm: string): LoadedLbPlugin | { error: string } {
    const plugin = this.loaded.get(algorithm);
    if (plugin) return plugin;
    const why = this.refused.get(algorithm)?.error;
    const known = [...this.loaded.keys()].sort().join(", ") || "none";
    return { error: why ?? `unknown lb algorithm "${algorithm}" (loaded: ${known})` };
  }

  /** Brings the serving set to `wanted` (algorithm → module path), admitting what changed. */
  async reload(wanted: Map<string, string>): Promise<ReloadReport> {
    const report: ReloadReport = { loaded: [], replaced: [], unchanged: [], removed: [], refused: [] };
    const lock = readLockOrError(this.lockFile);
    for (const [algorithm, path] of wanted) {
      try {
        if ("error" in lock) throw new Error(lock.error);
        await this.reloadOne(algorithm, path, lockedPin(lock.lock, this.lockFile, path), report);
      } catch (err) {
        this.refuse(algorithm, path, err as Error, report);
      }
    }
    await this.removeUnwanted(wanted, report);
    return report;
  }

  status(configured: Iterable<string>, pluginDir: string): PluginStatus[] {
    const names = new Set([...configured, ...this.loaded.keys(), ...this.refused.keys()]);
    return [...names].sort().map((algorithm) => {
      const l = this.loaded.get(algorithm);
      const r = this.refused.get(algorithm);
      return {
        algorithm,
        name: l?.worker.plugin.name,
        path: l?.path ?? r?.path ?? join(pluginDir, `${algorithm}.wasm`),
        sha256: l?.sha256,
        version: l?.version,
        grants: l ? [...l.worker.plugin.grants] : undefined,
        refused: r?.error,
        stats: l
          ? { ...l.worker.stats, invalidPlans: l.invalidPlans, pluginErrors: l.pluginErrors }
          : undefined,
      };
    });
  }

  /** The workers of the modules serving now. */
  workers(): PluginWorker[] {
    return [...this.loaded.values()].map((l) => l.worker);
  }

  swaps(): PluginSwapCount[] {
    return [...this.swapCounts.values()].map((s) => ({ ...s }));
  }

  async close(): Promise<void> {
    for (const l of this.loaded.values()) await l.worker.close();
    this.loaded.clear();
  }

  private async reloadOne(
    algorithm: string,
    path: string,
    pin: LockEntry,
    report: ReloadReport,
  ): Promise<void> {
    const current = this.loaded.get(algorithm);
    if (current && servesPin(current, path, pin)) {
      // The serving module was admitted with these bytes; a file changed since is refused, not swapped in.
      const problem = onDiskProblem(path, pin);
      if (problem) throw new PluginRefused(`${algorithm} (${path})`, [problem]);
      this.refused.delete(algorithm);
      report.unchanged.push(algorithm);
      return;
    }
    const next = await this.admit(algorithm, path, pin);
    this.loaded.set(algorithm, next);
    this.refused.delete(algorithm);
    if (current) {
      await current.worker.close();
      this.countSwap(next);
      report.replaced.push(algorithm);
    } else report.loaded.push(algorithm);
  }

  private refuse(algorithm: string, path: string, err: Error, report: ReloadReport): void {
    const error =
      err instanceof PluginRefused ? err.message : `lb plugin ${algorithm} (${path}) refused: ${err.message}`;
    this.refused.set(algorithm, { path, error });
    report.refused.push({ algorithm, error });
    const serving = this.loaded.has(algorithm) ? " (the previously admitted module keeps serving)" : "";
    this.log(`wasmplane: ${error}${serving}`);
  }

  private async removeUnwanted(wanted: Map<string, string>, report: ReloadReport): Promise<void> {
    for (const [algorithm, l] of this.loaded) {
      if (wanted.has(algorithm)) continue;
      await l.worker.close();
      this.loaded.delete(algorithm);
      report.removed.push(algorithm);
    }
    for (const algorithm of this.refused.keys()) if (!wanted.has(algorithm)) this.refused.delete(algorithm);
  }

  private countSwap(next: LoadedLbPlugin): void {
    const { name, version } = next.worker.plugin.manifest;
    const key = `${name} ${next.sha256}`;
    const known = this.swapCounts.get(key);
    if (known) known.swaps++;
    else this.swapCounts.set(key, { kind: "lb", name, version, sha256: next.sha256, swaps: 1 });
  }
}
