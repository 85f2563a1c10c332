// The agent's metrics: one registry per agent (no global state), kube-proxy's sync metrics, ours,
// the process metrics of prom-client, and the CNI command metrics.
import { Counter, collectDefaultMetrics, Histogram, Registry } from "prom-client";
import { type MetricsState, registerStateMetrics } from "./state-metrics.ts";
import { registerSyncMetrics, type SyncMetrics } from "./sync-metrics.ts";

/** What the CNI server reports per command (ADD, DEL, CHECK, …). */
export type CniCommandObserver = (command: string, durationMs: number, ok: boolean) => void;

export class AgentMetrics {
  readonly registry = new Registry();
  readonly sync: SyncMetrics;
  readonly cniCommand: CniCommandObserver;

  constructor(options: { processMetrics?: boolean; now?: () => number } = {}) {
    if (options.processMetrics !== false) collectDefaultMetrics({ register: this.registry });
    this.sync = registerSyncMetrics(this.registry, options.now);
    const registers = [this.registry];
    const latency = new Histogram({
      name: "wasmplane_cni_command_duration_seconds",
      help: "CNI command latency in seconds, per command (ADD, DEL, CHECK, GC, STATUS), errors included",
      labelNames: ["command"],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    });
    const errors = new Counter({
      name: "wasmplane_cni_command_errors_total",
      help: "CNI commands answered with an error, per command",
      labelNames: ["command"],
      registers,
    });
    this.cniCommand = (command, durationMs, ok) => {
      latency.observe({ command }, durationMs / 1000);
      if (!ok) errors.inc({ command });
    };
  }

  /** Adds the metrics read from the agent's state at scrape time. Call once. */
  watch(state: MetricsState): void {
    registerStateMetrics(this.registry, state);
  }

  /** The Prometheus text exposition. */
  text(): Promise<string> {
    return this.registry.metrics();
  }
}
