// The agent's status: what it serves, how the last syncs went, and every problem it knows of. Built
// from the store snapshot plus the sync records; printed by `wasmplane status`.
import type { ApplyPathStats } from "../../nft/apply-guard.ts";
import type { PodPolicyStatus } from "../policy/enforcer.ts";
import type { Snapshot } from "../store/objects.ts";
import { formatDuration } from "./duration.ts";

export interface EndpointStatus {
  address: string;
  state: "ready" | "serving" | "terminating" | "not-ready";
  nodeName?: string;
}

export interface ServiceStatus {
  key: string;
  type: string;
  clusterIPs: string[];
  externalIPs: string[];
  loadBalancerIPs: string[];
  /** e.g. "http 80/TCP -> 8080 (node port 30080)" */
  ports: string[];
  endpoints: EndpointStatus[];
  /** The `lb.wasmplane.io/algorithm` annotation; absent: the configured default algorithm. */
  lbAlgorithm?: string;
}

export interface SyncRecord {
  /** ISO time the sync started. */
  at: string;
  full: boolean;
  ok: boolean;
  durationMs: number;
  planMs: number;
  applyMs: number;
  /** Operations in the transaction (0: nothing changed, nothing sent). */
  operations: number;
  /** Bytes sent: the netlink batch or the nft script. */
  bytes: number;
  /** How the transaction reached the kernel: "netlink" (nft/netlink/) or "text"/"json" (an nft run). */
  path?: string;
  /** A full resync: differences it found between the kernel's table and the last applied one (and repaired). */
  drift?: number;
  error?: string;
}

/** How many sync records the agent keeps for the status page's plot. */
export const RECENT_SYNCS = 60;

/** One LB algorithm of the Wasm plugin host: the module serving it, or why the one on disk is refused. */
export interface LbPluginStatus {
  algorithm: string;
  path: string;
  sha256?: string;
  version?: string;
  /** Capabilities granted to the serving module. */
  grants?: string[];
  refused?: string;
}

export interface AgentStatus {
  node: string;
  /** The agent process and its package version; the status server adds them. */
  pid?: number;
  version?: string;
  netns: string | null;
  source: string;
  startedAt: string;
  /** The source delivered its first complete listing (no sync happens before that). */
  sourceSynced: boolean;
  /** When the source last changed the store (ISO time); null before any object arrived. */
  storeChangedAt?: string | null;
  objects: Record<string, number>;
  services: ServiceStatus[];
  lastSync: SyncRecord | null;
  lastSuccessfulSync: SyncRecord | null;
  /** The last RECENT_SYNCS syncs, oldest first. */
  recentSyncs?: SyncRecord[];
  syncs: { total: number; failed: number; consecutiveFailures: number };
  /** How transactions reach the kernel (netlink self-test) and how often it fell back to nft -f. */
  applyPath?: ApplyPathStats;
  /** Resident memory of the agent process. */
  rssBytes: number;
  /** LB plugins, when the Wasm plugin host is configured. */
  lbPlugins?: LbPluginStatus[];
  /** Pod networking, when the `cni:` section mounts it: the addresses IPAM handed out. */
  podNetworking?: { allocations: { ip: string; containerId: string; ifName: string; pod?: string }[] };
  /** NetworkPolicy enforcement: the decider, and per local pod the policies selecting it per direction. */
  policy?: { decider: string; pods: PodPolicyStatus[] };
  problems: string[];
}

function endpointState(c: {
  ready: boolean;
  serving: boolean;
  terminating: boolean;
}): EndpointStatus["state"] {
  if (c.ready) return "ready";
  if (c.serving && c.terminating) return "terminating";
  if (c.serving) return "serving";
  return "not-ready";
}

export function servicesStatus(snapshot: Snapshot): ServiceStatus[] {
  const slicesByService = new Map<string, EndpointStatus[]>();
  for (const slice of snapshot.endpointSlices.values()) {
    const key = `${slice.namespace}/${slice.serviceName}`;
    const list = slicesByService.get(key) ?? [];
    for (const e of slice.endpoints) {
      for (const address of e.addresses) {
        list.push({
          address,
          state: endpointState(e.conditions),
          ...(e.nodeName ? { nodeName: e.nodeName } : {}),
        });
      }
    }
    slicesByService.set(key, list);
  }
  return [...snapshot.services.values()]
    .map((s) => ({
      key: `${s.namespace}/${s.name}`,
      type: s.type,
      clusterIPs: s.clusterIPs,
      externalIPs: s.externalIPs,
      loadBalancerIPs: s.loadBalancerIPs,
      ports: s.ports.map(
        (p) =>
          `${p.name ? `${p.name} ` : ""}${p.port}/${p.protocol} -> ${p.targetPort}${p.nodePort ? ` (node port ${p.nodePort})` : ""}`,
      ),
      endpoints: slicesByService.get(`${s.namespace}/${s.name}`) ?? [],
      ...(s.annotations["lb.wasmplane.io/algorithm"]
        ? { lbAlgorithm: s.annotations["lb.wasmplane.io/algorithm"] }
        : {}),
    }))
    .sort((a, b) => a.key.localeCompare(b.key));
}

function formatBytes(n: number): string {
  return n < 1024
    ? `${n} B`
    : n < 1024 * 1024
      ? `${(n / 1024).toFixed(1)} KiB`
      : `${(n / 1048576).toFixed(1)} MiB`;
}

function formatSync(s: SyncRecord): string {
  const what =
    s.operations === 0
      ? "no changes"
      : `${s.operations} operations, ${formatBytes(s.bytes)}${s.path ? ` via ${s.path}` : ""}`;
  return `${s.at} (${s.full ? "full" : "partial"}, ${s.ok ? "ok" : "FAILED"}) in ${formatDuration(s.durationMs)}: ${what}${s.error ? `\n    error: ${s.error}` : ""}`;
}

/** "apply path: …" and, once anything was applied or refused, the counters. */
export function formatApplyPath(a: ApplyPathStats): string[] {
  const t = a.selfTest;
  const why =
    t.state === "passed"
      ? "self-test passed"
      : t.state === "failed"
        ? `self-test failed: ${t.reason ?? "no reason given"}`
        : t.state === "skipped"
          ? `self-test skipped: ${t.reason ?? "no reason given"}`
          : "self-test not run yet";
  const path = a.path === "netlink" ? "netlink" : a.path === "nft" ? "nft -f" : "not chosen yet";
  return [
    `apply path: ${path} (${why})`,
    `  applied: ${a.applied.netlink} via netlink, ${a.applied.nft} via nft -f; netlink batches refused: ${a.netlinkRefused} (retried through nft -f: ${a.nftRetries.ok} ok, ${a.nftRetries.failed} failed)`,
  ];
}

/** The human-readable form `wasmplane status` prints. */
export function formatStatus(st: AgentStatus): string {
  const lines: string[] = [];
  lines.push(
    `node ${st.node}${st.netns ? ` (netns ${st.netns})` : ""}, source ${st.source}${st.sourceSynced ? "" : " (initial listing not done)"}`,
  );
  if (st.pid !== undefined || st.version)
    lines.push(`agent: pid ${st.pid ?? "?"}, version ${st.version ?? "?"}, started ${st.startedAt}`);
  lines.push(
    `objects: ${Object.entries(st.objects)
      .map(([k, n]) => `${n} ${k}`)
      .join(", ")}`,
  );
  lines.push(`last sync: ${st.lastSync ? formatSync(st.lastSync) : "none yet"}`);
  if (st.lastSync && !st.lastSync.ok && st.lastSuccessfulSync)
    lines.push(`last good sync: ${formatSync(st.lastSuccessfulSync)}`);
  lines.push(
    `syncs: ${st.syncs.total} total, ${st.syncs.failed} failed${st.syncs.consecutiveFailures ? `, ${st.syncs.consecutiveFailures} in a row now` : ""}`,
  );
  if (st.applyPath) lines.push(...formatApplyPath(st.applyPath));
  lines.push(`memory: ${formatBytes(st.rssBytes)} resident`);
  if (st.lbPlugins) {
    lines.push(`LB plugins (${st.lbPlugins.length}):`);
    for (const p of st.lbPlugins) {
      const what = p.sha256 ? `v${p.version ?? "?"} sha256 ${p.sha256.slice(0, 12)}…` : "not loaded";
      lines.push(`  ${p.algorithm}  ${p.path}  ${what}${p.refused ? `  REFUSED: ${p.refused}` : ""}`);
    }
  }
  if (st.podNetworking) {
    const byAttachment = new Map<string, string[]>();
    for (const a of st.podNetworking.allocations) {
      const key = `${a.containerId}/${a.ifName}${a.pod ? ` (pod ${a.pod})` : ""}`;
      byAttachment.set(key, [...(byAttachment.get(key) ?? []), a.ip]);
    }
    lines.push(`pod attachments (${byAttachment.size}):`);
    for (const [key, ips] of byAttachment) lines.push(`  ${key}  ${ips.join(", ")}`);
  }
  if (st.policy) {
    lines.push(`policy (decider ${st.policy.decider}), policed pods (${st.policy.pods.length}):`);
    for (const p of st.policy.pods) {
      const side = (name: string, d: PodPolicyStatus["ingress"]) =>
        d
          ? `${name} ${d.isolated ? "isolated" : "open"}, ${d.rules} rules, by ${d.selectedBy.join(", ")}`
          : `${name} not policed`;
      lines.push(`  ${p.pod}  ${side("ingress", p.ingress)}; ${side("egress", p.egress)}`);
    }
  }
  lines.push(`services (${st.services.length}):`);
  for (const s of st.services) {
    const ips = [
      ...s.clusterIPs,
      ...s.externalIPs.map((ip) => `ext ${ip}`),
      ...s.loadBalancerIPs.map((ip) => `lb ${ip}`),
    ];
    const ready = s.endpoints.filter((e) => e.state === "ready").length;
    lines.push(`  ${s.key}  ${s.type}  ${ips.join(", ") || "(no IP)"}  ${s.ports.join("; ")}`);
    lines.push(
      `    endpoints: ${s.endpoints.length === 0 ? "none" : `${ready}/${s.endpoints.length} ready: ${s.endpoints.map((e) => (e.state === "ready" ? e.address : `${e.address} (${e.state})`)).join(", ")}`}`,
    );
  }
  lines.push(st.problems.length ? `problems (${st.problems.length}):` : "problems: none");
  for (const p of st.problems) lines.push(`  ${p}`);
  return lines.join("\n");
}
