// The ABI marker: how a module says which ABI it speaks, read from the binary before anything runs.
// ABI 1.1 adds a marker every toolchain can produce, an exported function whose body is a constant;
// the v1 marker, an exported constant i32 global, is still accepted. LLVM toolchains (clang, rustc,
// zig) cannot make the v1 marker: for `const int wasmplane_abi = 1;` they export a global holding the
// variable's *address*, so that case gets a message naming the problem and the fix.
import { SUPPORTED_ABI_VERSIONS } from "./kinds.ts";
import { constantI32Result, dataWordAt, type WasmModuleInfo } from "./wasm-binary.ts";

export const ABI_MARKER_FUNCTION = "wasmplane_abi_version";
export const ABI_MARKER_GLOBAL = "wasmplane_abi";

export interface AbiMarker {
  /** The ABI version the module declares; undefined when it could not be read. */
  version?: number;
  /** Which marker declared it. */
  via?: "function" | "global";
  /** Why the marker is unusable, ready for an admission refusal. */
  problem?: string;
}

const FIX_FOR_LLVM =
  `export a function instead (ABI 1.1): in C, \`__attribute__((export_name("${ABI_MARKER_FUNCTION}"))) int ` +
  `${ABI_MARKER_FUNCTION}(void) { return 1; }\` built with -O1 or higher; in Rust, ` +
  `\`#[no_mangle] pub extern "C" fn ${ABI_MARKER_FUNCTION}() -> i32 { 1 }\``;

function fromFunction(info: WasmModuleInfo, index: number): AbiMarker {
  const want = `${ABI_MARKER_FUNCTION} must be a function () -> (i32) whose body is only \`i32.const <version>\``;
  const type = info.types[info.functionTypes[index]];
  if (type?.params.length !== 0 || type.results.join() !== "i32")
    return { via: "function", problem: `${want}; it has another signature` };
  const body = info.functionBodies[index - info.importedFunctions];
  const version = body ? constantI32Result(body) : undefined;
  if (version === undefined)
    return {
      via: "function",
      problem: `${want} (the host reads it without running the module); return a literal and build with optimisation on (clang -O1 or higher)`,
    };
  return { via: "function", version };
}

function fromGlobal(info: WasmModuleInfo, index: number): AbiMarker {
  const value = info.globalValues[index];
  if (value === undefined || typeof value !== "number" || !Number.isInteger(value))
    return { via: "global", problem: `${ABI_MARKER_GLOBAL} is not a constant i32 global` };
  if (SUPPORTED_ABI_VERSIONS.includes(value)) return { via: "global", version: value };
  const stored = dataWordAt(info, value);
  const looksLikeAddress = stored !== undefined || (value >= 1024 && value % 4 === 0);
  if (!looksLikeAddress) return { via: "global", version: value };
  return {
    via: "global",
    problem:
      `${ABI_MARKER_GLOBAL} = ${value} is the address of a variable${stored !== undefined ? ` (which holds ${stored})` : ""}, not the ABI version: ` +
      `LLVM toolchains (clang, rustc, zig) export a global variable as its address, so they cannot make the v1 global marker; ${FIX_FOR_LLVM}`,
  };
}

/** Reads the marker: the function when exported (it wins), else the v1 global. */
export function readAbiMarker(info: WasmModuleInfo): AbiMarker {
  const fn = info.exports.find((e) => e.name === ABI_MARKER_FUNCTION);
  if (fn) {
    if (fn.kind !== "function")
      return { problem: `${ABI_MARKER_FUNCTION} is a ${fn.kind}, want a function () -> (i32)` };
    return fromFunction(info, fn.index);
  }
  const global = info.exports.find((e) => e.name === ABI_MARKER_GLOBAL);
  if (!global)
    return {
      problem: `exports neither ${ABI_MARKER_FUNCTION} (a function returning the ABI version, ABI 1.1) nor a ${ABI_MARKER_GLOBAL} global (ABI 1): not built for the wasmplane ABI`,
    };
  if (global.kind !== "global")
    return {
      problem: `${ABI_MARKER_GLOBAL} is a ${global.kind}, want an i32 global (or export a function ${ABI_MARKER_FUNCTION})`,
    };
  return fromGlobal(info, global.index);
}
