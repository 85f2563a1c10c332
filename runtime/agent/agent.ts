// The agent: source → store → planners → one nftables transaction per sync. It never syncs before
// the source's first complete listing (an empty store would delete every service on restart), and
// on start it reads our table back so that the first sync sends a diff, not a rewrite.

import { performance } from "node:perf_hooks";
import { type DesiredTable, mergeFragments } from "../../nft/desired.ts";
import type { LbPlanner, LbResult } from "../lb/plan.ts";
import { type LogFields, type Logger, lineFunction, lineLogger } from "../log/logger.ts";
import { SyncProgress } from "../log/sync-progress.ts";
import type { MetricsState } from "../metrics/state-metrics.ts";
import type { SyncMetrics } from "../metrics/sync-metrics.ts";
import type { RunningWorker } from "../plugins/plugin-worker.ts";
import type { PodPolicyStatus } from "../policy/enforcer.ts";
import type { Source, SourceEvent, SourceProblem } from "../sources/source.ts";
import type { Snapshot } from "../store/objects.ts";
import { formatProblem } from "../store/problems.ts";
import { Store } from "../store/store.ts";
import {
  type Dataplane,
  type PluginHost,
  type PodNetworkPlanner,
  type PolicyPlanner,
  type ServicePlanner,
  tableFamily,
  tableName,
} from "./dependencies.ts";
import { tableDrift } from "./drift.ts";
import { COMPACT_AFTER_BYTES, COMPACT_IDLE_MS, HeapCompaction } from "./heap-compaction.ts";
import { type AgentStatus, RECENT_SYNCS, type SyncRecord, servicesStatus } from "./status.ts";
import { SyncScheduler, type Timers } from "./sync-scheduler.ts";

export interface AgentOptions {
  nodeName: string;
  netns?: string;
  minSyncIntervalMs: number;
  resyncIntervalMs: number;
  source: Source;
  planner: ServicePlanner;
  lbPlanner: LbPlanner;
  dataplane: Dataplane;
  /** The Wasm plugin host behind `lbPlanner`, when plugins are configured (reload, status). */
  plugins?: PluginHost;
  /** NetworkPolicy enforcement; used only with pod networking, whose hook chains it fills. */
  policy?: PolicyPlanner;
  log?: (line: string) => void;
  /** Structured logs (fields beside the message); without it, lines go to `log` without fields. */
  logger?: Logger;
  /** Prometheus sync metrics (runtime/metrics/). */
  metrics?: SyncMetrics;
  /** The plugin workers running for this agent, every kind (for /metrics). */
  pluginWorkers?: () => RunningWorker[];
  timers?: Timers;
  /** How long stop() waits for each of its steps. Default 10 s. */
  stopStepTimeoutMs?: number;
}

/** What a problem is about: the text before its first ": " ("Service default/web", a file, …). */
function problemSubject(problem: string): string {
  const i = problem.indexOf(": ");
  return i < 0 ? problem : problem.slice(0, i);
}

export class Agent {
  readonly store = new Store();
  private readonly scheduler: SyncScheduler;
  private readonly log: (line: string) => void;
  private readonly logger: Logger;
  private readonly startedAt = new Date().toISOString();
  /** What we believe the kernel holds; null when our table does not exist. */
  private applied: DesiredTable | null = null;
  /** False until read back, and again after a failed apply (the kernel is the truth then). */
  private appliedKnown = false;
  private sourceSynced = false;
  private lastSync: SyncRecord | null = null;
  private lastSuccessfulSync: SyncRecord | null = null;
  /** The last RECENT_SYNCS sync records, oldest first (the status page plots them). */
  private recentSyncs: SyncRecord[] = [];
  private syncCount = 0;
  private failedCount = 0;
  private planProblems: string[] = [];
  private actuationProblems: string[] = [];
  private policyPods: PodPolicyStatus[] | null = null;
  private loggedProblems = new Set<string>();
  private syncWaiters: (() => void)[] = [];
  private podNetworking: PodNetworkPlanner | null = null;
  /** Sync requests that need an answer (syncNow) are numbered; a sync serves those made before it started. */
  private requestSeq = 0;
  private servedSeq = 0;
  private seqWaiters: { seq: number; resolve: () => void }[] = [];
  /** Counts plugin reloads; a sync that overlapped one re-plans again (its answers may be the old module's). */
  private lbGeneration = 0;
  /** Health (kube-proxy's rule): when the oldest change not yet synced was queued, and when the last good sync ended. */
  private oldestQueuedAt: number | null = null;
  /** When a source event last changed the store; a sync that started later has seen the change. */
  private storeChangedAt: string | null = null;
  private lastSuccessEndedAt: number | null = null;
  private syncedListeners: ((snapshot: Snapshot) => void)[] = [];
  private readonly compaction: HeapCompaction;

  constructor(private readonly options: AgentOptions) {
    this.log = options.log ?? (options.logger ? lineFunction(options.logger) : (line) => console.log(line));
    this.logger = options.logger ?? lineLogger(this.log);
    this.compaction = new HeapCompaction({
      minBytes: COMPACT_AFTER_BYTES,
      idleMs: COMPACT_IDLE_MS,
      log: (line, fields) => this.logger.info(line, fields),
    });
    this.scheduler = new SyncScheduler(
      (full) => this.sync(full),
      { minIntervalMs: options.minSyncIntervalMs, resyncIntervalMs: options.resyncIntervalMs },
      options.timers,
    );
  }

  async start(): Promise<void> {
    this.scheduler.start();
    await this.options.source.start({
      events: (events: SourceEvent[]) => {
        this.options.metrics?.sourceEvents(events);
        const changed = this.store.apply(events);
        if (changed) this.storeChangedAt = new Date().toISOString();
        if (changed && this.sourceSynced) {
          this.noteQueued();
          this.scheduler.request();
        }
        this.reportProblems();
      },
      synced: () => {
        this.sourceSynced = true;
        this.noteQueued();
        this.scheduler.request();
      },
      problems: (problems: SourceProblem[]) => {
        this.store.setSourceProblems(this.options.source.description, problems);
        this.reportProblems();
      },
    });
  }

  /** Adds pod networking: its node rules join every transaction. Call before start(). */
  setPodNetworking(pods: PodNetworkPlanner): void {
    this.podNetworking = pods;
  }

  /** Asks for a sync after the minimum interval, without waiting for it (safe inside a sync). */
  requestSync(): void {
    this.noteQueued();
    this.scheduler.request();
  }

  /** A change waits for a sync; the first one waiting is what health measures against. */
  private noteQueued(): void {
    this.options.metrics?.queued();
    this.oldestQueuedAt ??= Date.now();
  }

  /** What the health endpoints judge by (epoch ms; null: nothing queued / no successful sync yet). */
  syncTimes(): { oldestQueuedAt: number | null; lastSuccessEndedAt: number | null } {
    return { oldestQueuedAt: this.oldestQueuedAt, lastSuccessEndedAt: this.lastSuccessEndedAt };
  }

  /**
   * Calls `listener` with the snapshot of each successful sync, after its commit and actuation (the
   * healthCheckNodePort servers follow it). It must not wait for a sync; errors it throws are logged.
   */
  onSynced(listener: (snapshot: Snapshot) => void): void {
    this.syncedListeners.push(listener);
  }

  /**
   * Syncs as soon as possible (no minimum interval) and resolves once a sync that started after this
   * call has finished: a CNI ADD answers only when its pod's rules are in the kernel. Never call it
   * from inside a sync (a planner, an actuator): it would wait on itself. Use `requestSync` there.
   */
  syncNow(): Promise<void> {
    const seq = ++this.requestSeq;
    this.noteQueued();
    const done = new Promise<void>((resolve) => this.seqWaiters.push({ seq, resolve }));
    this.scheduler.request(false, true);
    return done;
  }

  /**
   * Stops watching and syncing; the rules stay in the kernel (traffic keeps flowing). Each step gets
   * at most `stopStepTimeoutMs`: a step that hangs (a sync stuck in the kernel, a source that does not
   * answer) is logged and left behind, so stop() returns in bounded time in every state.
   */
  async stop(): Promise<void> {
    const steps: [string, () => Promise<void> | undefined][] = [
      ["stopping the source", () => this.options.source.stop()],
      ["waiting for the running sync", () => this.scheduler.stop()],
      ["closing pod networking", () => this.podNetworking?.close()],
      ["closing the plugins", () => this.options.plugins?.close()],
      ["closing the policy decider", () => this.options.policy?.close()],
    ];
    for (const [what, step] of steps) await this.boundedStep(what, step);
    this.compaction.stop();
    for (const w of this.seqWaiters) w.resolve();
    this.seqWaiters = [];
  }

  private async boundedStep(what: string, step: () => Promise<void> | undefined): Promise<void> {
    const limit = this.options.stopStepTimeoutMs ?? 10_000;
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<"timeout">((resolve) => {
      timer = setTimeout(() => resolve("timeout"), limit);
    });
    try {
      const outcome = await Promise.race([Promise.resolve(step()).then(() => "done" as const), timedOut]);
      if (outcome === "timeout") this.log(`stop: ${what} did not finish within ${limit} ms; going on`);
    } catch (err) {
      this.log(`stop: ${what} failed: ${(err as Error).message}`);
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Re-reads the lock file and plugin modules (SIGHUP): changed modules that pass admission replace
   * the running ones. When any module was loaded, replaced or removed, the service planner forgets its
   * LB plans and the next sync asks the LB planner for every service port (unchanged modules answer
   * from its cache) and applies the changed plans in one transaction; established connections keep
   * their conntrack entries.
   */
  async reloadPlugins(): Promise<void> {
    const host = this.options.plugins;
    if (!host) {
      this.log("reload: no LB plugins configured");
      return;
    }
    const report = await host.reload();
    const parts = (["loaded", "replaced", "removed", "unchanged"] as const)
      .filter((k) => report[k].length > 0)
      .map((k) => `${k} ${report[k].join(", ")}`);
    this.log(`plugins reloaded: ${parts.join("; ") || "nothing"}`);
    for (const r of report.refused) this.log(`problem: plugin ${r.algorithm} refused: ${r.error}`);
    if (report.loaded.length + report.replaced.length + report.removed.length === 0) return;
    this.lbGeneration++;
    this.options.planner.invalidateLbPlans();
    this.scheduler.request();
  }

  /** Resolves after the next sync attempt finishes (for tests and the sandbox). */
  nextSync(): Promise<void> {
    return new Promise((resolve) => this.syncWaiters.push(resolve));
  }

  private async sync(full: boolean): Promise<boolean> {
    // The periodic resync (or a CNI command) may ask before the source's first complete listing; an
    // empty store would then delete every rule on the node. Nothing happens until the source synced.
    if (!this.sourceSynced) return true;
    const { planner, lbPlanner, dataplane } = this.options;
    const started = performance.now();
    const seq = this.requestSeq;
    const generation = this.lbGeneration;
    const startedAt = Date.now();
    let synced: Snapshot | null = null;
    const record: SyncRecord = {
      at: new Date().toISOString(),
      full: full || !this.appliedKnown,
      ok: false,
      durationMs: 0,
      planMs: 0,
      applyMs: 0,
      operations: 0,
      bytes: 0,
    };
    // The first sync logs its phases at info (a large start is long); later ones only slow phases.
    const progress = new SyncProgress(this.logger.child({ sync: this.syncCount + 1 }), this.syncCount === 0);
    let drift: string[] | null = null;
    try {
      if (record.full) {
        // A periodic resync knows what it last applied: what the kernel holds beyond that is drift.
        const believed = this.appliedKnown ? this.applied : null;
        this.applied = await dataplane.readBack();
        this.appliedKnown = true;
        if (believed) drift = tableDrift(believed, this.applied);
        progress.phase("kernel table read back");
      }
      const planStart = performance.now();
      const snapshot = this.store.snapshot();
      this.options.metrics?.snapshotTaken();
      progress.phase("objects loaded", { services: snapshot.services.size, pods: snapshot.pods.size });
      const requests = planner.lbRequests(snapshot);
      const results = requests.length > 0 ? await lbPlanner.plan(requests) : [];
      const lb = new Map<string, LbResult>(
        requests.map((r, i) => [
          r.key,
          results[i] ?? { ok: false, error: "the LB planner returned no result" },
        ]),
      );
      const plan = planner.plan(snapshot, lb);
      const fragments = [plan.fragment];
      const labels = ["services"];
      const policy =
        this.podNetworking && this.options.policy ? await this.options.policy.plan(snapshot) : null;
      const pods = this.podNetworking?.plan(snapshot, policy?.hooks);
      if (pods) {
        fragments.push(pods.fragment);
        labels.push("pod networking");
      }
      if (policy) {
        fragments.push(policy.fragment);
        labels.push("policy");
      }
      this.policyPods = policy?.pods ?? null;
      this.planProblems = [
        ...(pods?.problems ?? []).map((p) => `pod networking: ${p}`),
        ...(policy?.problems ?? []).map((p) => `policy: ${p}`),
        ...this.unenforcedPolicies(snapshot),
        ...plan.problems.map(formatProblem),
        ...[...lb]
          .filter(([, r]) => !r.ok)
          .map(([key, r]) => `LB plan ${key}: ${r.ok ? "" : r.error} (keeping the last good plan)`),
      ];
      progress.phase("planned", { lbRequests: requests.length });
      const desired = mergeFragments(tableFamily, tableName, fragments, labels);
      const { tx, applied, deferredChains } = dataplane.diff(this.applied, desired);
      record.planMs = performance.now() - planStart;
      record.operations = tx.size;
      progress.phase("transaction built", { operations: tx.size });
      if (tx.size > 0) {
        const outcome = await dataplane.apply(tx);
        record.applyMs = outcome.durationMs;
        record.bytes = outcome.bytes;
        if (outcome.path) record.path = outcome.path;
        progress.phase("applied", { bytes: outcome.bytes, path: outcome.path });
      }
      this.applied = applied;
      record.ok = true;
      if (drift) this.noteDriftRepaired(record, drift);
      // Chains still referenced by the state just replaced were only flushed; the next sync deletes
      // them, so ask for it now rather than leaving them until something else changes.
      if ((deferredChains ?? 0) > 0) this.scheduler.request();
      // Effects outside nftables follow the commit. A failure there must not hold the services back;
      // it stays a problem until a later sync carries the plan out.
      this.actuationProblems = pods
        ? await pods.actuate().then(
            () => [],
            (err: Error) => [`pod networking: ${err.message}`],
          )
        : [];
      const stale = planner.staleUdpEndpoints();
      if (stale.length > 0) {
        await dataplane.deleteUdpConntrack(stale).catch((err: Error) => {
          this.log(`warning: deleting stale UDP conntrack entries: ${err.message}`);
        });
      }
      synced = snapshot;
    } catch (err) {
      record.error = (err as Error).message;
      // The transaction was all-or-nothing, so the kernel still holds the last good state; read it
      // back on the retry rather than trusting our record.
      this.appliedKnown = false;
    }
    if (generation !== this.lbGeneration) {
      // A reload landed while this sync was asking the old modules: ask everything again.
      this.options.planner.invalidateLbPlans();
      this.scheduler.request();
    }
    record.durationMs = performance.now() - started;
    if (synced) this.noteSynced(startedAt, synced);
    this.finishSync(record);
    if (record.ok) this.releaseWaiters(seq);
    return record.ok;
  }

  private noteDriftRepaired(record: SyncRecord, drift: string[]): void {
    record.drift = drift.length;
    if (drift.length === 0) return;
    this.logger.warn(
      `sync full: repaired ${drift.length} differences between the kernel's table and the last applied one: ${drift.slice(0, 3).join("; ")}${drift.length > 3 ? "; …" : ""}`,
      { drift: drift.length },
    );
  }

  private noteSynced(startedAt: number, snapshot: Snapshot): void {
    this.lastSuccessEndedAt = Date.now();
    // A change queued while this sync ran may not be in its snapshot: it keeps waiting.
    if (this.oldestQueuedAt !== null && this.oldestQueuedAt <= startedAt) this.oldestQueuedAt = null;
    for (const listener of this.syncedListeners) {
      try {
        listener(snapshot);
      } catch (err) {
        this.log(`warning: after-sync listener failed: ${(err as Error).message}`);
      }
    }
  }

  /** Policies in the store that nothing enforces: a visible problem, never silence. */
  private unenforcedPolicies(snapshot: Snapshot): string[] {
    if (this.podNetworking && this.options.policy) return [];
    const count = (snapshot.networkPolicies?.size ?? 0) + (snapshot.clusterNetworkPolicies?.size ?? 0);
    if (count === 0) return [];
    const why = this.podNetworking ? "policy enforcement is off" : "pod networking (config cni:) is off";
    return [`policy: ${count} NetworkPolicies/ClusterNetworkPolicies are not enforced: ${why}`];
  }

  private releaseWaiters(served: number): void {
    this.servedSeq = Math.max(this.servedSeq, served);
    const ready = this.seqWaiters.filter((w) => w.seq <= this.servedSeq);
    this.seqWaiters = this.seqWaiters.filter((w) => w.seq > this.servedSeq);
    for (const w of ready) w.resolve();
  }

  private finishSync(record: SyncRecord): void {
    this.syncCount++;
    this.lastSync = record;
    if (record.ok) this.lastSuccessfulSync = record;
    else this.failedCount++;
    this.recentSyncs = [...this.recentSyncs.slice(-(RECENT_SYNCS - 1)), record];
    if (record.ok) this.compaction.afterSync(record.bytes);
    const what =
      record.operations === 0
        ? "no changes"
        : `${record.operations} operations, ${record.bytes} bytes${record.path ? ` via ${record.path}` : ""}`;
    const fields = {
      sync: this.syncCount,
      durationMs: Math.round(record.durationMs * 10) / 10,
      full: record.full,
      operations: record.operations,
      bytes: record.bytes,
      path: record.path,
    };
    const line = `sync ${record.full ? "full" : "partial"}: ${what} in ${record.durationMs.toFixed(1)}ms`;
    if (record.ok) this.logger[record.operations > 0 || record.full ? "info" : "debug"](line, fields);
    else
      this.logger.error(`sync failed (will retry, keeping the last good rules): ${record.error}`, {
        ...fields,
        error: record.error,
      });
    this.options.metrics?.syncFinished(record);
    this.reportProblems();
    const waiters = this.syncWaiters;
    this.syncWaiters = [];
    for (const w of waiters) w();
  }

  private sourceProblems(): string[] {
    return this.store.sourceProblems().map((p) => `${p.origin}: ${p.message}`);
  }

  private rejectedProblems(): string[] {
    return this.rejectedEntries().map(([text]) => text);
  }

  /** Each rejected object's problem as text, with the object and field for structured logs. */
  private rejectedEntries(): [string, LogFields][] {
    return this.store
      .rejected()
      .flatMap((r) =>
        r.problems.map((p): [string, LogFields] => [
          `${formatProblem(p)}${r.keepsLastAccepted ? " (still serving the last accepted version)" : ""}`,
          { kind: p.kind, namespace: p.namespace || undefined, name: p.name, field: p.field },
        ]),
      );
  }

  /** Source problems, rejected objects, then planner and actuation problems. */
  private problems(): string[] {
    return [
      ...this.sourceProblems(),
      ...this.rejectedProblems(),
      ...this.planProblems,
      ...this.actuationProblems,
    ];
  }

  /** Logs each problem once when it appears, and once when it is resolved. */
  private reportProblems(): void {
    const rejected = new Map(this.rejectedEntries());
    const current = new Map<string, string>([
      ...[...rejected.keys()].map((p): [string, string] => [p, "rejected"]),
      ...[...this.sourceProblems(), ...this.planProblems, ...this.actuationProblems].map(
        (p): [string, string] => [p, "problem"],
      ),
    ]);
    const gone = [...this.loggedProblems].filter((p) => !current.has(p));
    const replaced = new Set<string>();
    for (const [p, label] of current) {
      if (this.loggedProblems.has(p)) continue;
      // A new problem about the object of a gone one replaces it: the old one was not resolved.
      const old = gone.find((g) => !replaced.has(g) && problemSubject(g) === problemSubject(p));
      if (old) replaced.add(old);
      this.logger.warn(
        `${label}: ${p}${old ? ` (replacing: ${old.slice(problemSubject(old).length + 2)})` : ""}`,
        rejected.get(p),
      );
    }
    for (const p of gone) if (!replaced.has(p)) this.logger.info(`resolved: ${p}`);
    this.loggedProblems = new Set(current.keys());
  }

  /** What /metrics reads at scrape time: the cheap parts of status() (no per-service list). */
  metricsState(): MetricsState {
    const { dataplane, plugins } = this.options;
    const applyStats = dataplane.applyStats?.bind(dataplane);
    return {
      nodeName: this.options.nodeName,
      snapshot: () => this.store.snapshot(),
      ...(applyStats ? { applyStats } : {}),
      ...(plugins ? { lbPlugins: () => plugins.status() } : {}),
      ...(plugins?.swaps ? { pluginSwaps: plugins.swaps.bind(plugins) } : {}),
      ...(this.options.pluginWorkers ? { pluginWorkers: this.options.pluginWorkers } : {}),
      policyPods: () => this.policyPods,
      ipAllocations: () => this.podNetworking?.allocations?.() ?? null,
    };
  }

  status(): AgentStatus {
    const problems = this.problems();
    if (this.lastSync && !this.lastSync.ok && this.lastSync.error)
      problems.push(`last sync failed: ${this.lastSync.error}`);
    return {
      node: this.options.nodeName,
      netns: this.options.netns ?? null,
      source: this.options.source.description,
      startedAt: this.startedAt,
      sourceSynced: this.sourceSynced,
      storeChangedAt: this.storeChangedAt,
      objects: this.store.counts(),
      services: servicesStatus(this.store.snapshot()),
      lastSync: this.lastSync,
      lastSuccessfulSync: this.lastSuccessfulSync,
      recentSyncs: this.recentSyncs,
      syncs: {
        total: this.syncCount,
        failed: this.failedCount,
        consecutiveFailures: this.scheduler.consecutiveFailures,
      },
      ...(this.options.dataplane.applyStats ? { applyPath: this.options.dataplane.applyStats() } : {}),
      rssBytes: process.memoryUsage.rss(),
      ...(this.options.plugins ? { lbPlugins: this.options.plugins.status() } : {}),
      ...(this.options.policy && this.policyPods
        ? { policy: { decider: this.options.policy.deciderName, pods: this.policyPods } }
        : {}),
      ...(this.podNetworking?.allocations
        ? { podNetworking: { allocations: this.podNetworking.allocations() } }
        : {}),
      problems,
    };
  }
}
