// The policy decider a config names: "builtin" (the TypeScript reference), "wasm:<name>" (a plugin
// shipped in build/plugins/policy/), or a path to a .wasm policy plugin, admitted against the lock.
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { createWasmPolicyPlanner } from "../plugins/policy-planner.ts";
import { createReferenceDecider, type PolicyDecider } from "./enforcer.ts";

export interface DeciderOptions {
  nodeName: string;
  /** Lock file pinning a Wasm decider's module and manifest. */
  lockFile: string;
  log?: (line: string) => void;
}

export function shippedPolicyPluginPath(name: string): string {
  return fileURLToPath(new URL(`../../build/plugins/policy/${name}.wasm`, import.meta.url));
}

export async function policyDeciderFromSpec(spec: string, options: DeciderOptions): Promise<PolicyDecider> {
  if (spec === "builtin") return createReferenceDecider(options.nodeName);
  const shipped = spec.startsWith("wasm:");
  const file = shipped ? shippedPolicyPluginPath(spec.slice("wasm:".length)) : spec;
  if (!shipped && !file.endsWith(".wasm"))
    throw new Error(
      `policy.decider: must be "builtin", "wasm:<name>" or a path to a .wasm file, got ${JSON.stringify(spec)}`,
    );
  if (!existsSync(file))
    throw new Error(
      `policy.decider: ${file} does not exist${shipped ? " (run `npm run plugins:build`)" : ""}`,
    );
  const planner = await createWasmPolicyPlanner({
    file,
    lockFile: options.lockFile,
    nodeName: options.nodeName,
    ...(options.log ? { log: options.log } : {}),
  });
  return {
    name: spec,
    decide: (snapshot) => planner.decide(snapshot),
    workers: () => planner.workers(),
    close: () => planner.close(),
  };
}
