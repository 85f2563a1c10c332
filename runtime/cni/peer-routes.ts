// Routes to the other nodes' pod CIDRs, from their Node objects. Pure planning here; applying is
// peer-routes-apply.ts.
//   host-gw: `<peer pod CIDR> via <peer node IP>` — the nodes share one L2 segment.
//   vxlan:   one VXLAN device; each peer's pod CIDR goes via that peer's VTEP address (the network
//            address of its pod CIDR, as flannel does) with a static neighbour entry and an FDB
//            entry pointing the peer's VTEP MAC at its node IP — no multicast, no learning.
import { createHash } from "node:crypto";
import { bigIntToIp, ipFamily, parseCidr } from "../net/cidr.ts";
import type { Node } from "../store/objects.ts";
import { HOST_IF_PREFIX } from "./attachment.ts";

export type PeerRoutingMode = "host-gw" | "vxlan";

export interface VxlanOptions {
  /** Default vx-wasmplane (not "wp…": that prefix is the pod veths' in the node rules). */
  device?: string;
  /** Default 4097. */
  vni?: number;
  /** Default 4789. */
  port?: number;
  /** Default 1450 (1500 minus the VXLAN overhead). */
  mtu?: number;
}

export interface PeerRoutesInput {
  nodeName: string;
  nodes: Node[];
  mode: PeerRoutingMode;
  vxlan?: VxlanOptions;
}

export interface PeerRoute {
  dst: string;
  via: string;
  /** Only for vxlan (the VXLAN device, with onlink). */
  dev?: string;
}

export interface VxlanPeer {
  node: string;
  nodeIP: string;
  mac: string;
  vtepIPs: string[];
}

export interface VxlanPlan {
  device: string;
  vni: number;
  port: number;
  mtu: number;
  localIP: string;
  mac: string;
  /** This node's VTEP addresses (network address of each own pod CIDR). */
  addresses: string[];
  peers: VxlanPeer[];
}

export interface PeerRoutesPlan {
  mode: PeerRoutingMode;
  routes: PeerRoute[];
  vxlan?: VxlanPlan;
  /** Nodes that could not be routed, with why. */
  problems: string[];
}

/** A locally administered MAC per node, stable across restarts. */
export function vtepMac(nodeName: string): string {
  const bytes = createHash("sha256").update(`wasmplane-vtep/${nodeName}`).digest().subarray(0, 6);
  bytes[0] = (bytes[0] & 0xfe) | 0x02;
  return [...bytes].map((b) => b.toString(16).padStart(2, "0")).join(":");
}

function vtepAddress(podCIDR: string): string {
  const c = parseCidr(podCIDR);
  return bigIntToIp(c.base, c.family);
}

export function planPeerRoutes(input: PeerRoutesInput): PeerRoutesPlan {
  const self = input.nodes.find((n) => n.name === input.nodeName);
  const problems: string[] = [];
  const routes: PeerRoute[] = [];
  const peers = input.nodes
    .filter((n) => n.name !== input.nodeName)
    .sort((a, b) => (a.name < b.name ? -1 : 1));
  if (input.mode === "host-gw") {
    for (const peer of peers)
      for (const cidr of peer.podCIDRs) {
        const family = parseCidr(cidr).family;
        const via = peer.addresses.find((a) => ipFamily(a) === family);
        if (!via) {
          problems.push(`node ${peer.name}: no IPv${family} address to route its pod CIDR ${cidr} via`);
          continue;
        }
        routes.push({ dst: parseCidr(cidr).text, via });
      }
    return { mode: "host-gw", routes, problems };
  }
  const opts = input.vxlan ?? {};
  const device = opts.device ?? "vx-wasmplane";
  if (device.startsWith(HOST_IF_PREFIX) || device.length > 15)
    throw new Error(
      `vxlan.device '${device}': must not start with '${HOST_IF_PREFIX}' (pod veths) and be at most 15 characters`,
    );
  // The underlay is IPv4 when this node has an IPv4 address, else IPv6; peers must match.
  const localIP = self?.addresses.find((a) => ipFamily(a) === 4) ?? self?.addresses[0];
  if (!self || !localIP) {
    problems.push(`node ${input.nodeName}: not found or without addresses; VXLAN needs its own node IP`);
    return { mode: "vxlan", routes: [], problems };
  }
  const underlay = ipFamily(localIP);
  const vxPeers: VxlanPeer[] = [];
  for (const peer of peers) {
    const nodeIP = peer.addresses.find((a) => ipFamily(a) === underlay);
    if (!nodeIP) {
      problems.push(`node ${peer.name}: no IPv${underlay} address for the VXLAN underlay`);
      continue;
    }
    const vtepIPs = peer.podCIDRs.map(vtepAddress);
    vxPeers.push({ node: peer.name, nodeIP, mac: vtepMac(peer.name), vtepIPs });
    for (const cidr of peer.podCIDRs)
      routes.push({ dst: parseCidr(cidr).text, via: vtepAddress(cidr), dev: device });
  }
  return {
    mode: "vxlan",
    routes,
    problems,
    vxlan: {
      device,
      vni: opts.vni ?? 4097,
      port: opts.port ?? 4789,
      mtu: opts.mtu ?? 1450,
      localIP,
      mac: vtepMac(self.name),
      addresses: self.podCIDRs.map(vtepAddress),
      peers: vxPeers,
    },
  };
}

export interface PeerRoutesBatch {
  /** `ip -batch` lines that may fail harmlessly (already gone). */
  remove: string[];
  /** `bridge -batch` lines removing stale FDB entries (may fail harmlessly). */
  fdbRemove: string[];
  /** `ip -batch`: the VXLAN device and its addresses. */
  links: string[];
  /** `bridge -batch`: FDB entries, peer VTEP MAC → peer node IP. */
  fdb: string[];
  /** `ip -batch`: neighbour entries and routes. */
  routes: string[];
}

/**
 * Commands that bring the kernel from `previous` (what was applied last, or nothing) to `plan`:
 * stale routes and neighbours deleted, current ones replaced (idempotent).
 */
export function peerRoutesBatch(plan: PeerRoutesPlan, previous?: PeerRoutesPlan): PeerRoutesBatch {
  const out: PeerRoutesBatch = { remove: [], fdbRemove: [], links: [], fdb: [], routes: [] };
  const want = new Map(plan.routes.map((r) => [r.dst, r]));
  // A route whose next hop changes is deleted first: an IPv6 onlink gateway inside the old
  // route's prefix would otherwise resolve through the old device and be refused.
  for (const r of previous?.routes ?? []) {
    const next = want.get(r.dst);
    if (!next || next.via !== r.via || next.dev !== r.dev) out.remove.push(`route del ${r.dst}`);
  }
  const vx = plan.vxlan;
  const old = previous?.vxlan;
  if (old && (!vx || vx.device !== old.device)) out.remove.push(`link del ${old.device}`);
  if (vx) {
    const sameDevice = old?.device === vx.device;
    const keepMacs = new Set(vx.peers.map((p) => p.mac));
    if (sameDevice)
      for (const p of old.peers)
        if (!keepMacs.has(p.mac)) {
          out.fdbRemove.push(`fdb del ${p.mac} dev ${vx.device} dst ${p.nodeIP} self`);
          for (const ip of p.vtepIPs) out.remove.push(`neigh del ${ip} dev ${vx.device}`);
        }
    if (!sameDevice)
      out.links.push(
        `link add ${vx.device} type vxlan id ${vx.vni} local ${vx.localIP} dstport ${vx.port} nolearning`,
        `link set ${vx.device} address ${vx.mac} mtu ${vx.mtu} up`,
      );
    for (const a of vx.addresses)
      out.links.push(`addr replace ${a}/${ipFamily(a) === 4 ? 32 : 128} dev ${vx.device}`);
    for (const p of vx.peers) {
      out.fdb.push(`fdb replace ${p.mac} dev ${vx.device} dst ${p.nodeIP} self permanent`);
      for (const ip of p.vtepIPs)
        out.routes.push(`neigh replace ${ip} lladdr ${p.mac} dev ${vx.device} nud permanent`);
    }
  }
  for (const r of plan.routes)
    out.routes.push(
      r.dev
        ? `route replace ${r.dst} via ${r.via} dev ${r.dev} onlink`
        : `route replace ${r.dst} via ${r.via}`,
    );
  return out;
}
