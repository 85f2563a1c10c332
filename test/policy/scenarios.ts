// Every truth-table scenario, and the selection by POLICY_SCENARIOS (comma-separated names; unset or
// empty: all, plus the "established" and "node-to-pods" checks). `no-policy` always runs first: it
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
export const establishedCheck = "established";
export const nodeCheck = "node-to-pods";

export interface Selection {
  scenarios: Scenario[];
  established: boolean;
  nodeToPods: boolean;
}

export function selectScenarios(value: string | undefined, scenarios: Scenario[] = allScenarios): Selection {
  const names = (value ?? "")
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  if (names.length === 0) return { scenarios, established: true, nodeToPods: true };
  const known = new Set([...scenarios.map((s) => s.name), establishedCheck, nodeCheck]);
  const unknown = names.filter((n) => !known.has(n));
  if (unknown.length > 0)
    throw new Error(`POLICY_SCENARIOS: unknown ${unknown.join(", ")}; known: ${[...known].join(", ")}`);
  return {
    scenarios: scenarios.filter((s) => s.name === noPolicy.name || names.includes(s.name)),
    established: names.includes(establishedCheck),
    nodeToPods: names.includes(nodeCheck),
  };
}
