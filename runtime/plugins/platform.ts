// Node 20 globals the project's type setup (lib ES2022, @types/node 20) does not declare:
// WebAssembly.Module as a value and Atomics.waitAsync. Typed here once, narrowly.

/** A compiled module; opaque to the host side, cloneable into a worker. */
export type CompiledModule = object & { readonly __compiledModule?: never };

const wasm = (globalThis as unknown as { WebAssembly: { Module: new (bytes: Uint8Array) => CompiledModule } })
  .WebAssembly;

export function compileModule(bytes: Uint8Array): CompiledModule {
  return new wasm.Module(bytes);
}

type WaitAsyncResult =
  | { async: false; value: "not-equal" | "timed-out" }
  | { async: true; value: Promise<"ok" | "timed-out"> };

const atomics = Atomics as unknown as {
  waitAsync(array: Int32Array, index: number, value: number, timeoutMs: number): WaitAsyncResult;
};

/** Atomics.waitAsync: resolves when the word at `index` stops being `value` (after a notify) or on timeout. */
export function waitAsync(
  array: Int32Array,
  index: number,
  value: number,
  timeoutMs: number,
): WaitAsyncResult {
  return atomics.waitAsync(array, index, value, timeoutMs);
}

export function writeErr(line: string): void {
  process.stderr.write(`${line}\n`);
}

export function writeOut(line: string): void {
  process.stdout.write(`${line}\n`);
}
