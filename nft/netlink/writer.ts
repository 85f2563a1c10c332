// A growable byte buffer that writes netlink messages and attributes (RFC 3549, nfnetlink). Pure:
// it only produces bytes; nft/netlink/sender.ts takes them to the kernel.
//
// Layout reminders: a message is nlmsghdr (len u32, type u16, flags u16, seq u32, pid u32, all host
// order) + nfgenmsg (family u8, version u8, res_id u16 big-endian) + attributes. An attribute is
// (len u16, type u16) + payload, padded to 4 bytes; len excludes the padding. nf_tables integers
// inside attributes are big-endian; registers and data values are raw bytes.
//
// A batch of 40,000 operations is ~13 MB written in small pieces, so this writes through a DataView
// into one growing ArrayBuffer (no Buffer method calls or temporary buffers per attribute).

import { NetlinkUnsupported } from "./values.ts";

export const NLA_F_NESTED = 0x8000;
const align4 = (n: number) => (n + 3) & ~3;

export class NetlinkWriter {
  private u8: Uint8Array;
  private dv: DataView;
  private len = 0;

  constructor(initial = 4096) {
    this.u8 = new Uint8Array(initial);
    this.dv = new DataView(this.u8.buffer);
  }

  get length(): number {
    return this.len;
  }

  /** The bytes written so far (a view of the writer's memory: do not write more afterwards). */
  bytes(): Buffer {
    return Buffer.from(this.u8.buffer, 0, this.len);
  }

  /** Drops everything written after `length` (which must be a message boundary). */
  truncate(length: number): void {
    if (length > this.len) throw new Error(`truncate to ${length}: only ${this.len} bytes written`);
    this.u8.fill(0, length, this.len);
    this.len = length;
  }

  /** Advances by n bytes (zeroed, as fresh memory is) and returns where they start. */
  private reserve(n: number): number {
    const at = this.len;
    const need = at + n;
    if (need > this.u8.length) {
      const next = new Uint8Array(Math.max(need, this.u8.length * 2));
      next.set(this.u8.subarray(0, at));
      this.u8 = next;
      this.dv = new DataView(next.buffer);
    }
    this.len = need;
    return at;
  }

  private pad(): void {
    this.len = align4(this.len);
    if (this.len > this.u8.length) this.reserve(0);
  }

  private header(type: number, payloadLength: number): number {
    const at = this.reserve(align4(4 + payloadLength));
    this.dv.setUint16(at, 4 + payloadLength, true);
    this.dv.setUint16(at + 2, type, true);
    return at + 4;
  }

  /** Starts a message; returns a token for endMessage. */
  beginMessage(type: number, flags: number, seq: number, family: number, resId = 0): number {
    const at = this.reserve(20);
    const dv = this.dv;
    dv.setUint32(at, 0, true);
    dv.setUint16(at + 4, type, true);
    dv.setUint16(at + 6, flags, true);
    dv.setUint32(at + 8, seq >>> 0, true);
    dv.setUint32(at + 12, 0, true);
    dv.setUint8(at + 16, family);
    dv.setUint8(at + 17, 0);
    dv.setUint16(at + 18, resId, false);
    return at;
  }

  endMessage(token: number): void {
    this.pad();
    this.dv.setUint32(token, this.len - token, true);
  }

  /** An attribute with raw bytes as payload. */
  bytesAttr(type: number, value: Uint8Array): this {
    const at = this.header(type, value.length);
    this.copy(value, at);
    return this;
  }

  /** A NUL-terminated string attribute. */
  stringAttr(type: number, value: string): this {
    let ascii = true;
    for (let i = 0; i < value.length; i++)
      if (value.charCodeAt(i) > 0x7e) {
        ascii = false;
        break;
      }
    if (!ascii) return this.bytesAttr(type, Buffer.from(`${value}\0`));
    const at = this.header(type, value.length + 1);
    const u8 = this.u8;
    for (let i = 0; i < value.length; i++) u8[at + i] = value.charCodeAt(i);
    return this;
  }

  /** A 32-bit big-endian integer attribute (nf_tables' NLA_BE32 / NLA_U32 in network order). */
  u32Attr(type: number, value: number): this {
    const at = this.header(type, 4);
    this.dv.setUint32(at, value >>> 0, false);
    return this;
  }

  /** A 64-bit big-endian integer attribute (timeouts in milliseconds, handles). */
  u64Attr(type: number, value: bigint | number): this {
    const at = this.header(type, 8);
    this.dv.setBigUint64(at, BigInt(value), false);
    return this;
  }

  /** Appends bytes as they are (a prebuilt attribute sequence); returns where they start. */
  raw(bytes: Uint8Array): number {
    const at = this.reserve(bytes.length);
    this.copy(bytes, at);
    return at;
  }

  /** TypedArray#set has a fixed cost that dominates for the few bytes of most attributes. */
  private copy(bytes: Uint8Array, at: number): void {
    const u8 = this.u8;
    if (bytes.length > 32) u8.set(bytes, at);
    else for (let i = 0; i < bytes.length; i++) u8[at + i] = bytes[i];
  }

  /** Writes a big-endian 32-bit value at `at` (inside what was already written, e.g. by raw()). */
  putU32(at: number, value: number): void {
    this.dv.setUint32(at, value >>> 0, false);
  }

  /** Starts a nested attribute; returns a token for endNested. */
  beginNested(type: number): number {
    const at = this.reserve(4);
    this.dv.setUint16(at + 2, type | NLA_F_NESTED, true);
    return at;
  }

  endNested(token: number): void {
    const length = this.len - token;
    // An attribute's length is 16 bits: a longer one would be cut short, silently.
    if (length > 0xffff) throw new NetlinkUnsupported(`attribute of ${length} bytes (more than 64 KiB)`);
    this.dv.setUint16(token, length, true);
  }

  /** Writes a nested attribute whose body `fill` writes. */
  nested(type: number, fill: (w: this) => void): this {
    const token = this.beginNested(type);
    fill(this);
    this.endNested(token);
    return this;
  }
}
