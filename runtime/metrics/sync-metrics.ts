// kube-proxy's sync metrics, same names, help and buckets (pkg/proxy/metrics/metrics.go) so its
// dashboards work, plus ours about the transaction under wasmplane_. The agent calls the
// SyncMetrics port; nothing here reads the agent.
import { Counter, Gauge, Histogram, type Registry } from "prom-client";
import { PendingChanges } from "./pending-changes.ts";
import { type ProgrammingEvent, registerProgrammingLatency } from "./programming-latency.ts";

/** What the agent reports; every method is cheap (no I/O, no snapshot walk). */
export interface SyncMetrics {
  /** A sync was asked for (a change, a resync, a CNI command). */
  queued(): void;
  /** A batch of source events was applied to the store. */
  sourceEvents(events: readonly ProgrammingEvent[]): void;
  /** A sync took its snapshot of the store: the changes so far are no longer pending. */
  snapshotTaken(): void;
  syncFinished(sync: SyncObservation): void;
}

export interface SyncObservation {
  /** ISO time the sync started (network programming latency counts the changes it included). */
  at?: string;
  full: boolean;
  ok: boolean;
  durationMs: number;
  operations: number;
  bytes: number;
  /** "netlink", or "text"/"json" for an nft run; absent when nothing was sent. */
  path?: string;
  /**
   * A full resync compared the kernel's table with the one last applied: how many differences it
   * found (its transaction repairs them). Absent when no comparison was made.
   */
  drift?: number;
}

/** prometheus.ExponentialBuckets(start, factor, count). */
export function exponentialBuckets(start: number, factor: number, count: number): number[] {
  return Array.from({ length: count }, (_, i) => start * factor ** i);
}

const syncBuckets = exponentialBuckets(0.001, 2, 15);

/** "netlink" or "nft": the route a transaction took, as the issue and ApplyPathStats name them. */
export function routeOf(path: string | undefined): string {
  if (!path) return "none";
  return path === "netlink" ? "netlink" : "nft";
}

function registerPendingChanges(registry: Registry): PendingChanges {
  const pending = new PendingChanges();
  new Gauge({
    name: "kubeproxy_sync_proxy_rules_endpoint_changes_pending",
    help: "Pending proxy rules Endpoint changes",
    registers: [registry],
    collect() {
      this.set(pending.endpointChanges);
    },
  });
  new Gauge({
    name: "kubeproxy_sync_proxy_rules_service_changes_pending",
    help: "Pending proxy rules Service changes",
    registers: [registry],
    collect() {
      this.set(pending.serviceChanges);
    },
  });
  return pending;
}

/** Full resyncs that compared the kernel with the last applied table, and the differences repaired. */
function registerDrift(registry: Registry): (drift: number) => void {
  const checks = new Counter({
    name: "wasmplane_drift_checks_total",
    help: "Full resyncs that compared the kernel's table with the one last applied",
    registers: [registry],
  });
  const repaired = new Counter({
    name: "wasmplane_drift_repaired_total",
    help: "Differences (chains, set declarations, set elements) between the kernel's table and the one last applied, repaired by a full resync",
    registers: [registry],
  });
  return (drift) => {
    checks.inc();
    repaired.inc(drift);
  };
}

export function registerSyncMetrics(registry: Registry, now = () => Date.now()): SyncMetrics {
  const registers = [registry];
  const duration = new Histogram({
    name: "kubeproxy_sync_proxy_rules_duration_seconds",
    help: "SyncProxyRules latency in seconds",
    buckets: syncBuckets,
    registers,
  });
  const fullDuration = new Histogram({
    name: "kubeproxy_sync_full_proxy_rules_duration_seconds",
    help: "SyncProxyRules latency in seconds for full resyncs",
    buckets: syncBuckets,
    registers,
  });
  const partialDuration = new Histogram({
    name: "kubeproxy_sync_partial_proxy_rules_duration_seconds",
    help: "SyncProxyRules latency in seconds for partial resyncs",
    buckets: syncBuckets,
    registers,
  });
  const lastTimestamp = new Gauge({
    name: "kubeproxy_sync_proxy_rules_last_timestamp_seconds",
    help: "The last time proxy rules were successfully synced",
    registers,
  });
  const lastQueued = new Gauge({
    name: "kubeproxy_sync_proxy_rules_last_queued_timestamp_seconds",
    help: "The last time a sync of proxy rules was queued",
    registers,
  });
  const endpointChanges = new Counter({
    name: "kubeproxy_sync_proxy_rules_endpoint_changes_total",
    help: "Cumulative proxy rules Endpoint changes",
    registers,
  });
  const serviceChanges = new Counter({
    name: "kubeproxy_sync_proxy_rules_service_changes_total",
    help: "Cumulative proxy rules Service changes",
    registers,
  });
  const nftFailures = new Counter({
    name: "kubeproxy_sync_proxy_rules_nftables_sync_failures_total",
    help: "Cumulative proxy nftables sync failures",
    registers,
  });
  const syncs = new Counter({
    name: "wasmplane_syncs_total",
    help: "Syncs by kind (full, partial), result (ok, failed) and the route the transaction took (netlink, nft, none)",
    labelNames: ["kind", "result", "path"],
    registers,
  });
  const bytes = new Histogram({
    name: "wasmplane_sync_transaction_bytes",
    help: "Bytes of the transaction a sync sent (the netlink batch or the nft script); syncs with no changes are not observed",
    buckets: exponentialBuckets(256, 4, 10),
    registers,
  });
  const operations = new Histogram({
    name: "wasmplane_sync_transaction_operations",
    help: "Operations in the transaction a sync sent; syncs with no changes are not observed",
    buckets: exponentialBuckets(1, 4, 10),
    registers,
  });
  const programming = registerProgrammingLatency(registry, now);
  const pending = registerPendingChanges(registry);
  const driftRepaired = registerDrift(registry);
  return {
    queued: () => lastQueued.set(now() / 1000),
    snapshotTaken: () => pending.checkedOut(),
    sourceEvents: (events) => {
      pending.note(events);
      for (const e of events) {
        if (e.kind === "Service") serviceChanges.inc();
        else if (e.kind === "EndpointSlice") endpointChanges.inc();
      }
      programming.sourceEvents(events);
    },
    syncFinished: (s) => {
      const kind = s.full ? "full" : "partial";
      syncs.inc({ kind, result: s.ok ? "ok" : "failed", path: routeOf(s.path) });
      // As kube-proxy: every attempt is timed, failed ones too.
      const seconds = s.durationMs / 1000;
      duration.observe(seconds);
      (s.full ? fullDuration : partialDuration).observe(seconds);
      if (!s.ok) {
        nftFailures.inc();
        return;
      }
      lastTimestamp.set(now() / 1000);
      if (s.drift !== undefined) driftRepaired(s.drift);
      const started = s.at ? Date.parse(s.at) : Number.NaN;
      programming.syncSucceeded(Number.isNaN(started) ? now() - s.durationMs : started);
      if (s.operations > 0) {
        operations.observe(s.operations);
        bytes.observe(s.bytes);
      }
    },
  };
}
