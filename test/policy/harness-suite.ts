// Registers the truth table's kernel tests on a suite: one shared node (built on the first test,
// about ten seconds, removed after the suite), each selected scenario, and the checks beyond the
// matrix. Used by the reference decider's full run and the Wasm decider's run.
import type { Test } from "uvu";
import * as assert from "uvu/assert";
import { kernelTest } from "../support/kernel.ts";
import { PolicyCluster } from "./harness-cluster.ts";
import {
  checkEstablished,
  checkNodeToPods,
  checkRemotePeer,
  checkServiceAfterDnat,
  type ProbeTiming,
  runScenario,
} from "./harness-run.ts";
import { allScenarios, type ExtraCheck, type Selection } from "./scenarios.ts";

const checks: Record<ExtraCheck, [string, (c: PolicyCluster, t: ProbeTiming) => Promise<string[]>]> = {
  established: [
    "an allowed TCP connection survives policy changes; new ones follow the policy",
    checkEstablished,
  ],
  "node-to-pods": ["the node reaches every pod while every pod is isolated both ways", checkNodeToPods],
  service: ["traffic to a Service is judged after DNAT, against the endpoint pod", checkServiceAfterDnat],
  "remote-peer": [
    "a pod of another node is matched by selectors, and its relabel takes effect",
    checkRemotePeer,
  ],
};

export interface TruthTableOptions {
  /** The agent's policy.decider. */
  decider: string;
  selection: Selection;
  timing: ProbeTiming;
  /** One timing line per scenario (always for the first). */
  verbose: boolean;
}

export function registerTruthTable(test: Test, options: TruthTableOptions): void {
  let started: Promise<PolicyCluster> | null = null;
  const cluster = () => {
    started ??= PolicyCluster.start(options.decider);
    return started;
  };
  const { selection, timing } = options;

  for (const scenario of selection.scenarios) {
    kernelTest(test, `${scenario.name}: ${scenario.description}`, async () => {
      const setupStarted = Date.now();
      const c = await cluster();
      const begun = Date.now();
      const setup = begun - setupStarted > 100 ? `, after ${begun - setupStarted} ms of setup` : "";
      const reports = await runScenario(c, scenario, timing);
      assert.is(reports.length, scenario.steps.length);
      if (options.verbose || scenario === allScenarios[0]) {
        const steps = reports.map(
          (r) => `apply ${r.applied.ms} ms + probe ${r.probeMs} ms${r.reprobed ? " (re-probed)" : ""}`,
        );
        console.log(`  ${scenario.name}: ${Date.now() - begun} ms (${steps.join("; ")})${setup}`);
      }
    });
  }

  for (const name of selection.checks) {
    const [description, check] = checks[name];
    kernelTest(test, `${name}: ${description}`, async () => {
      const c = await cluster();
      const failures = await check(c, timing);
      assert.equal(failures, [], `${failures.join("\n")}\n--- agent output (tail) ---\n${c.agentOutput()}`);
    });
  }

  test.after(async () => {
    const c = await started?.catch(() => null);
    const stats = c?.watchStats();
    if (stats && stats.nudged > 0)
      console.log(
        `  note: the agent noticed ${stats.nudged} of ${stats.changes} manifest renames only after a nudge (see nudgeWatcher in harness-sync.ts)`,
      );
    await c?.stop();
  });
}
