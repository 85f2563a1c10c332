// The exports ABI v1 requires of every plugin. A plugin entry file re-exports them:
//   export * from "../sdk/exports";
import { ABI_VERSION, callEnvelope } from "./abi";

/** The ABI version marker the host reads before anything else. */
export const wasmplane_abi: u32 = ABI_VERSION;

/** Reserves `len` bytes for the host to write an input envelope into. */
export function wasmplane_alloc(len: usize): usize {
  return heap.alloc(len);
}

/** Releases a buffer from `wasmplane_alloc` or an output returned by `wasmplane_call`. */
export function wasmplane_free(ptr: usize): void {
  heap.free(ptr);
}

/** Plans one batch: input envelope at [ptr, ptr+len), returns the output envelope's address. */
export function wasmplane_call(ptr: usize, len: usize): usize {
  return callEnvelope(ptr, len);
}
