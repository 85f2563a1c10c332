// The LbPlanner backed by Wasm plugins: one worker per algorithm, one call per batch (chunked only
// by size), every module admitted (lock, ABI, grants, memory cap) before it runs. A failing call
// fails only its requests, with an error naming plugin and call; the service planner then keeps the
// last good plan for those keys. Unchanged requests are answered from a cache (plugins are pure).
import { readFileSync } from "node:fs";
import { basename, join, resolve } from "node:path";
import type { LbPlanner, LbRequest, LbResult } from "../lb/plan.ts";
import { admitPlugin, inspectModule, PluginRefused, sha256Hex } from "./admission.ts";
import type { Capability } from "./capabilities.ts";
import { inputEnvelope } from "./envelope.ts";
import { decodeLbOutput, encodeLbItems, LB_KIND_CODE, LB_OP_PLAN, lbRequestProblem } from "./lb-codec.ts";
import { findModules, lockedSha256, readLock } from "./lock.ts";
import { writeErr } from "./platform.ts";
import { PluginWorker, type PluginWorkerStats } from "./plugin-worker.ts";

export interface WasmLbPlannerOptions {
  /** Algorithm asked for when a request names none. */
  defaultAlgorithm: string;
  /** Algorithm name → module path. Without it, every .wasm in `pluginDir`, named by file. */
  plugins?: Record<string, string>;
  /** Directory of lb modules (default build/plugins/lb), used when `plugins` is not given. */
  pluginDir?: string;
  /** The lock file every module must match. */
  lockFile: string;
  /** Plugin manifest name → granted capabilities. Nothing is granted by default. */
  grants?: Record<string, Capability[]>;
  /** Linear memory cap per plugin (default 64 MiB). */
  memoryCapBytes?: number;
  /** Time budget per call (default 1000 ms), plus `budgetPerRequestMs` for each service port in it. */
  callBudgetMs?: number;
  /** Extra budget per service port in a call (default 0.5 ms): a big batch may take longer than a small one. */
  budgetPerRequestMs?: number;
  /** Seed of the `random` capability (default 1). */
  randomSeed?: number;
  /** Most requests per call (default 4096); bigger batches are split into several calls. */
  maxRequestsPerCall?: number;
  /** Most input bytes per call (default 8 MiB). */
  maxBytesPerCall?: number;
  /** Most endpoints per call (default 20,000): bounds the output, e.g. Maglev tables of ~100 slots per endpoint. */
  maxEndpointsPerCall?: number;
  /** Answer unchanged requests from the last good result (default true). */
  cache?: boolean;
  /** Where errors and plugin log lines go (default stderr). */
  log?: (line: string) => void;
}

export interface PluginStatus {
  algorithm: string;
  path: string;
  /** The module serving now (undefined when none was ever admitted). */
  sha256?: string;
  version?: string;
  /** Why the current module on disk is refused (the previous one may still serve). */
  refused?: string;
  stats?: PluginWorkerStats & { invalidPlans: number; pluginErrors: number };
}

export interface ReloadReport {
  loaded: string[];
  replaced: string[];
  unchanged: string[];
  removed: string[];
  refused: { algorithm: string; error: string }[];
}

export interface WasmLbPlanner extends LbPlanner {
  /** Re-reads the lock and the modules; swaps changed ones that pass admission, keeps the rest. */
  reload(): Promise<ReloadReport>;
  status(): PluginStatus[];
  close(): Promise<void>;
}

interface Loaded {
  algorithm: string;
  path: string;
  sha256: string;
  version: string;
  worker: PluginWorker;
  invalidPlans: number;
  pluginErrors: number;
}

interface CacheEntry {
  sha256: string;
  item: Uint8Array;
  result: LbResult;
}

const DEFAULTS = {
  memoryCapBytes: 64 * 1024 * 1024,
  callBudgetMs: 1000,
  budgetPerRequestMs: 0.5,
  randomSeed: 1,
  maxRequestsPerCall: 4096,
  maxEndpointsPerCall: 20000,
  maxBytesPerCall: 8 * 1024 * 1024,
};

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.compare(a, b) === 0;
}

/** Creates the planner and admits every configured plugin; a refused plugin fails only its requests. */
export async function createWasmLbPlanner(options: WasmLbPlannerOptions): Promise<WasmLbPlanner> {
  const opts = { ...DEFAULTS, ...options };
  const log = options.log ?? writeErr;
  const pluginDir = resolve(options.pluginDir ?? "build/plugins/lb");
  const loaded = new Map<string, Loaded>();
  const refused = new Map<string, { path: string; error: string }>();
  const cache = new Map<string, CacheEntry>();

  function configuredPlugins(): Map<string, string> {
    if (options.plugins) return new Map(Object.entries(options.plugins).map(([a, p]) => [a, resolve(p)]));
    return new Map(findModules(pluginDir).map((p) => [basename(p, ".wasm"), p]));
  }

  async function admit(algorithm: string, path: string, lockedSha: string): Promise<Loaded> {
    const bytes = readFileSync(path);
    // Grants are keyed by the plugin's manifest name (falling back to the algorithm name).
    const name = inspectModule(bytes, path).manifest?.name ?? algorithm;
    const granted = admitPlugin(bytes, path, {
      grants: options.grants?.[name] ?? options.grants?.[algorithm] ?? [],
      memoryCapBytes: opts.memoryCapBytes,
      expectedKind: "lb",
      expectedSha256: lockedSha,
      grantHint: (plugin, caps) =>
        `grant it in the agent config: lb: { grants: { "${plugin}": [${caps.map((c) => `"${c}"`).join(", ")}] } }`,
    });
    const worker = new PluginWorker(granted, {
      callBudgetMs: opts.callBudgetMs,
      randomSeed: opts.randomSeed,
      onLog: (name, line) => log(`lb plugin ${name}: ${line}`),
    });
    await worker.start();
    return {
      algorithm,
      path,
      sha256: granted.inspected.sha256,
      version: granted.manifest.version,
      worker,
      invalidPlans: 0,
      pluginErrors: 0,
    };
  }

  async function reload(): Promise<ReloadReport> {
    const report: ReloadReport = { loaded: [], replaced: [], unchanged: [], removed: [], refused: [] };
    const wanted = configuredPlugins();
    let lock: ReturnType<typeof readLock> | null = null;
    let lockError: string | null = null;
    try {
      lock = readLock(options.lockFile);
    } catch (err) {
      lockError = (err as Error).message;
    }
    for (const [algorithm, path] of wanted) {
      try {
        if (!lock) throw new Error(lockError!);
        const sha = lockedSha256(lock, options.lockFile, path);
        const current = loaded.get(algorithm);
        if (current && current.sha256 === sha && current.path === path) {
          // The serving module was admitted with these bytes; a file changed since is refused, not swapped in.
          const onDisk = sha256Hex(readFileSync(path));
          if (onDisk !== sha)
            throw new PluginRefused(`${algorithm} (${path})`, [
              `sha256 ${onDisk} differs from the locked ${sha}; if the change is intended, run \`wasmplane plugin lock\``,
            ]);
          refused.delete(algorithm);
          report.unchanged.push(algorithm);
          continue;
        }
        const next = await admit(algorithm, path, sha);
        loaded.set(algorithm, next);
        refused.delete(algorithm);
        if (current) {
          await current.worker.close();
          report.replaced.push(algorithm);
        } else report.loaded.push(algorithm);
      } catch (err) {
        const error =
          err instanceof PluginRefused
            ? err.message
            : `lb plugin ${algorithm} (${path}) refused: ${(err as Error).message}`;
        refused.set(algorithm, { path, error });
        report.refused.push({ algorithm, error });
        log(
          `wasmplane: ${error}${loaded.has(algorithm) ? " (the previously admitted module keeps serving)" : ""}`,
        );
      }
    }
    for (const [algorithm, l] of loaded) {
      if (wanted.has(algorithm)) continue;
      await l.worker.close();
      loaded.delete(algorithm);
      report.removed.push(algorithm);
    }
    for (const algorithm of refused.keys()) if (!wanted.has(algorithm)) refused.delete(algorithm);
    return report;
  }

  async function planGroup(algorithm: string, group: { index: number; req: LbRequest }[], out: LbResult[]) {
    const plugin = loaded.get(algorithm);
    if (!plugin) {
      const why = refused.get(algorithm)?.error;
      const known = [...loaded.keys()].sort().join(", ") || "none";
      const error = why ?? `unknown lb algorithm "${algorithm}" (loaded: ${known})`;
      for (const { index } of group) out[index] = { ok: false, error };
      return;
    }
    const sendable: { index: number; req: LbRequest }[] = [];
    for (const g of group) {
      const problem = lbRequestProblem(g.req);
      if (problem) out[g.index] = { ok: false, error: problem };
      else sendable.push(g);
    }
    const { bytes, offsets } = encodeLbItems(sendable.map((g) => g.req));
    const pending: { index: number; req: LbRequest; item: Uint8Array }[] = [];
    for (const [i, g] of sendable.entries()) {
      const item = bytes.subarray(offsets[i], offsets[i + 1]);
      const hit = opts.cache !== false ? cache.get(g.req.key) : undefined;
      if (hit && hit.sha256 === plugin.sha256 && sameBytes(hit.item, item)) out[g.index] = hit.result;
      else pending.push({ ...g, item });
    }
    let start = 0;
    while (start < pending.length) {
      let end = start;
      let size = 16;
      let endpoints = 0;
      while (end < pending.length && end - start < opts.maxRequestsPerCall) {
        const next = pending[end];
        if (
          end > start &&
          (size + next.item.length > opts.maxBytesPerCall ||
            endpoints + next.req.endpoints.length > opts.maxEndpointsPerCall)
        )
          break;
        size += next.item.length;
        endpoints += next.req.endpoints.length;
        end++;
      }
      await callChunk(plugin, pending.slice(start, end), out);
      start = end;
    }
  }

  async function callChunk(
    plugin: Loaded,
    chunk: { index: number; req: LbRequest; item: Uint8Array }[],
    out: LbResult[],
  ): Promise<void> {
    const envelope = inputEnvelope(
      LB_KIND_CODE,
      LB_OP_PLAN,
      chunk.map((c) => c.item),
    );
    const outcome = await plugin.worker.call(
      envelope,
      opts.callBudgetMs + chunk.length * opts.budgetPerRequestMs,
    );
    if (!outcome.ok && outcome.memoryExhausted && chunk.length > 1) {
      // Output size is the plugin's business (a Maglev table is ~200 slots per endpoint): halve and retry.
      log(
        `wasmplane: lb plugin ${plugin.algorithm} call #${outcome.call} ran out of memory for ${chunk.length} service ports; retrying in halves`,
      );
      const half = Math.ceil(chunk.length / 2);
      await callChunk(plugin, chunk.slice(0, half), out);
      await callChunk(plugin, chunk.slice(half), out);
      return;
    }
    const where = `lb plugin ${plugin.algorithm} call #${outcome.call} (${chunk.length} service ports)`;
    const failAll = (message: string) => {
      log(`wasmplane: ${where} failed: ${message}; their last good plans stay`);
      for (const c of chunk) out[c.index] = { ok: false, error: `${where} failed: ${message}` };
    };
    if (!outcome.ok) return failAll(outcome.error);
    let decoded: ReturnType<typeof decodeLbOutput>;
    try {
      decoded = decodeLbOutput(
        outcome.output,
        chunk.map((c) => c.req),
      );
    } catch (err) {
      plugin.invalidPlans += chunk.length;
      return failAll(`invalid output: ${(err as Error).message}`);
    }
    if ("batchError" in decoded) {
      plugin.pluginErrors += chunk.length;
      return failAll(`plugin reported: ${decoded.batchError}`);
    }
    for (const [i, c] of chunk.entries()) {
      const result = decoded[i];
      if (result.ok) {
        out[c.index] = result;
        if (opts.cache !== false)
          cache.set(c.req.key, { sha256: plugin.sha256, item: Uint8Array.from(c.item), result });
      } else {
        if (result.error.startsWith("invalid plan")) plugin.invalidPlans++;
        else plugin.pluginErrors++;
        const message = `${where}: ${c.req.key}: ${result.error}`;
        log(`wasmplane: ${message}; its last good plan stays`);
        out[c.index] = { ok: false, error: message };
      }
    }
  }

  await reload();

  return {
    async plan(requests) {
      const out = new Array<LbResult>(requests.length);
      const groups = new Map<string, { index: number; req: LbRequest }[]>();
      for (const [index, req] of requests.entries()) {
        const algorithm = req.algorithm || options.defaultAlgorithm;
        const g = groups.get(algorithm);
        if (g) g.push({ index, req });
        else groups.set(algorithm, [{ index, req }]);
      }
      await Promise.all([...groups].map(([algorithm, group]) => planGroup(algorithm, group, out)));
      if (opts.cache !== false && cache.size > requests.length * 2 + 1024) {
        const live = new Set(requests.map((r) => r.key));
        for (const key of cache.keys()) if (!live.has(key)) cache.delete(key);
      }
      return out;
    },
    reload,
    status() {
      const names = new Set([...configuredPlugins().keys(), ...loaded.keys(), ...refused.keys()]);
      return [...names].sort().map((algorithm) => {
        const l = loaded.get(algorithm);
        const r = refused.get(algorithm);
        return {
          algorithm,
          path: l?.path ?? r?.path ?? join(pluginDir, `${algorithm}.wasm`),
          sha256: l?.sha256,
          version: l?.version,
          refused: r?.error,
          stats: l
            ? { ...l.worker.stats, invalidPlans: l.invalidPlans, pluginErrors: l.pluginErrors }
            : undefined,
        };
      });
    },
    async close() {
      for (const l of loaded.values()) await l.worker.close();
      loaded.clear();
    },
  };
}
