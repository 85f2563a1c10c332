// When to sync: on change, but at most once per minimum interval (so a burst of changes becomes one
// transaction); a periodic full resync; and after a failure, retries with exponential backoff.
// Timers are injected so the policy is tested without waiting.

export interface Timers {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const realTimers: Timers = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

export interface SchedulerOptions {
  minIntervalMs: number;
  /** 0 disables the periodic full resync. */
  resyncIntervalMs: number;
  /** First retry delay after a failure; doubles on each further failure up to maxBackoffMs. */
  initialBackoffMs?: number;
  maxBackoffMs?: number;
}

/** Runs one sync; `full` asks for a kernel read-back first. Resolves false when it failed. */
export type SyncRunner = (full: boolean) => Promise<boolean>;

export class SyncScheduler {
  private pending = false;
  private pendingFull = false;
  /** Someone waits on this sync (a CNI ADD): skip the minimum interval, not the failure backoff. */
  private pendingUrgent = false;
  private timerAt = 0;
  private running: Promise<void> | null = null;
  private timer: unknown = null;
  private resyncTimer: unknown = null;
  private lastStart = Number.NEGATIVE_INFINITY;
  private retryAt = 0;
  private failures = 0;
  private stopped = false;
  private readonly initialBackoffMs: number;
  private readonly maxBackoffMs: number;

  constructor(
    private readonly runner: SyncRunner,
    private readonly options: SchedulerOptions,
    private readonly timers: Timers = realTimers,
  ) {
    this.initialBackoffMs = options.initialBackoffMs ?? Math.max(500, options.minIntervalMs);
    this.maxBackoffMs = options.maxBackoffMs ?? 30_000;
  }

  /** Starts the periodic resync clock. The first sync happens on the first request. */
  start(): void {
    this.armResync();
  }

  /**
   * Asks for a sync soon; `full` makes it a resync with kernel read-back; `urgent` runs it without
   * waiting out the minimum interval (still one at a time, still after a failure's backoff).
   */
  request(full = false, urgent = false): void {
    if (this.stopped) return;
    this.pending = true;
    this.pendingFull ||= full;
    this.pendingUrgent ||= urgent;
    if (urgent && this.timer !== null && this.timerAt > Math.max(this.timers.now(), this.retryAt)) {
      this.timers.clearTimeout(this.timer);
      this.timer = null;
    }
    this.schedule();
  }

  /** Consecutive failures so far (0 after a success). */
  get consecutiveFailures(): number {
    return this.failures;
  }

  /** Stops scheduling and waits for a running sync to finish. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer !== null) this.timers.clearTimeout(this.timer);
    if (this.resyncTimer !== null) this.timers.clearTimeout(this.resyncTimer);
    this.timer = this.resyncTimer = null;
    await this.running;
  }

  private armResync(): void {
    if (this.options.resyncIntervalMs <= 0 || this.stopped) return;
    this.resyncTimer = this.timers.setTimeout(() => {
      this.request(true);
      this.armResync();
    }, this.options.resyncIntervalMs);
  }

  private schedule(): void {
    if (this.running || this.timer !== null || !this.pending || this.stopped) return;
    const earliest = this.pendingUrgent
      ? this.retryAt
      : Math.max(this.lastStart + this.options.minIntervalMs, this.retryAt);
    const delay = Math.max(0, earliest - this.timers.now());
    this.timerAt = this.timers.now() + delay;
    this.timer = this.timers.setTimeout(() => {
      this.timer = null;
      this.running = this.fire().finally(() => {
        this.running = null;
        this.schedule();
      });
    }, delay);
  }

  private async fire(): Promise<void> {
    if (!this.pending || this.stopped) return;
    const full = this.pendingFull;
    this.pending = this.pendingFull = this.pendingUrgent = false;
    this.lastStart = this.timers.now();
    let ok = false;
    try {
      ok = await this.runner(full);
    } catch {
      ok = false;
    }
    if (ok) {
      this.failures = 0;
      this.retryAt = 0;
      return;
    }
    this.failures++;
    const backoff = Math.min(this.maxBackoffMs, this.initialBackoffMs * 2 ** (this.failures - 1));
    this.retryAt = this.timers.now() + backoff;
    // The retry re-reads the kernel: after a failure we no longer trust our record of what it holds.
    this.pending = true;
    this.pendingFull = true;
  }
}
