// The LbPlanner backed by Wasm plugins: one worker per algorithm, one call per batch (chunked only
// by size), every module admitted (lock, ABI, grants, memory cap) before it runs. A failing call
// fails only its requests, with an error naming plugin and call; the service planner then keeps the
// last good plan for those keys. Unchanged requests are answered from a cache (plugins are pure).
// The parts: lb-registry.ts (which module serves each algorithm, reload), lb-admit.ts (admitting one
// module), lb-batch-caller.ts (encoding, cache, identical items, chunking, out-of-memory halving).
import { basename, resolve } from "node:path";
import type { LbPlanner, LbRequest, LbResult } from "../lb/plan.ts";
import type { Capability } from "./capabilities.ts";
import { admitLbPlugin } from "./lb-admit.ts";
import { callLbPlugin, type LbBatchContext } from "./lb-batch-caller.ts";
import { LbResultCache } from "./lb-cache.ts";
import {
  LbPluginRegistry,
  type PluginStatus,
  type PluginSwapCount,
  type ReloadReport,
} from "./lb-registry.ts";
import { AGENT_LIMITS } from "./limits.ts";
import { findModules } from "./lock.ts";
import { writeErr } from "./platform.ts";
import type { RunningWorker } from "./plugin-worker.ts";

export type { PluginStatus, PluginSwapCount, ReloadReport };

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
  /** Most requests per call (default 16,384); bigger batches are split into several calls. */
  maxRequestsPerCall?: number;
  /** Most input bytes per call (default 8 MiB). */
  maxBytesPerCall?: number;
  /**
   * Most endpoints per call until the plugin's output size is known (default 20,000): bounds the
   * output of a first call, e.g. Maglev tables of ~200 slots per endpoint. Later calls are sized by
   * `maxOutputBytesPerCall` and the output per endpoint the plugin's last call produced.
   */
  maxEndpointsPerCall?: number;
  /** Output bytes to aim for per call once the plugin's output size is known (default 16 MiB). */
  maxOutputBytesPerCall?: number;
  /** Answer unchanged requests from the last good result (default true). */
  cache?: boolean;
  /**
   * Send byte-identical items of one batch once and share the answer (default true). Items can be
   * identical only for plugins whose manifest leaves the key out of `reads`.
   */
  dedupe?: boolean;
  /** Where errors and plugin log lines go (default stderr). */
  log?: (line: string) => void;
}

export interface WasmLbPlanner extends LbPlanner {
  /** Re-reads the lock and the modules; swaps changed ones that pass admission, keeps the rest. */
  reload(): Promise<ReloadReport>;
  status(): PluginStatus[];
  /** Every module a reload swapped in since the planner was created, with its count. */
  swaps(): PluginSwapCount[];
  /** The workers of the modules serving now (for /metrics). */
  workers(): RunningWorker[];
  close(): Promise<void>;
}

const DEFAULTS = {
  memoryCapBytes: AGENT_LIMITS.lb.memoryCapBytes,
  callBudgetMs: AGENT_LIMITS.lb.callBudgetMs,
  budgetPerRequestMs: 0.5,
  randomSeed: 1,
  maxRequestsPerCall: 16384,
  maxEndpointsPerCall: 20000,
  maxBytesPerCall: 8 * 1024 * 1024,
  maxOutputBytesPerCall: 16 * 1024 * 1024,
};

/** Algorithm name → module path: the configured plugins, or every module in `pluginDir` named by file. */
function configuredPlugins(options: WasmLbPlannerOptions, pluginDir: string): Map<string, string> {
  if (options.plugins) return new Map(Object.entries(options.plugins).map(([a, p]) => [a, resolve(p)]));
  return new Map(findModules(pluginDir).map((p) => [basename(p, ".wasm"), p]));
}

/** Request indices by algorithm, a request naming none going to `defaultAlgorithm`. */
function groupByAlgorithm(requests: readonly LbRequest[], defaultAlgorithm: string): Map<string, number[]> {
  const groups = new Map<string, number[]>();
  for (let index = 0; index < requests.length; index++) {
    const algorithm = requests[index].algorithm || defaultAlgorithm;
    const g = groups.get(algorithm);
    if (g) g.push(index);
    else groups.set(algorithm, [index]);
  }
  return groups;
}

/** Answers every request: each algorithm's group with its plugin, or with why that plugin is missing. */
async function planBatch(
  registry: LbPluginRegistry,
  ctx: LbBatchContext,
  requests: readonly LbRequest[],
  defaultAlgorithm: string,
): Promise<LbResult[]> {
  const out = new Array<LbResult>(requests.length);
  const groups = groupByAlgorithm(requests, defaultAlgorithm);
  await Promise.all(
    [...groups].map(async ([algorithm, indices]) => {
      const plugin = registry.lookup(algorithm);
      if ("error" in plugin) for (const index of indices) out[index] = { ok: false, error: plugin.error };
      else await callLbPlugin(ctx, plugin, requests, indices, out);
    }),
  );
  ctx.cache?.prune(requests);
  return out;
}

/** Creates the planner and admits every configured plugin; a refused plugin fails only its requests. */
export async function createWasmLbPlanner(options: WasmLbPlannerOptions): Promise<WasmLbPlanner> {
  const opts = { ...DEFAULTS, ...options };
  const log = options.log ?? writeErr;
  const pluginDir = resolve(options.pluginDir ?? "build/plugins/lb");
  const registry = new LbPluginRegistry(
    options.lockFile,
    (algorithm, path, pin) => admitLbPlugin(algorithm, path, pin, { ...opts, log }),
    log,
  );
  const ctx: LbBatchContext = {
    limits: opts,
    cache: opts.cache !== false ? new LbResultCache() : null,
    dedupe: opts.dedupe !== false,
    log,
  };
  const reload = () => registry.reload(configuredPlugins(options, pluginDir));
  await reload();
  return {
    plan: (requests) => planBatch(registry, ctx, requests, options.defaultAlgorithm),
    reload,
    status: () => registry.status(configuredPlugins(options, pluginDir).keys(), pluginDir),
    swaps: () => registry.swaps(),
    workers: () => registry.workers(),
    close: () => registry.close(),
  };
}
