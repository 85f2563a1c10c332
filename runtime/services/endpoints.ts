// Which endpoints a service port has, and which of them traffic may use — kube-proxy's rules:
// ready endpoints; when none is ready, those that are serving and terminating; never the others.
// Local policy uses this node's endpoints only, with the same fallback among them.

import { flat } from "../store/flat.ts";
import type { EndpointSlice, Service, ServicePort } from "../store/objects.ts";
import type { Family } from "./names.ts";

export interface ServiceEndpoint {
  /** endpointId(this), computed once. */
  id: string;
  family: Family;
  address: string;
  port: number;
  ready: boolean;
  serving: boolean;
  terminating: boolean;
  nodeName?: string;
  zone?: string;
  hintZones?: string[];
}

/** "address#port": unique within a service port (an address belongs to one family). */
export const endpointId = (e: { address: string; port: number; id?: string }) =>
  e.id ?? flat(e.address, "#", e.port);

export interface PortEndpoints {
  endpoints: ServiceEndpoint[];
  /** Set when a slice has ports but none that matches this service port. */
  problem?: { field: string; message: string };
}

/**
 * The endpoints of one service port, from the slices of its service. A slice port matches by name
 * and protocol (the EndpointSlice controller names slice ports after service ports). A slice without
 * the port is normal (the controller groups pods by the ports they resolve), but when slices have
 * endpoints and none of them has the port, the service is broken and that is reported. Only the
 * first address of an endpoint is used, as kube-proxy does; duplicates across slices are merged.
 */
export function endpointsForPort(
  service: Service,
  portIndex: number,
  slices: EndpointSlice[],
): PortEndpoints {
  const port: ServicePort = service.ports[portIndex];
  const out: ServiceEndpoint[] = [];
  const seen = new Set<string>();
  const candidates: EndpointSlice[] = [];
  for (const slice of slices) {
    if (slice.addressType !== "IPv4" && slice.addressType !== "IPv6") continue;
    if (slice.endpoints.length === 0 || slice.ports.length === 0) continue;
    candidates.push(slice);
    const slicePort = slice.ports.find((p) => p.name === port.name && p.protocol === port.protocol);
    if (!slicePort) continue;
    const family: Family = slice.addressType === "IPv4" ? 4 : 6;
    for (const ep of slice.endpoints) {
      const address = ep.addresses[0];
      if (!address) continue;
      const id = endpointId({ address, port: slicePort.port });
      if (seen.has(id)) continue;
      const candidate: ServiceEndpoint = {
        id,
        family,
        address,
        port: slicePort.port,
        ready: ep.conditions.ready,
        serving: ep.conditions.serving,
        terminating: ep.conditions.terminating,
      };
      if (ep.nodeName !== undefined) candidate.nodeName = ep.nodeName;
      if (ep.zone !== undefined) candidate.zone = ep.zone;
      if (ep.hintZones !== undefined) candidate.hintZones = ep.hintZones;
      seen.add(id);
      out.push(candidate);
    }
  }
  if (out.length === 0 && candidates.length > 0) {
    const named = typeof port.targetPort === "string";
    const slicePorts = candidates
      .map((s) => `${s.name} [${s.ports.map((p) => `${p.name || '""'}/${p.protocol}`).join(", ")}]`)
      .join("; ");
    return {
      endpoints: [],
      problem: {
        field: `spec.ports[${portIndex}].${named ? "targetPort" : "name"}`,
        message: `${named ? `targetPort "${port.targetPort}" of ` : ""}port "${port.name}" (${port.protocol}) is not served by any of its EndpointSlices: ${slicePorts}`,
      },
    };
  }
  out.sort(compareEndpoints);
  return { endpoints: out };
}

/** Stable order: IPv4 first, then by address and port (so plans do not churn with slice order). */
export function compareEndpoints(a: ServiceEndpoint, b: ServiceEndpoint): number {
  if (a.family !== b.family) return a.family - b.family;
  if (a.address !== b.address) return a.address < b.address ? -1 : 1;
  return a.port - b.port;
}

export interface CategorizedEndpoints {
  /** Endpoints for Cluster policy (ready, else serving+terminating; topology hints applied). */
  cluster: ServiceEndpoint[];
  /** This node's endpoints for Local policy (ready, else serving+terminating). */
  local: ServiceEndpoint[];
  /** Any endpoint anywhere that is ready, or serving and terminating. */
  hasAny: boolean;
}

function usable(endpoints: ServiceEndpoint[]): ServiceEndpoint[] {
  const ready = endpoints.filter((e) => e.ready);
  return ready.length > 0 ? ready : endpoints.filter((e) => e.serving && e.terminating);
}

/**
 * Topology-aware routing: when every candidate carries zone hints and some are hinted for this
 * node's zone, only those are used (as kube-proxy does); otherwise hints are ignored.
 */
function applyHints(endpoints: ServiceEndpoint[], nodeZone: string | undefined): ServiceEndpoint[] {
  if (!nodeZone || endpoints.length === 0) return endpoints;
  if (!endpoints.every((e) => e.hintZones && e.hintZones.length > 0)) return endpoints;
  const hinted = endpoints.filter((e) => e.hintZones!.includes(nodeZone));
  return hinted.length > 0 ? hinted : endpoints;
}

export function categorize(
  endpoints: ServiceEndpoint[],
  nodeName: string,
  nodeZone: string | undefined,
): CategorizedEndpoints {
  return {
    cluster: applyHints(usable(endpoints), nodeZone),
    local: usable(endpoints.filter((e) => e.nodeName === nodeName)),
    hasAny: endpoints.some((e) => e.ready || (e.serving && e.terminating)),
  };
}
