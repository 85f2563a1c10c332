// The conformance kit: admits a module like the agent would, then runs its kind's vectors and fault
// checks against it in a real worker. Used by `wasmplane plugin test FILE` and by our own tests; a
// vendor runs it in CI. Kinds register their kit in KITS. By default it holds a module to the agent's
// rules for its kind (limits.ts): the same time budget, memory cap and grants (none).
import { readFileSync } from "node:fs";
import { type AdmittedPlugin, admitPlugin, inspectModule, PluginRefused } from "./admission.ts";
import type { Capability } from "./capabilities.ts";
import { ipamConformance } from "./conformance-ipam.ts";
import { lbConformance } from "./conformance-lb.ts";
import { policyConformance } from "./conformance-policy.ts";
import type { PluginKind } from "./kinds.ts";
import { AGENT_LIMITS } from "./limits.ts";
import { lockedPin, pinPolicy, readLock } from "./lock.ts";
import { PluginWorker } from "./plugin-worker.ts";

export type CheckStatus = "pass" | "fail" | "warn";

export interface Check {
  name: string;
  status: CheckStatus;
  detail?: string;
}

export interface ConformanceReport {
  file: string;
  plugin?: string;
  kind?: PluginKind;
  checks: Check[];
  passed: boolean;
}

export interface ConformanceOptions {
  /** Capabilities to grant; default: the agent's default for the kind (none). */
  grants?: Capability[];
  /** Default: the agent's cap for the kind. */
  memoryCapBytes?: number;
  /** Budget of every call; default: the agent's base budget for the kind, without per-item allowance. */
  callBudgetMs?: number;
  /** A lock file: the module (and its sidecar manifest) must match its pin, as the agent requires. */
  lockFile?: string;
}

/** The limits a kind's kit runs under, every default filled in. */
export type KitOptions = Required<Omit<ConformanceOptions, "lockFile">>;

export type KindKit = (plugin: AdmittedPlugin, worker: PluginWorker, options: KitOptions) => Promise<Check[]>;

export const KITS: Partial<Record<PluginKind, KindKit>> = {
  lb: lbConformance,
  ipam: ipamConformance,
  policy: policyConformance,
};

export async function runConformance(
  file: string,
  options: ConformanceOptions = {},
): Promise<ConformanceReport> {
  const checks: Check[] = [];
  const report = (extra: Partial<ConformanceReport>): ConformanceReport => ({
    file,
    checks,
    passed: checks.every((c) => c.status !== "fail"),
    ...extra,
  });
  const bytes = readFileSync(file);
  let plugin: AdmittedPlugin;
  const limits = AGENT_LIMITS[inspectModule(bytes, file).manifest?.kind ?? "lb"];
  const memoryCapBytes = options.memoryCapBytes ?? limits.memoryCapBytes;
  const callBudgetMs = options.callBudgetMs ?? limits.callBudgetMs;
  try {
    const pin = options.lockFile
      ? pinPolicy(lockedPin(readLock(options.lockFile), options.lockFile, file))
      : {};
    plugin = admitPlugin(bytes, file, {
      grants: options.grants ?? [...limits.grants],
      memoryCapBytes,
      ...pin,
    });
    checks.push({
      name: "admission (manifest, ABI marker, exports, imports within grants, memory within cap)",
      status: "pass",
      detail: `${plugin.name} ${plugin.manifest.version}, kind ${plugin.manifest.kind}, ABI ${plugin.manifest.abi}`,
    });
  } catch (err) {
    checks.push({
      name: "admission",
      status: "fail",
      detail: err instanceof PluginRefused ? err.problems.join("\n") : (err as Error).message,
    });
    return report({});
  }
  const kit = KITS[plugin.manifest.kind];
  if (!kit) {
    checks.push({
      name: `kind ${plugin.manifest.kind}`,
      status: "fail",
      detail: "this host has no conformance kit for the kind yet",
    });
    return report({ plugin: plugin.name, kind: plugin.manifest.kind });
  }
  const worker = new PluginWorker(plugin, { callBudgetMs, randomSeed: 1 });
  try {
    await worker.start();
    checks.push(...(await kit(plugin, worker, { grants: plugin.grants, memoryCapBytes, callBudgetMs })));
  } catch (err) {
    checks.push({ name: "instantiate", status: "fail", detail: (err as Error).message });
  } finally {
    await worker.close();
  }
  return report({ plugin: plugin.name, kind: plugin.manifest.kind });
}

export function formatReport(r: ConformanceReport): string {
  const lines = [`conformance of ${r.file}${r.plugin ? ` (${r.plugin}, kind ${r.kind})` : ""}:`];
  for (const c of r.checks) {
    lines.push(`  ${c.status.toUpperCase().padEnd(4)} ${c.name}`);
    if (c.detail) for (const d of c.detail.split("\n")) lines.push(`       ${d}`);
  }
  const fails = r.checks.filter((c) => c.status === "fail").length;
  lines.push(
    r.passed ? `passed (${r.checks.length} checks)` : `FAILED (${fails} of ${r.checks.length} checks)`,
  );
  return lines.join("\n");
}
