// The policy decider backed by a Wasm `policy` plugin: admitted like every plugin (lock file, ABI,
// grants, memory cap), run in its own worker with a time budget, its answer checked field by field.
// One call per decision: the world (policies, pods, namespaces) and the local pods to decide for. A
// trap, a timeout, a batch error or an invalid answer is a PolicyPluginError; the caller keeps its
// last good rules (or fails closed when it has none).
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { buildClusterView } from "../policy/cluster-view.ts";
import type { PolicyDecision } from "../policy/types.ts";
import type { Snapshot } from "../store/objects.ts";
import { type AdmittedPlugin, admitPlugin } from "./admission.ts";
import type { Capability } from "./capabilities.ts";
import { ByteWriter, inputHeader } from "./envelope.ts";
import { AGENT_LIMITS } from "./limits.ts";
import { lockedPin, pinPolicy, readLock } from "./lock.ts";
import { writeErr } from "./platform.ts";
import { PluginWorker, type PluginWorkerStats, type RunningWorker } from "./plugin-worker.ts";
import {
  decodePolicyMemberships,
  decodePolicyOutput,
  type EncodedWorld,
  encodePolicyRequest,
  POLICY_KIND_CODE,
  POLICY_OP_DECIDE,
  POLICY_OP_MEMBERSHIPS,
  type PodMemberships,
} from "./policy-codec.ts";

export interface WasmPolicyPlannerOptions {
  /** Path of the policy module (e.g. build/plugins/policy/networkpolicy.wasm). */
  file: string;
  /** The lock file the module must be in, with the same sha256. */
  lockFile: string;
  /** This node: pods with this spec.nodeName are the local pods. */
  nodeName: string;
  /** Capabilities granted to the plugin (default none). */
  grants?: Capability[];
  /** Linear memory cap (default 64 MiB). */
  memoryCapBytes?: number;
  /** Time budget per call (default 1000 ms) plus `budgetPerPodMs` per pod in the world. */
  callBudgetMs?: number;
  /** Default 0.5 ms: a world of 5,000 pods gets 2.5 s more. */
  budgetPerPodMs?: number;
  /** Where plugin log lines and failures go (default stderr). */
  log?: (line: string) => void;
}

export type PolicyFailureReason =
  | "trap"
  | "timeout"
  | "protocol"
  | "unavailable"
  | "batch-error"
  | "invalid"
  /** The host could not encode the request (e.g. a pod asked about that is not in the snapshot). */
  | "request";

/** A decision the plugin did not deliver; `reason` says how it failed. Keep the last good rules. */
export class PolicyPluginError extends Error {
  constructor(
    readonly plugin: string,
    readonly reason: PolicyFailureReason,
    message: string,
  ) {
    super(message);
    this.name = "PolicyPluginError";
  }
}

export interface PolicyPlannerStatus {
  plugin: string;
  path: string;
  sha256: string;
  version: string;
  stats: PluginWorkerStats & { batchErrors: number; invalidAnswers: number };
  /** The last failure, if the last call failed. */
  lastError?: string;
}

export interface WasmPolicyPlanner {
  readonly plugin: AdmittedPlugin;
  /**
   * The decision for `localPods` ("namespace/name" keys; default: every local pod policy applies to).
   * Pods, sets and problems of the answer concern only those pods. Rejects with PolicyPluginError.
   */
  decide(snapshot: Snapshot, localPods?: readonly string[]): Promise<PolicyDecision>;
  /**
   * Per pod ("namespace/name", any pod of the snapshot): the sets of the full decision (every local
   * pod) that its pod peers pick, so a relabelled pod's addresses can be added to or removed from
   * exactly those sets, and only the local pods naming a changed set re-asked. Op 1 (§11).
   */
  memberships(snapshot: Snapshot, pods: readonly string[]): Promise<Map<string, PodMemberships>>;
  status(): PolicyPlannerStatus;
  /** The plugin's worker (for /metrics). */
  workers(): RunningWorker[];
  close(): Promise<void>;
}

const DEFAULTS = {
  memoryCapBytes: AGENT_LIMITS.policy.memoryCapBytes,
  callBudgetMs: AGENT_LIMITS.policy.callBudgetMs,
  budgetPerPodMs: 0.5,
};

/** Local pods policy applies to, as the reference picks them: on this node, with IPs, not host-network, not finished. */
export function localPolicyPods(snapshot: Snapshot, nodeName: string): string[] {
  return buildClusterView(snapshot, nodeName).localPods.map((p) => p.key);
}

type Decode<T> = (output: Uint8Array, world: EncodedWorld) => T | { batchError: string };

/** Reads the module and admits it as a `policy` plugin pinned by the lock file. */
function admitPolicyPlugin(
  path: string,
  options: WasmPolicyPlannerOptions,
  memoryCapBytes: number,
): AdmittedPlugin {
  return admitPlugin(readFileSync(path), path, {
    grants: options.grants ?? [],
    memoryCapBytes,
    expectedKind: "policy",
    ...pinPolicy(lockedPin(readLock(options.lockFile), options.lockFile, path)),
    grantHint: (name, caps) =>
      `grant it in the agent config: policy: { grants: [${caps.map((c) => `"${c}"`).join(", ")}] } (plugin ${name})`,
  });
}

/**
 * Calls into one policy plugin's worker: encodes the request into a reused buffer, runs it within
 * the budget, decodes the answer; every failure is logged, counted and thrown as a PolicyPluginError.
 */
class PolicyCalls {
  readonly counters = { batchErrors: 0, invalidAnswers: 0 };
  lastError: string | undefined;
  private writer = new ByteWriter(1 << 20);
  private writerBusy = false;

  constructor(
    private readonly plugin: AdmittedPlugin,
    private readonly worker: PluginWorker,
    private readonly opts: typeof DEFAULTS & { nodeName: string },
    private readonly log: (line: string) => void,
  ) {}

  /** One call of operation `op` for `pods`; `decode` reads the answer (throws on an invalid one). */
  async call<T>(op: number, snapshot: Snapshot, pods: readonly string[], decode: Decode<T>): Promise<T> {
    // The reused buffer is sent as a view: a concurrent call gets its own instead of overwriting it.
    const own = !this.writerBusy;
    const w = own ? this.writer : new ByteWriter(1 << 20);
    w.length = 0;
    if (own) this.writerBusy = true;
    try {
      return await this.callWith(w, op, snapshot, pods, decode);
    } finally {
      if (own) {
        this.writerBusy = false;
        // Keep a buffer a normal world fills; let go of one a rare huge world grew.
        if (w.bytes.length > 64 << 20) this.writer = new ByteWriter(1 << 20);
      }
    }
  }

  private async callWith<T>(
    w: ByteWriter,
    op: number,
    snapshot: Snapshot,
    pods: readonly string[],
    decode: Decode<T>,
  ): Promise<T> {
    let world: EncodedWorld;
    try {
      world = encodePolicyRequest(w, snapshot, this.opts.nodeName, pods);
    } catch (err) {
      return this.fail("request", 0, `the request cannot be encoded: ${(err as Error).message}`);
    }
    const header = inputHeader(POLICY_KIND_CODE, op, pods.length);
    const budget = this.opts.callBudgetMs + snapshot.pods.size * this.opts.budgetPerPodMs;
    const outcome = await this.worker.call([header, w.bytes.subarray(0, w.length)], budget, {
      reuseOutput: true,
    });
    if (!outcome.ok) return this.fail(outcome.reason, outcome.call, outcome.error);
    return this.answer(outcome.output, outcome.call, world, decode);
  }

  private answer<T>(output: Uint8Array, call: number, world: EncodedWorld, decode: Decode<T>): T {
    let decoded: T | { batchError: string };
    try {
      decoded = decode(output, world);
    } catch (err) {
      this.counters.invalidAnswers++;
      return this.fail("invalid", call, `invalid answer: ${(err as Error).message}`);
    }
    if (decoded !== null && typeof decoded === "object" && "batchError" in decoded) {
      this.counters.batchErrors++;
      return this.fail("batch-error", call, `plugin reported: ${decoded.batchError}`);
    }
    this.lastError = undefined;
    return decoded as T;
  }

  private fail(reason: PolicyFailureReason, call: number, message: string): never {
    const which = call > 0 ? `call #${call}` : "request";
    const text = `policy plugin ${this.plugin.name} ${which} failed: ${message}; the last good rules stay`;
    this.lastError = text;
    this.log(`wasmplane: ${text}`);
    throw new PolicyPluginError(this.plugin.name, reason, text);
  }
}

export async function createWasmPolicyPlanner(options: WasmPolicyPlannerOptions): Promise<WasmPolicyPlanner> {
  const opts = { ...DEFAULTS, ...options };
  const log = options.log ?? writeErr;
  const path = resolve(options.file);
  const plugin = admitPolicyPlugin(path, options, opts.memoryCapBytes);
  const worker = new PluginWorker(plugin, {
    callBudgetMs: opts.callBudgetMs,
    randomSeed: 1,
    onLog: (name, line) => log(`policy plugin ${name}: ${line}`),
  });
  await worker.start();
  const calls = new PolicyCalls(plugin, worker, opts, log);
  return {
    plugin,
    decide: (snapshot, localPods) =>
      calls.call(
        POLICY_OP_DECIDE,
        snapshot,
        localPods ?? localPolicyPods(snapshot, options.nodeName),
        decodePolicyOutput,
      ),
    memberships: (snapshot, pods) =>
      calls.call(POLICY_OP_MEMBERSHIPS, snapshot, pods, decodePolicyMemberships),
    status: () => ({
      plugin: plugin.name,
      path,
      sha256: plugin.inspected.sha256,
      version: plugin.manifest.version,
      stats: { ...worker.stats, ...calls.counters },
      ...(calls.lastError ? { lastError: calls.lastError } : {}),
    }),
    workers: () => [
      {
        plugin: worker.plugin,
        stats: worker.stats,
        answers: {
          get invalid() {
            return calls.counters.invalidAnswers;
          },
        },
      },
    ],
    close: () => worker.close(),
  };
}

const byText = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/**
 * `held` with the answer for `asked` pods merged in: their entries replaced, the answer's sets (fresh:
 * a set's content does not depend on which pods were asked about) replacing held ones of the same id,
 * sets no entry names any more dropped, problems taken from the answer (they concern the whole
 * world). Sets that only unasked pods name keep their held content: ask about every pod whose sets
 * may have changed (a changed pod was or becomes a member), or about all of them.
 */
export function mergePolicyDecision(
  held: PolicyDecision,
  answer: PolicyDecision,
  asked: readonly string[],
): PolicyDecision {
  const replaced = new Set(asked);
  const pods = [...held.pods.filter((p) => !replaced.has(p.pod)), ...answer.pods].sort(
    (a, b) => byText(a.pod, b.pod) || byText(a.direction, b.direction),
  );
  const used = new Set<string>();
  const usedPorts = new Set<string>();
  for (const p of pods) {
    for (const r of p.rules) {
      if (r.peers) used.add(r.peers);
      if (r.addressPorts) usedPorts.add(r.addressPorts);
    }
  }
  const pick = <T>(fresh: Map<string, T>, old: Map<string, T>, ids: Set<string>) =>
    new Map([...ids].sort(byText).map((id) => [id, (fresh.get(id) ?? old.get(id)) as T]));
  return {
    pods,
    addressSets: pick(answer.addressSets, held.addressSets, used),
    addressPortSets: pick(answer.addressPortSets, held.addressPortSets, usedPorts),
    problems: answer.problems,
  };
}
