// The limits the agent runs each plugin kind under by default. The planners (lb-planner.ts,
// policy-planner.ts, ipam/wasm.ts) and the conformance kit read them from here, so a plugin that
// passes the kit with its defaults fits the agent's defaults too.
import type { Capability } from "./capabilities.ts";
import type { PluginKind } from "./kinds.ts";

export interface KindLimits {
  memoryCapBytes: number;
  /** Time budget of one call, before any per-item allowance. */
  callBudgetMs: number;
  /** Capabilities granted without operator configuration: none, for every kind. */
  grants: readonly Capability[];
}

const MiB = 1024 * 1024;

export const AGENT_LIMITS: Record<PluginKind, KindLimits> = {
  lb: { memoryCapBytes: 64 * MiB, callBudgetMs: 1000, grants: [] },
  ipam: { memoryCapBytes: 16 * MiB, callBudgetMs: 250, grants: [] },
  policy: { memoryCapBytes: 64 * MiB, callBudgetMs: 1000, grants: [] },
};
