// The IPAM decision: which addresses a new attachment gets. A decider is a pure function of the
// node's pod CIDRs, the current allocations and the request; the durable store (store.ts) records
// what it decided. Implemented in TypeScript (range.ts) and by Wasm `ipam` plugins (wasm.ts).
import type { RunningWorker } from "../plugins/plugin-worker.ts";

/** One address held by one attachment (container id + interface). */
export interface IpamAllocation {
  /** Canonical text (RFC 5952 for IPv6), as the store keeps it. */
  ip: string;
  containerId: string;
  ifName: string;
  podNamespace?: string;
  podName?: string;
  /** Milliseconds since the epoch; lets a reconcile spare allocations younger than the pod watch lag. */
  allocatedAt?: number;
}

export interface IpamRequest {
  containerId: string;
  ifName: string;
  podNamespace?: string;
  podName?: string;
  /** Addresses asked for (CNI_ARGS `IP=`, runtimeConfig `ips`, or a pod annotation); at most one per family. */
  requestedIPs: string[];
}

export interface IpamInput {
  /** The node's pod CIDRs, at most one IPv4 and one IPv6. */
  podCIDRs: string[];
  allocations: IpamAllocation[];
  /** The last address handed out per family, for deciders that continue after it (reuse delay). */
  lastAllocated: { v4?: string; v6?: string };
  request: IpamRequest;
}

export interface IpamAddress {
  ip: string;
  /** Prefix length the pod interface gets (32/128 for routed attachments). */
  prefixLength: number;
  /** Absent: the attachment's own gateway (the node side of the veth). */
  gateway?: string;
}

export interface IpamRoute {
  dst: string;
  gw?: string;
}

export type IpamRefusal = "exhausted" | "requested-unavailable" | "invalid-request";

export type IpamDecision =
  | { ok: true; addresses: IpamAddress[]; routes: IpamRoute[] }
  | { ok: false; reason: IpamRefusal; message: string };

export interface IpamDecider {
  /** For messages and status: "range", "wasm:random", … */
  readonly name: string;
  allocate(input: IpamInput): IpamDecision | Promise<IpamDecision>;
  /** The plugin workers deciding (a Wasm decider's one worker), for /metrics. */
  workers?(): RunningWorker[];
  close?(): Promise<void>;
}
