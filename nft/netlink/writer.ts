// A growable byte buffer that writes netlink messages and attributes (RFC 3549, nfnetlink). Pure:
// it only produces bytes; nft/netlink/sender.ts takes them to the kernel.
//
// Layout reminders: a message is nlmsghdr (len u32, type u16, flags u16, seq u32, pid u32, all host
// order) + nfgenmsg (family u8, version u8, res_id u16 big-endian) + attributes. An attribute is
// (len u16, type u16) + payload, padded to 4 bytes; len excludes the padding. nf_tables integers
// inside attributes are big-endian; registers and data values are raw bytes.

export const NLA_F_NESTED = 0x8000;
const align4 = (n: number) => (n + 3) & ~3;

export class NetlinkWriter {
  private buf: Buffer;
  private len = 0;

  constructor(initial = 4096) {
    this.buf = Buffer.alloc(initial);
  }

  get length(): number {
    return this.len;
  }

  /** The bytes written so far (a copy). */
  bytes(): Buffer {
    return Buffer.from(this.buf.subarray(0, this.len));
  }

  private reserve(n: number): number {
    const at = this.len;
    const need = at + n;
    if (need > this.buf.length) {
      const next = Buffer.alloc(Math.max(need, this.buf.length * 2));
      this.buf.copy(next, 0, 0, at);
      this.buf = next;
    }
    this.len = need;
    return at;
  }

  private pad(): void {
    const padded = align4(this.len);
    if (padded > this.len) {
      const at = this.reserve(padded - this.len);
      this.buf.fill(0, at, padded);
    }
  }

  /** Starts a message; returns a token for endMessage. */
  beginMessage(type: number, flags: number, seq: number, family: number, resId = 0): number {
    const at = this.reserve(20);
    this.buf.writeUInt32LE(0, at);
    this.buf.writeUInt16LE(type, at + 4);
    this.buf.writeUInt16LE(flags, at + 6);
    this.buf.writeUInt32LE(seq >>> 0, at + 8);
    this.buf.writeUInt32LE(0, at + 12);
    this.buf.writeUInt8(family, at + 16);
    this.buf.writeUInt8(0, at + 17);
    this.buf.writeUInt16BE(resId, at + 18);
    return at;
  }

  endMessage(token: number): void {
    this.pad();
    this.buf.writeUInt32LE(this.len - token, token);
  }

  /** An attribute with raw bytes as payload. */
  bytesAttr(type: number, value: Uint8Array): this {
    const at = this.reserve(4 + value.length);
    this.buf.writeUInt16LE(4 + value.length, at);
    this.buf.writeUInt16LE(type, at + 2);
    this.buf.set(value, at + 4);
    this.pad();
    return this;
  }

  /** A NUL-terminated string attribute. */
  stringAttr(type: number, value: string): this {
    const n = Buffer.byteLength(value);
    const at = this.reserve(4 + n + 1);
    this.buf.writeUInt16LE(4 + n + 1, at);
    this.buf.writeUInt16LE(type, at + 2);
    this.buf.write(value, at + 4);
    this.buf.writeUInt8(0, at + 4 + n);
    this.pad();
    return this;
  }

  /** A 32-bit big-endian integer attribute (nf_tables' NLA_BE32 / NLA_U32 in network order). */
  u32Attr(type: number, value: number): this {
    const at = this.reserve(8);
    this.buf.writeUInt16LE(8, at);
    this.buf.writeUInt16LE(type, at + 2);
    this.buf.writeUInt32BE(value >>> 0, at + 4);
    return this;
  }

  /** A 64-bit big-endian integer attribute (timeouts in milliseconds, handles). */
  u64Attr(type: number, value: bigint | number): this {
    const at = this.reserve(12);
    this.buf.writeUInt16LE(12, at);
    this.buf.writeUInt16LE(type, at + 2);
    this.buf.writeBigUInt64BE(BigInt(value), at + 4);
    return this;
  }

  /** Starts a nested attribute; returns a token for endNested. */
  beginNested(type: number): number {
    const at = this.reserve(4);
    this.buf.writeUInt16LE(0, at);
    this.buf.writeUInt16LE(type | NLA_F_NESTED, at + 2);
    return at;
  }

  endNested(token: number): void {
    this.buf.writeUInt16LE(this.len - token, token);
  }

  /** Writes a nested attribute whose body `fill` writes. */
  nested(type: number, fill: (w: this) => void): this {
    const token = this.beginNested(type);
    fill(this);
    this.endNested(token);
    return this;
  }
}
