// The agent config's `policy:` section. Policy is enforced whenever pod networking is mounted (its
// hook chains are where the rules go), by the built-in reference decider unless a Wasm policy
// plugin is named.
import type { z } from "zod";
import { flag, nonEmptyText, parseConfig, section, under } from "../config/schema.ts";

export interface PolicyConfig {
  /** Default true: NetworkPolicies and ClusterNetworkPolicies are enforced with pod networking. */
  enabled: boolean;
  /** "builtin" (default), "wasm:<name>" for a shipped plugin, or a path to a .wasm module. */
  decider: string;
  /** Plugin lock file for a Wasm decider (default: the LB plugins' lock file). */
  pluginLock?: string;
}

export function defaultPolicyConfig(): PolicyConfig {
  return { enabled: true, decider: "builtin" };
}

/** The section as written; every key is optional (the defaults are `defaultPolicyConfig`). */
export const policySectionSchema = section({
  enabled: flag().optional(),
  decider: nonEmptyText().optional(),
  pluginLock: nonEmptyText().optional(),
});

/** The section as the agent uses it: the keys `given` sets over the defaults. */
export function withPolicySection(
  policy: PolicyConfig,
  given: z.output<typeof policySectionSchema>,
): PolicyConfig {
  return { ...policy, ...given };
}

/** Reads a `policy:` section over the defaults; every bad value is an error naming the key. */
export function parsePolicySection(raw: unknown, where: string): PolicyConfig {
  return withPolicySection(defaultPolicyConfig(), parseConfig(policySectionSchema, raw, under(where)));
}
