// One LB module admitted and started: its worker plus what the batch caller keeps per plugin.
import { readFileSync } from "node:fs";
import { admitPlugin, inspectModule } from "./admission.ts";
import type { Capability } from "./capabilities.ts";
import { ByteWriter } from "./envelope.ts";
import { omittedLbFields } from "./lb-codec.ts";
import { type LockEntry, pinPolicy } from "./lock.ts";
import { PluginWorker } from "./plugin-worker.ts";

export interface LoadedLbPlugin {
  algorithm: string;
  path: string;
  sha256: string;
  /** The locked sha256 of its sidecar manifest, when it has one. */
  manifestSha256?: string;
  version: string;
  worker: PluginWorker;
  /** Request fields this plugin does not read (manifest `reads`): left out of what it is sent. */
  omitted: number;
  /** Output bytes per (request + endpoint) of the last good call; sizes the next calls. */
  outputPerItem?: number;
  /** Where this plugin's requests are encoded, reused from call to call. */
  writer: ByteWriter;
  writerBusy: boolean;
  invalidPlans: number;
  pluginErrors: number;
}

export interface LbAdmission {
  /** Plugin manifest name (or algorithm name) → granted capabilities. */
  grants?: Record<string, Capability[]>;
  memoryCapBytes: number;
  callBudgetMs: number;
  randomSeed: number;
  log: (line: string) => void;
}

/** Reads, admits and starts the module at `path` for `algorithm`; throws PluginRefused or the start error. */
export async function admitLbPlugin(
  algorithm: string,
  path: string,
  pin: LockEntry,
  settings: LbAdmission,
): Promise<LoadedLbPlugin> {
  const bytes = readFileSync(path);
  // Grants are keyed by the plugin's manifest name (falling back to the algorithm name).
  const name = inspectModule(bytes, path).manifest?.name ?? algorithm;
  const granted = admitPlugin(bytes, path, {
    grants: settings.grants?.[name] ?? settings.grants?.[algorithm] ?? [],
    memoryCapBytes: settings.memoryCapBytes,
    expectedKind: "lb",
    ...pinPolicy(pin),
    grantHint: (plugin, caps) =>
      `grant it in the agent config: lb: { grants: { "${plugin}": [${caps.map((c) => `"${c}"`).join(", ")}] } }`,
  });
  const worker = new PluginWorker(granted, {
    callBudgetMs: settings.callBudgetMs,
    randomSeed: settings.randomSeed,
    onLog: (name, line) => settings.log(`lb plugin ${name}: ${line}`),
  });
  await worker.start();
  return {
    algorithm,
    path,
    sha256: granted.inspected.sha256,
    manifestSha256: pin.manifestSha256,
    version: granted.manifest.version,
    worker,
    omitted: omittedLbFields(granted.manifest.reads),
    writer: new ByteWriter(),
    writerBusy: false,
    invalidPlans: 0,
    pluginErrors: 0,
  };
}
