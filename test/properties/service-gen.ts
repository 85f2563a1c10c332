// Random change sequences over Services and EndpointSlices, applied to a small model that hands out
// snapshots the way the store does: a changed object is a new object, an unchanged one keeps its
// identity, and a kind with no change keeps its Map. Addresses and node ports are derived from the
// service's index so two services never claim the same exclusive element: which claimant wins such
// a conflict depends on history by design (runtime/services/shared-elements.ts), so it is left out.
import fc from "fast-check";
import type { LbPlan, LbRequest, LbResult } from "../../runtime/lb/plan.ts";
import type {
  Endpoint,
  EndpointSlice,
  Protocol,
  Service,
  ServicePort,
  Snapshot,
} from "../../runtime/store/objects.ts";

export const SERVICE_COUNT = 5;
const SLICES_PER_SERVICE = 2;

const namespaceOf = (i: number) => (i % 2 === 0 ? "default" : "team");
export const serviceKey = (i: number) => `${namespaceOf(i)}/s${i}`;

type Stack = "v4" | "v6" | "dual" | "dual6" | "headless";

/** A port as the generator describes it; node ports are filled in from the service index. */
interface PortSpec {
  protocol: Protocol;
  port: number;
  target: number | "named";
}

export interface ServicePatch {
  type?: Service["type"];
  stack?: Stack;
  ports?: PortSpec[];
  externalIP?: boolean;
  loadBalancerIP?: boolean;
  sourceRanges?: string[];
  externalTrafficPolicy?: Service["externalTrafficPolicy"];
  internalTrafficPolicy?: Service["internalTrafficPolicy"];
  sessionAffinityTimeoutSeconds?: number;
  /** Only annotations: lb.wasmplane.io/algorithm, lb.wasmplane.io/seed and an unrelated one. */
  annotations?: Record<string, string>;
}

export interface EndpointSpec {
  ip: number;
  ready: boolean;
  serving: boolean;
  terminating: boolean;
  node?: "node-a" | "node-b";
  zone?: "zone-a" | "zone-b";
}

export interface SliceSpec {
  family: "IPv4" | "IPv6";
  endpoints: EndpointSpec[];
  /** Port numbers for the service's ports, by index; a missing one leaves that port without endpoints. */
  portNumbers: number[];
}

export type Change =
  | { op: "patchService"; service: number; patch: ServicePatch }
  | { op: "annotate"; service: number; annotations: Record<string, string> }
  | { op: "removeService"; service: number }
  | { op: "touchService"; service: number }
  | { op: "setSlice"; service: number; slice: number; spec: SliceSpec }
  | { op: "removeSlice"; service: number; slice: number }
  | { op: "flipReady"; service: number; slice: number; endpoint: number }
  | { op: "dropEndpoint"; service: number; slice: number; endpoint: number }
  | { op: "touchSlice"; service: number; slice: number };

const serviceIndex = fc.integer({ min: 0, max: SERVICE_COUNT - 1 });
const sliceIndex = fc.integer({ min: 0, max: SLICES_PER_SERVICE - 1 });

const portSpec: fc.Arbitrary<PortSpec> = fc.record({
  protocol: fc.constantFrom<Protocol>("TCP", "UDP", "SCTP"),
  port: fc.constantFrom(53, 80, 443, 8080),
  target: fc.oneof(fc.constantFrom(8080, 9090, 53), fc.constant("named" as const)),
});

const annotations = fc.record(
  {
    "lb.wasmplane.io/algorithm": fc.constantFrom("random", "round-robin", "hash", ""),
    "lb.wasmplane.io/seed": fc.constantFrom("1", "7", "42"),
    "example.com/note": fc.constantFrom("a", "b"),
  },
  { requiredKeys: [] },
);

const servicePatch: fc.Arbitrary<ServicePatch> = fc.record(
  {
    type: fc.constantFrom<Service["type"]>(
      "ClusterIP",
      "NodePort",
      "LoadBalancer",
      "LoadBalancer",
      "ExternalName",
    ),
    stack: fc.constantFrom<Stack>("v4", "v4", "v6", "dual", "dual6", "headless"),
    // The store refuses two ports with one protocol and number (validate-service.ts): never generated.
    ports: fc.uniqueArray(portSpec, {
      minLength: 0,
      maxLength: 3,
      selector: (p) => `${p.protocol}/${p.port}`,
    }),
    externalIP: fc.boolean(),
    loadBalancerIP: fc.boolean(),
    sourceRanges: fc.subarray(["192.168.0.0/16", "10.200.0.0/24", "2001:db8::/32"]),
    externalTrafficPolicy: fc.constantFrom<Service["externalTrafficPolicy"]>("Cluster", "Local"),
    internalTrafficPolicy: fc.constantFrom<Service["internalTrafficPolicy"]>("Cluster", "Local"),
    sessionAffinityTimeoutSeconds: fc.constantFrom(0, 0, 60, 10800),
    annotations,
  },
  { requiredKeys: [] },
);

const endpointSpec: fc.Arbitrary<EndpointSpec> = fc.record(
  {
    ip: fc.integer({ min: 1, max: 6 }),
    ready: fc.constantFrom(true, true, true, false),
    serving: fc.boolean(),
    terminating: fc.constantFrom(false, false, true),
    node: fc.constantFrom<"node-a" | "node-b">("node-a", "node-b"),
    zone: fc.constantFrom<"zone-a" | "zone-b">("zone-a", "zone-b"),
  },
  { requiredKeys: ["ip", "ready", "serving", "terminating"] },
);

const sliceSpec: fc.Arbitrary<SliceSpec> = fc.record({
  family: fc.constantFrom<"IPv4" | "IPv6">("IPv4", "IPv4", "IPv6"),
  endpoints: fc.array(endpointSpec, { minLength: 0, maxLength: 4 }),
  portNumbers: fc.array(fc.constantFrom(8080, 9090, 53), { minLength: 1, maxLength: 3 }),
});

export const change: fc.Arbitrary<Change> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      op: fc.constant("patchService" as const),
      service: serviceIndex,
      patch: servicePatch,
    }),
  },
  {
    // Only the annotations: the planner keeps the service's frame and asks for a new LB plan.
    weight: 2,
    arbitrary: fc.record({ op: fc.constant("annotate" as const), service: serviceIndex, annotations }),
  },
  { weight: 1, arbitrary: fc.record({ op: fc.constant("removeService" as const), service: serviceIndex }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant("touchService" as const), service: serviceIndex }) },
  {
    weight: 4,
    arbitrary: fc.record({
      op: fc.constant("setSlice" as const),
      service: serviceIndex,
      slice: sliceIndex,
      spec: sliceSpec,
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant("removeSlice" as const),
      service: serviceIndex,
      slice: sliceIndex,
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      op: fc.constant("flipReady" as const),
      service: serviceIndex,
      slice: sliceIndex,
      endpoint: fc.nat(3),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant("dropEndpoint" as const),
      service: serviceIndex,
      slice: sliceIndex,
      endpoint: fc.nat(3),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant("touchSlice" as const),
      service: serviceIndex,
      slice: sliceIndex,
    }),
  },
);

/** A run: steps of one to four changes each. */
export const changeSequence = (steps: number): fc.Arbitrary<Change[][]> =>
  fc.array(fc.array(change, { minLength: 1, maxLength: 4 }), { minLength: 1, maxLength: steps });

function clusterIPs(i: number, stack: Stack): string[] {
  const v4 = `10.96.0.${10 + i}`;
  const v6 = `fd96::${(10 + i).toString(16)}`;
  return { v4: [v4], v6: [v6], dual: [v4, v6], dual6: [v6, v4], headless: [] }[stack];
}

function buildService(i: number, p: Required<ServicePatch>): Service {
  const ips = p.type === "ExternalName" ? [] : clusterIPs(i, p.stack);
  const withNodePorts = p.type === "NodePort" || p.type === "LoadBalancer";
  const ports: ServicePort[] = p.ports.map((s, k) => ({
    name: p.ports.length === 1 ? "" : `p${k}`,
    protocol: s.protocol,
    port: s.port,
    targetPort: s.target === "named" ? `t${k}` : s.target,
    nodePort: withNodePorts ? 30000 + i * 10 + k : 0,
  }));
  return {
    namespace: namespaceOf(i),
    name: `s${i}`,
    type: p.type,
    clusterIPs: ips,
    ipFamilies: ips.map((a) => (a.includes(":") ? "IPv6" : "IPv4")),
    ports,
    externalIPs: p.externalIP ? [`192.168.5.${i}`, `2001:db8:5::${i}`] : [],
    loadBalancerIPs: p.loadBalancerIP && p.type === "LoadBalancer" ? [`192.168.6.${i}`] : [],
    loadBalancerSourceRanges: p.sourceRanges,
    externalTrafficPolicy: p.externalTrafficPolicy,
    internalTrafficPolicy: p.internalTrafficPolicy,
    sessionAffinityTimeoutSeconds: p.sessionAffinityTimeoutSeconds,
    annotations: p.annotations,
  };
}

const defaultPatch: Required<ServicePatch> = {
  type: "ClusterIP",
  stack: "v4",
  ports: [{ protocol: "TCP", port: 80, target: 8080 }],
  externalIP: false,
  loadBalancerIP: false,
  sourceRanges: [],
  externalTrafficPolicy: "Cluster",
  internalTrafficPolicy: "Cluster",
  sessionAffinityTimeoutSeconds: 0,
  annotations: {},
};

function endpoint(family: "IPv4" | "IPv6", s: EndpointSpec): Endpoint {
  return {
    addresses: [family === "IPv4" ? `10.1.0.${s.ip}` : `fd01::${s.ip}`],
    conditions: { ready: s.ready, serving: s.serving, terminating: s.terminating },
    ...(s.node !== undefined ? { nodeName: s.node } : {}),
    ...(s.zone !== undefined ? { zone: s.zone } : {}),
  };
}

/** The services and slices of one node's view, changed step by step like the store changes them. */
export class ServiceWorld {
  private readonly patches = new Map<number, Required<ServicePatch>>();
  private readonly sliceSpecs = new Map<string, SliceSpec>();
  private services = new Map<string, Service>();
  private slices = new Map<string, EndpointSlice>();

  apply(changes: Change[]): Snapshot {
    const services = new Map(this.services);
    const slices = new Map(this.slices);
    let servicesChanged = false;
    let slicesChanged = false;
    for (const c of changes) {
      if (
        c.op === "patchService" ||
        c.op === "annotate" ||
        c.op === "removeService" ||
        c.op === "touchService"
      ) {
        this.changeService(services, c);
        servicesChanged = true;
        // Slices name their ports after the service's: rebuild them when the service changes.
        for (let j = 0; j < SLICES_PER_SERVICE; j++)
          if (this.refreshSlice(slices, c.service, j)) slicesChanged = true;
      } else {
        this.changeSlice(slices, c);
        slicesChanged = true;
      }
    }
    if (servicesChanged) this.services = services;
    if (slicesChanged) this.slices = slices;
    return {
      services: this.services,
      endpointSlices: this.slices,
      nodes: new Map(),
      namespaces: new Map(),
      pods: new Map(),
    };
  }

  private changeService(services: Map<string, Service>, c: Change & { service: number }): void {
    const key = serviceKey(c.service);
    if (c.op === "removeService") {
      this.patches.delete(c.service);
      services.delete(key);
      return;
    }
    const before = this.patches.get(c.service) ?? defaultPatch;
    const next =
      c.op === "patchService"
        ? { ...before, ...c.patch }
        : c.op === "annotate"
          ? { ...before, annotations: c.annotations }
          : before;
    this.patches.set(c.service, next);
    // touchService: equal content, a new object (a re-applied manifest).
    services.set(key, structuredClone(buildService(c.service, next)));
  }

  private changeSlice(slices: Map<string, EndpointSlice>, c: Change & { slice: number }): void {
    const id = `${c.service}/${c.slice}`;
    const spec = this.sliceSpecs.get(id);
    if (c.op === "setSlice") this.sliceSpecs.set(id, c.spec);
    else if (c.op === "removeSlice") this.sliceSpecs.delete(id);
    else if (spec && c.op === "flipReady" && spec.endpoints.length > 0) {
      const k = c.endpoint % spec.endpoints.length;
      const endpoints = spec.endpoints.map((e, n) => (n === k ? { ...e, ready: !e.ready } : e));
      this.sliceSpecs.set(id, { ...spec, endpoints });
    } else if (spec && c.op === "dropEndpoint" && spec.endpoints.length > 0) {
      const k = c.endpoint % spec.endpoints.length;
      this.sliceSpecs.set(id, { ...spec, endpoints: spec.endpoints.filter((_, n) => n !== k) });
    }
    this.refreshSlice(slices, c.service, c.slice, true);
  }

  /** Rebuilds one slice from its spec and its service's ports; returns whether the map changed. */
  private refreshSlice(slices: Map<string, EndpointSlice>, i: number, j: number, always = false): boolean {
    const key = `${namespaceOf(i)}/s${i}-${j}`;
    const spec = this.sliceSpecs.get(`${i}/${j}`);
    if (!spec) return slices.delete(key);
    const ports = (this.patches.get(i) ?? defaultPatch).ports;
    const built: EndpointSlice = {
      namespace: namespaceOf(i),
      name: `s${i}-${j}`,
      serviceName: `s${i}`,
      addressType: spec.family,
      endpoints: spec.endpoints.map((e) => endpoint(spec.family, e)),
      ports: spec.portNumbers.slice(0, ports.length).map((port, k) => ({
        name: ports.length === 1 ? "" : `p${k}`,
        protocol: ports[k].protocol,
        port,
      })),
    };
    const old = slices.get(key);
    if (!always && old && JSON.stringify(old) === JSON.stringify(built)) return false;
    slices.set(key, built);
    return true;
  }
}

/**
 * A deterministic LB planner: the answer is a function of the request alone, as a plugin's is, so
 * an incremental planner that asks only for changed ports and a fresh one that asks for all agree.
 */
export function answerLb(requests: LbRequest[]): Map<string, LbResult> {
  const out = new Map<string, LbResult>();
  for (const r of requests) out.set(r.key, { ok: true, plan: lbPlanFor(r) });
  return out;
}

function lbPlanFor(r: LbRequest): LbPlan {
  const n = r.endpoints.length;
  const seed = Number(r.params.seed ?? "0");
  if (r.algorithm === "round-robin")
    return { selection: { mode: "round-robin" }, slots: Array.from({ length: n + 1 }, (_, i) => i % n) };
  if (r.algorithm === "hash")
    return {
      selection: { mode: "hash", fields: ["saddr", "sport"], seed },
      slots: Array.from({ length: 2 * n }, (_, i) => (i * 7 + seed) % n),
    };
  return { selection: { mode: "random" }, slots: Array.from({ length: n }, (_, i) => i) };
}
