// Agent configuration: a YAML/JSON file and command-line flags; a flag wins over the same key in the
// file. Both are checked by one schema (runtime/agent/config-schema.ts); every bad value is reported
// naming the flag or the file and key.
import { readFileSync } from "node:fs";
import { parse as parseYaml } from "yaml";
import { ConfigError, formatPath, parseConfig } from "../config/schema.ts";
import { withPolicySection } from "../policy/config.ts";
import { type AgentConfig, defaultConfig } from "./config-defaults.ts";
import { type AgentFile, agentFileSchema } from "./config-schema.ts";
import { parseFlags } from "./flags.ts";
import { withLbSection } from "./lb-config.ts";

export { ConfigError } from "../config/schema.ts";
export { type AgentConfig, defaultConfig, defaultStatusAddress } from "./config-defaults.ts";
export { agentUsage } from "./flags.ts";

/** The values a file (or the flags, in the file's shape) gives, over `config`. */
function withFile(config: AgentConfig, file: AgentFile): AgentConfig {
  const { nodeIP, clusterCIDR, serviceCIDR, minSyncInterval, resyncInterval, lb, cni, policy, ...same } =
    file;
  const nodeIPs = file.nodeIPs ?? nodeIP;
  const clusterCIDRs = file.clusterCIDRs ?? clusterCIDR;
  const serviceCIDRs = file.serviceCIDRs ?? serviceCIDR;
  return {
    ...config,
    ...same,
    ...(nodeIPs ? { nodeIPs } : {}),
    ...(clusterCIDRs ? { clusterCIDRs } : {}),
    ...(serviceCIDRs ? { serviceCIDRs } : {}),
    ...(minSyncInterval !== undefined ? { minSyncIntervalMs: minSyncInterval } : {}),
    ...(resyncInterval !== undefined ? { resyncIntervalMs: resyncInterval } : {}),
    ...(lb ? { lb: withLbSection(config.lb, lb) } : {}),
    ...(cni ? { cni } : {}),
    ...(policy ? { policy: withPolicySection(config.policy, policy) } : {}),
  };
}

/** Applies the keys of a config file (already read) onto `config`; `name` is the file's name in errors. */
function applyConfigFile(config: AgentConfig, file: unknown, name: string): AgentConfig {
  // An empty YAML file is null: no keys.
  const given = parseConfig(agentFileSchema, file ?? {}, (path) =>
    path.length > 0 ? `config ${name}: ${formatPath(path)}` : `config ${name}`,
  );
  return withFile(config, given);
}

/** The file's contents: YAML, or JSON for a name ending in .json; an empty file is `{}`. */
function loadConfigFile(path: string): unknown {
  let textContent: string;
  try {
    textContent = readFileSync(path, "utf8");
  } catch (err) {
    throw new ConfigError(`config ${path}: cannot read: ${(err as Error).message}`);
  }
  let parsed: unknown;
  try {
    parsed = path.endsWith(".json") ? JSON.parse(textContent) : parseYaml(textContent);
  } catch (err) {
    throw new ConfigError(`config ${path}: ${(err as Error).message}`);
  }
  return parsed;
}

function checkSources(config: AgentConfig): void {
  const manifestSource = Boolean(config.manifests);
  const apiSource = config.kubernetes || Boolean(config.kubeconfig);
  if (!manifestSource && !apiSource) {
    throw new ConfigError("no source: give --manifests DIR, --kubernetes or --kubeconfig FILE");
  }
  if (manifestSource && apiSource) {
    throw new ConfigError("two sources: give either --manifests or --kubernetes/--kubeconfig");
  }
}

export type ParsedAgentArgs = { help: true } | { help: false; config: AgentConfig };

/** Parses `wasmplane agent` arguments; reads the --config file when given. */
export function parseAgentArgs(
  args: string[],
  readFile: (path: string) => unknown = loadConfigFile,
): ParsedAgentArgs {
  const flags = parseFlags(args);
  if (flags.help) return { help: true };
  let config = defaultConfig();
  if (flags.config !== undefined) config = applyConfigFile(config, readFile(flags.config), flags.config);
  config = withFile(config, parseConfig(agentFileSchema, flags.values, flags.locate));
  checkSources(config);
  return { help: false, config };
}
