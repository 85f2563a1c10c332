// Deny by default: a plugin's only imports are the capabilities an operator granted, plus the
// host-capped linear memory. This table is the single source of what each import needs.
export type Capability = "log" | "random" | "clock";

export const CAPABILITIES: readonly Capability[] = ["log", "random", "clock"];

export function isCapability(value: unknown): value is Capability {
  return typeof value === "string" && (CAPABILITIES as readonly string[]).includes(value);
}

export interface CapabilityImport {
  module: string;
  name: string;
  capability: Capability;
  params: string[];
  results: string[];
  what: string;
}

/** Every function import the host can provide, and the grant each one needs. */
export const CAPABILITY_IMPORTS: readonly CapabilityImport[] = [
  {
    module: "wasmplane",
    name: "log",
    capability: "log",
    params: ["i32", "i32"],
    results: [],
    what: "writes a UTF-8 line (ptr, len) to the agent log",
  },
  {
    module: "wasmplane",
    name: "random_u32",
    capability: "random",
    params: [],
    results: ["i32"],
    what: "a pseudo-random u32 from a generator the host seeds at the start of each call",
  },
  {
    module: "wasmplane",
    name: "clock_ms",
    capability: "clock",
    params: [],
    results: ["f64"],
    what: "wall-clock milliseconds since the Unix epoch",
  },
];

/** The memory import: always allowed, always created by the host with the capped maximum. */
export const MEMORY_IMPORT = { module: "env", name: "memory" };

export function capabilityImport(module: string, name: string): CapabilityImport | undefined {
  return CAPABILITY_IMPORTS.find((c) => c.module === module && c.name === name);
}
