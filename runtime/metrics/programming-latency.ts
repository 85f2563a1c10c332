// kubeproxy_network_programming_duration_seconds as kube-proxy measures it (pkg/proxy/metrics,
// endpointschangetracker.go): an EndpointSlice add or update carrying the annotation
// endpoints.kubernetes.io/last-change-trigger-time records that time; when a sync that started
// after the event succeeds, (now − trigger time) is observed once. Trigger times from before the
// tracker started are ignored (the first listing would report the age of the cluster), and a
// deleted slice drops its pending times (the annotation then dates from its last update).
import { Histogram, type Registry } from "prom-client";

export const triggerTimeAnnotation = "endpoints.kubernetes.io/last-change-trigger-time";

/** Bound on pending trigger times while syncs keep failing; the oldest are dropped first. */
const MAX_PENDING = 10_000;

/** prometheus.LinearBuckets(start, width, count). */
export function linearBuckets(start: number, width: number, count: number): number[] {
  return Array.from({ length: count }, (_, i) => start + width * i);
}

/** kube-proxy's buckets: 0.25 s, 0.5 s, 1..59 s, 60..115 s by 5, 120..300 s by 30. */
export const programmingBuckets = [
  ...linearBuckets(0.25, 0.25, 2),
  ...linearBuckets(1, 1, 59),
  ...linearBuckets(60, 5, 12),
  ...linearBuckets(120, 30, 7),
];

export interface ProgrammingEvent {
  type: string;
  kind: string;
  key?: string;
  object?: { metadata?: Record<string, unknown> };
}

export interface ProgrammingLatency {
  sourceEvents(events: readonly ProgrammingEvent[]): void;
  /** A sync that started at `startedAtMs` (epoch ms) succeeded. */
  syncSucceeded(startedAtMs: number): void;
}

interface Pending {
  key: string;
  triggerMs: number;
  seenMs: number;
}

/** The annotation's time in epoch ms; null when absent or not a time. */
export function triggerTime(event: ProgrammingEvent): number | null {
  const annotations = event.object?.metadata?.annotations;
  if (typeof annotations !== "object" || annotations === null) return null;
  const value = (annotations as Record<string, unknown>)[triggerTimeAnnotation];
  if (typeof value !== "string") return null;
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? null : ms;
}

export function registerProgrammingLatency(registry: Registry, now: () => number): ProgrammingLatency {
  const histogram = new Histogram({
    name: "kubeproxy_network_programming_duration_seconds",
    help: "In Cluster Network Programming Latency in seconds",
    buckets: programmingBuckets,
    registers: [registry],
  });
  const trackerStart = now();
  let pending: Pending[] = [];
  return {
    sourceEvents: (events) => {
      for (const e of events) {
        if (e.kind !== "EndpointSlice") continue;
        const key = e.key ?? "";
        if (e.type === "delete") {
          pending = pending.filter((p) => p.key !== key);
          continue;
        }
        const triggerMs = triggerTime(e);
        if (triggerMs === null || triggerMs <= trackerStart) continue;
        pending.push({ key, triggerMs, seenMs: now() });
      }
      if (pending.length > MAX_PENDING) pending = pending.slice(pending.length - MAX_PENDING);
    },
    syncSucceeded: (startedAtMs) => {
      const end = now();
      const served = pending.filter((p) => p.seenMs <= startedAtMs);
      if (served.length === 0) return;
      pending = pending.filter((p) => p.seenMs > startedAtMs);
      for (const p of served) histogram.observe(Math.max(0, end - p.triggerMs) / 1000);
    },
  };
}
