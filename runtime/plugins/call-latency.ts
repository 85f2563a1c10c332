// The latency of a plugin's calls as fixed-bucket counts, kept by the plugin worker itself: one
// comparison loop over a short array per call, no allocation, no metrics library on the call path.
// /metrics reads the counts when it is scraped (runtime/metrics/plugin-metrics.ts).

/** Upper bounds in seconds: 50 µs (a small LB batch) to 5 s (a policy world near its budget). */
export const CALL_LATENCY_BOUNDS_SECONDS: readonly number[] = [
  0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5,
];

/** What a scrape reads: cumulative counts per bound (Prometheus `le` semantics), the sum and count. */
export interface LatencySnapshot {
  bounds: readonly number[];
  /** cumulative[i]: calls that took at most bounds[i] seconds. */
  cumulative: number[];
  sumSeconds: number;
  count: number;
}

export class CallLatency {
  /** perBucket[i]: calls in (bounds[i-1], bounds[i]]; the last slot holds calls above every bound. */
  private readonly perBucket = new Float64Array(CALL_LATENCY_BOUNDS_SECONDS.length + 1);
  private sumSeconds = 0;
  private count = 0;

  record(durationMs: number): void {
    const seconds = durationMs / 1000;
    let i = 0;
    while (i < CALL_LATENCY_BOUNDS_SECONDS.length && seconds > CALL_LATENCY_BOUNDS_SECONDS[i]) i++;
    this.perBucket[i]++;
    this.sumSeconds += seconds;
    this.count++;
  }

  snapshot(): LatencySnapshot {
    const cumulative: number[] = [];
    let running = 0;
    for (let i = 0; i < CALL_LATENCY_BOUNDS_SECONDS.length; i++) {
      running += this.perBucket[i];
      cumulative.push(running);
    }
    return {
      bounds: CALL_LATENCY_BOUNDS_SECONDS,
      cumulative,
      sumSeconds: this.sumSeconds,
      count: this.count,
    };
  }

  /** In status JSON: the count and the sum (the buckets are for /metrics). */
  toJSON(): { count: number; sumSeconds: number } {
    return { count: this.count, sumSeconds: this.sumSeconds };
  }
}
