// The world a `policy` plugin decides in, decoded from the request (docs/plugin-abi.md, "policy").
// Strings are indices into `World.strings`; `World.text(i)` decodes one when a plugin needs text.
import { Reader } from "./abi";

export const OP_IN: u8 = 0;
export const OP_NOT_IN: u8 = 1;
export const OP_EXISTS: u8 = 2;
export const OP_DOES_NOT_EXIST: u8 = 3;

export const TCP: u8 = 0;
export const UDP: u8 = 1;
export const SCTP: u8 = 2;
/** A ClusterNetworkPolicy named port without a protocol: the named container port's own. */
export const PROTOCOL_ANY: u8 = 3;

export const PORT_ANY: u8 = 0;
export const PORT_RANGE: u8 = 1;
export const PORT_NAMED: u8 = 2;

export const ACCEPT: u8 = 0;
export const ACTION_DENY: u8 = 1;
export const ACTION_PASS: u8 = 2;

export const POD_HOST_NETWORK: u8 = 1;
export const POD_TERMINATED: u8 = 2;

/** Labels as parallel arrays of string indices. */
export class Labels {
  keys: u32[] = [];
  values: u32[] = [];
  /** The value index of `key`, or -1 when the key is absent. */
  get(key: u32): i64 {
    for (let i = 0; i < this.keys.length; i++) {
      if (unchecked(this.keys[i]) == key) return <i64>unchecked(this.values[i]);
    }
    return -1;
  }
}

export class Requirement {
  key: u32 = 0;
  op: u8 = 0;
  values: u32[] = [];
}

export class Selector {
  matchLabels: Labels = new Labels();
  expressions: Requirement[] = [];
  /** No labels and no expressions: selects everything. */
  isEmpty(): bool {
    return this.matchLabels.keys.length == 0 && this.expressions.length == 0;
  }
  matches(labels: Labels): bool {
    const ml = this.matchLabels;
    for (let i = 0; i < ml.keys.length; i++) {
      if (labels.get(unchecked(ml.keys[i])) != <i64>unchecked(ml.values[i])) return false;
    }
    for (let i = 0; i < this.expressions.length; i++) {
      const e = unchecked(this.expressions[i]);
      const v = labels.get(e.key);
      if (e.op == OP_EXISTS) {
        if (v < 0) return false;
      } else if (e.op == OP_DOES_NOT_EXIST) {
        if (v >= 0) return false;
      } else {
        let found = false;
        if (v >= 0) {
          for (let j = 0; j < e.values.length; j++) {
            if (<i64>unchecked(e.values[j]) == v) {
              found = true;
              break;
            }
          }
        }
        if (e.op == OP_IN && !found) return false;
        if (e.op == OP_NOT_IN && found) return false;
      }
    }
    return true;
  }
}

/** A peer: pods (a namespace and/or pod selector; absent ones are null) or an address block. */
export class Peer {
  isBlock: bool = false;
  /** A ClusterNetworkPolicy peer type the host does not enforce; `cidr` holds its field path. */
  isUnsupported: bool = false;
  namespaceSelector: Selector | null = null;
  podSelector: Selector | null = null;
  cidr: u32 = 0;
  excepts: u32[] = [];
}

export class Port {
  protocol: u8 = 0;
  form: u8 = 0;
  first: u32 = 0;
  last: u32 = 0;
  name: u32 = 0;
}

export class Rule {
  /** ClusterNetworkPolicy rules only. */
  name: u32 = 0;
  action: u8 = 0;
  peers: Peer[] = [];
  ports: Port[] = [];
}

export class NetworkPolicy {
  namespace: u32 = 0;
  name: u32 = 0;
  podSelector: Selector = new Selector();
  /** Bit 1 Ingress, bit 2 Egress. */
  types: u8 = 0;
  ingress: Rule[] = [];
  egress: Rule[] = [];
}

export class ClusterPolicy {
  name: u32 = 0;
  /** 0 Admin, 1 Baseline. */
  tier: u8 = 0;
  priority: u32 = 0;
  subject: Peer = new Peer();
  ingress: Rule[] = [];
  egress: Rule[] = [];
}

export class Pod {
  namespace: u32 = 0;
  name: u32 = 0;
  nodeName: u32 = 0;
  flags: u8 = 0;
  labels: Labels = new Labels();
  ips: u32[] = [];
  portNames: u32[] = [];
  portProtocols: u8[] = [];
  portNumbers: u32[] = [];
  /** Index into World.namespaces, -1 when the namespace object is unknown. */
  namespaceIndex: i32 = -1;
}

export class Namespace {
  name: u32 = 0;
  labels: Labels = new Labels();
}

export class World {
  stringPtrs: usize[] = [];
  stringLens: i32[] = [];
  nodeName: u32 = 0;
  namespaces: Namespace[] = [];
  pods: Pod[] = [];
  networkPolicies: NetworkPolicy[] = [];
  clusterPolicies: ClusterPolicy[] = [];
  private texts: Map<u32, string> = new Map();

  text(index: u32): string {
    if (this.texts.has(index)) return this.texts.get(index);
    const at = unchecked(this.stringPtrs[<i32>index]);
    const s = String.UTF8.decodeUnsafe(at, <usize>unchecked(this.stringLens[<i32>index]));
    this.texts.set(index, s);
    return s;
  }
  /** The namespace labels of a pod, empty when its Namespace object is unknown. */
  namespaceLabels(pod: Pod): Labels {
    return pod.namespaceIndex < 0 ? EMPTY_LABELS : unchecked(this.namespaces[pod.namespaceIndex]).labels;
  }
}

const EMPTY_LABELS = new Labels();

function str(input: Reader, world: World): u32 {
  const i = input.u32();
  if (i >= <u32>world.stringPtrs.length) input.failed = true;
  return i;
}

function readLabels(input: Reader, world: World, into: Labels): void {
  let n = <i32>input.u16();
  if (!input.canHold(<usize>n, 8)) n = 0;
  for (let i = 0; i < n; i++) {
    into.keys.push(str(input, world));
    into.values.push(str(input, world));
  }
}

function readSelector(input: Reader, world: World): Selector {
  const s = new Selector();
  readLabels(input, world, s.matchLabels);
  let n = <i32>input.u16();
  if (!input.canHold(<usize>n, 7)) n = 0;
  for (let i = 0; i < n; i++) {
    const e = new Requirement();
    e.key = str(input, world);
    e.op = <u8>input.u8();
    if (e.op > OP_DOES_NOT_EXIST) input.failed = true;
    let m = <i32>input.u16();
    if (!input.canHold(<usize>m, 4)) m = 0;
    for (let j = 0; j < m; j++) e.values.push(str(input, world));
    s.expressions.push(e);
  }
  return s;
}

function readPeer(input: Reader, world: World): Peer {
  const p = new Peer();
  const tag = input.u8();
  if (tag == 1) {
    p.isBlock = true;
    p.cidr = str(input, world);
    let n = <i32>input.u16();
    if (!input.canHold(<usize>n, 4)) n = 0;
    for (let i = 0; i < n; i++) p.excepts.push(str(input, world));
  } else if (tag == 2) {
    p.isUnsupported = true;
    p.cidr = str(input, world);
  } else if (tag == 0) {
    const flags = input.u8();
    if (flags & 1) p.namespaceSelector = readSelector(input, world);
    if (flags & 2) p.podSelector = readSelector(input, world);
  } else input.failed = true;
  return p;
}

function readRules(input: Reader, world: World, cluster: bool): Rule[] {
  let n = <i32>input.u16();
  if (!input.canHold(<usize>n, 4)) n = 0;
  const rules = new Array<Rule>();
  for (let i = 0; i < n && !input.failed; i++) {
    const r = new Rule();
    if (cluster) {
      r.name = str(input, world);
      r.action = <u8>input.u8();
    }
    let peers = <i32>input.u16();
    if (!input.canHold(<usize>peers, 2)) peers = 0;
    for (let j = 0; j < peers; j++) r.peers.push(readPeer(input, world));
    let ports = <i32>input.u16();
    if (!input.canHold(<usize>ports, 2)) ports = 0;
    for (let j = 0; j < ports; j++) {
      const p = new Port();
      p.protocol = <u8>input.u8();
      p.form = <u8>input.u8();
      if (p.form == PORT_RANGE) {
        p.first = input.u16();
        p.last = input.u16();
      } else if (p.form == PORT_NAMED) p.name = str(input, world);
      else if (p.form != PORT_ANY) input.failed = true;
      r.ports.push(p);
    }
    rules.push(r);
  }
  return rules;
}

function readPod(input: Reader, world: World, nsByName: Map<u32, i32>): Pod {
  const p = new Pod();
  p.namespace = str(input, world);
  p.name = str(input, world);
  p.nodeName = str(input, world);
  p.flags = <u8>input.u8();
  readLabels(input, world, p.labels);
  const ips = <i32>input.u8();
  for (let i = 0; i < ips; i++) p.ips.push(str(input, world));
  let ports = <i32>input.u16();
  if (!input.canHold(<usize>ports, 7)) ports = 0;
  for (let i = 0; i < ports; i++) {
    p.portNames.push(str(input, world));
    p.portProtocols.push(<u8>input.u8());
    p.portNumbers.push(input.u16());
  }
  p.namespaceIndex = nsByName.has(p.namespace) ? nsByName.get(p.namespace) : -1;
  return p;
}

function readCount(input: Reader, minBytes: usize): i32 {
  const n = input.u32();
  return input.canHold(<usize>n, minBytes) ? <i32>n : 0;
}

/** Reads the world section; on malformed input sets `input.failed` (the SDK answers a batch error). */
export function readWorld(input: Reader): World {
  const world = new World();
  const strings = readCount(input, 2);
  for (let i = 0; i < strings; i++) {
    world.stringPtrs.push(input.strRef());
    world.stringLens.push(input.lastLength);
  }
  world.nodeName = str(input, world);
  const nsByName = new Map<u32, i32>();
  const namespaces = readCount(input, 6);
  for (let i = 0; i < namespaces && !input.failed; i++) {
    const ns = new Namespace();
    ns.name = str(input, world);
    readLabels(input, world, ns.labels);
    nsByName.set(ns.name, world.namespaces.length);
    world.namespaces.push(ns);
  }
  const pods = readCount(input, 16);
  for (let i = 0; i < pods && !input.failed; i++) world.pods.push(readPod(input, world, nsByName));
  const nps = readCount(input, 18);
  for (let i = 0; i < nps && !input.failed; i++) {
    const np = new NetworkPolicy();
    np.namespace = str(input, world);
    np.name = str(input, world);
    np.podSelector = readSelector(input, world);
    np.types = <u8>input.u8();
    np.ingress = readRules(input, world, false);
    np.egress = readRules(input, world, false);
    world.networkPolicies.push(np);
  }
  const cnps = readCount(input, 15);
  for (let i = 0; i < cnps && !input.failed; i++) {
    const c = new ClusterPolicy();
    c.name = str(input, world);
    c.tier = <u8>input.u8();
    c.priority = input.u32();
    c.subject = readPeer(input, world);
    c.ingress = readRules(input, world, true);
    c.egress = readRules(input, world, true);
    world.clusterPolicies.push(c);
  }
  return world;
}
