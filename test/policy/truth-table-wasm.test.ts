// The truth table with the shipped Wasm policy plugin deciding (policy.decider wasm:networkpolicy),
// on a subset of the scenarios that covers every tier and verdict, named ports, ipBlocks and the
// Service and remote-peer checks: the agent's plugin path end to end, with real traffic. The plugin's
// decisions equal the reference's on random worlds (test/plugins/policy.test.ts); this shows the
// agent enforces them. The reference decider runs the whole table (truth-table.test.ts).
import { suite } from "uvu";
import { probeTiming } from "./harness-run.ts";
import { registerTruthTable } from "./harness-suite.ts";
import { selectScenarios } from "./scenarios.ts";

const test = suite("policy truth table, Wasm decider");

const subset = [
  "deny-all",
  "allow-from-ns",
  "pod-and-ns",
  "named-port",
  "egress-named-port",
  "endport-both",
  "ipblock-except",
  "cnp-admin-deny-over-np",
  "cnp-admin-pass-to-np",
  "cnp-admin-priority-deny",
  "cnp-admin-named-port",
  "cnp-baseline-under-np",
  "service",
  "remote-peer",
];
const chosen = process.env.POLICY_SCENARIOS ?? subset.join(",");

registerTruthTable(test, {
  decider: "wasm:networkpolicy",
  selection: selectScenarios(chosen),
  timing: probeTiming(),
  verbose: process.env.POLICY_VERBOSE === "1",
});

test.run();
