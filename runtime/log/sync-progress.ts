// Phases of one sync (objects loaded, planned, diffed, applied) with counts and times. The first
// sync, and any phase that takes more than a second, logs at info: a 50,000-service start is not
// silent for 16 s. Other syncs log their phases at debug.
import { performance } from "node:perf_hooks";
import type { LogFields, Logger } from "./logger.ts";

export class SyncProgress {
  private mark = performance.now();

  constructor(
    private readonly logger: Logger,
    private readonly verbose: boolean,
    private readonly slowMs = 1000,
  ) {}

  /** Logs the phase that just ended, with the time since the previous one. */
  phase(name: string, fields: LogFields = {}): void {
    const now = performance.now();
    const phaseMs = Math.round((now - this.mark) * 10) / 10;
    this.mark = now;
    const level = this.verbose || phaseMs >= this.slowMs ? "info" : "debug";
    this.logger[level](`sync phase: ${name} in ${phaseMs}ms`, { phase: name, phaseMs, ...fields });
  }
}
