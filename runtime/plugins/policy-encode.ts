// The request half of the `policy` kind (docs/plugin-abi.md, "policy"): the world as bytes.
//   string table, node name, namespaces, pods, NetworkPolicies, ClusterNetworkPolicies
// Every string is a u32 index into the table (index 0 is always ""), so equal strings are equal
// numbers for the plugin.

import { namespaceNameLabel } from "../policy/cluster-view.ts";
import type {
  ClusterNetworkPolicy,
  ClusterNetworkPolicyPeer,
  ClusterNetworkPolicyPort,
  ClusterNetworkPolicyRule,
  LabelSelector,
  Namespace,
  NetworkPolicy,
  NetworkPolicyPeer,
  Pod,
  Protocol,
  Snapshot,
} from "../store/objects.ts";
import { ByteWriter } from "./envelope.ts";

export const PROTOCOL_CODES: Record<Protocol, number> = { TCP: 0, UDP: 1, SCTP: 2 };
export const PROTOCOLS: Protocol[] = ["TCP", "UDP", "SCTP"];
/** A port entry with no protocol (a ClusterNetworkPolicy named port: the container port's own). */
export const PROTOCOL_ANY = 3;
const OPERATOR_CODES = { In: 0, NotIn: 1, Exists: 2, DoesNotExist: 3 } as const;
const ACTION_CODES = { Accept: 0, Deny: 1, Pass: 2 } as const;

/** Pod flag bits in the request. */
export const POD_HOST_NETWORK = 1;
export const POD_TERMINATED = 2;

/** What the decoder needs to turn indices in the answer back into names and addresses. */
export interface EncodedWorld {
  strings: string[];
  /** By pod index: "namespace/name" and the pod's IPs. */
  podKeys: string[];
  podIPs: string[][];
  podIndex: Map<string, number>;
  /** The pods asked about, in request order. */
  requested: string[];
}

class StringTable {
  readonly list: string[] = [""];
  private readonly index = new Map<string, number>([["", 0]]);
  id(s: string): number {
    let i = this.index.get(s);
    if (i === undefined) {
      i = this.list.length;
      this.list.push(s);
      this.index.set(s, i);
    }
    return i;
  }
}

/** Integers first (into a scratch writer), then the string table they refer to; see writePolicyWorld. */
interface Body {
  w: ByteWriter;
  t: StringTable;
}

/** A u16 count; more than the ABI can carry is an error, never a silently cut list. */
function count16(b: Body, n: number, what: string): void {
  if (n > 0xffff) throw new Error(`${n} ${what}, more than the 65,535 ABI v1 allows`);
  b.w.u16(n);
}

function labels(b: Body, l: Record<string, string>): void {
  const entries = Object.entries(l);
  count16(b, entries.length, "labels");
  for (const [k, v] of entries) {
    b.w.u32(b.t.id(k));
    b.w.u32(b.t.id(v));
  }
}

function selector(b: Body, s: LabelSelector): void {
  labels(b, s.matchLabels);
  count16(b, s.matchExpressions.length, "selector expressions");
  for (const e of s.matchExpressions) {
    b.w.u32(b.t.id(e.key));
    b.w.u8(OPERATOR_CODES[e.operator]);
    count16(b, e.values.length, "expression values");
    for (const v of e.values) b.w.u32(b.t.id(v));
  }
}

/** u8 flags (1 namespaceSelector, 2 podSelector), then the selectors present. */
function podPeer(b: Body, ns: LabelSelector | undefined, pod: LabelSelector | undefined): void {
  b.w.u8(0);
  b.w.u8((ns ? 1 : 0) | (pod ? 2 : 0));
  if (ns) selector(b, ns);
  if (pod) selector(b, pod);
}

function blockPeer(b: Body, cidr: string, except: readonly string[]): void {
  b.w.u8(1);
  b.w.u32(b.t.id(cidr));
  count16(b, except.length, "ipBlock excepts");
  for (const e of except) b.w.u32(b.t.id(e));
}

function npPeer(b: Body, p: NetworkPolicyPeer): void {
  if (p.ipBlock) blockPeer(b, p.ipBlock.cidr, p.ipBlock.except);
  else podPeer(b, p.namespaceSelector, p.podSelector);
}

function port(b: Body, p: ClusterNetworkPolicyPort): void {
  b.w.u8(p.protocol ? PROTOCOL_CODES[p.protocol] : PROTOCOL_ANY);
  if (p.port === undefined) b.w.u8(0);
  else if (typeof p.port === "string") {
    b.w.u8(2);
    b.w.u32(b.t.id(p.port));
  } else {
    b.w.u8(1);
    b.w.u16(p.port);
    b.w.u16(p.endPort ?? p.port);
  }
}

function npRules(
  b: Body,
  rules: readonly { peers: NetworkPolicyPeer[]; ports: ClusterNetworkPolicyPort[] }[],
) {
  count16(b, rules.length, "rules");
  for (const r of rules) {
    count16(b, r.peers.length, "peers");
    for (const p of r.peers) npPeer(b, p);
    count16(b, r.ports.length, "ports");
    for (const p of r.ports) port(b, p);
  }
}

function cnpPeer(b: Body, p: ClusterNetworkPolicyPeer): void {
  if (p.unsupported !== undefined) {
    b.w.u8(2);
    b.w.u32(b.t.id(p.unsupported));
  } else if (p.networks) {
    for (const n of p.networks) blockPeer(b, n, []);
  } else if (p.pods) podPeer(b, p.pods.namespaceSelector, p.pods.podSelector);
  else podPeer(b, p.namespaces ?? { matchLabels: {}, matchExpressions: [] }, undefined);
}

function cnpRules(b: Body, rules: readonly ClusterNetworkPolicyRule[]) {
  count16(b, rules.length, "rules");
  for (const r of rules) {
    b.w.u32(b.t.id(r.name));
    b.w.u8(ACTION_CODES[r.action]);
    const peerCount = r.peers.reduce(
      (n, p) => n + (p.networks && p.unsupported === undefined ? p.networks.length : 1),
      0,
    );
    count16(b, peerCount, "peers");
    for (const p of r.peers) cnpPeer(b, p);
    count16(b, r.ports.length, "ports");
    for (const p of r.ports) port(b, p);
  }
}

/** Finished pods may have handed their addresses to new pods. */
function podTerminated(p: Pod): boolean {
  return p.phase === "Succeeded" || p.phase === "Failed";
}

/** Only named container ports matter to policy. */
function namedPorts(p: Pod): Pod["containerPorts"] {
  return (p.containerPorts ?? []).filter((c) => c.name !== "");
}

function pod(b: Body, p: Pod): void {
  b.w.u32(b.t.id(p.namespace));
  b.w.u32(b.t.id(p.name));
  b.w.u32(b.t.id(p.nodeName ?? ""));
  b.w.u8((p.hostNetwork ? POD_HOST_NETWORK : 0) | (podTerminated(p) ? POD_TERMINATED : 0));
  labels(b, p.labels);
  if (p.podIPs.length > 255) throw new Error(`${p.podIPs.length} IPs, more than the 255 ABI v1 allows`);
  b.w.u8(p.podIPs.length);
  for (const ip of p.podIPs) b.w.u32(b.t.id(ip));
  const ports = namedPorts(p);
  count16(b, ports.length, "named container ports");
  for (const cp of ports) {
    b.w.u32(b.t.id(cp.name));
    b.w.u8(PROTOCOL_CODES[cp.protocol]);
    b.w.u16(cp.port);
  }
}

function networkPolicy(b: Body, np: NetworkPolicy): void {
  b.w.u32(b.t.id(np.namespace));
  b.w.u32(b.t.id(np.name));
  selector(b, np.podSelector);
  b.w.u8((np.policyTypes.includes("Ingress") ? 1 : 0) | (np.policyTypes.includes("Egress") ? 2 : 0));
  npRules(b, np.ingress);
  npRules(b, np.egress);
}

/** Runs `encode`, prefixing any error with the object it was encoding. */
function naming(object: string, encode: () => void): void {
  try {
    encode();
  } catch (err) {
    throw new Error(`${object}: ${(err as Error).message}`);
  }
}

function cnp(b: Body, c: ClusterNetworkPolicy): void {
  b.w.u32(b.t.id(c.name));
  b.w.u8(c.tier === "Admin" ? 0 : 1);
  b.w.u32(c.priority);
  const s = c.subject;
  if (s.pods) podPeer(b, s.pods.namespaceSelector, s.pods.podSelector);
  else podPeer(b, s.namespaces ?? { matchLabels: {}, matchExpressions: [] }, undefined);
  cnpRules(b, c.ingress);
  cnpRules(b, c.egress);
}

/** Values in key order: policies cross sorted ("namespace/name", cluster policies by name). */
function byKey<T>(map: Map<string, T> | undefined): T[] {
  return [...(map ?? new Map<string, T>()).entries()]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([, v]) => v);
}

/**
 * The Namespace objects, plus one for each namespace that holds pods but has no object (yet), with
 * the one label the API server puts on every namespace (as runtime/policy/cluster-view.ts does).
 */
function namespacesOf(snapshot: Snapshot): Namespace[] {
  const out = [...snapshot.namespaces.values()];
  const added = new Set<string>();
  for (const p of snapshot.pods.values()) {
    if (snapshot.namespaces.has(p.namespace) || added.has(p.namespace)) continue;
    added.add(p.namespace);
    out.push({ name: p.namespace, labels: { [namespaceNameLabel]: p.namespace } });
  }
  return out;
}

/**
 * Writes the world section to `w`: u32 stringCount × str, u32 nodeName, then namespaces, pods,
 * NetworkPolicies and ClusterNetworkPolicies, each a u32 count and its records.
 */
export function writePolicyWorld(w: ByteWriter, snapshot: Snapshot, nodeName: string): EncodedWorld {
  const t = new StringTable();
  const body: Body = { w: new ByteWriter(1 << 16), t };
  const world: EncodedWorld = {
    strings: t.list,
    podKeys: [],
    podIPs: [],
    podIndex: new Map(),
    requested: [],
  };
  body.w.u32(t.id(nodeName));
  const namespaces = namespacesOf(snapshot);
  body.w.u32(namespaces.length);
  for (const ns of namespaces) {
    body.w.u32(t.id(ns.name));
    naming(`Namespace ${ns.name}`, () => labels(body, ns.labels));
  }
  body.w.u32(snapshot.pods.size);
  for (const p of snapshot.pods.values()) {
    const key = `${p.namespace}/${p.name}`;
    world.podIndex.set(key, world.podKeys.length);
    world.podKeys.push(key);
    world.podIPs.push(p.podIPs);
    naming(`Pod ${key}`, () => pod(body, p));
  }
  const nps = byKey(snapshot.networkPolicies);
  body.w.u32(nps.length);
  for (const np of nps) naming(`NetworkPolicy ${np.namespace}/${np.name}`, () => networkPolicy(body, np));
  const cnps = byKey(snapshot.clusterNetworkPolicies);
  body.w.u32(cnps.length);
  for (const c of cnps) naming(`ClusterNetworkPolicy ${c.name}`, () => cnp(body, c));
  w.u32(t.list.length);
  for (const s of t.list) w.str(s);
  w.reserve(body.w.length);
  w.bytes.set(body.w.bytes.subarray(0, body.w.length), w.length);
  w.length += body.w.length;
  return world;
}
