// The policy step of the agent's sync: a failing decider keeps the last good decision, and with
// none yet pods that a policy selects are isolated (fail closed); both are reported.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { parsePolicySection } from "../../runtime/policy/config.ts";
import { policyDeciderFromSpec } from "../../runtime/policy/deciders.ts";
import { type PolicyDecider, PolicyEnforcer } from "../../runtime/policy/enforcer.ts";
import { failClosedDecision } from "../../runtime/policy/fail-closed.ts";
import { evaluatePolicies } from "../../runtime/policy/reference.ts";
import { baseWorld, clusterPolicy, networkPolicy, snapshotOf } from "./reference-fixtures.ts";

const test = suite("policy enforcer");

const denyIngressXA = networkPolicy("x", "deny-a", { podSelector: { matchLabels: { pod: "a" } } });
const allowFromY = networkPolicy("x", "allow-y", {
  podSelector: { matchLabels: { pod: "a" } },
  ingress: [{ from: [{ namespaceSelector: { matchLabels: { ns: "y" } } }] }],
});

function flaky(): PolicyDecider & { fail: boolean } {
  return {
    name: "flaky",
    fail: false,
    decide(snapshot, node) {
      if (this.fail) throw new Error("trapped: unreachable");
      return evaluatePolicies(snapshot, { nodeName: node });
    },
  };
}

test("with no good decision yet, a failing decider isolates every pod a policy selects", async () => {
  const decider = flaky();
  decider.fail = true;
  const enforcer = new PolicyEnforcer(decider, "n1");
  const egressCnp = clusterPolicy("deny-z", {
    tier: "Admin",
    priority: 10,
    subject: { namespaces: { matchLabels: { ns: "z" } } },
    egress: [{ action: "Deny", to: [{ namespaces: {} }] }],
  });
  const step = await enforcer.plan(snapshotOf([...baseWorld(), allowFromY, egressCnp]));
  assert.equal(step.problems, [
    "policy decider flaky failed: trapped: unreachable; failing closed: every local pod a policy selects is isolated",
  ]);
  assert.equal(
    step.pods.map((p) => [p.pod, p.ingress?.isolated ?? null, p.egress?.isolated ?? null]),
    [
      ["x/a", true, null],
      ["z/a", null, true],
      ["z/b", null, true],
      ["z/c", null, true],
    ],
  );
  assert.ok(step.fragment.chains.size > 0, "the fail-closed decision is rendered");
  assert.ok(step.hooks.ingress.length > 0 && step.hooks.egress.length > 0);
});

test("after a good decision, a failing decider keeps it (the last good rules)", async () => {
  const decider = flaky();
  const enforcer = new PolicyEnforcer(decider, "n1");
  const good = await enforcer.plan(snapshotOf([...baseWorld(), allowFromY]));
  assert.equal(good.problems, []);
  decider.fail = true;
  const kept = await enforcer.plan(snapshotOf([...baseWorld(), denyIngressXA]));
  assert.match(kept.problems.join("\n"), "keeping the last good policy rules");
  assert.equal(kept.pods, good.pods);
  assert.equal([...kept.fragment.chains.keys()], [...good.fragment.chains.keys()]);
  decider.fail = false;
  const recovered = await enforcer.plan(snapshotOf([...baseWorld(), denyIngressXA]));
  assert.equal(recovered.problems, []);
  assert.equal(recovered.pods[0].ingress?.selectedBy, ["NetworkPolicy x/deny-a"]);
});

test("a sync that changed no pod, namespace or policy reuses the last step; a failure is asked again", async () => {
  let calls = 0;
  const counting: PolicyDecider = {
    name: "counting",
    decide(snapshot, node) {
      calls++;
      return evaluatePolicies(snapshot, { nodeName: node });
    },
  };
  const enforcer = new PolicyEnforcer(counting, "n1");
  const snapshot = snapshotOf([...baseWorld(), allowFromY]);
  const first = await enforcer.plan(snapshot);
  // Another snapshot with the same maps (only services changed): no new decision.
  assert.is(await enforcer.plan({ ...snapshot, services: new Map() }), first);
  assert.is(calls, 1);
  await enforcer.plan({ ...snapshot, pods: new Map(snapshot.pods) });
  assert.is(calls, 2, "a new pods map is a new decision");
  const failing = flaky();
  failing.fail = true;
  const failed = new PolicyEnforcer(failing, "n1");
  await failed.plan(snapshot);
  failing.fail = false;
  assert.equal((await failed.plan(snapshot)).problems, [], "the failed decision was asked again");
});

test("the fail-closed decision has no rules and covers only selected directions", () => {
  const decision = failClosedDecision(snapshotOf([...baseWorld(), denyIngressXA]), "n1");
  assert.equal(
    decision.pods.map((p) => [p.pod, p.direction, p.isolated, p.rules.length]),
    [["x/a", "ingress", true, 0]],
  );
  assert.equal(failClosedDecision(snapshotOf([...baseWorld(), denyIngressXA]), "other-node").pods, []);
});

test("the policy config section names bad keys and values", () => {
  assert.equal(parsePolicySection({}, "policy"), { enabled: true, decider: "builtin" });
  assert.equal(parsePolicySection({ enabled: false }, "policy").enabled, false);
  assert.throws(() => parsePolicySection({ enable: true }, "policy"), /policy\.enable: unknown option/);
  assert.throws(
    () => parsePolicySection({ enabled: "yes" }, "policy"),
    /policy\.enabled: must be true or false/,
  );
  assert.throws(
    () => parsePolicySection({ decider: "" }, "policy"),
    /policy\.decider: must be a non-empty string/,
  );
});

test("a policy decider spec that names nothing usable is an error naming the key", async () => {
  const options = { nodeName: "n1", lockFile: "/nonexistent/lock.json" };
  assert.is((await policyDeciderFromSpec("builtin", options)).name, "builtin");
  const error = (spec: string) =>
    policyDeciderFromSpec(spec, options).then(
      () => "",
      (err: Error) => err.message,
    );
  assert.match(await error("wasm:nope"), /policy\.decider: .*nope\.wasm does not exist/);
  assert.match(await error("rules.txt"), /policy\.decider: must be "builtin"/);
});

test.run();
