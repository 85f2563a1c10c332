// Builders for Services, EndpointSlices and snapshots in service tests (normalised store objects).
import type { LbPlan } from "../../runtime/lb/plan.ts";
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

/**
 * One of each kind of service the planner handles, with their slices and load-balancing plans:
 * a dual-stack LoadBalancer (external IPs, source ranges, affinity, Local traffic policy, an SCTP
 * port), a round-robin and a dual-stack hash service, an internal-Local one and an endpoint-less
 * NodePort. Used where a test needs "everything the service planner writes".
 */
export function serviceMix() {
  const web = service("default", "web", {
    type: "LoadBalancer",
    clusterIPs: ["10.96.0.10", "fd96::10"],
    externalIPs: ["192.168.5.5"],
    loadBalancerIPs: ["192.168.6.6", "2001:db8::6"],
    loadBalancerSourceRanges: ["192.168.0.0/16", "2001:db8::/32"],
    ports: [
      port("http", "TCP", 80, 8080, 30080),
      port("dns", "UDP", 53, 5353, 30053),
      port("sig", "SCTP", 9, 9),
    ],
    sessionAffinityTimeoutSeconds: 60,
    externalTrafficPolicy: "Local",
  });
  const rr = service("default", "rr", { clusterIPs: ["10.96.0.11"] });
  const hash = service("default", "hash", { clusterIPs: ["fd96::12", "10.96.0.12"] });
  const ilocal = service("default", "ilocal", { clusterIPs: ["10.96.0.13"], internalTrafficPolicy: "Local" });
  const empty = service("default", "empty", {
    clusterIPs: ["10.96.0.14"],
    type: "NodePort",
    ports: [port("http", "TCP", 80, 8080, 30081)],
  });
  const slices = [
    slice(web, [{ ip: "10.1.0.5", node: "node-a" }, "10.1.1.5"], { suffix: "v4" }),
    slice(web, [{ ip: "fd01::5", node: "node-a" }], { suffix: "v6" }),
    slice(rr, ["10.1.0.1", "10.1.0.2", "10.1.0.3"]),
    slice(hash, ["fd01::1", "fd01::2"], { suffix: "v6" }),
    slice(hash, ["10.1.2.1", "10.1.2.2", "10.1.2.3"], { suffix: "v4" }),
    slice(ilocal, ["10.1.3.3"]),
  ];
  const plans: Record<string, LbPlan> = {
    "default/rr:http": { selection: { mode: "round-robin" }, slots: [0, 1, 2, 1] },
    "default/hash:http": {
      selection: { mode: "hash", fields: ["saddr", "sport"], seed: 9 },
      slots: [0, 0, 1, 0],
    },
  };
  return { services: [web, rr, hash, ilocal, empty], rr, slices, plans };
}
