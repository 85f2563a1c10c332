// The policy truth table's fixed world and its expectations, as upstream's netpol e2e Reachability
// model has them: namespaces x, y, z with pods a, b, c; every pod serves TCP and UDP on 80 and 81; an
// expectation is a default (allowed or denied) plus ordered exceptions, written by hand from the
// Kubernetes semantics (never computed by the policy evaluator under test).

export const namespaceNames = ["x", "y", "z"] as const;
export const podNames = ["a", "b", "c"] as const;
/** "x/a" … "z/c", in matrix order (rows and columns). */
export const podKeys: string[] = namespaceNames.flatMap((ns) => podNames.map((p) => `${ns}/${p}`));

export type ProbeKind = "tcp/80" | "tcp/81" | "udp/80" | "udp/81";
export const probeKinds: ProbeKind[] = ["tcp/80", "tcp/81", "udp/80", "udp/81"];

export const nodeIP = "10.250.0.1";
export const podCIDR = "10.73.1.0/24";
export const clusterCIDR = "10.73.0.0/16";
export const serviceCIDR = "10.96.0.0/16";

/**
 * Pod addresses are fixed so that ipBlocks can be written by hand: namespace x holds 10.73.1.16-18
 * (inside 10.73.1.16/28), y 10.73.1.32-34 (10.73.1.32/28), z 10.73.1.48-50 (10.73.1.48/28).
 */
export function podIP(key: string): string {
  const [ns, pod] = key.split("/");
  const n = namespaceNames.indexOf(ns as (typeof namespaceNames)[number]);
  const p = podNames.indexOf(pod as (typeof podNames)[number]);
  if (n < 0 || p < 0) throw new Error(`pod ${key}: not one of ${podKeys.join(", ")}`);
  return `10.73.1.${16 * (n + 1) + p}`;
}

/** Labels every namespace and pod has unless a step overrides them (the API server adds the first). */
export function baseNamespaceLabels(ns: string): Record<string, string> {
  return { "kubernetes.io/metadata.name": ns, ns };
}

export function basePodLabels(key: string): Record<string, string> {
  return { pod: key.split("/")[1] };
}

/**
 * One exception: every pair (from, to) matching the patterns gets `allowed` on `on` (all kinds when
 * absent). A pattern is "*", "x/*", "*\/a", "x/a", or several of these joined by ",".
 */
export interface ExpectRule {
  from: string;
  to: string;
  allowed: boolean;
  on?: ProbeKind[];
}

export interface Expectation {
  /** What every pair gets before the rules apply. */
  allowed: boolean;
  /** Applied in order; a later rule overrides an earlier one for the pairs both match. */
  rules: ExpectRule[];
}

export const allowedByDefault = (...rules: ExpectRule[]): Expectation => ({ allowed: true, rules });
export const deniedByDefault = (...rules: ExpectRule[]): Expectation => ({ allowed: false, rules });
export const allow = (from: string, to: string, ...on: ProbeKind[]): ExpectRule => ({
  from,
  to,
  allowed: true,
  ...(on.length > 0 ? { on } : {}),
});
export const deny = (from: string, to: string, ...on: ProbeKind[]): ExpectRule => ({
  from,
  to,
  allowed: false,
  ...(on.length > 0 ? { on } : {}),
});

function matchesOne(pattern: string, key: string): boolean {
  if (pattern === "*") return true;
  const [pns, ppod] = pattern.split("/");
  const [ns, pod] = key.split("/");
  if (ppod === undefined)
    throw new Error(`pattern ${JSON.stringify(pattern)}: expected "*", "ns/pod", "ns/*" or "*/pod"`);
  return (pns === "*" || pns === ns) && (ppod === "*" || ppod === pod);
}

/** The pod keys a pattern names; a pattern that names no pod is a typo and throws. */
export function podsMatching(pattern: string): string[] {
  const alternatives = pattern.split(",").map((p) => p.trim());
  const found = podKeys.filter((key) => alternatives.some((p) => matchesOne(p, key)));
  if (found.length === 0) throw new Error(`pattern ${JSON.stringify(pattern)} names no pod`);
  return found;
}

/** Per kind, rows "from" and columns "to" in podKeys order. */
export type Matrix<T> = Record<ProbeKind, T[][]>;

export function fillMatrix<T>(value: (kind: ProbeKind, from: number, to: number) => T): Matrix<T> {
  const out = {} as Matrix<T>;
  for (const kind of probeKinds) out[kind] = podKeys.map((_, f) => podKeys.map((_, t) => value(kind, f, t)));
  return out;
}

/**
 * The expected matrix. A pod reaching its own IP is always allowed: the packet never leaves the pod's
 * network namespace, so no policy sees it (the Network Policy API says so for ClusterNetworkPolicy,
 * and upstream's e2e ignores loopback for NetworkPolicy for the same reason).
 */
export function expectedMatrix(expectation: Expectation): Matrix<boolean> {
  const matrix = fillMatrix(() => expectation.allowed);
  for (const rule of expectation.rules) {
    const from = podsMatching(rule.from).map((k) => podKeys.indexOf(k));
    const to = podsMatching(rule.to).map((k) => podKeys.indexOf(k));
    for (const kind of rule.on ?? probeKinds) {
      for (const f of from) for (const t of to) matrix[kind][f][t] = rule.allowed;
    }
  }
  for (const kind of probeKinds) for (let i = 0; i < podKeys.length; i++) matrix[kind][i][i] = true;
  return matrix;
}

/** The state a step sets; every field absent means the base state (no policies, base labels). */
export interface PolicyState {
  /** What the step changes, for failure messages. */
  title: string;
  /** NetworkPolicy objects, written as the items of policies.yaml's v1 List. */
  policies?: Record<string, unknown>[];
  /** ClusterNetworkPolicy objects, written to cluster-policies.yaml. */
  clusterPolicies?: Record<string, unknown>[];
  /** Extra namespace labels by namespace, merged over the base labels. */
  namespaceLabels?: Record<string, Record<string, string>>;
  /** Extra pod labels by pod key ("x/a"), merged over the base labels. */
  podLabels?: Record<string, Record<string, string>>;
  /** Any other objects (Services, EndpointSlices, pods of other nodes), written to extra.yaml. */
  extraObjects?: Record<string, unknown>[];
}

export interface ScenarioStep extends PolicyState {
  expect: Expectation;
}

export interface Scenario {
  /** Short, unique, for POLICY_SCENARIOS. */
  name: string;
  /** The upstream case it follows, or what it shows. */
  description: string;
  steps: ScenarioStep[];
}
