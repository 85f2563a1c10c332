// Seeded worlds for the `policy` kind: namespaces, pods (some on this node, some host-network,
// finished or without IPs), NetworkPolicies and ClusterNetworkPolicies drawn from a small label
// vocabulary so selectors match often. Used by the conformance kit, the tests (plugin vs reference)
// and bench/policy-plan.ts. Same seed, same world.
import type {
  ClusterNetworkPolicy,
  ClusterNetworkPolicyPeer,
  ClusterNetworkPolicyPort,
  ClusterNetworkPolicyRule,
  LabelSelector,
  Namespace,
  NetworkPolicy,
  NetworkPolicyPeer,
  NetworkPolicyPort,
  NetworkPolicyRule,
  Pod,
  Protocol,
  Snapshot,
} from "../store/objects.ts";

export interface WorldShape {
  namespaces: number;
  pods: number;
  /** Pods placed on `nodeName`. */
  localPods: number;
  networkPolicies: number;
  clusterPolicies: number;
  nodeName: string;
  /** Add host-network, finished and address-less pods, IPv6 and unsupported peers (default true). */
  oddities?: boolean;
}

/** mulberry32: small, fast, and the same sequence in every JavaScript engine. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Rand = () => number;
const pick = <T>(rand: Rand, items: readonly T[]): T => items[Math.floor(rand() * items.length)];
const upTo = (rand: Rand, n: number) => Math.floor(rand() * (n + 1));

const APPS = ["a", "b", "c", "d", "e"];
const TIERS = ["web", "db", "cache"];
const ENVS = ["prod", "dev"];
const PORT_NAMES = ["http", "dns", "metrics", "grpc"];
const PROTOCOLS: Protocol[] = ["TCP", "UDP", "SCTP"];

function podLabels(rand: Rand): Record<string, string> {
  const labels: Record<string, string> = { app: pick(rand, APPS) };
  if (rand() < 0.7) labels.tier = pick(rand, TIERS);
  if (rand() < 0.4) labels.env = pick(rand, ENVS);
  return labels;
}

function selector(rand: Rand, keys: Record<string, readonly string[]>): LabelSelector {
  const s: LabelSelector = { matchLabels: {}, matchExpressions: [] };
  const names = Object.keys(keys);
  const roll = rand();
  if (roll < 0.2) return s;
  if (roll < 0.7) {
    const k = pick(rand, names);
    s.matchLabels[k] = pick(rand, keys[k]);
  }
  if (roll >= 0.5) {
    const k = pick(rand, names);
    const operator = pick(rand, ["In", "NotIn", "Exists", "DoesNotExist"] as const);
    const values =
      operator === "In" || operator === "NotIn" ? [pick(rand, keys[k]), pick(rand, keys[k])] : [];
    s.matchExpressions.push({ key: k, operator, values: [...new Set(values)] });
  }
  return s;
}

const podKeys = { app: APPS, tier: TIERS, env: ENVS };
const nsKeys = { team: ["x", "y", "z"], env: ENVS };

function port(rand: Rand, named: boolean): NetworkPolicyPort {
  const protocol = pick(rand, PROTOCOLS.slice(0, rand() < 0.9 ? 2 : 3));
  const roll = rand();
  if (roll < 0.15) return { protocol };
  if (named && roll < 0.45) return { protocol, port: pick(rand, PORT_NAMES) };
  const first = pick(rand, [53, 80, 81, 443, 8080, 9090]);
  return roll < 0.7 ? { protocol, port: first } : { protocol, port: first, endPort: first + upTo(rand, 100) };
}

function ipBlock(rand: Rand): NonNullable<NetworkPolicyPeer["ipBlock"]> {
  if (rand() < 0.15) return { cidr: "fd00::/112", except: rand() < 0.5 ? ["fd00::80/121"] : [] };
  const b = upTo(rand, 3);
  // Every except lies inside 10.b.0.0/24, so inside each of the prefixes below.
  const except = rand() < 0.5 ? [`10.${b}.0.${pick(rand, [0, 128])}/25`] : [];
  if (rand() < 0.3) except.push(`10.${b}.0.${upTo(rand, 15) * 16}/28`);
  return { cidr: `10.${b}.0.0/${pick(rand, [16, 22, 24])}`, except: [...new Set(except)] };
}

function npPeer(rand: Rand): NetworkPolicyPeer {
  const roll = rand();
  if (roll < 0.15) return { ipBlock: ipBlock(rand) };
  if (roll < 0.45) return { podSelector: selector(rand, podKeys) };
  if (roll < 0.7) return { namespaceSelector: selector(rand, nsKeys) };
  return { podSelector: selector(rand, podKeys), namespaceSelector: selector(rand, nsKeys) };
}

function npRule(rand: Rand): NetworkPolicyRule {
  return {
    peers: Array.from({ length: upTo(rand, 3) }, () => npPeer(rand)),
    ports: Array.from({ length: rand() < 0.4 ? 0 : upTo(rand, 3) }, () => port(rand, true)),
  };
}

function networkPolicy(rand: Rand, namespace: string, i: number): NetworkPolicy {
  const ingress = Array.from({ length: upTo(rand, 3) }, () => npRule(rand));
  const egress = Array.from({ length: upTo(rand, 2) }, () => npRule(rand));
  const roll = rand();
  // As the API server defaults them: Ingress always, Egress when egress rules exist, or explicit.
  const policyTypes: NetworkPolicy["policyTypes"] =
    roll < 0.2 ? ["Egress"] : roll < 0.5 || egress.length > 0 ? ["Ingress", "Egress"] : ["Ingress"];
  return { namespace, name: `np-${i}`, podSelector: selector(rand, podKeys), policyTypes, ingress, egress };
}

function cnpPeer(rand: Rand, egress: boolean, oddities: boolean): ClusterNetworkPolicyPeer {
  const roll = rand();
  if (oddities && roll < 0.05) return { unsupported: "spec.egress[0].to[0].nodes" };
  if (egress && roll < 0.25) return { networks: [ipBlock(rand).cidr] };
  if (roll < 0.6) return { namespaces: selector(rand, nsKeys) };
  return { pods: { namespaceSelector: selector(rand, nsKeys), podSelector: selector(rand, podKeys) } };
}

function cnpPort(rand: Rand): ClusterNetworkPolicyPort {
  if (rand() < 0.2) return { port: pick(rand, PORT_NAMES) };
  return port(rand, false);
}

function cnpRule(rand: Rand, egress: boolean, i: number, oddities: boolean): ClusterNetworkPolicyRule {
  return {
    name: rand() < 0.5 ? `rule-${i}` : "",
    action: pick(rand, ["Accept", "Deny", "Pass"] as const),
    peers: Array.from({ length: 1 + upTo(rand, 1) }, () => cnpPeer(rand, egress, oddities)),
    ports: Array.from({ length: rand() < 0.5 ? 0 : upTo(rand, 2) }, () => cnpPort(rand)),
  };
}

function clusterPolicy(rand: Rand, i: number, oddities: boolean): ClusterNetworkPolicy {
  const tier = rand() < 0.6 ? "Admin" : "Baseline";
  return {
    name: `cnp-${i}`,
    tier,
    priority: upTo(rand, 20),
    subject:
      rand() < 0.5
        ? { namespaces: selector(rand, nsKeys) }
        : { pods: { namespaceSelector: selector(rand, nsKeys), podSelector: selector(rand, podKeys) } },
    ingress: Array.from({ length: upTo(rand, 2) }, (_, r) => cnpRule(rand, false, r, oddities)),
    egress: Array.from({ length: upTo(rand, 2) }, (_, r) => cnpRule(rand, true, r, oddities)),
  };
}

function pod(rand: Rand, i: number, namespace: string, nodeName: string, oddities: boolean): Pod {
  const ips = [`10.${i % 4}.${Math.floor(i / 250) % 250}.${(i % 250) + 1}`];
  if (oddities && rand() < 0.1) ips.push(`fd00::${(i % 65535).toString(16)}`);
  const odd = oddities ? rand() : 1;
  const containerPorts = PORT_NAMES.filter(() => rand() < 0.4).map((name, j) => ({
    name,
    protocol: name === "dns" ? ("UDP" as const) : ("TCP" as const),
    port: [80, 53, 9090, 8443][PORT_NAMES.indexOf(name)] + j,
  }));
  if (rand() < 0.2) containerPorts.push({ name: "", protocol: "TCP", port: 7000 });
  return {
    namespace,
    name: `pod-${i}`,
    uid: `uid-${i}`,
    nodeName,
    podIPs: odd < 0.03 ? [] : ips,
    labels: podLabels(rand),
    annotations: {},
    containerPorts,
    hostNetwork: odd >= 0.03 && odd < 0.06,
    phase: odd >= 0.06 && odd < 0.08 ? "Succeeded" : "Running",
  };
}

/** A world of the given shape; the same seed gives the same world. */
export function randomPolicyWorld(seed: number, shape: WorldShape): Snapshot {
  const rand = seededRandom(seed);
  const oddities = shape.oddities !== false;
  const namespaces = new Map<string, Namespace>();
  for (let i = 0; i < shape.namespaces; i++) {
    const name = `ns-${i}`;
    const labels: Record<string, string> = {
      "kubernetes.io/metadata.name": name,
      team: pick(rand, nsKeys.team),
    };
    if (rand() < 0.5) labels.env = pick(rand, ENVS);
    // One namespace in ten has pods but no Namespace object (yet).
    if (!oddities || i % 10 !== 9) namespaces.set(name, { name, labels });
  }
  const pods = new Map<string, Pod>();
  for (let i = 0; i < shape.pods; i++) {
    const ns = `ns-${Math.floor(rand() * shape.namespaces)}`;
    const node = i < shape.localPods ? shape.nodeName : `node-${1 + (i % 7)}`;
    const p = pod(rand, i, ns, node, oddities);
    pods.set(`${ns}/${p.name}`, p);
  }
  const networkPolicies = new Map<string, NetworkPolicy>();
  for (let i = 0; i < shape.networkPolicies; i++) {
    const np = networkPolicy(rand, `ns-${Math.floor(rand() * shape.namespaces)}`, i);
    networkPolicies.set(`${np.namespace}/${np.name}`, np);
  }
  const clusterNetworkPolicies = new Map<string, ClusterNetworkPolicy>();
  for (let i = 0; i < shape.clusterPolicies; i++) {
    const c = clusterPolicy(rand, i, oddities);
    clusterNetworkPolicies.set(c.name, c);
  }
  return {
    services: new Map(),
    endpointSlices: new Map(),
    nodes: new Map(),
    namespaces,
    pods,
    networkPolicies,
    clusterNetworkPolicies,
  };
}
