// The agent config's `policy:` section. Policy is enforced whenever pod networking is mounted (its
// hook chains are where the rules go), by the built-in reference decider unless a Wasm policy
// plugin is named.

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

const keys = ["enabled", "decider", "pluginLock"];

/** Reads a `policy:` section over the defaults; every bad value is an error naming the key. */
export function parsePolicySection(raw: unknown, where: string): PolicyConfig {
  if (typeof raw !== "object" || raw === null || Array.isArray(raw))
    throw new Error(`${where}: must be an object`);
  const out = defaultPolicyConfig();
  for (const [key, value] of Object.entries(raw)) {
    if (!keys.includes(key)) throw new Error(`${where}.${key}: unknown option (known: ${keys.join(", ")})`);
    if (key === "enabled") {
      if (typeof value !== "boolean") throw new Error(`${where}.enabled: want true or false`);
      out.enabled = value;
    } else if (typeof value !== "string" || value === "") {
      throw new Error(`${where}.${key}: want a non-empty string, got ${JSON.stringify(value)}`);
    } else if (key === "decider") out.decider = value;
    else out.pluginLock = value;
  }
  return out;
}
