// Plans one algorithm's share of a batch with its plugin: encode the requests back to back, answer
// what the cache and identical items can, then call for the rest in chunks as big as the limits
// allow (each call costs a worker round trip). A chunk that runs out of memory is retried in halves.
// A failing call fails only its requests, with an error naming plugin and call.
import type { LbRequest, LbResult } from "../lb/plan.ts";
import { ByteWriter, HEADER_BYTES, inputHeader } from "./envelope.ts";
import type { LoadedLbPlugin } from "./lb-admit.ts";
import type { LbResultCache } from "./lb-cache.ts";
import { decodeLbOutput, LB_KIND_CODE, lbOpWord, writeLbRequest } from "./lb-codec.ts";
import { IdenticalItems } from "./lb-identical-items.ts";
import type { CallOutcome } from "./plugin-worker.ts";

export interface LbCallLimits {
  callBudgetMs: number;
  budgetPerRequestMs: number;
  maxRequestsPerCall: number;
  maxBytesPerCall: number;
  maxEndpointsPerCall: number;
  maxOutputBytesPerCall: number;
}

/** What every batch call shares: the limits, the result cache (null when off), dedupe, the log. */
export interface LbBatchContext {
  limits: LbCallLimits;
  cache: LbResultCache | null;
  dedupe: boolean;
  log: (line: string) => void;
}

/** One plugin's batch: its requests, and where the answers go (`out[index]` for each index). */
interface Batch {
  plugin: LoadedLbPlugin;
  requests: readonly LbRequest[];
  out: LbResult[];
}

/** A run of pending items sent in one call: `ends[i]` is where item i ends within `bytes`. */
interface Chunk {
  indices: number[];
  ends: number[];
  bytes: Uint8Array;
}

/** The items left to call after encoding: back to back in the writer, `ends[i]` where item i ends. */
interface Pending {
  indices: number[];
  ends: number[];
}

/** Answers `requests[i]` for each i in `indices` into `out[i]` with `plugin`. */
export async function callLbPlugin(
  ctx: LbBatchContext,
  plugin: LoadedLbPlugin,
  requests: readonly LbRequest[],
  indices: readonly number[],
  out: LbResult[],
): Promise<void> {
  // Items are encoded back to back into one buffer, the plugin's own unless a concurrent plan()
  // holds it (allocating a big ArrayBuffer costs more than filling it); a request answered from the
  // cache or refused is rewound, so the pending items stay contiguous.
  const own = !plugin.writerBusy;
  const w = own ? plugin.writer : new ByteWriter();
  if (own) plugin.writerBusy = true;
  try {
    await encodeAndCall(ctx, { plugin, requests, out }, indices, w);
  } finally {
    w.length = 0;
    if (own) {
      plugin.writerBusy = false;
      // Keep a buffer a normal sync fills; let go of one a rare huge batch grew.
      if (w.bytes.length > ctx.limits.maxBytesPerCall) plugin.writer = new ByteWriter();
    }
  }
}

async function encodeAndCall(
  ctx: LbBatchContext,
  batch: Batch,
  indices: readonly number[],
  w: ByteWriter,
): Promise<void> {
  const same = IdenticalItems.forPlugin(batch.plugin.omitted, ctx.dedupe);
  const pending = encodeBatch(ctx.cache, batch, indices, w, same);
  await callPending(ctx, batch, pending, w);
  same?.answer(batch.requests, pending.indices, batch.out, ctx.cache, batch.plugin.sha256);
}

/** Encodes each request unless the cache or an identical item answers it; a request it cannot encode fails. */
function encodeBatch(
  cache: LbResultCache | null,
  { plugin, requests, out }: Batch,
  indices: readonly number[],
  w: ByteWriter,
  same: IdenticalItems | null,
): Pending {
  const pending: Pending = { indices: [], ends: [] };
  for (const index of indices) {
    const req = requests[index];
    const endpoints = req.endpoints.length;
    // When only the endpoint count is sent, the count is the item: look it up before encoding anything.
    if (same?.matchCount(index, endpoints)) continue;
    const start = w.length;
    const problem = writeLbRequest(w, req, plugin.omitted);
    if (problem) {
      out[index] = { ok: false, error: problem };
      continue;
    }
    const hit = cache?.hit(req.key, plugin.sha256, w.bytes, start, w.length);
    if (hit) {
      out[index] = hit;
      w.length = start;
      continue;
    }
    const item = { bytes: w.bytes, start, end: w.length };
    if (same?.matchBytes(index, endpoints, item, pending.ends, pending.indices.length)) {
      w.length = start;
      continue;
    }
    pending.indices.push(index);
    pending.ends.push(w.length);
  }
  return pending;
}

/** How a chunk's output is bounded: by endpoints until the plugin's output per item is known. */
interface OutputBound {
  perItem: number | undefined;
  maxItems: number;
}

/** Calls the pending items in chunks, each as big as the limits allow. */
async function callPending(
  ctx: LbBatchContext,
  batch: Batch,
  pending: Pending,
  w: ByteWriter,
): Promise<void> {
  const { indices, ends } = pending;
  // Sized by the output of the call before this batch, not by the calls the batch makes.
  const perItem = batch.plugin.outputPerItem;
  const bound: OutputBound = {
    perItem,
    maxItems: perItem ? Math.max(1, Math.floor(ctx.limits.maxOutputBytesPerCall / perItem)) : Infinity,
  };
  let first = 0;
  while (first < indices.length) {
    const last = chunkEnd(ctx.limits, bound, batch.requests, pending, first);
    const from = first === 0 ? 0 : ends[first - 1];
    const chunk: Chunk = {
      indices: indices.slice(first, last),
      ends: ends.slice(first, last).map((e) => e - from),
      bytes: w.bytes.subarray(from, ends[last - 1]),
    };
    await callChunk(ctx, batch, chunk);
    first = last;
  }
}

/**
 * Where the chunk starting at pending item `first` ends (exclusive): at least one item, then as many
 * as fit the request, byte and output limits.
 */
function chunkEnd(
  limits: LbCallLimits,
  bound: OutputBound,
  requests: readonly LbRequest[],
  { indices, ends }: Pending,
  first: number,
): number {
  const from = first === 0 ? 0 : ends[first - 1];
  let last = first;
  let endpoints = 0;
  while (last < indices.length && last - first < limits.maxRequestsPerCall) {
    const count = requests[indices[last]].endpoints.length;
    const tooManyBytes = ends[last] - from + HEADER_BYTES > limits.maxBytesPerCall;
    const tooMuchOutput =
      bound.perItem === undefined
        ? endpoints + count > limits.maxEndpointsPerCall
        : endpoints + count + last + 1 - first > bound.maxItems;
    if (last > first && (tooManyBytes || tooMuchOutput)) break;
    endpoints += count;
    last++;
  }
  return last;
}

async function callChunk(ctx: LbBatchContext, batch: Batch, chunk: Chunk): Promise<void> {
  const { plugin } = batch;
  const count = chunk.indices.length;
  const header = inputHeader(LB_KIND_CODE, lbOpWord(plugin.omitted), count);
  // The output is decoded before the next await, so the worker's reused output buffer will do.
  const outcome = await plugin.worker.call(
    [header, chunk.bytes],
    ctx.limits.callBudgetMs + count * ctx.limits.budgetPerRequestMs,
    { reuseOutput: true },
  );
  if (!outcome.ok && outcome.memoryExhausted && count > 1) {
    // Output size is the plugin's business (a Maglev table is ~200 slots per endpoint): halve and retry.
    ctx.log(
      `wasmplane: lb plugin ${plugin.algorithm} call #${outcome.call} ran out of memory for ${count} service ports; retrying in halves`,
    );
    for (const half of halves(chunk)) await callChunk(ctx, batch, half);
    return;
  }
  acceptOutcome(ctx, batch, chunk, outcome);
}

function halves(chunk: Chunk): [Chunk, Chunk] {
  const half = Math.ceil(chunk.indices.length / 2);
  const split = chunk.ends[half - 1];
  return [
    {
      indices: chunk.indices.slice(0, half),
      ends: chunk.ends.slice(0, half),
      bytes: chunk.bytes.subarray(0, split),
    },
    {
      indices: chunk.indices.slice(half),
      ends: chunk.ends.slice(half).map((e) => e - split),
      bytes: chunk.bytes.subarray(split),
    },
  ];
}

/** Turns one call's outcome into a result per request of the chunk. */
function acceptOutcome(ctx: LbBatchContext, batch: Batch, chunk: Chunk, outcome: CallOutcome): void {
  const { plugin, requests, out } = batch;
  const where = `lb plugin ${plugin.algorithm} call #${outcome.call} (${chunk.indices.length} service ports)`;
  const decoded = decodeCall(
    plugin,
    chunk.indices.map((index) => requests[index]),
    outcome,
  );
  if (Array.isArray(decoded)) {
    storeResults(ctx, batch, chunk, decoded, where);
    return;
  }
  ctx.log(`wasmplane: ${where} failed: ${decoded}; their last good plans stay`);
  for (const index of chunk.indices) out[index] = { ok: false, error: `${where} failed: ${decoded}` };
}

/**
 * The results of one call in request order, or why the whole call failed. Counts a failed call's
 * requests as invalid plans or plugin errors, and records a good call's output size per item.
 */
function decodeCall(
  plugin: LoadedLbPlugin,
  chunkRequests: readonly LbRequest[],
  outcome: CallOutcome,
): LbResult[] | string {
  if (!outcome.ok) return outcome.error;
  const count = chunkRequests.length;
  let decoded: ReturnType<typeof decodeLbOutput>;
  try {
    decoded = decodeLbOutput(outcome.output, chunkRequests);
  } catch (err) {
    plugin.invalidPlans += count;
    return `invalid output: ${(err as Error).message}`;
  }
  if ("batchError" in decoded) {
    plugin.pluginErrors += count;
    return `plugin reported: ${decoded.batchError}`;
  }
  let items = count;
  for (const req of chunkRequests) items += req.endpoints.length;
  plugin.outputPerItem = outcome.output.length / items;
  return decoded;
}

/** Writes each decoded result to `out`: a good one is cached, a bad one logged and counted. */
function storeResults(
  ctx: LbBatchContext,
  batch: Batch,
  chunk: Chunk,
  decoded: LbResult[],
  where: string,
): void {
  const { plugin, requests, out } = batch;
  // Cached items are views of one copy of the chunk's bytes: one allocation instead of one per item.
  const kept = ctx.cache ? chunk.bytes.slice() : null;
  for (let i = 0; i < chunk.indices.length; i++) {
    const index = chunk.indices[i];
    const req = requests[index];
    const result = decoded[i];
    if (result.ok) {
      out[index] = result;
      if (kept) {
        const item = kept.subarray(i === 0 ? 0 : chunk.ends[i - 1], chunk.ends[i]);
        ctx.cache?.set(req.key, plugin.sha256, item, result);
      }
    } else {
      if (result.error.startsWith("invalid plan")) plugin.invalidPlans++;
      else plugin.pluginErrors++;
      const message = `${where}: ${req.key}: ${result.error}`;
      ctx.log(`wasmplane: ${message}; its last good plan stays`);
      out[index] = { ok: false, error: message };
    }
  }
}
