// Per plugin module (labels kind, name, version, hash): what its worker counts (calls, failures,
// traps, timeouts, restarts, call latency), for every kind, read from the running workers; and what
// the hosts know about their modules (answers refused as invalid: LB and policy; modules refused and
// swaps: LB).
import type { Registry } from "prom-client";
import { CALL_LATENCY_BOUNDS_SECONDS } from "../plugins/call-latency.ts";
import type { PluginSwapCount } from "../plugins/lb-planner.ts";
import type { RunningWorker } from "../plugins/plugin-worker.ts";
import { counter, gauge, type Labels } from "./collected.ts";
import { registerPrecountedHistogram } from "./precounted-histogram.ts";

export interface LbPluginState {
  algorithm: string;
  /** The module's manifest name (the algorithm's file name for the shipped plugins). */
  name?: string;
  sha256?: string;
  version?: string;
  refused?: string;
  stats?: { invalidPlans?: number };
}

export interface PluginMetricsState {
  /** The plugin workers running now, every kind. */
  pluginWorkers?(): RunningWorker[];
  lbPlugins?(): LbPluginState[];
  pluginSwaps?(): PluginSwapCount[];
}

const LABEL_NAMES = ["kind", "name", "version", "hash"];

function workerLabels(w: RunningWorker): Labels {
  const { name, manifest, inspected } = w.plugin;
  return { kind: manifest.kind, name, version: manifest.version, hash: inspected.sha256 };
}

type WorkerCounter = "calls" | "failures" | "traps" | "timeouts" | "restarts";

const workerCounters: [WorkerCounter, string, string][] = [
  ["calls", "wasmplane_plugin_calls_total", "Calls made to the plugin since it was loaded"],
  ["failures", "wasmplane_plugin_failures_total", "Calls that failed (trap, timeout, bad answer)"],
  ["traps", "wasmplane_plugin_traps_total", "Calls that trapped"],
  ["timeouts", "wasmplane_plugin_timeouts_total", "Calls that ran past the call budget"],
  ["restarts", "wasmplane_plugin_restarts_total", "Times the plugin's worker was restarted"],
];

function registerWorkerMetrics(registry: Registry, workers: () => RunningWorker[]): void {
  for (const [key, name, help] of workerCounters) {
    counter(registry, name, `${help} (per module: a swapped module starts again at 0)`, LABEL_NAMES, () =>
      workers().map((w): [Labels, number] => [workerLabels(w), w.stats[key]]),
    );
  }
  registerPrecountedHistogram(
    registry,
    {
      name: "wasmplane_plugin_call_duration_seconds",
      help: "Plugin call latency in seconds, failed calls included (per module: a swapped module starts again at 0)",
      labelNames: LABEL_NAMES,
      bounds: CALL_LATENCY_BOUNDS_SECONDS,
    },
    () =>
      workers().map((w) => {
        const s = w.stats.latency.snapshot();
        return {
          labels: workerLabels(w),
          bounds: s.bounds,
          cumulative: s.cumulative,
          sum: s.sumSeconds,
          count: s.count,
        };
      }),
  );
}

function lbLabels(p: LbPluginState): Labels {
  return { kind: "lb", name: p.name ?? p.algorithm, version: p.version ?? "", hash: p.sha256 ?? "" };
}

function registerInvalidAnswers(
  registry: Registry,
  plugins: () => LbPluginState[],
  workers: () => RunningWorker[],
): void {
  counter(
    registry,
    "wasmplane_plugin_invalid_answers_total",
    "Answers the host refused as invalid (per module: a swapped module starts again at 0)",
    LABEL_NAMES,
    () => [
      ...plugins().flatMap((p): [Labels, number][] =>
        p.stats ? [[lbLabels(p), p.stats.invalidPlans ?? 0]] : [],
      ),
      ...workers().flatMap((w): [Labels, number][] =>
        w.answers ? [[workerLabels(w), w.answers.invalid]] : [],
      ),
    ],
  );
}

function registerLbHostMetrics(registry: Registry, plugins: () => LbPluginState[]): void {
  gauge(
    registry,
    "wasmplane_plugin_refused",
    "1 when the module on disk is refused (the previous one may still serve)",
    ["kind", "name"],
    function () {
      this.reset();
      for (const p of plugins()) this.set({ kind: "lb", name: p.algorithm }, p.refused ? 1 : 0);
    },
  );
}

export function registerPluginMetrics(registry: Registry, state: PluginMetricsState): void {
  const { pluginWorkers, lbPlugins, pluginSwaps } = state;
  if (pluginWorkers) registerWorkerMetrics(registry, pluginWorkers);
  if (lbPlugins || pluginWorkers)
    registerInvalidAnswers(registry, lbPlugins ?? (() => []), pluginWorkers ?? (() => []));
  if (lbPlugins) registerLbHostMetrics(registry, lbPlugins);
  if (pluginSwaps)
    counter(
      registry,
      "wasmplane_plugin_swaps_total",
      "Times a plugin reload (SIGHUP) swapped this module in for a running one of the same plugin",
      LABEL_NAMES,
      () =>
        pluginSwaps().map((s): [Labels, number] => [
          { kind: s.kind, name: s.name, version: s.version, hash: s.sha256 },
          s.swaps,
        ]),
    );
}
