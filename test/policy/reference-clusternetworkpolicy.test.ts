// The reference decider on ClusterNetworkPolicy tiers: Admin (Accept, Deny, Pass; by priority)
// before NetworkPolicy, Baseline after it, checked over all 81 pod pairs through the oracle.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { decide } from "../../runtime/policy/oracle.ts";
import {
  clusterPolicy,
  decisionWith,
  deniedPairs,
  expectedDenied,
  networkPolicy,
  ns,
  pod,
} from "./reference-fixtures.ts";

const test = suite("policy reference: ClusterNetworkPolicy");

const nsSelector = (name: string) => ({ matchLabels: { ns: name } });
const subjectX = { namespaces: nsSelector("x") };

function admin(name: string, priority: number, ingress: unknown[]) {
  return clusterPolicy(name, { tier: "Admin", priority, subject: subjectX, ingress });
}

const allowFromY = networkPolicy("x", "allow-y", {
  podSelector: {},
  ingress: [{ from: [{ namespaceSelector: nsSelector("y") }] }],
});

test("Admin Deny cannot be overridden by a NetworkPolicy", () => {
  const d = decisionWith(
    allowFromY,
    admin("deny-y", 10, [{ action: "Deny", from: [{ namespaces: nsSelector("y") }] }]),
  );
  assert.equal(
    deniedPairs(d),
    expectedDenied((_, to) => ns(to) === "x"),
  );
  const xa = d.pods.find((p) => p.pod === "x/a" && p.direction === "ingress");
  assert.equal(xa?.selectedBy, ["ClusterNetworkPolicy deny-y", "NetworkPolicy x/allow-y"]);
  assert.equal(
    xa?.rules.map((r) => `${r.tier} ${r.verdict} ${r.origin} ${r.peers}`),
    [
      "admin deny ClusterNetworkPolicy deny-y ingress[0] cnp deny-y ingress 0",
      "networkpolicy allow NetworkPolicy x/allow-y ingress[0] np x/allow-y ingress 0",
    ],
  );
});

test("Admin Accept overrides a NetworkPolicy deny-all", () => {
  const d = decisionWith(
    networkPolicy("x", "deny-all", { podSelector: {} }),
    admin("accept-z", 10, [{ action: "Accept", from: [{ namespaces: nsSelector("z") }] }]),
  );
  assert.equal(
    deniedPairs(d),
    expectedDenied((from, to) => ns(to) === "x" && ns(from) !== "z"),
  );
});

test("Admin Pass hands over to NetworkPolicy, then to Baseline", () => {
  const pass = admin("pass-y", 5, [{ action: "Pass", from: [{ namespaces: nsSelector("y") }] }]);
  const denyAllAdmin = admin("deny-rest", 50, [{ action: "Deny", from: [{ namespaces: {} }] }]);
  // Without a NetworkPolicy, passed traffic is allowed by default; the rest hits the later Deny.
  const d = decisionWith(pass, denyAllAdmin);
  assert.equal(
    deniedPairs(d),
    expectedDenied((from, to) => ns(to) === "x" && ns(from) !== "y"),
  );
  // A NetworkPolicy now decides for passed traffic.
  const withNp = decisionWith(
    pass,
    denyAllAdmin,
    networkPolicy("x", "only-y-b", {
      podSelector: {},
      ingress: [
        { from: [{ namespaceSelector: nsSelector("y"), podSelector: { matchLabels: { pod: "b" } } }] },
      ],
    }),
  );
  assert.equal(
    deniedPairs(withNp),
    expectedDenied((from, to) => ns(to) === "x" && from !== "y/b"),
  );
  // A Baseline Deny applies to passed traffic of a pod no NetworkPolicy isolates.
  const withBaseline = decisionWith(
    pass,
    clusterPolicy("baseline-deny-y", {
      tier: "Baseline",
      priority: 1,
      subject: subjectX,
      ingress: [{ action: "Deny", from: [{ namespaces: nsSelector("y") }] }],
    }),
  );
  assert.equal(
    deniedPairs(withBaseline),
    expectedDenied((from, to) => ns(to) === "x" && ns(from) === "y"),
  );
});

test("priority orders Admin policies (lower first); equal priorities go by name", () => {
  const accept = (name: string, priority: number) =>
    admin(name, priority, [{ action: "Accept", from: [{ namespaces: nsSelector("y") }] }]);
  const deny = (name: string, priority: number) =>
    admin(name, priority, [{ action: "Deny", from: [{ namespaces: nsSelector("y") }] }]);
  const yToX = (d: ReturnType<typeof decisionWith>) =>
    decide(d, { from: "10.0.2.1", to: "10.0.1.1", protocol: "TCP", port: 80 });
  assert.ok(yToX(decisionWith(accept("b-accept", 1), deny("a-deny", 2))).allowed);
  assert.not.ok(yToX(decisionWith(accept("b-accept", 2), deny("a-deny", 1))).allowed);
  const tie = yToX(decisionWith(accept("b-accept", 3), deny("a-deny", 3)));
  assert.equal(tie.ingress, { allowed: false, by: "ClusterNetworkPolicy a-deny ingress[0]" });
});

test("rules within one policy apply in spec order", () => {
  const d = decisionWith(
    admin("ordered", 1, [
      {
        action: "Accept",
        from: [{ pods: { namespaceSelector: nsSelector("y"), podSelector: { matchLabels: { pod: "a" } } } }],
      },
      { action: "Deny", from: [{ namespaces: nsSelector("y") }] },
    ]),
  );
  assert.equal(
    deniedPairs(d),
    expectedDenied((from, to) => ns(to) === "x" && ns(from) === "y" && pod(from) !== "a"),
  );
});

test("Baseline Deny is overridden by a NetworkPolicy that isolates the pod", () => {
  const baseline = clusterPolicy("default-deny", {
    tier: "Baseline",
    priority: 0,
    subject: { namespaces: {} },
    ingress: [{ action: "Deny", from: [{ namespaces: {} }] }],
  });
  const d = decisionWith(baseline);
  assert.equal(
    deniedPairs(d),
    expectedDenied(() => true),
  );
  const withNp = decisionWith(baseline, allowFromY);
  assert.equal(
    deniedPairs(withNp),
    expectedDenied((from, to) => ns(to) !== "x" || ns(from) !== "y"),
  );
});

test("Baseline Pass skips the rest of the baseline tier: allowed by default", () => {
  const d = decisionWith(
    clusterPolicy("baseline", {
      tier: "Baseline",
      priority: 0,
      subject: subjectX,
      ingress: [
        { action: "Pass", from: [{ namespaces: nsSelector("y") }] },
        { action: "Deny", from: [{ namespaces: {} }] },
      ],
    }),
  );
  assert.equal(
    deniedPairs(d),
    expectedDenied((from, to) => ns(to) === "x" && ns(from) !== "y"),
  );
  assert.equal(d.pods[0].rules[0].verdict, "allow");
});

test("egress networks, and protocols with a port, a range and a named port", () => {
  const d = decisionWith(
    clusterPolicy("egress", {
      tier: "Admin",
      priority: 1,
      subject: { pods: { namespaceSelector: nsSelector("x"), podSelector: { matchLabels: { pod: "a" } } } },
      egress: [
        {
          action: "Accept",
          to: [{ pods: { namespaceSelector: nsSelector("z"), podSelector: {} } }],
          protocols: [{ destinationNamedPort: "serve-81-udp" }],
        },
        {
          action: "Deny",
          to: [{ networks: ["10.0.2.0/24", "10.0.3.0/24"] }],
          protocols: [{ tcp: { destinationPort: { number: 80 } } }],
        },
        {
          action: "Deny",
          to: [{ networks: ["10.0.0.0/8"] }],
          protocols: [{ udp: { destinationPort: { range: { start: 80, end: 81 } } } }],
        },
      ],
    }),
  );
  assert.equal(
    deniedPairs(d, "TCP", 80),
    expectedDenied((from, to) => from === "x/a" && ns(to) !== "x"),
  );
  assert.equal(deniedPairs(d, "TCP", 81), []);
  assert.equal(
    deniedPairs(d, "UDP", 81),
    expectedDenied((from, to) => from === "x/a" && ns(to) !== "z"),
  );
  assert.equal(d.addressSets.get("cnp egress egress 1"), ["10.0.2.0/23"]);
  assert.equal(d.addressPortSets.get("cnp egress egress 0 named-ports"), [
    { address: "10.0.3.1", protocol: "UDP", port: 81 },
    { address: "10.0.3.2", protocol: "UDP", port: 81 },
    { address: "10.0.3.3", protocol: "UDP", port: 81 },
  ]);
});

test("ingress named port in a ClusterNetworkPolicy matches the container port's own protocol", () => {
  const d = decisionWith(
    admin("named", 1, [
      {
        action: "Deny",
        from: [{ namespaces: nsSelector("y") }],
        protocols: [{ destinationNamedPort: "serve-80-udp" }],
      },
    ]),
  );
  assert.equal(deniedPairs(d, "TCP", 80), []);
  assert.equal(
    deniedPairs(d, "UDP", 80),
    expectedDenied((from, to) => ns(to) === "x" && ns(from) === "y"),
  );
});

test("unsupported peers fail closed and are reported: Deny denies all, Accept matches nothing", () => {
  const d = decisionWith(
    clusterPolicy("nodes", {
      tier: "Admin",
      priority: 1,
      subject: subjectX,
      egress: [
        { action: "Accept", to: [{ domainNames: ["example.com"] }] },
        { action: "Deny", to: [{ nodes: {} }] },
      ],
    }),
  );
  assert.equal(
    deniedPairs(d),
    expectedDenied((from) => ns(from) === "x"),
  );
  assert.equal(
    d.problems.map((p) => `${p.kind} ${p.name} ${p.field}`),
    [
      "ClusterNetworkPolicy nodes spec.egress[0].to[0].domainNames",
      "ClusterNetworkPolicy nodes spec.egress[1].to[0].nodes",
    ],
  );
  assert.match(d.problems[1].message, "denies all egress traffic of the subject pods");
});

test("a policy without rules in a direction does not select pods for it", () => {
  const d = decisionWith(
    admin("ingress-only", 1, [{ action: "Deny", from: [{ namespaces: nsSelector("z") }] }]),
  );
  assert.equal(
    d.pods.map((p) => `${p.pod} ${p.direction}`),
    ["x/a ingress", "x/b ingress", "x/c ingress"],
  );
  assert.equal(d.pods[0].isolated, false, "ClusterNetworkPolicy never isolates");
});

test.run();
