// The kind-generic envelope of ABI v1 (docs/plugin-abi.md): a 16-byte header around a batch of
// kind-specific items, in and out. All numbers little-endian; strings are u16 byte length + UTF-8.
import { ABI_VERSION } from "./kinds.ts";

export const HEADER_BYTES = 16;
export const OUTPUT_OK = 0;
export const OUTPUT_BATCH_ERROR = 1;

/** A growable little-endian byte writer with a fast path for ASCII strings. */
export class ByteWriter {
  bytes: Uint8Array;
  view: DataView;
  length = 0;
  private static encoder = new TextEncoder();

  constructor(capacity = 1 << 16) {
    this.bytes = new Uint8Array(capacity);
    this.view = new DataView(this.bytes.buffer);
  }
  reserve(n: number): void {
    if (this.length + n <= this.bytes.length) return;
    let cap = this.bytes.length * 2;
    while (cap < this.length + n) cap *= 2;
    const next = new Uint8Array(cap);
    next.set(this.bytes.subarray(0, this.length));
    this.bytes = next;
    this.view = new DataView(next.buffer);
  }
  u8(v: number): void {
    this.reserve(1);
    this.bytes[this.length++] = v;
  }
  // Plain byte stores: measurably faster than DataView calls on the encoding hot path.
  u16(v: number): void {
    this.reserve(2);
    const b = this.bytes;
    const at = this.length;
    b[at] = v & 0xff;
    b[at + 1] = (v >>> 8) & 0xff;
    this.length = at + 2;
  }
  u32(v: number): void {
    this.reserve(4);
    const b = this.bytes;
    const at = this.length;
    b[at] = v & 0xff;
    b[at + 1] = (v >>> 8) & 0xff;
    b[at + 2] = (v >>> 16) & 0xff;
    b[at + 3] = (v >>> 24) & 0xff;
    this.length = at + 4;
  }
  /** u16 byte length + UTF-8. Throws when the string is longer than 65535 bytes. */
  str(s: string): void {
    const n = s.length;
    this.reserve(2 + n * 3);
    const b = this.bytes;
    const at = this.length;
    const start = at + 2;
    let i = 0;
    for (; i < n; i++) {
      const c = s.charCodeAt(i);
      if (c >= 0x80) break;
      b[start + i] = c;
    }
    let bytes = i;
    if (i < n) bytes = i + ByteWriter.encoder.encodeInto(s.slice(i), b.subarray(start + i)).written;
    if (bytes > 0xffff) throw new Error(`string of ${bytes} bytes is longer than the 65535 the ABI allows`);
    b[at] = bytes & 0xff;
    b[at + 1] = bytes >>> 8;
    this.length = start + bytes;
  }
}

/** The 16-byte header of an input envelope whose items are sent separately (see PluginWorker.call). */
export function inputHeader(kindCode: number, op: number, count: number): Uint8Array {
  const out = new Uint8Array(HEADER_BYTES);
  const view = new DataView(out.buffer);
  view.setUint32(0, ABI_VERSION, true);
  view.setUint32(4, kindCode, true);
  view.setUint32(8, op, true);
  view.setUint32(12, count, true);
  return out;
}

/** Wraps already-encoded items into an input envelope. */
export function inputEnvelope(kindCode: number, op: number, items: Uint8Array[]): Uint8Array {
  let size = HEADER_BYTES;
  for (const item of items) size += item.length;
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  view.setUint32(0, ABI_VERSION, true);
  view.setUint32(4, kindCode, true);
  view.setUint32(8, op, true);
  view.setUint32(12, items.length, true);
  let at = HEADER_BYTES;
  for (const item of items) {
    out.set(item, at);
    at += item.length;
  }
  return out;
}

/** Reads output bytes with bounds checks; every failure names the byte offset. */
export class ByteReader {
  pos = 0;
  readonly view: DataView;
  private static decoder = new TextDecoder();
  constructor(readonly bytes: Uint8Array) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  need(n: number, what: string): void {
    if (this.pos + n > this.bytes.length)
      throw new Error(`output truncated at byte ${this.pos} reading ${what} (${this.bytes.length} bytes)`);
  }
  u8(what: string): number {
    this.need(1, what);
    return this.bytes[this.pos++];
  }
  u16(what: string): number {
    this.need(2, what);
    const v = this.view.getUint16(this.pos, true);
    this.pos += 2;
    return v;
  }
  u32(what: string): number {
    this.need(4, what);
    const v = this.view.getUint32(this.pos, true);
    this.pos += 4;
    return v;
  }
  str(what: string): string {
    const n = this.u16(what);
    this.need(n, what);
    const s = ByteReader.decoder.decode(this.bytes.subarray(this.pos, this.pos + n));
    this.pos += n;
    return s;
  }
}

export type OutputHeader = { ok: true; count: number; reader: ByteReader } | { ok: false; error: string };

/** Checks the output header; a batch error from the plugin comes back as `{ ok: false }`. */
export function readOutputHeader(output: Uint8Array, expectedCount: number): OutputHeader {
  const r = new ByteReader(output);
  const length = r.u32("output length");
  if (length !== output.length) throw new Error(`output header says ${length} bytes, got ${output.length}`);
  const abi = r.u32("output ABI version");
  if (abi !== ABI_VERSION) throw new Error(`output ABI version ${abi}, want ${ABI_VERSION}`);
  const status = r.u32("output status");
  const count = r.u32("output count");
  if (status === OUTPUT_BATCH_ERROR) return { ok: false, error: r.str("batch error message") };
  if (status !== OUTPUT_OK) throw new Error(`output status ${status} is neither 0 (ok) nor 1 (batch error)`);
  if (count !== expectedCount) throw new Error(`output has ${count} items for ${expectedCount} inputs`);
  return { ok: true, count, reader: r };
}
