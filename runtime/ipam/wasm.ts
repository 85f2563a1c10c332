// An IpamDecider backed by a Wasm `ipam` plugin, on the plugin host's contract (admission,
// worker with a time budget, ABI v1 envelope). The host checks every decision: an address outside
// the pod CIDRs, held by another attachment, or a second one of a family is the plugin's error,
// reported as such, and nothing is allocated.
import { readFileSync } from "node:fs";
import { cidrContains, ipFamily } from "../net/cidr.ts";
import { type AdmittedPlugin, admitPlugin } from "../plugins/admission.ts";
import { inputEnvelope, readOutputHeader } from "../plugins/envelope.ts";
import { KIND_CODES } from "../plugins/kinds.ts";
import { AGENT_LIMITS } from "../plugins/limits.ts";
import { lockedPin, pinPolicy, readLock } from "../plugins/lock.ts";
import { PluginWorker } from "../plugins/plugin-worker.ts";
import type { IpamDecider, IpamDecision, IpamInput } from "./decider.ts";
import { parsePodCidrs } from "./range.ts";
import { type AddressCache, decodeIpamDecision, encodeIpamRequest, IPAM_OP_ALLOCATE } from "./wasm-codec.ts";

export interface WasmIpamOptions {
  /** Path of the .wasm module. */
  file: string;
  /** Pinned sha256; a different module is refused. */
  sha256?: string;
  /** A plugin lock file (`wasmplane plugin lock`): the module must be in it, with the same sha256. */
  lockPath?: string;
  /** Default 16 MiB. */
  memoryCapBytes?: number;
  /** Default 250 ms. */
  callBudgetMs?: number;
}

export interface WasmIpamDecider extends IpamDecider {
  readonly plugin: AdmittedPlugin;
  close(): Promise<void>;
}

/** Checks a plugin's decision against its input; returns a problem or null. */
export function checkDecision(input: IpamInput, decision: IpamDecision): string | null {
  if (!decision.ok) return null;
  const cidrs = parsePodCidrs(input.podCIDRs);
  const heldByOthers = new Set(
    input.allocations
      .filter((a) => a.containerId !== input.request.containerId || a.ifName !== input.request.ifName)
      .map((a) => a.ip),
  );
  const families = new Set<number>();
  if (decision.addresses.length === 0) return "decided no address";
  for (const a of decision.addresses) {
    const family = ipFamily(a.ip);
    if (families.has(family)) return `decided two IPv${family} addresses`;
    families.add(family);
    if (!cidrs.some((c) => cidrContains(c, a.ip)))
      return `decided ${a.ip}, outside the pod CIDRs ${input.podCIDRs.join(", ")}`;
    if (heldByOthers.has(a.ip)) return `decided ${a.ip}, which another attachment holds`;
  }
  return null;
}

export async function createWasmIpamDecider(options: WasmIpamOptions): Promise<WasmIpamDecider> {
  const bytes = readFileSync(options.file);
  const plugin = admitPlugin(bytes, options.file, {
    grants: [],
    memoryCapBytes: options.memoryCapBytes ?? AGENT_LIMITS.ipam.memoryCapBytes,
    expectedKind: "ipam",
    ...(options.sha256
      ? { expectedSha256: options.sha256 }
      : options.lockPath
        ? pinPolicy(lockedPin(readLock(options.lockPath), options.lockPath, options.file))
        : {}),
    grantHint: (name, caps) => `ipam plugins get no capabilities; ${name} imports ${caps.join(", ")}`,
  });
  const worker = new PluginWorker(plugin, {
    callBudgetMs: options.callBudgetMs ?? AGENT_LIMITS.ipam.callBudgetMs,
    randomSeed: 0,
  });
  await worker.start();
  const name = `wasm:${plugin.name}`;
  const addresses: AddressCache = new Map();
  return {
    name,
    plugin,
    async allocate(input) {
      let item: Uint8Array;
      try {
        item = encodeIpamRequest(input, addresses);
      } catch (err) {
        return { ok: false, reason: "invalid-request", message: (err as Error).message };
      }
      const outcome = await worker.call(inputEnvelope(KIND_CODES.ipam, IPAM_OP_ALLOCATE, [item]));
      if (!outcome.ok) throw new Error(`IPAM plugin ${plugin.name} ${outcome.error}`);
      const header = readOutputHeader(outcome.output, 1);
      if (!header.ok) throw new Error(`IPAM plugin ${plugin.name} refused the batch: ${header.error}`);
      let decision: IpamDecision;
      try {
        decision = decodeIpamDecision(header.reader);
      } catch (err) {
        throw new Error(`IPAM plugin ${plugin.name} returned invalid output: ${(err as Error).message}`);
      }
      const problem = checkDecision(input, decision);
      if (problem) throw new Error(`IPAM plugin ${plugin.name} returned an invalid decision: ${problem}`);
      return decision;
    },
    workers: () => [worker],
    close: () => worker.close(),
  };
}
