// The NetworkPolicy / ClusterNetworkPolicy truth table (issue 10's acceptance): namespaces x, y, z
// with pods a, b, c attached through the CNI executable to one node whose agent runs as a child
// process; per scenario step the policies go in by rename, and all 81 ordered pod pairs are probed on
// TCP and UDP 80 and 81 against a matrix written by hand.
//
//   POLICY_SCENARIOS=deny-all-ingress,allow-from-ns   only these (plus no-policy); "established",
//                                                     "node-to-pods", "service", "remote-peer" select checks
//   POLICY_PROBE_TIMEOUT_MS=1000                      how long a denied probe waits
//   POLICY_VERBOSE=1                                  one timing line per scenario
//   POLICY_DECIDER=wasm:networkpolicy                 the Wasm plugin decides instead of the reference
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { parseManifestText } from "../../runtime/sources/parse-manifests.ts";
import { objectKey, type SourceEvent } from "../../runtime/sources/source.ts";
import { Store } from "../../runtime/store/store.ts";
import { nodeManifest, stepFiles } from "./harness-manifests.ts";
import { compareMatrices, type ProbeOutcome, renderDiff } from "./harness-matrix.ts";
import {
  allow,
  allowedByDefault,
  deniedByDefault,
  deny,
  expectedMatrix,
  fillMatrix,
  podKeys,
} from "./harness-model.ts";
import { probeTiming } from "./harness-run.ts";
import { registerTruthTable } from "./harness-suite.ts";
import { allScenarios, selectScenarios } from "./scenarios.ts";

const test = suite("policy truth table");
const selection = selectScenarios(process.env.POLICY_SCENARIOS);
const timing = probeTiming();
const verbose = process.env.POLICY_VERBOSE === "1";
/** The agent's policy decider: the TypeScript reference, or e.g. POLICY_DECIDER=wasm:networkpolicy. */
const decider = process.env.POLICY_DECIDER ?? "builtin";

test("expectations: default, ordered exceptions, kinds, and a pod always reaching itself", () => {
  const m = expectedMatrix(
    deniedByDefault(allow("x/*", "y/b"), deny("x/c", "y/*"), allow("*/a", "z/a", "udp/81")),
  );
  const at = (kind: "tcp/80" | "udp/81", from: string, to: string) =>
    m[kind][podKeys.indexOf(from)][podKeys.indexOf(to)];
  assert.is(at("tcp/80", "x/a", "y/b"), true);
  assert.is(at("tcp/80", "x/c", "y/b"), false, "a later rule overrides an earlier one");
  assert.is(at("tcp/80", "y/a", "z/a"), false, "a rule limited to udp/81 leaves tcp/80 alone");
  assert.is(at("udp/81", "y/a", "z/a"), true);
  assert.is(at("tcp/80", "z/c", "z/c"), true, "self");
  assert.throws(() => expectedMatrix(allowedByDefault(deny("w/*", "*"))), /names no pod/);
});

test("diff: wrong cells are marked and listed, right ones show the expectation", () => {
  const expected = expectedMatrix(allowedByDefault(deny("*", "x/a")));
  const observed = fillMatrix<ProbeOutcome>((_, _f, t) => ({
    ok: true,
    answer: podKeys[t],
    error: null,
    ms: 1,
  }));
  observed["tcp/81"][podKeys.indexOf("y/a")][podKeys.indexOf("x/a")] = {
    ok: false,
    answer: "",
    error: "timeout",
    ms: 1000,
  };
  observed["udp/80"][podKeys.indexOf("z/c")][podKeys.indexOf("x/b")] = {
    ok: true,
    answer: "x/c",
    error: null,
    ms: 1,
  };
  const mismatches = compareMatrices(expected, observed);
  // The 8 other pods reach x/a on 4 kinds (but y/a on tcp/81 was denied), plus one wrong answer.
  assert.is(mismatches.length, 8 * 4 - 1 + 1);
  const text = renderDiff(expected, mismatches);
  assert.match(text, /udp\/80 z\/c -> x\/b: expected allowed, got answered by "x\/c"/);
  assert.match(text, /tcp\/81: rows from/);
  assert.not.match(text, /tcp\/81 y\/a -> x\/a/);
});

test("scenarios: at least 40, unique names, and every manifest they write is accepted by the store", () => {
  assert.ok(allScenarios.length >= 40, `${allScenarios.length} scenarios`);
  assert.is(new Set(allScenarios.map((s) => s.name)).size, allScenarios.length, "duplicate scenario names");
  for (const scenario of allScenarios) {
    for (const step of scenario.steps) {
      const store = new Store();
      const events: SourceEvent[] = [];
      for (const [file, text] of [["node.yaml", nodeManifest()], ...stepFiles(step)]) {
        const parsed = parseManifestText(text, file);
        assert.equal(parsed.problems, [], `${scenario.name} ${file}`);
        for (const { object } of parsed.objects)
          events.push({
            type: "add",
            kind: object.kind,
            key: objectKey(object.kind, object.metadata),
            object,
          });
      }
      store.apply(events);
      assert.equal(store.rejected(), [], `${scenario.name}, step ${step.title}: a manifest is rejected`);
    }
  }
});

registerTruthTable(test, { decider, selection, timing, verbose });

test.run();
