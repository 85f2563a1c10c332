// The conformance kit: admits a module like the agent would, then runs its kind's vectors and fault
// checks against it in a real worker. Used by `wasmplane plugin test FILE` and by our own tests; a
// vendor runs it in CI. Kinds register their kit in KITS (lb and policy now; ipam adds its own).
import { readFileSync } from "node:fs";
import { type AdmittedPlugin, admitPlugin, PluginRefused } from "./admission.ts";
import type { Capability } from "./capabilities.ts";
import { lbConformance } from "./conformance-lb.ts";
import { policyConformance } from "./conformance-policy.ts";
import type { PluginKind } from "./kinds.ts";
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
  /** Capabilities to grant; default: what the manifest requests (the kit tests behaviour, not policy). */
  grants?: Capability[];
  memoryCapBytes?: number;
  callBudgetMs?: number;
}

export type KindKit = (
  plugin: AdmittedPlugin,
  worker: PluginWorker,
  options: Required<ConformanceOptions>,
) => Promise<Check[]>;

export const KITS: Partial<Record<PluginKind, KindKit>> = { lb: lbConformance, policy: policyConformance };

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
  const memoryCapBytes = options.memoryCapBytes ?? 64 * 1024 * 1024;
  const callBudgetMs = options.callBudgetMs ?? 2000;
  try {
    const requested = admitPluginManifestGrants(bytes, file);
    plugin = admitPlugin(bytes, file, { grants: options.grants ?? requested, memoryCapBytes });
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

/** What the manifest asks for (nothing when the manifest is unreadable; admission reports that). */
function admitPluginManifestGrants(bytes: Uint8Array, file: string): Capability[] {
  try {
    return admitPlugin(bytes, file, { grants: ["log", "random", "clock"], memoryCapBytes: 2 ** 32 }).manifest
      .capabilities;
  } catch {
    return [];
  }
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
