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
