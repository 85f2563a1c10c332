// The `lb` section of the agent config: which LB planner decides how each service spreads traffic.
// Without plugins the built-in equal-weight random planner; with a plugin directory (or an explicit
// algorithm → module map) the Wasm plugin host, every module pinned by the lock file.
import { CAPABILITIES, type Capability, isCapability } from "../plugins/capabilities.ts";

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

function record(value: unknown, where: string): Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value))
    throw new Error(`${where}: must be an object`);
  return value as Record<string, unknown>;
}

function text(value: unknown, where: string): string {
  if (typeof value !== "string" || value === "") throw new Error(`${where}: must be a non-empty string`);
  return value;
}

function positive(value: unknown, where: string): number {
  if (typeof value !== "number" || !(value > 0)) throw new Error(`${where}: must be a positive number`);
  return value;
}

/** Reads the `lb` section onto `lb`; errors name the key, prefixed by `where` ("config agent.yaml: lb"). */
export function applyLbSection(lb: LbConfig, value: unknown, where: string): void {
  for (const [key, v] of Object.entries(record(value, where))) {
    const at = `${where}.${key}`;
    switch (key) {
      case "default":
        lb.default = text(v, at);
        break;
      case "plugins":
        lb.plugins = Object.fromEntries(
          Object.entries(record(v, at)).map(([alg, path]) => [alg, text(path, `${at}.${alg}`)]),
        );
        break;
      case "pluginDir":
        lb.pluginDir = text(v, at);
        break;
      case "lockFile":
        lb.lockFile = text(v, at);
        break;
      case "grants":
        lb.grants = Object.fromEntries(
          Object.entries(record(v, at)).map(([plugin, caps]) => {
            if (!Array.isArray(caps)) throw new Error(`${at}.${plugin}: must be a list of capabilities`);
            caps.forEach((c, i) => {
              if (!isCapability(c)) {
                throw new Error(
                  `${at}.${plugin}[${i}]: unknown capability ${JSON.stringify(c)} (known: ${CAPABILITIES.join(", ")})`,
                );
              }
            });
            return [plugin, caps as Capability[]];
          }),
        );
        break;
      case "memoryCapMiB":
        lb.memoryCapMiB = positive(v, at);
        break;
      case "callBudgetMs":
        lb.callBudgetMs = positive(v, at);
        break;
      default:
        throw new Error(`${at}: unknown option`);
    }
  }
}
