// The `lb` section of the agent config: which LB planner decides how each service spreads traffic.
// Without plugins the built-in equal-weight random planner; with a plugin directory (or an explicit
// algorithm → module map) the Wasm plugin host, every module pinned by the lock file.
import type { z } from "zod";
import { list, mapOf, nonEmptyText, oneOf, positiveNumber, section } from "../config/schema.ts";
import { CAPABILITIES, type Capability } from "../plugins/capabilities.ts";

export interface LbConfig {
  /** Algorithm for services without an `lb.wasmplane.io/algorithm` annotation (default "random"). */
  default: string;
  /** Algorithm name → module path; overrides `pluginDir`. */
  plugins?: Record<string, string>;
  /** Every .wasm in this directory, named by file (e.g. build/plugins/lb). */
  pluginDir?: string;
  /** Lock file pinning each module's sha256 (default build/plugins/plugins.lock.json). */
  lockFile?: string;
  /** Plugin name → granted capabilities; nothing is granted by default. */
  grants: Record<string, Capability[]>;
  memoryCapMiB?: number;
  callBudgetMs?: number;
}

export const defaultLockFile = "build/plugins/plugins.lock.json";

export function defaultLbConfig(): LbConfig {
  return { default: "random", grants: {} };
}

/** Whether the Wasm plugin host is asked for. */
export function usesPlugins(lb: LbConfig): boolean {
  return lb.pluginDir !== undefined || (lb.plugins !== undefined && Object.keys(lb.plugins).length > 0);
}

const capability = oneOf(CAPABILITIES as [Capability, ...Capability[]]);

/** The section as written; every key is optional (the defaults are `defaultLbConfig`). */
export const lbSectionSchema = section({
  default: nonEmptyText().optional(),
  plugins: mapOf(nonEmptyText(), "algorithm names to module paths").optional(),
  pluginDir: nonEmptyText().optional(),
  lockFile: nonEmptyText().optional(),
  grants: mapOf(list(capability, "capabilities"), "plugin names to lists of capabilities").optional(),
  memoryCapMiB: positiveNumber().optional(),
  callBudgetMs: positiveNumber().optional(),
});

export type LbSection = z.output<typeof lbSectionSchema>;

/** `lb` with the keys a parsed section gives replaced. */
export function withLbSection(lb: LbConfig, given: LbSection): LbConfig {
  return { ...lb, ...given };
}
