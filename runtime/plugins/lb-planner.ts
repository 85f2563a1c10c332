// The LbPlanner backed by Wasm plugins: one worker per algorithm, one call per batch (chunked only
// by size), every module admitted (lock, ABI, grants, memory cap) before it runs. A failing call
// fails only its requests, with an error naming plugin and call; the service planner then keeps the
// last good plan for those keys. Unchanged requests are answered from a cache (plugins are pure).
import { readFileSync } from "node:fs";
import { basename, join, resolve } from "node:path";
import type { LbPlanner, LbRequest, LbResult } from "../lb/plan.ts";
import { admitPlugin, inspectModule, manifestPinProblem, PluginRefused } from "./admission.ts";
import type { Capability } from "./capabilities.ts";
import { ByteWriter, HEADER_BYTES, inputHeader } from "./envelope.ts";
import {
  decodeLbOutput,
  LB_INPUT_FIELDS,
  LB_KIND_CODE,
  lbOpWord,
  omittedLbFields,
  writeLbRequest,
} from "./lb-codec.ts";
import { AGENT_LIMITS } from "./limits.ts";
import { findModules, type LockEntry, lockedPin, pinPolicy, readLock } from "./lock.ts";
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

export interface WasmLbPlanner extends LbPlanner {
  /** Re-reads the lock and the modules; swaps changed ones that pass admission, keeps the rest. */
  reload(): Promise<ReloadReport>;
  status(): PluginStatus[];
  /** Every module a reload swapped in since the planner was created, with its count. */
  swaps(): PluginSwapCount[];
  close(): Promise<void>;
}

interface Loaded {
  algorithm: string;
  path: string;
  sha256: string;
  /** The locked sha256 of its sidecar manifest, when it has one. */
  manifestSha256?: string;
  version: string;
  worker: PluginWorker;
  /** Request fields this plugin does not read (manifest `reads`): left out of what it is sent. */
  omitted: number;
  /** Output bytes per (request + endpoint) of the last good call; sizes the next calls. */
  outputPerItem?: number;
  /** Where this plugin's requests are encoded, reused from call to call. */
  writer: ByteWriter;
  writerBusy: boolean;
  invalidPlans: number;
  pluginErrors: number;
}

interface CacheEntry {
  sha256: string;
  item: Uint8Array;
  result: LbResult;
}

const KEY_FIELD = LB_INPUT_FIELDS.key;
/** Every field bit set: an item is nothing but the endpoint count. */
const ONLY_COUNT = Object.values(LB_INPUT_FIELDS).reduce((a, b) => a | b, 0);

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

/** Whether `cached` equals `bytes[start, end)`; a plain loop beats making a view for short items. */
function sameBytes(cached: Uint8Array, bytes: Uint8Array, start: number, end: number): boolean {
  if (cached.length !== end - start) return false;
  for (let i = 0; i < cached.length; i++) if (cached[i] !== bytes[start + i]) return false;
  return true;
}

/** Whether `bytes[a, aEnd)` equals `bytes[b, bEnd)`. */
function sameRange(bytes: Uint8Array, a: number, aEnd: number, b: number, bEnd: number): boolean {
  if (aEnd - a !== bEnd - b) return false;
  for (let i = 0; a + i < aEnd; i++) if (bytes[a + i] !== bytes[b + i]) return false;
  return true;
}

/** FNV-1a of `bytes[start, end)`: buckets items for the identical-item check. */
function hashBytes(bytes: Uint8Array, start: number, end: number): number {
  let h = 2166136261;
  for (let i = start; i < end; i++) h = Math.imul(h ^ bytes[i], 16777619);
  return h >>> 0;
}

/** A run of pending items sent in one call: `ends[i]` is where item i ends within `bytes`. */
interface Chunk {
  indices: number[];
  ends: number[];
  bytes: Uint8Array;
}

/** Creates the planner and admits every configured plugin; a refused plugin fails only its requests. */
export async function createWasmLbPlanner(options: WasmLbPlannerOptions): Promise<WasmLbPlanner> {
  const opts = { ...DEFAULTS, ...options };
  const log = options.log ?? writeErr;
  const pluginDir = resolve(options.pluginDir ?? "build/plugins/lb");
  const loaded = new Map<string, Loaded>();
  const refused = new Map<string, { path: string; error: string }>();
  const cache = new Map<string, CacheEntry>();
  const swaps = new Map<string, PluginSwapCount>();

  function countSwap(next: Loaded): void {
    const { name, version } = next.worker.plugin.manifest;
    const key = `${name} ${next.sha256}`;
    const known = swaps.get(key);
    if (known) known.swaps++;
    else swaps.set(key, { kind: "lb", name, version, sha256: next.sha256, swaps: 1 });
  }

  function configuredPlugins(): Map<string, string> {
    if (options.plugins) return new Map(Object.entries(options.plugins).map(([a, p]) => [a, resolve(p)]));
    return new Map(findModules(pluginDir).map((p) => [basename(p, ".wasm"), p]));
  }

  async function admit(algorithm: string, path: string, pin: LockEntry): Promise<Loaded> {
    const bytes = readFileSync(path);
    // Grants are keyed by the plugin's manifest name (falling back to the algorithm name).
    const name = inspectModule(bytes, path).manifest?.name ?? algorithm;
    const granted = admitPlugin(bytes, path, {
      grants: options.grants?.[name] ?? options.grants?.[algorithm] ?? [],
      memoryCapBytes: opts.memoryCapBytes,
      expectedKind: "lb",
      ...pinPolicy(pin),
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
      manifestSha256: pin.manifestSha256,
      version: granted.manifest.version,
      worker,
      omitted: omittedLbFields(granted.manifest.reads),
      writer: new ByteWriter(),
      writerBusy: false,
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
        const pin = lockedPin(lock, options.lockFile, path);
        const sha = pin.sha256;
        const current = loaded.get(algorithm);
        if (
          current &&
          current.sha256 === sha &&
          current.manifestSha256 === pin.manifestSha256 &&
          current.path === path
        ) {
          // The serving module was admitted with these bytes; a file changed since is refused, not swapped in.
          const onDisk = inspectModule(readFileSync(path), path);
          const problem =
            onDisk.sha256 !== sha
              ? `sha256 ${onDisk.sha256} differs from the locked ${sha}; if the change is intended, run \`wasmplane plugin lock\``
              : manifestPinProblem(onDisk.manifestSource, pin.manifestSha256);
          if (problem) throw new PluginRefused(`${algorithm} (${path})`, [problem]);
          refused.delete(algorithm);
          report.unchanged.push(algorithm);
          continue;
        }
        const next = await admit(algorithm, path, pin);
        loaded.set(algorithm, next);
        refused.delete(algorithm);
        if (current) {
          await current.worker.close();
          countSwap(next);
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

  /** Encodes a group's requests into `writer`, answers what it can from the cache, calls for the rest. */
  async function planGroup(algorithm: string, requests: LbRequest[], indices: number[], out: LbResult[]) {
    const plugin = loaded.get(algorithm);
    if (!plugin) {
      const why = refused.get(algorithm)?.error;
      const known = [...loaded.keys()].sort().join(", ") || "none";
      const error = why ?? `unknown lb algorithm "${algorithm}" (loaded: ${known})`;
      for (const index of indices) out[index] = { ok: false, error };
      return;
    }
    // Items are encoded back to back into one buffer, the plugin's own unless a concurrent plan()
    // holds it (allocating a big ArrayBuffer costs more than filling it); a request answered from the
    // cache or refused is rewound, so the pending items stay contiguous.
    const own = !plugin.writerBusy;
    const w = own ? plugin.writer : new ByteWriter();
    if (own) plugin.writerBusy = true;
    try {
      await encodeAndCall(plugin, requests, indices, out, w);
    } finally {
      w.length = 0;
      if (own) {
        plugin.writerBusy = false;
        // Keep a buffer a normal sync fills; let go of one a rare huge batch grew.
        if (w.bytes.length > opts.maxBytesPerCall) plugin.writer = new ByteWriter();
      }
    }
  }

  async function encodeAndCall(
    plugin: Loaded,
    requests: LbRequest[],
    indices: number[],
    out: LbResult[],
    w: ByteWriter,
  ): Promise<void> {
    const useCache = opts.cache !== false;
    const pending: number[] = [];
    const ends: number[] = [];
    // A plugin that does not read the key sees only what varies between services (e.g. random: the
    // endpoint count), so many items are byte-identical; plugins are pure, so one answer serves all.
    const firstByHash =
      opts.dedupe !== false && (plugin.omitted & KEY_FIELD) !== 0 ? new Map<number, number>() : null;
    // twins[k] is answered by the pending item at position twinOf[k].
    const twins: number[] = [];
    const twinOf: number[] = [];
    // When only the endpoint count is sent (random, round-robin), the count is the item: look it up
    // before encoding anything.
    const byCount = firstByHash && plugin.omitted === ONLY_COUNT ? new Map<number, number>() : null;
    for (const index of indices) {
      const req = requests[index];
      if (byCount) {
        const of = byCount.get(req.endpoints.length);
        if (of !== undefined) {
          twins.push(index);
          twinOf.push(of);
          continue;
        }
      }
      const start = w.length;
      const problem = writeLbRequest(w, req, plugin.omitted);
      if (problem) {
        out[index] = { ok: false, error: problem };
        continue;
      }
      if (useCache) {
        const hit = cache.get(req.key);
        if (hit && hit.sha256 === plugin.sha256 && sameBytes(hit.item, w.bytes, start, w.length)) {
          out[index] = hit.result;
          w.length = start;
          continue;
        }
      }
      if (byCount) byCount.set(req.endpoints.length, pending.length);
      else if (firstByHash) {
        const hash = hashBytes(w.bytes, start, w.length);
        const of = firstByHash.get(hash);
        if (of !== undefined) {
          if (sameRange(w.bytes, of === 0 ? 0 : ends[of - 1], ends[of], start, w.length)) {
            twins.push(index);
            twinOf.push(of);
            w.length = start;
            continue;
          }
        } else firstByHash.set(hash, pending.length);
      }
      pending.push(index);
      ends.push(w.length);
    }
    await callPending(plugin, requests, pending, ends, out, w);
    for (let k = 0; k < twins.length; k++) {
      const index = twins[k];
      const of = twinOf[k];
      const result = out[pending[of]];
      const first = requests[pending[of]].key;
      out[index] = result.ok
        ? result
        : { ok: false, error: `${requests[index].key}: the same request as ${first}: ${result.error}` };
      const item = useCache && result.ok ? cache.get(first)?.item : undefined;
      if (item) cache.set(requests[index].key, { sha256: plugin.sha256, item, result });
    }
  }

  async function callPending(
    plugin: Loaded,
    requests: LbRequest[],
    pending: number[],
    ends: number[],
    out: LbResult[],
    w: ByteWriter,
  ): Promise<void> {
    // Calls are as big as the limits allow: each one costs a worker round trip.
    const perItem = plugin.outputPerItem;
    const maxItems = perItem ? Math.max(1, Math.floor(opts.maxOutputBytesPerCall / perItem)) : Infinity;
    let first = 0;
    while (first < pending.length) {
      let last = first;
      let endpoints = 0;
      const from = first === 0 ? 0 : ends[first - 1];
      while (last < pending.length && last - first < opts.maxRequestsPerCall) {
        const count = requests[pending[last]].endpoints.length;
        if (
          last > first &&
          (ends[last] - from + HEADER_BYTES > opts.maxBytesPerCall ||
            (perItem === undefined
              ? endpoints + count > opts.maxEndpointsPerCall
              : endpoints + count + last + 1 - first > maxItems))
        )
          break;
        endpoints += count;
        last++;
      }
      const chunk: Chunk = {
        indices: pending.slice(first, last),
        ends: ends.slice(first, last).map((e) => e - from),
        bytes: w.bytes.subarray(from, ends[last - 1]),
      };
      await callChunk(plugin, requests, chunk, out);
      first = last;
    }
  }

  async function callChunk(
    plugin: Loaded,
    requests: LbRequest[],
    chunk: Chunk,
    out: LbResult[],
  ): Promise<void> {
    const count = chunk.indices.length;
    const header = inputHeader(LB_KIND_CODE, lbOpWord(plugin.omitted), count);
    // The output is decoded before the next await, so the worker's reused output buffer will do.
    const outcome = await plugin.worker.call(
      [header, chunk.bytes],
      opts.callBudgetMs + count * opts.budgetPerRequestMs,
      { reuseOutput: true },
    );
    if (!outcome.ok && outcome.memoryExhausted && count > 1) {
      // Output size is the plugin's business (a Maglev table is ~200 slots per endpoint): halve and retry.
      log(
        `wasmplane: lb plugin ${plugin.algorithm} call #${outcome.call} ran out of memory for ${count} service ports; retrying in halves`,
      );
      const half = Math.ceil(count / 2);
      const split = chunk.ends[half - 1];
      await callChunk(
        plugin,
        requests,
        {
          indices: chunk.indices.slice(0, half),
          ends: chunk.ends.slice(0, half),
          bytes: chunk.bytes.subarray(0, split),
        },
        out,
      );
      await callChunk(
        plugin,
        requests,
        {
          indices: chunk.indices.slice(half),
          ends: chunk.ends.slice(half).map((e) => e - split),
          bytes: chunk.bytes.subarray(split),
        },
        out,
      );
      return;
    }
    const where = `lb plugin ${plugin.algorithm} call #${outcome.call} (${count} service ports)`;
    const failAll = (message: string) => {
      log(`wasmplane: ${where} failed: ${message}; their last good plans stay`);
      for (const index of chunk.indices) out[index] = { ok: false, error: `${where} failed: ${message}` };
    };
    if (!outcome.ok) return failAll(outcome.error);
    const chunkRequests = chunk.indices.map((index) => requests[index]);
    let decoded: ReturnType<typeof decodeLbOutput>;
    try {
      decoded = decodeLbOutput(outcome.output, chunkRequests);
    } catch (err) {
      plugin.invalidPlans += count;
      return failAll(`invalid output: ${(err as Error).message}`);
    }
    if ("batchError" in decoded) {
      plugin.pluginErrors += count;
      return failAll(`plugin reported: ${decoded.batchError}`);
    }
    let items = count;
    for (const req of chunkRequests) items += req.endpoints.length;
    plugin.outputPerItem = outcome.output.length / items;
    // Cached items are views of one copy of the chunk's bytes: one allocation instead of one per item.
    const kept = opts.cache !== false ? chunk.bytes.slice() : null;
    for (let i = 0; i < count; i++) {
      const index = chunk.indices[i];
      const req = chunkRequests[i];
      const result = decoded[i];
      if (result.ok) {
        out[index] = result;
        if (kept) {
          const item = kept.subarray(i === 0 ? 0 : chunk.ends[i - 1], chunk.ends[i]);
          cache.set(req.key, { sha256: plugin.sha256, item, result });
        }
      } else {
        if (result.error.startsWith("invalid plan")) plugin.invalidPlans++;
        else plugin.pluginErrors++;
        const message = `${where}: ${req.key}: ${result.error}`;
        log(`wasmplane: ${message}; its last good plan stays`);
        out[index] = { ok: false, error: message };
      }
    }
  }

  await reload();

  return {
    async plan(requests) {
      const out = new Array<LbResult>(requests.length);
      const groups = new Map<string, number[]>();
      for (let index = 0; index < requests.length; index++) {
        const algorithm = requests[index].algorithm || options.defaultAlgorithm;
        const g = groups.get(algorithm);
        if (g) g.push(index);
        else groups.set(algorithm, [index]);
      }
      await Promise.all(
        [...groups].map(([algorithm, indices]) => planGroup(algorithm, requests, indices, out)),
      );
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
    },
    swaps: () => [...swaps.values()].map((s) => ({ ...s })),
    async close() {
      for (const l of loaded.values()) await l.worker.close();
      loaded.clear();
    },
  };
}
