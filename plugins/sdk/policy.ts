// The `policy` kind of ABI v1 for AssemblyScript: decodes the world (string table, namespaces, pods,
// NetworkPolicies, ClusterNetworkPolicies), calls the plugin's function once with every requested
// local pod, and encodes its answers, then the address sets, address-port sets and problems it
// collected (docs/plugin-abi.md §11).
// A plugin is:
//
//   import { policyPlugin, World, Decision } from "../sdk/policy";
//   export * from "../sdk/exports";
//   policyPlugin((world: World, pods: i32[], out: Decision): void => {
//     for (let i = 0; i < pods.length; i++) { out.beginPod(); … out.direction(INGRESS) … }
//   });
//
// Strings are u32 indices into the world's string table (0 is ""): equal strings, equal numbers.
import { KIND_POLICY, KindHandler, Reader, registerKind, Writer } from "./abi";
import { readWorld, World } from "./policy-world";

export * from "./policy-world";

export const INGRESS: u8 = 0;
export const EGRESS: u8 = 1;
export const TIER_ADMIN: u8 = 0;
export const TIER_NETWORKPOLICY: u8 = 1;
export const TIER_BASELINE: u8 = 2;
export const ALLOW: u8 = 0;
export const DENY: u8 = 1;
export const PASS: u8 = 2;

export class PortRangeOut {
  constructor(
    public protocol: u8,
    public first: u32,
    public last: u32,
  ) {}
}

export class RuleOut {
  constructor(
    public tier: u8,
    public verdict: u8,
    public origin: string,
    /** An address set id, or null: any peer. */
    public peers: string | null,
    /** An address-port set id instead of peers and ports, or null. */
    public addressPorts: string | null,
    public ports: PortRangeOut[],
  ) {}
}

export class DirectionOut {
  isolated: bool = false;
  selectedBy: string[] = [];
  rules: RuleOut[] = [];
  constructor(public direction: u8) {}
}

/** An address block of an address set: a CIDR (string index) minus its excepts (string indices). */
export class BlockOut {
  constructor(
    public cidr: u32,
    public excepts: u32[],
  ) {}
}

export class AddressPortOut {
  constructor(
    public pod: i32,
    public protocol: u8,
    public port: u32,
  ) {}
}

/** What the plugin answers: per requested pod its directions, plus sets and problems for the whole call. */
export class Decision {
  /** Per requested pod, in request order (beginPod starts the next one). */
  answers: DirectionOut[][] = [];
  directions: DirectionOut[] = [];
  setIds: string[] = [];
  /** Per address set: the pods (indices into world.pods; all their IPs) and the address blocks. */
  setPods: i32[][] = [];
  setBlocks: BlockOut[][] = [];
  portSetIds: string[] = [];
  portSets: AddressPortOut[][] = [];
  problemFields: string[] = [];
  private setIndex: Map<string, i32> = new Map();
  private portSetIndex: Map<string, i32> = new Map();
  private problemKeys: Set<string> = new Set();

  /** Starts the answer for the next requested pod. */
  beginPod(): void {
    this.directions = [];
    this.answers.push(this.directions);
  }
  /** The answer for `direction` of the current pod (created on first use). */
  direction(direction: u8): DirectionOut {
    for (let i = 0; i < this.directions.length; i++) {
      const d = unchecked(this.directions[i]);
      if (d.direction == direction) return d;
    }
    const d = new DirectionOut(direction);
    this.directions.push(d);
    return d;
  }
  hasAddressSet(id: string): bool {
    return this.setIndex.has(id);
  }
  addressSet(id: string, pods: i32[], blocks: BlockOut[]): void {
    if (this.setIndex.has(id)) return;
    this.setIndex.set(id, this.setIds.length);
    this.setIds.push(id);
    this.setPods.push(pods);
    this.setBlocks.push(blocks);
  }
  hasAddressPortSet(id: string): bool {
    return this.portSetIndex.has(id);
  }
  addressPortSet(id: string, elements: AddressPortOut[]): void {
    if (this.portSetIndex.has(id)) return;
    this.portSetIndex.set(id, this.portSetIds.length);
    this.portSetIds.push(id);
    this.portSets.push(elements);
  }
  /** A policy part that cannot be enforced as written; reported once per (object, field, message). */
  problem(kind: string, namespace: string, name: string, field: string, message: string): void {
    const key = kind + "\n" + namespace + "\n" + name + "\n" + field + "\n" + message;
    if (this.problemKeys.has(key)) return;
    this.problemKeys.add(key);
    this.problemFields.push(kind);
    this.problemFields.push(namespace);
    this.problemFields.push(name);
    this.problemFields.push(field);
    this.problemFields.push(message);
  }
}

/** Decides for every requested pod (indices into world.pods), calling `out.beginPod()` before each. */
export type PolicyFunction = (world: World, pods: i32[], out: Decision) => void;

let decideFn: PolicyFunction = (world: World, pods: i32[], out: Decision): void => {};

function writeDirections(output: Writer, dirs: DirectionOut[]): void {
  output.u8(<u32>dirs.length);
  for (let i = 0; i < dirs.length; i++) {
    const d = unchecked(dirs[i]);
    output.u8(d.direction);
    output.u8(d.isolated ? 1 : 0);
    output.u16(<u32>d.selectedBy.length);
    for (let j = 0; j < d.selectedBy.length; j++) output.str(unchecked(d.selectedBy[j]));
    output.u16(<u32>d.rules.length);
    for (let j = 0; j < d.rules.length; j++) {
      const r = unchecked(d.rules[j]);
      output.u8(r.tier);
      output.u8(r.verdict);
      const peers = r.peers;
      const ap = r.addressPorts;
      output.u8((peers !== null ? 1 : 0) | (ap !== null ? 2 : 0));
      output.str(r.origin);
      if (peers !== null) output.str(peers);
      if (ap !== null) output.str(ap);
      output.u16(<u32>r.ports.length);
      for (let k = 0; k < r.ports.length; k++) {
        const p = unchecked(r.ports[k]);
        output.u8(p.protocol);
        output.u16(p.first);
        output.u16(p.last);
      }
    }
  }
}

function writeSets(output: Writer, out: Decision): void {
  output.u32(<u32>out.setIds.length);
  for (let i = 0; i < out.setIds.length; i++) {
    output.str(unchecked(out.setIds[i]));
    const pods = unchecked(out.setPods[i]);
    output.u32(<u32>pods.length);
    output.u32s(pods.dataStart, <usize>pods.length);
    const blocks = unchecked(out.setBlocks[i]);
    output.u16(<u32>blocks.length);
    for (let j = 0; j < blocks.length; j++) {
      const b = unchecked(blocks[j]);
      output.u32(b.cidr);
      output.u16(<u32>b.excepts.length);
      for (let k = 0; k < b.excepts.length; k++) output.u32(unchecked(b.excepts[k]));
    }
  }
  output.u32(<u32>out.portSetIds.length);
  for (let i = 0; i < out.portSetIds.length; i++) {
    output.str(unchecked(out.portSetIds[i]));
    const elements = unchecked(out.portSets[i]);
    output.u32(<u32>elements.length);
    for (let j = 0; j < elements.length; j++) {
      const e = unchecked(elements[j]);
      output.u32(<u32>e.pod);
      output.u8(e.protocol);
      output.u16(e.port);
    }
  }
  output.u32(<u32>(out.problemFields.length / 5));
  for (let i = 0; i < out.problemFields.length; i++) output.str(unchecked(out.problemFields[i]));
}

/** Op 1's answer: per asked pod, the ids of the sets of the full decision that its pod peers pick. */
export class Memberships {
  /** Per asked pod, in request order (beginPod starts the next one). */
  addressSets: string[][] = [];
  addressPortSets: string[][] = [];
  beginPod(): void {
    this.addressSets.push([]);
    this.addressPortSets.push([]);
  }
  /** The current pod is a member of address set `id`. */
  inAddressSet(id: string): void {
    this.addressSets[this.addressSets.length - 1].push(id);
  }
  /** One of the current pod's named ports is in address-port set `id`. */
  inAddressPortSet(id: string): void {
    this.addressPortSets[this.addressPortSets.length - 1].push(id);
  }
}

export type MembershipFunction = (world: World, pods: i32[], out: Memberships) => void;

let membershipFn: MembershipFunction | null = null;

export const OP_DECIDE: u32 = 0;
export const OP_MEMBERSHIPS: u32 = 1;

/** The pod indices after the world; marks the input failed on an index past the pods. */
function readRequested(input: Reader, world: World, count: u32): i32[] {
  const requested = new Array<i32>(<i32>count);
  if (!input.canHold(<usize>count, 4)) return requested;
  for (let i: i32 = 0; i < <i32>count; i++) {
    const index = input.u32();
    if (index >= <u32>world.pods.length) {
      input.failed = true;
      return requested;
    }
    unchecked((requested[i] = <i32>index));
  }
  return requested;
}

function writeIds(output: Writer, ids: string[]): void {
  output.u16(<u32>ids.length);
  for (let i = 0; i < ids.length; i++) output.str(unchecked(ids[i]));
}

function answerMemberships(world: World, requested: i32[], output: Writer): void {
  const fn = membershipFn;
  if (fn === null) throw new Error("this plugin does not answer memberships (op 1)");
  const out = new Memberships();
  fn(world, requested, out);
  if (out.addressSets.length != requested.length) throw new Error("memberships for the wrong number of pods");
  for (let i = 0; i < requested.length; i++) {
    writeIds(output, unchecked(out.addressSets[i]));
    writeIds(output, unchecked(out.addressPortSets[i]));
  }
}

const handlePolicy: KindHandler = (input: Reader, op: u32, count: u32, output: Writer): void => {
  const operation = op & 0xff;
  if (operation > OP_MEMBERSHIPS || op > 0xff) {
    input.failed = true;
    return;
  }
  const world = readWorld(input);
  if (input.failed) return;
  const requested = readRequested(input, world, count);
  if (input.failed) return;
  if (operation == OP_MEMBERSHIPS) {
    answerMemberships(world, requested, output);
    return;
  }
  const out = new Decision();
  decideFn(world, requested, out);
  // One answer per requested pod, or the call fails (a missing answer would leave a pod unpoliced).
  if (out.answers.length != requested.length) {
    throw new Error("answers for " + out.answers.length.toString() + " of " + requested.length.toString());
  }
  for (let i = 0; i < requested.length; i++) writeDirections(output, unchecked(out.answers[i]));
  writeSets(output, out);
};

/**
 * Registers the plugin's functions. Call once, at the top level of the plugin file. `memberships`
 * answers op 1; without it, op 1 traps with a message the host reports.
 */
export function policyPlugin(fn: PolicyFunction, memberships: MembershipFunction | null = null): void {
  decideFn = fn;
  membershipFn = memberships;
  registerKind(KIND_POLICY, handlePolicy);
}
