// Runs scenarios against the cluster: per step, put its state in place, wait for the agent's sync,
// probe the whole matrix and compare; a differing matrix is probed once more (after the agent has been
// quiet for a while) before the step fails, so a probe racing a sync is not reported as a wrong verdict.
import type { PolicyCluster, StepApplied } from "./harness-cluster.ts";
import { compareMatrices, renderDiff } from "./harness-matrix.ts";
import {
  expectedMatrix,
  type PolicyState,
  podIP,
  podKeys,
  probeKinds,
  type Scenario,
  type ScenarioStep,
} from "./harness-model.ts";
import type { PodProber } from "./harness-probe.ts";

export interface ProbeTiming {
  /** How long a probe waits before it counts as denied (policy drops, so a denial is a timeout). */
  timeoutMs: number;
}

export function probeTiming(env: NodeJS.ProcessEnv = process.env): ProbeTiming {
  const raw = env.POLICY_PROBE_TIMEOUT_MS;
  const timeoutMs = raw === undefined ? 1000 : Number(raw);
  if (!Number.isInteger(timeoutMs) || timeoutMs < 100 || timeoutMs > 10_000)
    throw new Error(
      `POLICY_PROBE_TIMEOUT_MS: must be an integer from 100 to 10000, got ${JSON.stringify(raw)}`,
    );
  return { timeoutMs };
}

export interface StepReport {
  step: string;
  applied: StepApplied;
  probeMs: number;
  reprobed: boolean;
}

function stepLabel(scenario: Scenario, index: number, step: ScenarioStep): string {
  return `scenario ${scenario.name}, step ${index + 1}/${scenario.steps.length} (${step.title})`;
}

/** Runs one step; throws with the diff matrix when connectivity differs twice. */
async function runStep(
  cluster: PolicyCluster,
  label: string,
  step: ScenarioStep,
  timing: ProbeTiming,
): Promise<StepReport> {
  const expected = expectedMatrix(step.expect);
  const applied = await cluster.applyStep(step);
  const started = Date.now();
  let mismatches = compareMatrices(expected, await cluster.probeMatrix(timing.timeoutMs));
  const reprobed = mismatches.length > 0;
  if (reprobed) {
    await cluster.quiet();
    // Twice the timeout: a slow answer under load is not a denial.
    mismatches = compareMatrices(expected, await cluster.probeMatrix(2 * timing.timeoutMs));
  }
  if (mismatches.length > 0) {
    const sync = applied.syncProblem
      ? `\nsync: ${applied.syncProblem}\n--- agent output (tail) ---\n${cluster.agentOutput()}`
      : "";
    const problems = await cluster.problems();
    const status = problems.length > 0 ? `\nagent problems:\n  ${problems.join("\n  ")}` : "";
    throw new Error(
      `${label}: ${mismatches.length} of 324 probes differ from the expected matrix (twice)${sync}${status}\n${renderDiff(expected, mismatches)}`,
    );
  }
  return { step: step.title, applied, probeMs: Date.now() - started, reprobed };
}

export async function runScenario(
  cluster: PolicyCluster,
  scenario: Scenario,
  timing: ProbeTiming,
): Promise<StepReport[]> {
  const reports: StepReport[] = [];
  for (const [index, step] of scenario.steps.entries())
    reports.push(await runStep(cluster, stepLabel(scenario, index, step), step, timing));
  return reports;
}

/**
 * The state of each step of the established-connection check, written by hand: y/b isolated for
 * ingress, first allowing x/a on TCP 80, then all of namespace x (still x/a), then nothing.
 */
const establishedSteps: PolicyState[] = (() => {
  const policy = (ingress: Record<string, unknown>[]) => ({
    apiVersion: "networking.k8s.io/v1",
    kind: "NetworkPolicy",
    metadata: { namespace: "y", name: "guard-b" },
    spec: { podSelector: { matchLabels: { pod: "b" } }, policyTypes: ["Ingress"], ingress },
  });
  const tcp80 = [{ protocol: "TCP", port: 80 }];
  return [
    {
      title: "allow x/a",
      policies: [
        policy([
          {
            from: [
              { namespaceSelector: { matchLabels: { ns: "x" } }, podSelector: { matchLabels: { pod: "a" } } },
            ],
            ports: tcp80,
          },
        ]),
      ],
    },
    {
      title: "allow namespace x",
      policies: [policy([{ from: [{ namespaceSelector: { matchLabels: { ns: "x" } } }], ports: tcp80 }])],
    },
    { title: "allow nothing", policies: [policy([])] },
  ];
})();

async function reaches(
  cluster: PolicyCluster,
  from: string,
  to: string,
  timing: ProbeTiming,
): Promise<boolean> {
  const [result] = await cluster.prober(from).probe([{ to, ip: podIP(to) }], ["tcp/80"], timing.timeoutMs);
  return result.outcome.ok && result.outcome.answer === to;
}

async function mustApply(cluster: PolicyCluster, step: PolicyState, check: string): Promise<void> {
  const applied = await cluster.applyStep(step);
  if (applied.syncProblem) throw new Error(`${check} check, step "${step.title}": ${applied.syncProblem}`);
}

/**
 * An established TCP connection x/a -> y/b:80 across policy changes. Established and related
 * packets are accepted before any policy lookup (the issue's rendering rule, Calico's and kube-proxy's
 * shape), so:
 * - a change that keeps the connection allowed leaves it working (and new connections too);
 * - a change that denies it stops new connections at once, while the established one keeps working
 *   until it closes: its conntrack entry is matched before the policy chains, and the agent does not
 *   flush conntrack on policy changes (Kubernetes leaves existing connections to the implementation).
 * Returns the list of failures (empty when all held).
 */
export async function checkEstablished(cluster: PolicyCluster, timing: ProbeTiming): Promise<string[]> {
  const failures: string[] = [];
  const client = cluster.prober("x/a");
  const conn = "established-1";
  const expectEcho = async (when: string) => {
    const echo = await client.echo(conn, `ping ${when}`, 2 * timing.timeoutMs);
    if (!echo.ok)
      failures.push(
        `${when}: the established connection x/a -> y/b:80 stopped (${echo.error ?? echo.answer})`,
      );
  };
  try {
    await mustApply(cluster, establishedSteps[0], "established");
    const opened = await client.open(conn, podIP("y/b"), 80, 2 * timing.timeoutMs);
    if (!opened.ok || opened.answer !== "y/b")
      return [`allowing x/a: cannot open x/a -> y/b:80 (${opened.error ?? opened.answer})`];
    if (await reaches(cluster, "x/c", "y/b", timing))
      failures.push("allowing x/a: x/c reaches y/b:80 (the policy is not enforced)");
    await expectEcho("after opening");

    await mustApply(cluster, establishedSteps[1], "established");
    await expectEcho("after the change to allow all of namespace x");
    if (!(await reaches(cluster, "x/a", "y/b", timing)))
      failures.push("allowing namespace x: a new connection x/a -> y/b:80 fails");
    if (!(await reaches(cluster, "x/c", "y/b", timing)))
      failures.push("allowing namespace x: a new connection x/c -> y/b:80 fails");

    await mustApply(cluster, establishedSteps[2], "established");
    if (await reaches(cluster, "x/a", "y/b", timing))
      failures.push("allowing nothing: a new connection x/a -> y/b:80 still succeeds");
    await expectEcho("after the change to allow nothing (established flows are accepted before policy)");
  } finally {
    await client.close(conn).catch(() => {});
  }
  return failures;
}

/**
 * The node's own traffic to its pods (kubelet probes) is allowed whatever the policies: with every
 * pod isolated both ways, the node still reaches each pod on every kind while pods reach no other pod.
 * Returns the list of failures.
 */
export async function checkNodeToPods(cluster: PolicyCluster, timing: ProbeTiming): Promise<string[]> {
  const isolateAll = ["x", "y", "z"].map((namespace) => ({
    apiVersion: "networking.k8s.io/v1",
    kind: "NetworkPolicy",
    metadata: { namespace, name: "deny-all" },
    spec: { podSelector: {}, policyTypes: ["Ingress", "Egress"] },
  }));
  await mustApply(cluster, { title: "every pod isolated", policies: isolateAll }, "node-to-pods");
  const node = await cluster.nodeProber();
  const targets = podKeys.map((to) => ({ to, ip: podIP(to) }));
  const results = await node.probe(targets, probeKinds, timing.timeoutMs);
  const failures = results
    .filter((r) => !r.outcome.ok || r.outcome.answer !== r.to)
    .map((r) => `node -> ${r.to} ${r.kind}: ${r.outcome.error ?? `answered by ${r.outcome.answer}`}`);
  if (await reaches(cluster, "x/a", "y/a", timing))
    failures.push("x/a reaches y/a although every pod is isolated (policy not enforced)");
  return failures;
}

const serviceIP = "10.96.0.50";
const remoteIP = "10.73.2.5";

/** Service y/web (ClusterIP serviceIP, port 80) whose one endpoint is y/b. */
function webService(): Record<string, unknown>[] {
  return [
    {
      apiVersion: "v1",
      kind: "Service",
      metadata: { namespace: "y", name: "web" },
      spec: { clusterIP: serviceIP, ports: [{ port: 80, targetPort: 80 }] },
    },
    {
      apiVersion: "discovery.k8s.io/v1",
      kind: "EndpointSlice",
      metadata: { namespace: "y", name: "web-1", labels: { "kubernetes.io/service-name": "web" } },
      addressType: "IPv4",
      ports: [{ port: 80 }],
      endpoints: [{ addresses: [podIP("y/b")] }],
    },
  ];
}

/** y/b admits ingress only from the pods `from` picks (a NetworkPolicy peer). */
function onlyInto(name: string, from: Record<string, unknown>): Record<string, unknown> {
  return {
    apiVersion: "networking.k8s.io/v1",
    kind: "NetworkPolicy",
    metadata: { namespace: "y", name },
    spec: { podSelector: { matchLabels: { pod: "b" } }, ingress: [{ from: [from] }] },
  };
}

async function answers(prober: PodProber, ip: string, timing: ProbeTiming): Promise<string | null> {
  const [result] = await prober.probe([{ to: ip, ip }], ["tcp/80"], timing.timeoutMs);
  return result.outcome.ok ? result.outcome.answer : null;
}

/**
 * Traffic to a Service is judged after DNAT, against the endpoint pod (as kube-proxy with Calico):
 * y/b admits only x/a, and y/b is the one endpoint of y/web. x/a reaches y/b through the ClusterIP,
 * x/b reaches neither the ClusterIP nor y/b, and y/b reaches itself through its own Service
 * (hairpin: a pod always reaches itself).
 */
export async function checkServiceAfterDnat(cluster: PolicyCluster, timing: ProbeTiming): Promise<string[]> {
  const only = onlyInto("only-x-a", {
    namespaceSelector: { matchLabels: { ns: "x" } },
    podSelector: { matchLabels: { pod: "a" } },
  });
  await mustApply(
    cluster,
    { title: "y/web, y/b only from x/a", policies: [only], extraObjects: webService() },
    "service",
  );
  const failures: string[] = [];
  const expect = async (from: string, ip: string, want: string | null) => {
    const got = await answers(cluster.prober(from), ip, timing);
    if (got !== want)
      failures.push(`${from} -> ${ip}:80: expected ${want ?? "denied"}, got ${got ?? "denied"}`);
  };
  await expect("x/a", serviceIP, "y/b");
  await expect("x/b", serviceIP, null);
  await expect("x/b", podIP("y/b"), null);
  await expect("y/b", serviceIP, "y/b");
  await mustApply(cluster, { title: "y/web, no policy", extraObjects: webService() }, "service");
  await expect("x/b", serviceIP, "y/b");
  return failures;
}

/**
 * Peers anywhere in the cluster: a pod of another node (Pod object r/a on node n2, its traffic
 * arriving through a plain interface) is matched by selectors like a local one, and a relabel
 * of it changes what it may reach.
 */
export async function checkRemotePeer(cluster: PolicyCluster, timing: ProbeTiming): Promise<string[]> {
  const remote = await cluster.remotePod("r/a", remoteIP);
  const world = (labels: Record<string, string>) => [
    { apiVersion: "v1", kind: "Namespace", metadata: { name: "r", labels: { ns: "r" } } },
    {
      apiVersion: "v1",
      kind: "Pod",
      metadata: { namespace: "r", name: "a", uid: "remote-a", labels },
      spec: { nodeName: "n2", containers: [{ name: "c" }] },
      status: { phase: "Running", podIP: remoteIP, podIPs: [{ ip: remoteIP }] },
    },
  ];
  const fromRemoteA = onlyInto("only-r-a", {
    namespaceSelector: { matchLabels: { ns: "r" } },
    podSelector: { matchLabels: { pod: "a" } },
  });
  const failures: string[] = [];
  const expect = async (who: string, prober: PodProber, want: boolean) => {
    const got = (await answers(prober, podIP("y/b"), timing)) === "y/b";
    if (got !== want) failures.push(`${who} -> y/b:80: expected ${want ? "allowed" : "denied"}`);
  };
  await mustApply(
    cluster,
    { title: "y/b only from r/a (node n2)", policies: [fromRemoteA], extraObjects: world({ pod: "a" }) },
    "remote peer",
  );
  await expect("r/a (remote)", remote, true);
  await expect("x/a", cluster.prober("x/a"), false);
  await mustApply(
    cluster,
    { title: "r/a relabelled", policies: [fromRemoteA], extraObjects: world({ pod: "other" }) },
    "remote peer",
  );
  await expect("r/a relabelled (remote)", remote, false);
  return failures;
}
