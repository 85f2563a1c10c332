// The `ipam` kind of ABI v1 for AssemblyScript (layout in runtime/ipam/wasm-codec.ts and
// docs/cni.md): decodes each request, calls the plugin's one function, encodes its decision.
// A plugin is:
//
//   import { ipamPlugin, Decision, Request } from "./lib/ipam";
//   export * from "../sdk/exports";
//   ipamPlugin((req: Request): Decision => ...);
//
// Addresses are 128-bit integers split into hi/lo u64 halves; an IPv4 address lives in the low 32
// bits of lo. IPv6 pools wider than /64 are used within their first /64.
import { KIND_IPAM, Reader, registerKind, Writer } from "../../sdk/abi";

export const STATUS_OK: u8 = 0;
export const STATUS_EXHAUSTED: u8 = 1;
export const STATUS_REQUESTED_UNAVAILABLE: u8 = 2;
export const STATUS_INVALID_REQUEST: u8 = 3;

export class Addr {
  constructor(
    public family: u8,
    public hi: u64,
    public lo: u64,
  ) {}

  equals(o: Addr): bool {
    return this.family == o.family && this.hi == o.hi && this.lo == o.lo;
  }

  toString(): string {
    if (this.family == 4) {
      const v = <u32>this.lo;
      return (
        (v >> 24).toString() + "." + ((v >> 16) & 255).toString() + "." + ((v >> 8) & 255).toString() + "." + (v & 255).toString()
      );
    }
    let s = "";
    for (let i = 0; i < 8; i++) {
      const half = i < 4 ? this.hi : this.lo;
      const shift = <u64>((3 - (i & 3)) * 16);
      if (i > 0) s += ":";
      s += (<u32>((half >> shift) & 0xffff)).toString(16);
    }
    return s;
  }
}

/** A pod CIDR with the addresses a pool hands out: [first, last] of lo, within hi. */
export class Pool {
  family: u8;
  hi: u64;
  base: u64;
  prefix: u8;
  first: u64;
  last: u64;

  constructor(network: Addr, prefix: u8) {
    this.family = network.family;
    this.hi = network.hi;
    this.prefix = prefix;
    const bits: i32 = network.family == 4 ? 32 - <i32>prefix : 128 - <i32>prefix;
    const hostBits: i32 = bits > 64 ? 64 : bits;
    const mask: u64 = hostBits >= 64 ? u64.MAX_VALUE : (<u64>1 << <u64>hostBits) - 1;
    this.base = network.lo & ~mask;
    const top = this.base | mask;
    if (network.family == 4 && prefix < 31) {
      this.first = this.base + 1;
      this.last = top - 1;
    } else if (network.family == 6 && prefix < 127) {
      this.first = this.base + 1;
      this.last = top;
    } else {
      this.first = this.base;
      this.last = top;
    }
  }

  contains(a: Addr): bool {
    return a.family == this.family && a.hi == this.hi && a.lo >= this.first && a.lo <= this.last;
  }

  addr(lo: u64): Addr {
    return new Addr(this.family, this.hi, lo);
  }

  text(): string {
    return new Addr(this.family, this.hi, this.base).toString() + "/" + this.prefix.toString();
  }
}

export class Request {
  containerId: string = "";
  ifName: string = "";
  podNamespace: string = "";
  podName: string = "";
  pools: Pool[] = [];
  lastAllocated: Addr[] = [];
  requested: Addr[] = [];
  /** Addresses held by other attachments. */
  taken: Addr[] = [];
  private takenLo: Set<u64> = new Set<u64>();

  isTaken(a: Addr): bool {
    if (!this.takenLo.has(a.lo)) return false;
    for (let i = 0; i < this.taken.length; i++) if (this.taken[i].equals(a)) return true;
    return false;
  }

  takenCount(): i32 {
    return this.taken.length;
  }

  lastFor(family: u8): Addr | null {
    for (let i = 0; i < this.lastAllocated.length; i++) if (this.lastAllocated[i].family == family) return this.lastAllocated[i];
    return null;
  }

  requestedFor(family: u8): Addr | null {
    for (let i = 0; i < this.requested.length; i++) if (this.requested[i].family == family) return this.requested[i];
    return null;
  }

  addTaken(a: Addr): void {
    this.taken.push(a);
    this.takenLo.add(a.lo);
  }

  /**
   * The first free address of `pool` starting at `startLo` and walking up with wrap-around.
   * Bounded by the number of taken addresses: in a pool larger than them, a free one is near.
   */
  freeFrom(pool: Pool, startLo: u64): Addr | null {
    let lo = startLo < pool.first || startLo > pool.last ? pool.first : startLo;
    const size = pool.last - pool.first;
    let limit = <u64>this.taken.length + 1;
    if (size < limit) limit = size + 1;
    for (let i: u64 = 0; i < limit; i++) {
      const a = pool.addr(lo);
      if (!this.isTaken(a)) return a;
      lo = lo == pool.last ? pool.first : lo + 1;
    }
    return null;
  }

  /** Why `a` cannot be given, or "" when it can. */
  requestProblem(a: Addr): string {
    for (let i = 0; i < this.pools.length; i++) {
      const pool = this.pools[i];
      if (pool.family != a.family) continue;
      if (!pool.contains(a)) return "requested IP " + a.toString() + " is not a usable address of " + pool.text();
      if (this.isTaken(a)) return "requested IP " + a.toString() + " is taken by another container";
      return "";
    }
    return "requested IP " + a.toString() + " is outside the node's pod CIDRs";
  }
}

export class Decision {
  status: u8 = STATUS_OK;
  message: string = "";
  addresses: Addr[] = [];
  prefixes: u8[] = [];

  static refuse(status: u8, message: string): Decision {
    const d = new Decision();
    d.status = status;
    d.message = message;
    return d;
  }

  /** Adds a pod address (/32 or /128) and a default route for its family. */
  add(a: Addr): Decision {
    this.addresses.push(a);
    this.prefixes.push(a.family == 4 ? 32 : 128);
    return this;
  }
}

export type IpamFunction = (req: Request) => Decision;

let decideFn: IpamFunction = (req: Request): Decision => Decision.refuse(STATUS_INVALID_REQUEST, "no plugin function");

function readAddr(input: Reader): Addr {
  const family = <u8>input.u8();
  if (!input.canHold(1, 16)) return new Addr(family, 0, 0);
  const hi = bswap<u64>(load<u64>(input.pos));
  const lo = bswap<u64>(load<u64>(input.pos + 8));
  input.pos += 16;
  return new Addr(family, hi, lo);
}

function writeAddr(output: Writer, a: Addr): void {
  output.u8(a.family);
  output.ensure(16);
  store<u64>(output.buf + output.len, bswap<u64>(a.hi));
  store<u64>(output.buf + output.len + 8, bswap<u64>(a.lo));
  output.len += 16;
}

function readRequest(input: Reader): Request {
  const req = new Request();
  req.containerId = input.str();
  req.ifName = input.str();
  req.podNamespace = input.str();
  req.podName = input.str();
  const pools = input.u8();
  for (let i: u32 = 0; i < pools; i++) {
    const network = readAddr(input);
    req.pools.push(new Pool(network, <u8>input.u8()));
  }
  const last = input.u8();
  for (let i: u32 = 0; i < last; i++) req.lastAllocated.push(readAddr(input));
  const requested = input.u8();
  for (let i: u32 = 0; i < requested; i++) req.requested.push(readAddr(input));
  const allocs = input.u32();
  if (!input.canHold(<usize>allocs, 18)) return req;
  for (let i: u32 = 0; i < allocs; i++) {
    const a = readAddr(input);
    const mine = input.u8() & 1;
    if (!mine) req.addTaken(a);
  }
  return req;
}

function writeDecision(output: Writer, d: Decision): void {
  output.u8(d.status);
  if (d.status != STATUS_OK) {
    output.str(d.message);
    return;
  }
  output.u8(<u32>d.addresses.length);
  for (let i = 0; i < d.addresses.length; i++) {
    writeAddr(output, d.addresses[i]);
    output.u8(d.prefixes[i]);
    output.u8(0);
  }
  output.u8(<u32>d.addresses.length);
  for (let i = 0; i < d.addresses.length; i++) {
    writeAddr(output, new Addr(d.addresses[i].family, 0, 0));
    output.u8(0);
    output.u8(0);
  }
}

function handleIpam(input: Reader, op: u32, count: u32, output: Writer): void {
  for (let i: u32 = 0; i < count; i++) {
    const req = readRequest(input);
    if (input.failed) return;
    if (op != 1) writeDecision(output, Decision.refuse(STATUS_INVALID_REQUEST, "unknown ipam op " + op.toString()));
    else writeDecision(output, decideFn(req));
  }
}

export function ipamPlugin(fn: IpamFunction): void {
  decideFn = fn;
  registerKind(KIND_IPAM, handleIpam);
}

/** FNV-1a of a string's UTF-8 bytes. */
export function hashString(s: string): u64 {
  const bytes = String.UTF8.encode(s);
  let h: u64 = 0xcbf29ce484222325;
  const p = changetype<usize>(bytes);
  for (let i = 0; i < bytes.byteLength; i++) {
    h ^= <u64>load<u8>(p + <usize>i);
    h *= 0x100000001b3;
  }
  return h;
}
