// Fuzzed Kubernetes manifests: a valid object of each kind the store validates, and mutations of
// it at random paths (wrong types, missing fields, huge and non-finite numbers, odd strings, deep
// nesting, unknown keys). Each mutation records the path it changed, so a test can check that a
// rejection points at it.
import fc from "fast-check";
import type { RawObject, WatchedKind } from "../../runtime/sources/source.ts";

export type FuzzedKind = Extract<
  WatchedKind,
  "Service" | "EndpointSlice" | "Pod" | "NetworkPolicy" | "ClusterNetworkPolicy"
>;

const labels = {
  matchLabels: { app: "web" },
  matchExpressions: [{ key: "tier", operator: "In", values: ["a"] }],
};

/** One valid object per kind, using most fields the validators read. */
export const validObjects: Record<FuzzedKind, RawObject> = {
  Service: {
    apiVersion: "v1",
    kind: "Service",
    metadata: { name: "web", namespace: "default", annotations: { "lb.wasmplane.io/algorithm": "hash" } },
    spec: {
      type: "LoadBalancer",
      clusterIP: "10.96.0.10",
      clusterIPs: ["10.96.0.10", "fd96::10"],
      ipFamilies: ["IPv4", "IPv6"],
      ports: [
        { name: "http", protocol: "TCP", port: 80, targetPort: 8080, nodePort: 30080 },
        { name: "dns", protocol: "UDP", port: 53, targetPort: "dns", nodePort: 30053 },
      ],
      externalIPs: ["192.168.5.5"],
      loadBalancerSourceRanges: ["192.168.0.0/16"],
      externalTrafficPolicy: "Local",
      internalTrafficPolicy: "Cluster",
      sessionAffinity: "ClientIP",
      sessionAffinityConfig: { clientIP: { timeoutSeconds: 60 } },
    },
    status: { loadBalancer: { ingress: [{ ip: "192.168.6.6", ipMode: "VIP" }] } },
  },
  EndpointSlice: {
    apiVersion: "discovery.k8s.io/v1",
    kind: "EndpointSlice",
    metadata: { name: "web-abc", namespace: "default", labels: { "kubernetes.io/service-name": "web" } },
    addressType: "IPv4",
    endpoints: [
      {
        addresses: ["10.244.1.2"],
        conditions: { ready: true, serving: true, terminating: false },
        nodeName: "node-a",
        zone: "zone-a",
        hints: { forZones: [{ name: "zone-a" }] },
      },
    ],
    ports: [{ name: "http", protocol: "TCP", port: 8080 }],
  },
  Pod: {
    apiVersion: "v1",
    kind: "Pod",
    metadata: {
      name: "web-1",
      namespace: "default",
      uid: "u-1",
      labels: { app: "web" },
      annotations: { a: "b" },
    },
    spec: {
      nodeName: "node-a",
      hostNetwork: false,
      containers: [{ name: "app", ports: [{ name: "http", containerPort: 8080, protocol: "TCP" }] }],
      initContainers: [{ name: "proxy", restartPolicy: "Always", ports: [{ containerPort: 9000 }] }],
    },
    status: { phase: "Running", podIPs: [{ ip: "10.244.1.2" }, { ip: "fd01::2" }] },
  },
  NetworkPolicy: {
    apiVersion: "networking.k8s.io/v1",
    kind: "NetworkPolicy",
    metadata: { name: "allow-web", namespace: "default" },
    spec: {
      podSelector: labels,
      policyTypes: ["Ingress", "Egress"],
      ingress: [
        {
          from: [
            { podSelector: labels, namespaceSelector: {} },
            { ipBlock: { cidr: "10.0.0.0/8", except: ["10.1.0.0/16"] } },
          ],
          ports: [{ protocol: "TCP", port: 80, endPort: 90 }, { port: "http" }],
        },
      ],
      egress: [
        {
          to: [{ namespaceSelector: { matchLabels: { team: "a" } } }],
          ports: [{ protocol: "UDP", port: 53 }],
        },
      ],
    },
  },
  ClusterNetworkPolicy: {
    apiVersion: "policy.networking.k8s.io/v1alpha2",
    kind: "ClusterNetworkPolicy",
    metadata: { name: "guard" },
    spec: {
      tier: "Admin",
      priority: 10,
      subject: { pods: { namespaceSelector: {}, podSelector: labels } },
      ingress: [
        {
          name: "in",
          action: "Accept",
          from: [{ namespaces: labels }],
          protocols: [
            { tcp: { destinationPort: { number: 80 } } },
            { udp: { destinationPort: { range: { start: 1, end: 9 } } } },
          ],
        },
      ],
      egress: [
        { action: "Deny", to: [{ networks: ["10.0.0.0/8", "fd00::/64"] }] },
        {
          action: "Pass",
          to: [{ pods: { namespaceSelector: {}, podSelector: {} } }],
          protocols: [{ destinationNamedPort: "dns" }],
        },
      ],
    },
  },
};

/** A path into an object: keys and list indexes. */
export type Path = (string | number)[];

/** Every path of `value` down to `maxDepth` (not into deeply nested fuzz values), parents first. */
export function allPaths(value: unknown, maxDepth = 10): Path[] {
  const out: Path[] = [];
  const walk = (v: unknown, prefix: Path) => {
    if (typeof v !== "object" || v === null || prefix.length >= maxDepth) return;
    const entries: [string | number, unknown][] = Array.isArray(v)
      ? v.map((x, i) => [i, x])
      : Object.entries(v);
    for (const [k, child] of entries) {
      out.push([...prefix, k]);
      walk(child, [...prefix, k]);
    }
  };
  walk(value, []);
  return out;
}

/**
 * A value nested `depth` lists (or objects) deep, as a hostile manifest might carry. Built only when
 * applied, so fast-check never prints or walks the deep value itself.
 */
export class Deep {
  constructor(
    readonly depth: number,
    readonly asObject: boolean,
  ) {}
  build(): unknown {
    let v: unknown = "x";
    for (let i = 0; i < this.depth; i++) v = this.asObject ? { a: v } : [v];
    return v;
  }
}

/** A fresh copy: fast-check hands out the same constant objects to many runs, never to be changed. */
const built = (value: unknown) => (value instanceof Deep ? value.build() : structuredClone(value));

const oddString = fc.oneof(
  fc.constantFrom(
    "",
    " ",
    "\u0000",
    "__proto__",
    "constructor",
    "toString",
    "10.0.0.1/33",
    "::",
    "999.1.1.1",
    "$" + "{HOME}",
    "a\nb",
    "ÄÖÜ",
    "😀",
    "-1",
    "0x50",
    "1e3",
    "TCP ",
    "tcp",
  ),
  fc.string({ maxLength: 20 }),
  fc.integer({ min: 1, max: 70_000 }).map((n) => "a".repeat(n)),
);

/** A replacement value: every JSON (and YAML: NaN, Infinity) type, odd numbers and strings. */
function oddValueUpTo(maxDepth: number): fc.Arbitrary<unknown> {
  return fc.oneof(
    fc.constantFrom(null, true, false, 0, -1, -0, 1.5, 65536, 2 ** 31, 2 ** 53 + 2, 1e308, -1e308),
    fc.constantFrom(Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY),
    oddString,
    fc.constantFrom([], {}, [null], [{}], { a: 1 }, [[]]),
    fc
      .record({ depth: fc.integer({ min: 1, max: maxDepth }), asObject: fc.boolean() })
      .map((d) => new Deep(d.depth, d.asObject)),
    fc.jsonValue({ maxDepth: 3 }),
  );
}

/** Values a request on the wire can carry: its JSON must be printable, so nesting stays moderate. */
export const oddValue = oddValueUpTo(2_000);

const unknownKey = fc.oneof(oddString, fc.constantFrom("extra", "__proto__", "constructor"));

export type Mutation =
  | { op: "set"; at: number; value: unknown }
  | { op: "delete"; at: number }
  | { op: "addKey"; at: number; key: string; value: unknown }
  | { op: "duplicate"; at: number }
  | { op: "cycle"; at: number };

function mutationsOf(value: fc.Arbitrary<unknown>): fc.Arbitrary<Mutation> {
  return fc.oneof(
    { weight: 5, arbitrary: fc.record({ op: fc.constant("set" as const), at: fc.nat(), value }) },
    { weight: 2, arbitrary: fc.record({ op: fc.constant("delete" as const), at: fc.nat() }) },
    {
      weight: 1,
      arbitrary: fc.record({ op: fc.constant("addKey" as const), at: fc.nat(), key: unknownKey, value }),
    },
    { weight: 1, arbitrary: fc.record({ op: fc.constant("duplicate" as const), at: fc.nat() }) },
  );
}

/** Mutations of a request sent as JSON. */
export const mutation = mutationsOf(oddValue);

/**
 * Mutations of a manifest as the YAML parser can hand it over: values nested far deeper (20,000
 * levels: a stack-deep recursion would fail), and reference loops (a YAML alias can make an object
 * contain itself: `spec: &s {ports: *s}`).
 */
export const manifestMutation: fc.Arbitrary<Mutation> = fc.oneof(
  { weight: 11, arbitrary: mutationsOf(oddValueUpTo(20_000)) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant("cycle" as const), at: fc.nat() }) },
);

function parentOf(root: unknown, path: Path): Record<string | number, unknown> | unknown[] | null {
  let v: unknown = root;
  for (const k of path.slice(0, -1)) {
    if (typeof v !== "object" || v === null) return null;
    v = (v as Record<string | number, unknown>)[k];
  }
  return typeof v === "object" && v !== null ? (v as Record<string | number, unknown>) : null;
}

/** Applies mutations to a deep copy; returns the object and the paths changed. */
export function mutate(object: RawObject, mutations: Mutation[]): { object: RawObject; paths: Path[] } {
  // A JSON copy: the seed objects share sub-objects (labels), which structuredClone would keep shared.
  const root = JSON.parse(JSON.stringify(object)) as Record<string, unknown>;
  const paths: Path[] = [];
  for (const m of mutations) {
    const candidates = allPaths(root);
    if (candidates.length === 0) break;
    const path = candidates[m.at % candidates.length];
    const parent = parentOf(root, path);
    if (!parent) continue;
    const key = path[path.length - 1];
    if (m.op === "set") (parent as Record<string | number, unknown>)[key] = built(m.value);
    else if (m.op === "delete") {
      if (Array.isArray(parent) && typeof key === "number") parent.splice(key, 1);
      else delete (parent as Record<string | number, unknown>)[key];
    } else if (m.op === "cycle") {
      // The value at the path becomes its parent: a reference loop.
      (parent as Record<string | number, unknown>)[key] = parent;
    } else if (m.op === "addKey") {
      const target = (parent as Record<string | number, unknown>)[key];
      if (typeof target !== "object" || target === null || Array.isArray(target)) continue;
      // defineProperty: a "__proto__" key becomes an own key, as JSON.parse and YAML make it.
      Object.defineProperty(target, m.key, {
        value: built(m.value),
        enumerable: true,
        writable: true,
        configurable: true,
      });
      paths.push([...path, m.key]);
      continue;
    } else {
      if (!Array.isArray(parent) || typeof key !== "number") continue;
      // The same object twice, as a YAML alias makes it.
      parent.splice(key, 0, parent[key]);
      paths.push(path.slice(0, -1));
      continue;
    }
    paths.push(path);
  }
  return { object: root as unknown as RawObject, paths };
}

export const fuzzedKind = fc.constantFrom<FuzzedKind>(
  "Service",
  "EndpointSlice",
  "Pod",
  "NetworkPolicy",
  "ClusterNetworkPolicy",
);
