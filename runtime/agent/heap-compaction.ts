// One compacting garbage collection after a large sync, once the agent is idle.
//
// A full sync of a large cluster (the first one, or after a re-list) allocates far more temporary
// objects than the state it keeps, interleaved with that state. V8's ordinary full GC frees the
// temporaries but moves only a few of the pages they leave part-filled, so the heap stays committed
// at about the size of the peak: at 100,000 Services, 1,015 MiB committed for 677 MiB live (docs/
// services.md, "Memory"). A compacting GC moves every survivor together and hands the emptied pages
// back to the operating system. It stops the agent for its length (about 1.7 s at 100,000 Services
// on this project's 2-core test machine, a tenth of that at 10,000), so it runs only after a sync whose
// batch had at least `minBytes`, `idleMs` after the last such sync, and never inside a sync.
//
// While it runs, the survivors exist twice: the resident size rises by about the live heap for a
// moment (at 100,000 Services from 1,225 MiB, the first sync's own peak, to about 1,800 MiB) before
// it falls (to 780 MiB). So a plain full GC measures the live heap first, and the compaction is
// skipped, with a log line, when the cgroup's memory limit does not leave that much room above the
// resident size.

import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { cgroupMemoryLimit } from "./memory-limit.ts";

export interface HeapCompactionOptions {
  /** Syncs whose batch was smaller leave nothing worth compacting. */
  minBytes: number;
  /** Waits this long after the last large sync (another large one restarts the wait). */
  idleMs: number;
  /** A line about what the compaction did. */
  log: (line: string, fields: Record<string, number>) => void;
  /** The cgroup's memory limit in bytes, null for none (memory-limit.ts). */
  memoryLimit?: () => number | null;
}

const MiB = 1024 * 1024;

/**
 * The agent's settings: a sync whose batch is this large leaves a heap worth compacting, about
 * 25,000 Services in the maps shape and 3,000 in the chains shape; the wait after the last one.
 */
export const COMPACT_AFTER_BYTES = 4 * MiB;
export const COMPACT_IDLE_MS = 2_000;

/** V8's gc(), without starting node with --expose-gc: the flag applies to contexts made after it. */
function exposedGc(): () => void {
  setFlagsFromString("--expose-gc");
  return runInNewContext("gc") as () => void;
}

/** One full GC that evacuates every page (V8 picks only the most fragmented ones otherwise). */
export function compactHeap(): void {
  const gc = exposedGc();
  setFlagsFromString("--compact-on-every-full-gc");
  try {
    gc();
  } finally {
    setFlagsFromString("--no-compact-on-every-full-gc");
  }
}

export class HeapCompaction {
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly options: HeapCompactionOptions) {}

  /** Called after every successful sync with the size of its batch. */
  afterSync(bytes: number): void {
    if (bytes < this.options.minBytes) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => this.run(), this.options.idleMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  private run(): void {
    this.timer = null;
    const started = performance.now();
    // A plain full GC first: what survives it is what the compaction copies.
    exposedGc()();
    const before = process.memoryUsage();
    const limit = (this.options.memoryLimit ?? cgroupMemoryLimit)();
    // Room for a second copy of the live heap, and a tenth more.
    const needed = before.rss + before.heapUsed * 1.1;
    if (limit !== null && needed > limit) {
      this.options.log(
        `heap not compacted after a large sync: it needs about ${Math.round(needed / MiB)} MiB for a moment, over the memory limit of ${Math.round(limit / MiB)} MiB`,
        { neededMiB: Math.round(needed / MiB), limitMiB: Math.round(limit / MiB) },
      );
      return;
    }
    compactHeap();
    const durationMs = Math.round(performance.now() - started);
    const after = process.memoryUsage();
    this.options.log(
      `heap compacted in ${durationMs} ms after a large sync: ${Math.round(before.heapTotal / MiB)} → ${Math.round(after.heapTotal / MiB)} MiB committed, ${Math.round(after.heapUsed / MiB)} MiB in use`,
      {
        durationMs,
        heapTotalBeforeMiB: Math.round(before.heapTotal / MiB),
        heapTotalMiB: Math.round(after.heapTotal / MiB),
        heapUsedMiB: Math.round(after.heapUsed / MiB),
      },
    );
  }
}
