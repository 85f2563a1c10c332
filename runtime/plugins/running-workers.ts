// The plugin workers running in this process, whatever started them: the LB host, the IPAM decider
// inside pod networking, the policy decider. /metrics reads their counters and latency from here, so
// every kind is covered without each owner handing its workers up to the agent. An agent process
// runs one agent; a process that runs several (the test runner) sees all of their workers.
import type { CallLatency } from "./call-latency.ts";

/** What metrics read of a running worker. */
export interface RunningWorker {
  readonly plugin: {
    readonly name: string;
    readonly manifest: { readonly kind: string; readonly version: string };
    readonly inspected: { readonly sha256: string };
  };
  readonly stats: {
    readonly calls: number;
    readonly failures: number;
    readonly traps: number;
    readonly timeouts: number;
    readonly restarts: number;
    readonly latency: CallLatency;
  };
}

export class RunningWorkers {
  private readonly workers = new Set<RunningWorker>();

  add(worker: RunningWorker): void {
    this.workers.add(worker);
  }

  delete(worker: RunningWorker): void {
    this.workers.delete(worker);
  }

  list(): RunningWorker[] {
    return [...this.workers];
  }
}

/** This process's workers: a worker joins once its module is instantiated and leaves when it is closed. */
export const runningPluginWorkers = new RunningWorkers();
