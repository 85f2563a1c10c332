// Builders for Services, EndpointSlices and snapshots in service tests (normalised store objects).
import type {
  Endpoint,
  EndpointSlice,
  Protocol,
  Service,
  ServicePort,
  Snapshot,
} from "../../runtime/store/objects.ts";

export function service(namespace: string, name: string, over: Partial<Service> = {}): Service {
  const clusterIPs = over.clusterIPs ?? ["10.96.0.10"];
  return {
    namespace,
    name,
    type: "ClusterIP",
    clusterIPs,
    ipFamilies: clusterIPs.map((ip) => (ip.includes(":") ? "IPv6" : "IPv4")),
    ports: [port("http", "TCP", 80, 8080)],
    externalIPs: [],
    loadBalancerIPs: [],
    loadBalancerSourceRanges: [],
    externalTrafficPolicy: "Cluster",
    internalTrafficPolicy: "Cluster",
    sessionAffinityTimeoutSeconds: 0,
    annotations: {},
    ...over,
  };
}

export function port(
  name: string,
  protocol: Protocol,
  portNumber: number,
  targetPort: number | string,
  nodePort = 0,
): ServicePort {
  return { name, protocol, port: portNumber, targetPort, nodePort };
}

export interface EndpointSpec {
  ip: string;
  node?: string;
  ready?: boolean;
  serving?: boolean;
  terminating?: boolean;
  zone?: string;
  hints?: string[];
}

export function endpoint(spec: EndpointSpec | string): Endpoint {
  const s = typeof spec === "string" ? { ip: spec } : spec;
  const ready = s.ready ?? true;
  return {
    addresses: [s.ip],
    conditions: { ready, serving: s.serving ?? ready, terminating: s.terminating ?? false },
    ...(s.node !== undefined ? { nodeName: s.node } : {}),
    ...(s.zone !== undefined ? { zone: s.zone } : {}),
    ...(s.hints !== undefined ? { hintZones: s.hints } : {}),
  };
}

export function slice(
  svc: Service,
  endpoints: (EndpointSpec | string)[],
  over: Partial<EndpointSlice> & { suffix?: string } = {},
): EndpointSlice {
  const { suffix, ...rest } = over;
  const first = endpoints[0];
  const ip = typeof first === "string" ? first : first?.ip;
  return {
    namespace: svc.namespace,
    name: `${svc.name}-${suffix ?? "abc"}`,
    serviceName: svc.name,
    addressType: ip?.includes(":") ? "IPv6" : "IPv4",
    endpoints: endpoints.map(endpoint),
    ports: svc.ports.map((p) => ({
      name: p.name,
      protocol: p.protocol,
      port: typeof p.targetPort === "number" ? p.targetPort : 8080,
    })),
    ...rest,
  };
}

export function snapshot(services: Service[], slices: EndpointSlice[]): Snapshot {
  return {
    services: new Map(services.map((s) => [`${s.namespace}/${s.name}`, s])),
    endpointSlices: new Map(slices.map((s) => [`${s.namespace}/${s.name}`, s])),
    nodes: new Map(),
    namespaces: new Map(),
    pods: new Map(),
  } as Snapshot;
}
