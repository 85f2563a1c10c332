// The `lb` kind of ABI v1 for AssemblyScript: decodes each service port's request, calls the plugin's
// one function, encodes its plan. A plugin is:
//
//   import { lbPlugin, Plan, Request } from "../sdk/lb";
//   export * from "../sdk/exports";
//   lbPlugin((req: Request): Plan => Plan.random(req.allSlots()));
//
// Request and Endpoint objects are reused between requests of a batch: read them, do not keep them.
import { KIND_LB, KindHandler, Reader, registerKind, Writer } from "./abi";

/** Hash field bits for `Plan.hash`, as in nftables `jhash`. */
export const SADDR: u32 = 1;
export const SPORT: u32 = 2;
export const DADDR: u32 = 4;
export const DPORT: u32 = 8;
export const L4PROTO: u32 = 16;

const MODE_RANDOM: u32 = 0;
const MODE_ROUND_ROBIN: u32 = 1;
const MODE_HASH: u32 = 2;

/** FNV-1a over raw bytes, continuing from `h`. */
export function fnv1a(h: u32, ptr: usize, len: usize): u32 {
  for (let i: usize = 0; i < len; i++) {
    h ^= <u32>load<u8>(ptr + i);
    h *= 16777619;
  }
  return h;
}

export const FNV_OFFSET: u32 = 2166136261;

/** murmur3's 32-bit finalizer: spreads FNV's output so near-identical addresses get unrelated values. */
export function fmix32(h: u32): u32 {
  h ^= h >> 16;
  h *= 0x85ebca6b;
  h ^= h >> 13;
  h *= 0xc2b2ae35;
  h ^= h >> 16;
  return h;
}

/** Hash of a string's UTF-8 bytes (stable across languages: hosts and tests can recompute it). */
export function hashString(s: string, seed: u32 = FNV_OFFSET): u32 {
  const bytes = String.UTF8.encode(s);
  return fnv1a(seed, changetype<usize>(bytes), <usize>bytes.byteLength);
}

function bytesEqual(aPtr: usize, aLen: i32, bPtr: usize, bLen: i32): bool {
  if (aLen != bLen) return false;
  return memory.compare(aPtr, bPtr, <usize>aLen) == 0;
}

export class Endpoint {
  addressPtr: usize = 0;
  addressLen: i32 = 0;
  port: u32 = 0;
  weight: u32 = 1;
  zonePtr: usize = 0;
  zoneLen: i32 = 0;
  nodeNamePtr: usize = 0;
  nodeNameLen: i32 = 0;

  get address(): string {
    return String.UTF8.decodeUnsafe(this.addressPtr, <usize>this.addressLen);
  }
  get zone(): string {
    return String.UTF8.decodeUnsafe(this.zonePtr, <usize>this.zoneLen);
  }
  get nodeName(): string {
    return String.UTF8.decodeUnsafe(this.nodeNamePtr, <usize>this.nodeNameLen);
  }
  /** FNV-1a of "address" bytes then the port as two big-endian bytes: a stable endpoint identity. */
  identityHash(seed: u32): u32 {
    let h = fnv1a(seed, this.addressPtr, <usize>this.addressLen);
    h ^= this.port >> 8;
    h *= 16777619;
    h ^= this.port & 0xff;
    h *= 16777619;
    return h;
  }
  /** Orders endpoints by address bytes, then port: a canonical order independent of input order. */
  compare(other: Endpoint): i32 {
    const n = this.addressLen < other.addressLen ? this.addressLen : other.addressLen;
    const c = memory.compare(this.addressPtr, other.addressPtr, <usize>n);
    if (c != 0) return c;
    if (this.addressLen != other.addressLen) return this.addressLen - other.addressLen;
    return <i32>this.port - <i32>other.port;
  }
  addressIs(address: string): bool {
    const b = String.UTF8.encode(address);
    return bytesEqual(this.addressPtr, this.addressLen, changetype<usize>(b), b.byteLength);
  }
}

export class Request {
  keyPtr: usize = 0;
  keyLen: i32 = 0;
  nodeZonePtr: usize = 0;
  nodeZoneLen: i32 = 0;
  nodeNamePtr: usize = 0;
  nodeNameLen: i32 = 0;
  paramNames: string[] = [];
  paramValues: string[] = [];
  /** Only the first `endpointCount` entries are this request's endpoints. */
  endpointPool: Endpoint[] = [];
  endpointCount: i32 = 0;
  /** Pool entries [0, dirtyEndpoints) may hold another request's fields (see readRequest). */
  dirtyEndpoints: i32 = 0;

  get key(): string {
    return String.UTF8.decodeUnsafe(this.keyPtr, <usize>this.keyLen);
  }
  /** Empty when the node has no zone. */
  get nodeZone(): string {
    return String.UTF8.decodeUnsafe(this.nodeZonePtr, <usize>this.nodeZoneLen);
  }
  hasNodeZone(): bool {
    return this.nodeZoneLen > 0;
  }
  /** This node's name; empty unless the manifest's `reads` lists "nodeName" (ABI 1.1). */
  get nodeName(): string {
    return String.UTF8.decodeUnsafe(this.nodeNamePtr, <usize>this.nodeNameLen);
  }
  /** Whether the endpoint runs on this node (needs "nodeName" and "endpoint.nodeName" in `reads`). */
  onThisNode(e: Endpoint): bool {
    return this.nodeNameLen > 0 && bytesEqual(e.nodeNamePtr, e.nodeNameLen, this.nodeNamePtr, this.nodeNameLen);
  }
  keyHash(): u32 {
    return fnv1a(FNV_OFFSET, this.keyPtr, <usize>this.keyLen);
  }
  endpoint(i: i32): Endpoint {
    return unchecked(this.endpointPool[i]);
  }
  inNodeZone(e: Endpoint): bool {
    return this.nodeZoneLen > 0 && bytesEqual(e.zonePtr, e.zoneLen, this.nodeZonePtr, this.nodeZoneLen);
  }
  /** A parameter (annotation `lb.wasmplane.io/<name>`), or `fallback`. */
  param(name: string, fallback: string = ""): string {
    for (let i = 0; i < this.paramNames.length; i++) {
      if (unchecked(this.paramNames[i]) == name) return unchecked(this.paramValues[i]);
    }
    return fallback;
  }
  /** [0, 1, …, endpointCount-1]: every endpoint once. */
  allSlots(): u32[] {
    const slots = new Array<u32>(this.endpointCount);
    for (let i = 0; i < this.endpointCount; i++) unchecked((slots[i] = <u32>i));
    return slots;
  }
}

/** A plan for one service port. Its slots are copied out as soon as the function returns, so a
 *  plugin may hand back the same (reused) array for every request of a batch. */
export class Plan {
  constructor(
    public mode: u32,
    public fields: u32,
    public seed: u32,
    public slots: u32[],
    public error: string | null,
    /** The table is every endpoint once, in order, whatever their number: `slots` is not used. */
    public everyEndpoint: bool = false,
  ) {}
  /** nftables `numgen random mod <slots>`. */
  static random(slots: u32[]): Plan {
    return new Plan(MODE_RANDOM, 0, 0, slots, null);
  }
  /** nftables `numgen inc mod <slots>`. */
  static roundRobin(slots: u32[]): Plan {
    return new Plan(MODE_ROUND_ROBIN, 0, 0, slots, null);
  }
  /** nftables `jhash <fields> mod <slots> seed <seed>`; fields are SADDR | SPORT | … bits. */
  static hash(fields: u32, seed: u32, slots: u32[]): Plan {
    return new Plan(MODE_HASH, fields, seed, slots, null);
  }
  /** `Plan.random(req.allSlots())` without building the table: one shared plan, no allocation. */
  static randomOverAll(): Plan {
    return RANDOM_OVER_ALL;
  }
  /** `Plan.roundRobin(req.allSlots())` without building the table: one shared plan, no allocation. */
  static roundRobinOverAll(): Plan {
    return ROUND_ROBIN_OVER_ALL;
  }
  /** This service port cannot be planned; the host keeps its last good plan and reports `message`. */
  static fail(message: string): Plan {
    return new Plan(MODE_RANDOM, 0, 0, [], message);
  }
}

const RANDOM_OVER_ALL = new Plan(MODE_RANDOM, 0, 0, [], null, true);
const ROUND_ROBIN_OVER_ALL = new Plan(MODE_ROUND_ROBIN, 0, 0, [], null, true);

export type LbFunction = (req: Request) => Plan;

let planFn: LbFunction = (req: Request): Plan => Plan.fail("no lb function registered");
const request = new Request();

// Fields the host may leave out of a request item (bits in the op word's second byte) when the
// plugin's manifest declares `reads` without them. A left-out string reads as empty, a port as 0 and
// a weight as 1.
const NO_KEY: u32 = 1;
const NO_NODE_ZONE: u32 = 2;
const NO_PARAMS: u32 = 4;
const NO_ADDRESS: u32 = 8;
const NO_PORT: u32 = 16;
const NO_WEIGHT: u32 = 32;
const NO_ZONE: u32 = 64;
const NO_NODE_NAME: u32 = 128;
/** Op word, third byte (ABI 1.1): fields added to the item because the manifest's `reads` names them. */
const WITH_NODE_NAME: u32 = 1 << 8;

/** Answer flag: the table is every endpoint once, in order; no slot words follow. */
const EVERY_ENDPOINT: u32 = 1;

function readRequest(input: Reader, req: Request, omitted: u32): void {
  if (omitted & NO_KEY) req.keyLen = 0;
  else {
    req.keyPtr = input.strRef();
    req.keyLen = input.lastLength;
  }
  if (omitted & NO_NODE_ZONE) req.nodeZoneLen = 0;
  else {
    req.nodeZonePtr = input.strRef();
    req.nodeZoneLen = input.lastLength;
  }
  if (omitted & WITH_NODE_NAME) {
    req.nodeNamePtr = input.strRef();
    req.nodeNameLen = input.lastLength;
  } else req.nodeNameLen = 0;
  if (req.paramNames.length != 0) {
    req.paramNames.length = 0;
    req.paramValues.length = 0;
  }
  if (!(omitted & NO_PARAMS)) {
    let params = <i32>input.u16();
    if (!input.canHold(<usize>params, 4)) params = 0;
    for (let i = 0; i < params; i++) {
      req.paramNames.push(input.str());
      req.paramValues.push(input.str());
    }
  }
  let count = <i32>input.u32();
  // The smallest encoding of one endpoint, to reject counts the remaining bytes cannot hold.
  let minBytes: usize = 0;
  if (!(omitted & NO_ADDRESS)) minBytes += 2;
  if (!(omitted & NO_PORT)) minBytes += 2;
  if (!(omitted & NO_WEIGHT)) minBytes += 4;
  if (!(omitted & NO_ZONE)) minBytes += 2;
  if (!(omitted & NO_NODE_NAME)) minBytes += 2;
  if (count > 65535 || !input.canHold(<usize>count, minBytes)) {
    input.failed = true;
    count = 0;
  }
  while (req.endpointPool.length < count) req.endpointPool.push(new Endpoint());
  req.endpointCount = count;
  if (minBytes == 0) {
    // Only the count was sent (e.g. random, round-robin): nothing per endpoint to read, and only
    // pool entries an earlier request filled need their defaults back.
    const dirty = req.dirtyEndpoints;
    const n = count < dirty ? count : dirty;
    for (let i = 0; i < n; i++) {
      const e = unchecked(req.endpointPool[i]);
      e.addressLen = 0;
      e.port = 0;
      e.weight = 1;
      e.zoneLen = 0;
      e.nodeNameLen = 0;
    }
    if (count >= dirty) req.dirtyEndpoints = 0;
    return;
  }
  if (count > req.dirtyEndpoints) req.dirtyEndpoints = count;
  for (let i = 0; i < count; i++) {
    const e = unchecked(req.endpointPool[i]);
    if (omitted & NO_ADDRESS) e.addressLen = 0;
    else {
      e.addressPtr = input.strRef();
      e.addressLen = input.lastLength;
    }
    e.port = omitted & NO_PORT ? 0 : input.u16();
    e.weight = omitted & NO_WEIGHT ? 1 : input.u32();
    if (omitted & NO_ZONE) e.zoneLen = 0;
    else {
      e.zonePtr = input.strRef();
      e.zoneLen = input.lastLength;
    }
    if (omitted & NO_NODE_NAME) e.nodeNameLen = 0;
    else {
      e.nodeNamePtr = input.strRef();
      e.nodeNameLen = input.lastLength;
    }
  }
}

function isEveryEndpoint(slots: u32[], endpointCount: i32): bool {
  if (slots.length != endpointCount) return false;
  for (let i = 0; i < endpointCount; i++) if (unchecked(slots[i]) != <u32>i) return false;
  return true;
}

function writePlan(output: Writer, plan: Plan, endpointCount: i32): void {
  const error = plan.error;
  if (error !== null) {
    output.u8(1);
    output.str(error);
    return;
  }
  const slots = plan.slots;
  // The common table [0, 1, …, n-1] is sent as a flag: less to copy and to check on the host.
  const every = endpointCount > 0 && (plan.everyEndpoint || isEveryEndpoint(slots, endpointCount));
  const count: u32 = every ? <u32>endpointCount : plan.everyEndpoint ? 0 : <u32>slots.length;
  output.ensure(12);
  const at = output.buf + output.len;
  store<u8>(at, 0);
  store<u8>(at, <u8>plan.mode, 1);
  store<u8>(at, <u8>plan.fields, 2);
  store<u8>(at, every ? <u8>EVERY_ENDPOINT : 0, 3);
  store<u32>(at, plan.seed, 4);
  store<u32>(at, count, 8);
  output.len += 12;
  if (!every && count > 0) output.u32s(slots.dataStart, <usize>count);
}

const handleLb: KindHandler = (input: Reader, op: u32, count: u32, output: Writer): void => {
  const omitted = (op >> 8) & 0xffff;
  for (let i: u32 = 0; i < count; i++) {
    readRequest(input, request, omitted);
    if (input.failed) return;
    writePlan(output, planFn(request), request.endpointCount);
  }
};

/** Registers the plugin's one function. Call once, at the top level of the plugin file. */
export function lbPlugin(fn: LbFunction): void {
  planFn = fn;
  registerKind(KIND_LB, handleLb);
}
