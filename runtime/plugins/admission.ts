// The one choke point every module passes before it is instantiated anywhere: what it is (inspect)
// and whether this host may run it under the operator's grants and limits (admit). All problems are
// collected, so one refusal names every missing grant at once.
import { createHash } from "node:crypto";
import { ABI_MARKER_GLOBAL, readAbiMarker } from "./abi-marker.ts";
import { CAPABILITY_IMPORTS, type Capability, capabilityImport, MEMORY_IMPORT } from "./capabilities.ts";
import { ABI_VERSION, KIND_CODES, type PluginKind, SUPPORTED_ABI_VERSIONS } from "./kinds.ts";
import { findManifest, type ManifestSource, type PluginManifest } from "./manifest.ts";
import { type CompiledModule, compileModule } from "./platform.ts";
import { type FuncType, type Limits, readWasmModule, type WasmModuleInfo } from "./wasm-binary.ts";

export const WASM_PAGE_BYTES = 65536;
/** The v1 marker global's name (ABI 1.1 also accepts a function, see abi-marker.ts). */
export const ABI_MARKER_EXPORT = ABI_MARKER_GLOBAL;

/** Function exports ABI v1 requires, with their signatures. */
export const REQUIRED_FUNCTIONS: Record<string, FuncType> = {
  wasmplane_alloc: { params: ["i32"], results: ["i32"] },
  wasmplane_free: { params: ["i32"], results: [] },
  wasmplane_call: { params: ["i32", "i32"], results: ["i32"] },
};

export interface InspectedImport {
  module: string;
  name: string;
  kind: string;
  /** The grant this import needs; undefined for the memory import and for imports no grant provides. */
  capability?: Capability;
  signature?: string;
}

export interface InspectedPlugin {
  file?: string;
  size: number;
  sha256: string;
  manifest?: PluginManifest;
  manifestError?: string;
  /** Where the manifest came from: the module's custom section, or a sidecar file (with its sha256). */
  manifestSource?: ManifestSource;
  /** The ABI version the marker declares (function `wasmplane_abi_version` or global `wasmplane_abi`). */
  abi?: number;
  /** Which marker declared it: "function" (ABI 1.1) or "global" (ABI 1). */
  abiMarker?: "function" | "global";
  /** Why the ABI marker is unusable. */
  abiProblem?: string;
  imports: InspectedImport[];
  exports: { name: string; kind: string; signature?: string }[];
  memory?: { imported: boolean; minPages: number; maxPages?: number; shared: boolean };
  info?: WasmModuleInfo;
  parseError?: string;
}

export function sha256Hex(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

function signature(t: FuncType | undefined): string | undefined {
  return t ? `(${t.params.join(", ")}) -> (${t.results.join(", ")})` : undefined;
}

/** Describes a module without running any of it. Never throws: problems land in the fields. */
export function inspectModule(bytes: Uint8Array, file?: string): InspectedPlugin {
  const out: InspectedPlugin = {
    file,
    size: bytes.length,
    sha256: sha256Hex(bytes),
    imports: [],
    exports: [],
  };
  let info: WasmModuleInfo;
  try {
    info = readWasmModule(bytes);
  } catch (err) {
    out.parseError = (err as Error).message;
    return out;
  }
  out.info = info;
  try {
    out.manifest = findManifest(info.customSections, file, (source) => {
      out.manifestSource = source;
    });
  } catch (err) {
    out.manifestError = (err as Error).message;
  }
  for (const imp of info.imports) {
    const cap = capabilityImport(imp.module, imp.name);
    out.imports.push({
      module: imp.module,
      name: imp.name,
      kind: imp.desc.kind,
      capability: cap?.capability,
      signature: imp.desc.kind === "function" ? signature(info.types[imp.desc.typeIndex]) : undefined,
    });
    if (imp.desc.kind === "memory") out.memory = memoryOf(imp.desc.limits, true);
  }
  if (!out.memory && info.memories[0]) out.memory = memoryOf(info.memories[0], false);
  for (const exp of info.exports) {
    const sig = exp.kind === "function" ? signature(info.types[info.functionTypes[exp.index]]) : undefined;
    out.exports.push({ name: exp.name, kind: exp.kind, signature: sig });
  }
  const marker = readAbiMarker(info);
  out.abi = marker.version;
  out.abiMarker = marker.via;
  out.abiProblem = marker.problem;
  return out;
}

function memoryOf(l: Limits, imported: boolean) {
  return { imported, minPages: l.min, maxPages: l.max, shared: l.shared };
}

export interface AdmissionPolicy {
  /** Capabilities the operator granted this plugin. */
  grants: readonly Capability[];
  memoryCapBytes: number;
  /** Refuse a plugin of another kind (an lb slot must not run an ipam plugin). */
  expectedKind?: PluginKind;
  /** Refuse a module whose sha256 differs (from the lock file). */
  expectedSha256?: string;
  /**
   * With expectedSha256: the locked sha256 of the sidecar manifest, or undefined when the lock
   * pinned the module with its manifest inside. A sidecar whose bytes differ, or a sidecar the lock
   * does not pin, is refused: the manifest changes behaviour (its reads, its grants), so it is pinned too.
   */
  expectedManifestSha256?: string;
  /** How to tell an operator to grant a capability, e.g. `lb.grants.<name>` in the agent config. */
  grantHint?: (pluginName: string, capabilities: Capability[]) => string;
}

export interface AdmittedPlugin {
  name: string;
  manifest: PluginManifest;
  inspected: InspectedPlugin;
  module: CompiledModule;
  /** How the worker provides memory: a host-created, capped `env.memory`, or the module's own. */
  memory: { imported: boolean; initialPages: number; maximumPages: number };
  grants: Capability[];
}

export class PluginRefused extends Error {
  constructor(
    readonly plugin: string,
    readonly problems: string[],
  ) {
    super(`plugin ${plugin} refused: ${problems.join("; ")}`);
    this.name = "PluginRefused";
  }
}

const defaultGrantHint = (name: string, caps: Capability[]) =>
  `grant with lb.grants in the agent config, e.g. grants: { "${name}": [${caps.map((c) => `"${c}"`).join(", ")}] }` +
  ` (or --grant ${caps.join(",")} for wasmplane plugin test)`;

const RELOCK = "if the change is intended, run `wasmplane plugin lock`";

/** Why a module's manifest does not match its lock pin, or undefined when it does. */
export function manifestPinProblem(
  source: ManifestSource | undefined,
  lockedManifestSha256: string | undefined,
): string | undefined {
  if (source?.kind === "sidecar") {
    if (lockedManifestSha256 === undefined)
      return `manifest ${source.path} (sha256 ${source.sha256}) is not pinned by the lock; ${RELOCK}`;
    if (source.sha256 !== lockedManifestSha256)
      return `manifest ${source.path} sha256 ${source.sha256} differs from the locked ${lockedManifestSha256}; ${RELOCK}`;
  } else if (lockedManifestSha256 !== undefined)
    return `the lock pins a sidecar manifest (sha256 ${lockedManifestSha256}) but none is there; ${RELOCK}`;
  return undefined;
}

/** The lock's pins: a module or sidecar manifest that differs is refused before anything else is read. */
function pinProblem(inspected: InspectedPlugin, policy: AdmissionPolicy): string | undefined {
  if (!policy.expectedSha256) return undefined;
  if (policy.expectedSha256 !== inspected.sha256)
    return `sha256 ${inspected.sha256} differs from the locked ${policy.expectedSha256}; ${RELOCK}`;
  return manifestPinProblem(inspected.manifestSource, policy.expectedManifestSha256);
}

/** What the module says it is: its manifest and ABI marker, and whether they agree with each other and the slot. */
function declarationProblems(
  inspected: InspectedPlugin,
  file: string | undefined,
  policy: AdmissionPolicy,
): string[] {
  const problems: string[] = [];
  const manifest = inspected.manifest;
  if (inspected.manifestError) problems.push(inspected.manifestError);
  else if (!manifest) {
    problems.push(
      `no manifest: neither a custom section wasmplane.manifest nor a sidecar ${file ? file.replace(/\.wasm$/, "") : "<module>"}.manifest.json`,
    );
  }
  const markerName = inspected.abiMarker === "function" ? "wasmplane_abi_version()" : ABI_MARKER_EXPORT;
  if (inspected.abiProblem) problems.push(inspected.abiProblem);
  else if (inspected.abi !== undefined && !SUPPORTED_ABI_VERSIONS.includes(inspected.abi)) {
    problems.push(
      `found ABI version ${inspected.abi} (exported ${markerName}); this host speaks ABI ${SUPPORTED_ABI_VERSIONS.join(", ")}`,
    );
  }
  if (manifest) {
    if (inspected.abi !== undefined && manifest.abi !== inspected.abi)
      problems.push(`manifest says ABI ${manifest.abi} but the module's ${markerName} = ${inspected.abi}`);
    if (!SUPPORTED_ABI_VERSIONS.includes(manifest.abi) && manifest.abi !== inspected.abi)
      problems.push(`manifest ABI version ${manifest.abi} unknown; this host speaks ABI ${ABI_VERSION}`);
    if (policy.expectedKind && manifest.kind !== policy.expectedKind)
      problems.push(`found kind ${manifest.kind}, expected kind ${policy.expectedKind}`);
    if (!Object.hasOwn(KIND_CODES, manifest.kind)) problems.push(`unknown kind ${manifest.kind}`);
  }
  return problems;
}

/** The function exports ABI v1 requires, each with its signature. */
function exportProblems(info: WasmModuleInfo): string[] {
  const problems: string[] = [];
  for (const [name, want] of Object.entries(REQUIRED_FUNCTIONS)) {
    const exp = info.exports.find((e) => e.name === name);
    const got = exp?.kind === "function" ? info.types[info.functionTypes[exp.index]] : undefined;
    if (!exp) problems.push(`missing export ${name} ${signature(want)}`);
    else if (!got || signature(got) !== signature(want))
      problems.push(
        `export ${name} has ${got ? signature(got) : `kind ${exp.kind}`}, want ${signature(want)}`,
      );
  }
  return problems;
}

/** Every import: only env.memory and granted capability functions with the host's signatures; one hint for all missing grants. */
function importProblems(
  info: WasmModuleInfo,
  manifest: PluginManifest | undefined,
  policy: AdmissionPolicy,
  label: string,
): string[] {
  const problems: string[] = [];
  const missingGrants: Capability[] = [];
  for (const imp of info.imports) {
    const what = `${imp.module}.${imp.name}`;
    if (imp.desc.kind === "memory") {
      if (imp.module !== MEMORY_IMPORT.module || imp.name !== MEMORY_IMPORT.name)
        problems.push(`imports memory as ${what}; the host provides memory only as env.memory`);
      continue;
    }
    const cap = capabilityImport(imp.module, imp.name);
    if (!cap || imp.desc.kind !== "function") {
      problems.push(
        `imports ${imp.desc.kind} ${what}, which no grant provides (grantable imports: ${CAPABILITY_IMPORTS.map((c) => `${c.module}.${c.name} needs "${c.capability}"`).join(", ")})`,
      );
      continue;
    }
    const sig = signature(info.types[imp.desc.typeIndex]);
    if (sig !== signature(cap))
      problems.push(`imports ${what} as ${sig}, the host provides ${signature(cap)}`);
    if (!policy.grants.includes(cap.capability)) {
      problems.push(`imports ${what}, which needs the "${cap.capability}" grant (${cap.what})`);
      if (!missingGrants.includes(cap.capability)) missingGrants.push(cap.capability);
    }
    if (manifest && !manifest.capabilities.includes(cap.capability))
      problems.push(`imports ${what} but its manifest does not request "${cap.capability}"`);
  }
  if (missingGrants.length > 0) problems.push((policy.grantHint ?? defaultGrantHint)(label, missingGrants));
  return problems;
}

/** How the worker provides the module's memory under the cap, and why it cannot. */
function memoryPlan(
  inspected: InspectedPlugin,
  info: WasmModuleInfo,
  capPages: number,
): { memory: AdmittedPlugin["memory"]; problems: string[] } {
  const problems: string[] = [];
  const mem = inspected.memory;
  let memory: AdmittedPlugin["memory"] = { imported: true, initialPages: 1, maximumPages: capPages };
  if (!mem) problems.push("has no linear memory: import env.memory or export one as memory");
  else if (mem.shared) problems.push("declares shared memory; ABI v1 wants unshared memory");
  else if (mem.imported) {
    if (mem.minPages > capPages)
      problems.push(`needs ${mem.minPages} pages of memory at start, above the cap of ${capPages} pages`);
    const max = mem.maxPages === undefined ? capPages : Math.min(mem.maxPages, capPages);
    memory = { imported: true, initialPages: mem.minPages, maximumPages: max };
  } else {
    if (!info.exports.some((e) => e.name === "memory" && e.kind === "memory"))
      problems.push("defines its memory but does not export it as memory");
    if (mem.maxPages === undefined)
      problems.push(
        `defines its own memory with no maximum; the cap is ${capPages} pages: import env.memory (asc --importMemory) or declare a maximum`,
      );
    else if (mem.maxPages > capPages)
      problems.push(`declares a memory maximum of ${mem.maxPages} pages, above the cap of ${capPages} pages`);
    memory = { imported: false, initialPages: mem.minPages, maximumPages: mem.maxPages ?? 0 };
  }
  return { memory, problems };
}

/** Checks a module against the ABI, the grants and the limits; compiles it only when all pass. */
export function admitPlugin(
  bytes: Uint8Array,
  file: string | undefined,
  policy: AdmissionPolicy,
): AdmittedPlugin {
  const inspected = inspectModule(bytes, file);
  const label = inspected.manifest?.name ?? file ?? "<module>";
  function refuse(problems: string[]): never {
    throw new PluginRefused(file && inspected.manifest ? `${label} (${file})` : label, problems);
  }
  const pin = pinProblem(inspected, policy);
  if (pin) refuse([pin]);
  const info = inspected.info;
  if (!info) refuse([`not a valid WebAssembly module: ${inspected.parseError}`]);
  const manifest = inspected.manifest;
  const capPages = Math.floor(policy.memoryCapBytes / WASM_PAGE_BYTES);
  const { memory, problems: memoryProblems } = memoryPlan(inspected, info, capPages);
  const problems = [
    ...declarationProblems(inspected, file, policy),
    ...exportProblems(info),
    ...importProblems(info, manifest, policy, label),
    ...memoryProblems,
  ];
  if (problems.length > 0 || !manifest) refuse(problems);
  return {
    name: manifest.name,
    manifest,
    inspected,
    module: compile(bytes, refuse),
    memory,
    grants: [...policy.grants],
  };
}

function compile(bytes: Uint8Array, refuse: (problems: string[]) => never): CompiledModule {
  try {
    return compileModule(bytes);
  } catch (err) {
    return refuse([`does not compile: ${(err as Error).message}`]);
  }
}
