// The kind-generic half of ABI v1: the envelope around every call, the byte reader and writer, and
// the functions every plugin exports. A kind module (lb.ts, later ipam.ts, policy.ts) registers one
// handler; `wasmplane_call` routes the envelope to it. See docs/plugin-abi.md for the byte layout.

export const ABI_VERSION: u32 = 1;

export const KIND_LB: u32 = 1;
export const KIND_IPAM: u32 = 2;
export const KIND_POLICY: u32 = 3;

export const STATUS_OK: u32 = 0;
export const STATUS_ERROR: u32 = 1;

const HEADER_BYTES: usize = 16;

/** Reads little-endian numbers and length-prefixed UTF-8 strings from the input buffer. */
export class Reader {
  constructor(
    public pos: usize,
    public end: usize,
  ) {}

  /** Set when a read ran past the end; reads then return zeros and the call answers a batch error. */
  failed: bool = false;

  private need(n: usize): bool {
    if (this.pos + n <= this.end) return true;
    this.failed = true;
    this.pos = this.end;
    return false;
  }
  /** Whether `count` records of at least `minBytes` each can still follow; marks the input failed if not. */
  canHold(count: usize, minBytes: usize): bool {
    if (count * minBytes <= this.end - this.pos) return true;
    this.failed = true;
    this.pos = this.end;
    return false;
  }
  u8(): u32 {
    if (!this.need(1)) return 0;
    const v = <u32>load<u8>(this.pos);
    this.pos += 1;
    return v;
  }
  u16(): u32 {
    if (!this.need(2)) return 0;
    const v = <u32>load<u16>(this.pos);
    this.pos += 2;
    return v;
  }
  u32(): u32 {
    if (!this.need(4)) return 0;
    const v = load<u32>(this.pos);
    this.pos += 4;
    return v;
  }
  /** Skips a string and returns where its bytes start; its length is in `lastLength`. */
  strRef(): usize {
    let len = <usize>this.u16();
    if (!this.need(len)) len = 0;
    const at = this.pos;
    this.pos += len;
    this.lastLength = <i32>len;
    return at;
  }
  lastLength: i32 = 0;
  str(): string {
    const at = this.strRef();
    return String.UTF8.decodeUnsafe(at, <usize>this.lastLength);
  }
}

/** A growable output buffer on the plugin heap; the host frees it with `wasmplane_free`. */
export class Writer {
  buf: usize;
  cap: usize;
  len: usize = 0;
  constructor(capacity: usize) {
    this.cap = capacity < 64 ? 64 : capacity;
    this.buf = heap.alloc(this.cap);
  }
  ensure(n: usize): void {
    if (this.len + n <= this.cap) return;
    let cap = this.cap * 2;
    while (cap < this.len + n) cap *= 2;
    this.buf = heap.realloc(this.buf, cap);
    this.cap = cap;
  }
  u8(v: u32): void {
    this.ensure(1);
    store<u8>(this.buf + this.len, <u8>v);
    this.len += 1;
  }
  u16(v: u32): void {
    this.ensure(2);
    store<u16>(this.buf + this.len, <u16>v);
    this.len += 2;
  }
  u32(v: u32): void {
    this.ensure(4);
    store<u32>(this.buf + this.len, v);
    this.len += 4;
  }
  /** Writes `count` u32 values from a contiguous buffer. */
  u32s(from: usize, count: usize): void {
    this.ensure(count << 2);
    memory.copy(this.buf + this.len, from, count << 2);
    this.len += count << 2;
  }
  str(s: string): void {
    const bytes = String.UTF8.encode(s);
    let n = bytes.byteLength;
    if (n > 0xffff) n = 0xffff;
    this.u16(<u32>n);
    this.ensure(<usize>n);
    memory.copy(this.buf + this.len, changetype<usize>(bytes), <usize>n);
    this.len += <usize>n;
  }
  patchU32(at: usize, v: u32): void {
    store<u32>(this.buf + at, v);
  }
}

/** Plans `count` items of one kind: reads them from `input`, writes one answer per item to `output`. */
export type KindHandler = (input: Reader, op: u32, count: u32, output: Writer) => void;

function noHandler(input: Reader, op: u32, count: u32, output: Writer): void {
  throw new Error("no plugin function registered");
}

let registeredKind: u32 = 0;
let registeredHandler: KindHandler = noHandler;

/** Called once by a kind module when the plugin registers its function. */
export function registerKind(kind: u32, handler: KindHandler): void {
  registeredKind = kind;
  registeredHandler = handler;
}

function batchError(output: Writer, message: string): void {
  output.len = HEADER_BYTES;
  output.str(message);
  output.patchU32(8, STATUS_ERROR);
  output.patchU32(12, 0);
}

/** The body of the exported `wasmplane_call`. */
export function callEnvelope(ptr: usize, len: usize): usize {
  const input = new Reader(ptr, ptr + len);
  const output = new Writer(len + 256);
  output.len = HEADER_BYTES;
  output.patchU32(4, ABI_VERSION);
  output.patchU32(8, STATUS_OK);
  if (len < HEADER_BYTES) {
    batchError(output, "envelope shorter than its 16-byte header");
  } else {
    const abi = input.u32();
    const kind = input.u32();
    const op = input.u32();
    const count = input.u32();
    output.patchU32(12, count);
    if (abi != ABI_VERSION) batchError(output, "envelope ABI version " + abi.toString() + ", plugin speaks 1");
    else if (kind != registeredKind)
      batchError(output, "envelope kind " + kind.toString() + ", plugin is kind " + registeredKind.toString());
    else if (!input.canHold(<usize>count, 1)) batchError(output, "envelope promises more items than it holds");
    else {
      registeredHandler(input, op, count, output);
      if (input.failed) batchError(output, "input envelope truncated or malformed");
    }
  }
  output.patchU32(0, <u32>output.len);
  return output.buf;
}
