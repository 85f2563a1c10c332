// Every truth-table scenario, and the selection by POLICY_SCENARIOS (comma-separated names; unset or
// empty: all, plus the checks beyond the matrix: established, node-to-pods, service, remote-peer). `no-policy` always runs first: it
// proves the harness itself (every pair answers).
import { allowedByDefault, type Scenario } from "./harness-model.ts";
import { clusterPolicyScenarios } from "./scenarios-cluster.ts";
import { networkPolicyScenarios } from "./scenarios-netpol.ts";

export const noPolicy: Scenario = {
  name: "no-policy",
  description: "no policy at all: every pod reaches every pod on TCP and UDP 80 and 81",
  steps: [{ title: "no policies", expect: allowedByDefault() }],
};

export const allScenarios: Scenario[] = [noPolicy, ...networkPolicyScenarios, ...clusterPolicyScenarios];

/** The checks beyond the matrix, selectable like scenarios. */
export const extraChecks = ["established", "node-to-pods", "service", "remote-peer"] as const;
export type ExtraCheck = (typeof extraChecks)[number];

export interface Selection {
  scenarios: Scenario[];
  checks: ExtraCheck[];
}

export function selectScenarios(value: string | undefined, scenarios: Scenario[] = allScenarios): Selection {
  const names = (value ?? "")
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  if (names.length === 0) return { scenarios, checks: [...extraChecks] };
  const known = new Set<string>([...scenarios.map((s) => s.name), ...extraChecks]);
  const unknown = names.filter((n) => !known.has(n));
  if (unknown.length > 0)
    throw new Error(`POLICY_SCENARIOS: unknown ${unknown.join(", ")}; known: ${[...known].join(", ")}`);
  return {
    scenarios: scenarios.filter((s) => s.name === noPolicy.name || names.includes(s.name)),
    checks: extraChecks.filter((c) => names.includes(c)),
  };
}
