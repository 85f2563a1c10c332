// A small reader of the WebAssembly binary format: just what the host must know about a module
// BEFORE instantiating it (imports with their types, memory limits, exports, the ABI marker's
// constant value, custom sections). WebAssembly.Module.imports() omits limits and global values.

export interface Limits {
  min: number;
  /** Undefined when the module declares no maximum. */
  max?: number;
  shared: boolean;
}

export type ImportDesc =
  | { kind: "function"; typeIndex: number }
  | { kind: "table" }
  | { kind: "memory"; limits: Limits }
  | { kind: "global" };

export interface WasmImport {
  module: string;
  name: string;
  desc: ImportDesc;
}

export interface WasmExport {
  name: string;
  kind: "function" | "table" | "memory" | "global";
  index: number;
}

export interface FuncType {
  params: string[];
  results: string[];
}

export interface WasmModuleInfo {
  types: FuncType[];
  imports: WasmImport[];
  /** Memories the module defines itself (not imported). */
  memories: Limits[];
  exports: WasmExport[];
  /** Type index of every function, imported ones first (the function index space). */
  functionTypes: number[];
  /** Constant initial value of every global, imported ones first; undefined when not a constant. */
  globalValues: (number | bigint | undefined)[];
  customSections: Map<string, Uint8Array>;
  /** How many functions are imported (function index i >= this is defined body i - count). */
  importedFunctions: number;
  /** The code of every defined function (locals declaration and expression), in order. */
  functionBodies: Uint8Array[];
  /** Active data segments of memory 0 with a constant offset. */
  dataSegments: { offset: number; bytes: Uint8Array }[];
}

const EXTERNAL_KINDS = ["function", "table", "memory", "global"] as const;
const VALUE_TYPES: Record<number, string> = { 127: "i32", 126: "i64", 125: "f32", 124: "f64", 123: "v128" };

class ByteReader {
  pos = 0;
  constructor(readonly bytes: Uint8Array) {}
  get done(): boolean {
    return this.pos >= this.bytes.length;
  }
  byte(): number {
    if (this.pos >= this.bytes.length) throw new Error(`truncated module at byte ${this.pos}`);
    return this.bytes[this.pos++];
  }
  u32(): number {
    let result = 0;
    let shift = 0;
    for (;;) {
      const b = this.byte();
      result += (b & 0x7f) * 2 ** shift;
      if ((b & 0x80) === 0) return result;
      shift += 7;
      if (shift > 35) throw new Error(`bad LEB128 at byte ${this.pos}`);
    }
  }
  s64(): bigint {
    let result = 0n;
    let shift = 0n;
    let b: number;
    do {
      b = this.byte();
      result |= BigInt(b & 0x7f) << shift;
      shift += 7n;
    } while (b & 0x80);
    if (shift < 64n && b & 0x40) result |= -1n << shift;
    return result;
  }
  take(n: number): Uint8Array {
    if (this.pos + n > this.bytes.length) throw new Error(`truncated module at byte ${this.pos}`);
    const out = this.bytes.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }
  name(): string {
    return new TextDecoder().decode(this.take(this.u32()));
  }
  limits(): Limits {
    const flags = this.byte();
    const min = this.u32();
    const max = flags & 1 ? this.u32() : undefined;
    return { min, max, shared: (flags & 2) !== 0 };
  }
  valueType(): string {
    const t = this.byte();
    return VALUE_TYPES[t] ?? `0x${t.toString(16)}`;
  }
  /** A constant expression; returns its value when it is a single numeric const. */
  constExpr(): number | bigint | undefined {
    let value: number | bigint | undefined;
    let ops = 0;
    for (;;) {
      const op = this.byte();
      if (op === 0x0b) return ops === 1 ? value : undefined;
      ops++;
      if (op === 0x41) value = Number(this.s64());
      else if (op === 0x42) value = this.s64();
      else if (op === 0x43) value = new DataView(this.take(4).slice().buffer).getFloat32(0, true);
      else if (op === 0x44) value = new DataView(this.take(8).slice().buffer).getFloat64(0, true);
      else if (op === 0x23 || op === 0xd2) {
        this.u32();
        value = undefined;
      } else if (op === 0xd0) {
        this.byte();
        value = undefined;
      } else if (op === 0xfd && this.u32() === 12) {
        this.take(16);
        value = undefined;
      } else throw new Error(`unsupported constant expression opcode 0x${op.toString(16)}`);
    }
  }
}

/** Parses the sections the host needs. Throws with the byte offset on a malformed module. */
export function readWasmModule(bytes: Uint8Array): WasmModuleInfo {
  const r = new ByteReader(bytes);
  readPreamble(r);
  const info: WasmModuleInfo = {
    types: [],
    imports: [],
    memories: [],
    exports: [],
    functionTypes: [],
    globalValues: [],
    customSections: new Map(),
    importedFunctions: 0,
    functionBodies: [],
    dataSegments: [],
  };
  while (!r.done) {
    const id = r.byte();
    const size = r.u32();
    readSection(id, new ByteReader(r.take(size)), info);
  }
  return info;
}

/** The magic bytes and binary version 1. */
function readPreamble(r: ByteReader): void {
  const magic = r.take(4);
  if (magic[0] !== 0 || magic[1] !== 0x61 || magic[2] !== 0x73 || magic[3] !== 0x6d) {
    throw new Error("not a WebAssembly module (bad magic bytes)");
  }
  const version = r.take(4);
  if (version[0] !== 1) throw new Error(`unsupported WebAssembly binary version ${version[0]}`);
}

/** Adds what the host needs of section `id` to `info`; sections it does not need are skipped. */
function readSection(id: number, section: ByteReader, info: WasmModuleInfo): void {
  switch (id) {
    case 0:
      info.customSections.set(section.name(), section.bytes.subarray(section.pos));
      return;
    case 1:
      readTypeSection(section, info.types);
      return;
    case 2:
      readImportSection(section, info);
      return;
    case 3:
      for (let n = section.u32(); n > 0; n--) info.functionTypes.push(section.u32());
      return;
    case 5:
      for (let n = section.u32(); n > 0; n--) info.memories.push(section.limits());
      return;
    case 6:
      readGlobalSection(section, info.globalValues);
      return;
    case 7:
      readExportSection(section, info.exports);
      return;
    case 10:
      for (let n = section.u32(); n > 0; n--) info.functionBodies.push(section.take(section.u32()));
      return;
    case 11:
      readDataSection(section, info.dataSegments);
      return;
  }
}

function readTypeSection(section: ByteReader, out: WasmModuleInfo["types"]): void {
  for (let n = section.u32(); n > 0; n--) {
    if (section.byte() !== 0x60) throw new Error("unsupported type form in type section");
    const params = Array.from({ length: section.u32() }, () => section.valueType());
    const results = Array.from({ length: section.u32() }, () => section.valueType());
    out.push({ params, results });
  }
}

/** Imports; an imported function or global also takes the next function or global index. */
function readImportSection(section: ByteReader, info: WasmModuleInfo): void {
  for (let n = section.u32(); n > 0; n--) {
    const module = section.name();
    const name = section.name();
    const kind = section.byte();
    let desc: ImportDesc;
    if (kind === 0) {
      desc = { kind: "function", typeIndex: section.u32() };
      info.functionTypes.push(desc.typeIndex);
      info.importedFunctions++;
    } else if (kind === 1) {
      section.byte();
      section.limits();
      desc = { kind: "table" };
    } else if (kind === 2) desc = { kind: "memory", limits: section.limits() };
    else if (kind === 3) {
      section.valueType();
      section.byte();
      desc = { kind: "global" };
      info.globalValues.push(undefined);
    } else throw new Error(`unknown import kind ${kind} for ${module}.${name}`);
    info.imports.push({ module, name, desc });
  }
}

function readGlobalSection(section: ByteReader, out: WasmModuleInfo["globalValues"]): void {
  for (let n = section.u32(); n > 0; n--) {
    section.valueType();
    section.byte();
    out.push(section.constExpr());
  }
}

function readExportSection(section: ByteReader, out: WasmModuleInfo["exports"]): void {
  for (let n = section.u32(); n > 0; n--) {
    const name = section.name();
    const kind = EXTERNAL_KINDS[section.byte()];
    if (!kind) throw new Error(`unknown export kind for ${name}`);
    out.push({ name, kind, index: section.u32() });
  }
}

function readDataSection(section: ByteReader, out: WasmModuleInfo["dataSegments"]): void {
  for (let n = section.u32(); n > 0; n--) {
    const flags = section.u32();
    const memory = flags === 2 ? section.u32() : 0;
    const offset = flags === 1 ? undefined : section.constExpr();
    const bytes = section.take(section.u32());
    if (memory === 0 && typeof offset === "number") out.push({ offset: offset >>> 0, bytes });
  }
}

/**
 * The value a function returns when its body is nothing but `i32.const N` (what any compiler makes
 * of `return N;` with optimisation on); undefined for any other body.
 */
export function constantI32Result(body: Uint8Array): number | undefined {
  const r = new ByteReader(body);
  try {
    for (let groups = r.u32(); groups > 0; groups--) {
      r.u32();
      r.valueType();
    }
    if (r.byte() !== 0x41) return undefined;
    const value = Number(r.s64());
    return r.byte() === 0x0b && r.done ? value : undefined;
  } catch {
    return undefined;
  }
}

/** The little-endian i32 stored at `address` by an active data segment, if one covers it. */
export function dataWordAt(info: WasmModuleInfo, address: number): number | undefined {
  for (const seg of info.dataSegments) {
    const at = address - seg.offset;
    if (at >= 0 && at + 4 <= seg.bytes.length)
      return new DataView(seg.bytes.buffer, seg.bytes.byteOffset + at, 4).getInt32(0, true);
  }
  return undefined;
}

/** Appends a custom section (name + payload) to a module's bytes. */
export function appendCustomSection(module: Uint8Array, name: string, payload: Uint8Array): Uint8Array {
  const nameBytes = new TextEncoder().encode(name);
  const body = [...leb128(nameBytes.length), ...nameBytes, ...payload];
  return Uint8Array.from([...module, 0, ...leb128(body.length), ...body]);
}

function leb128(value: number): number[] {
  const out: number[] = [];
  do {
    let b = value & 0x7f;
    value = Math.floor(value / 128);
    if (value > 0) b |= 0x80;
    out.push(b);
  } while (value > 0);
  return out;
}
