// The plugin manifest: who a plugin says it is and what it asks for. Carried in the custom section
// `wasmplane.manifest` (UTF-8 JSON) or, for modules built without our tools, a sidecar file
// `<module>.manifest.json` next to the .wasm. The section wins when both exist.
import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { type Capability, isCapability } from "./capabilities.ts";
import { isKnownKind, type PluginKind } from "./kinds.ts";

export const MANIFEST_SECTION = "wasmplane.manifest";

export interface PluginManifest {
  name: string;
  version: string;
  kind: PluginKind;
  abi: number;
  capabilities: Capability[];
  description?: string;
  /**
   * The request fields the plugin reads (names per kind, see docs/plugin-abi.md); the host may leave
   * the others out of what it sends. Absent: the plugin gets every field.
   */
  reads?: string[];
}

/** Field names a `reads` list may use, per kind (kinds without projection take none). */
export const READABLE_FIELDS: Partial<Record<PluginKind, readonly string[]>> = {
  lb: [
    "key",
    "nodeZone",
    "nodeName",
    "params",
    "endpoint.address",
    "endpoint.port",
    "endpoint.weight",
    "endpoint.zone",
    "endpoint.nodeName",
  ],
};

const NAME = /^[a-z0-9][a-z0-9._-]{0,62}$/;

/** Validates a parsed manifest; every problem names the field. */
export function parseManifest(raw: unknown, where: string): PluginManifest {
  const problems: string[] = [];
  const m = (typeof raw === "object" && raw !== null ? raw : {}) as Record<string, unknown>;
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) problems.push("must be a JSON object");
  if (typeof m.name !== "string" || !NAME.test(m.name))
    problems.push(`name: want lower-case letters, digits, '.', '_', '-' (got ${JSON.stringify(m.name)})`);
  if (typeof m.version !== "string" || m.version === "")
    problems.push(`version: want a non-empty string (got ${JSON.stringify(m.version)})`);
  if (typeof m.kind !== "string" || !isKnownKind(m.kind))
    problems.push(`kind: want one of lb, ipam, policy (got ${JSON.stringify(m.kind)})`);
  if (!Number.isInteger(m.abi)) problems.push(`abi: want an integer (got ${JSON.stringify(m.abi)})`);
  const caps = m.capabilities ?? [];
  if (!Array.isArray(caps) || !caps.every(isCapability))
    problems.push(`capabilities: want a list of log, random, clock (got ${JSON.stringify(caps)})`);
  if (m.description !== undefined && typeof m.description !== "string")
    problems.push("description: want a string");
  if (m.reads !== undefined) {
    const known = typeof m.kind === "string" ? READABLE_FIELDS[m.kind as PluginKind] : undefined;
    if (!known) problems.push(`reads: kind ${JSON.stringify(m.kind)} takes no field list`);
    else if (!Array.isArray(m.reads) || !m.reads.every((f) => typeof f === "string" && known.includes(f)))
      problems.push(`reads: want a list of ${known.join(", ")} (got ${JSON.stringify(m.reads)})`);
  }
  if (problems.length > 0) throw new Error(`manifest in ${where}: ${problems.join("; ")}`);
  return {
    name: m.name as string,
    version: m.version as string,
    kind: m.kind as PluginKind,
    abi: m.abi as number,
    capabilities: caps as Capability[],
    ...(m.description !== undefined ? { description: m.description as string } : {}),
    ...(m.reads !== undefined ? { reads: [...new Set(m.reads as string[])] } : {}),
  };
}

export function sidecarPath(modulePath: string): string {
  return modulePath.replace(/\.wasm$/, "") + ".manifest.json";
}

/** Where the manifest came from; a sidecar carries the sha256 of its bytes, which the lock pins. */
export type ManifestSource = { kind: "section" } | { kind: "sidecar"; path: string; sha256: string };

/**
 * Finds the manifest: custom section first, else the sidecar file (read once, so the hash and the
 * parsed manifest are of the same bytes). Undefined when neither exists; `onSource` learns where it
 * came from even when it does not parse.
 */
export function findManifest(
  customSections: Map<string, Uint8Array>,
  modulePath: string | undefined,
  onSource?: (source: ManifestSource) => void,
): PluginManifest | undefined {
  const section = customSections.get(MANIFEST_SECTION);
  if (section) {
    onSource?.({ kind: "section" });
    let raw: unknown;
    try {
      raw = JSON.parse(new TextDecoder().decode(section));
    } catch (err) {
      throw new Error(`manifest in custom section ${MANIFEST_SECTION}: not JSON: ${(err as Error).message}`);
    }
    return parseManifest(raw, `custom section ${MANIFEST_SECTION}`);
  }
  if (modulePath && existsSync(sidecarPath(modulePath))) {
    const path = sidecarPath(modulePath);
    const bytes = readFileSync(path);
    onSource?.({ kind: "sidecar", path, sha256: createHash("sha256").update(bytes).digest("hex") });
    let raw: unknown;
    try {
      raw = JSON.parse(bytes.toString("utf8"));
    } catch (err) {
      throw new Error(`manifest in ${path}: not JSON: ${(err as Error).message}`);
    }
    return parseManifest(raw, path);
  }
  return undefined;
}
