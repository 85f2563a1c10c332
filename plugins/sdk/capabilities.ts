// Host capabilities. Importing one makes the plugin need the matching grant (and a matching entry
// in its manifest's "capabilities"); a plugin that imports nothing needs no grant at all.

@external("wasmplane", "log")
declare function hostLog(ptr: usize, len: usize): void;

@external("wasmplane", "random_u32")
declare function hostRandom(): u32;

@external("wasmplane", "clock_ms")
declare function hostClock(): f64;

/** Capability "log": one line to the agent log (the host keeps at most 64 lines per call). */
export function log(line: string): void {
  const bytes = String.UTF8.encode(line);
  hostLog(changetype<usize>(bytes), <usize>bytes.byteLength);
}

/** Capability "random": a u32 from a generator the host seeds before each call. */
export function randomU32(): u32 {
  return hostRandom();
}

/** Capability "clock": wall-clock milliseconds since the Unix epoch. */
export function clockMs(): f64 {
  return hostClock();
}
