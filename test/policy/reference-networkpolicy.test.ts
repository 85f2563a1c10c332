// The reference decider on the upstream NetworkPolicy e2e cases, in miniature: every case evaluates
// the policies for node n1 and checks all 81 pod pairs through the oracle.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { decide } from "../../runtime/policy/oracle.ts";
import { evaluatePolicies } from "../../runtime/policy/reference.ts";
import {
  baseWorld,
  decisionWith,
  deniedPairs,
  expectedDenied,
  namespaceObject,
  networkPolicy,
  ns,
  pod,
  podIP,
  podObject,
  snapshotOf,
} from "./reference-fixtures.ts";

const test = suite("policy reference: NetworkPolicy");

const denyAllIngress = networkPolicy("x", "deny-all", { podSelector: {}, policyTypes: ["Ingress"] });

test("no policies: everything allowed, nothing policed", () => {
  const d = decisionWith();
  assert.equal(d.pods, []);
  assert.equal(deniedPairs(d), []);
});

test("deny-all ingress in x isolates every pod of x, even from its own namespace", () => {
  const d = decisionWith(denyAllIngress);
  assert.equal(
    deniedPairs(d),
    expectedDenied((_, to) => ns(to) === "x"),
  );
  const xa = d.pods.find((p) => p.pod === "x/a");
  assert.equal(xa, {
    pod: "x/a",
    addresses: ["10.0.1.1"],
    direction: "ingress",
    isolated: true,
    selectedBy: ["NetworkPolicy x/deny-all"],
    rules: [],
  });
});

test("allow-all ingress (one empty rule) allows everything despite isolation", () => {
  const d = decisionWith(denyAllIngress, networkPolicy("x", "allow-all", { podSelector: {}, ingress: [{}] }));
  assert.equal(deniedPairs(d), []);
  assert.equal(d.addressSets.size, 0, "an empty rule needs no peer set");
});

test("deny-all egress in x", () => {
  const d = decisionWith(networkPolicy("x", "deny-egress", { podSelector: {}, policyTypes: ["Egress"] }));
  assert.equal(
    deniedPairs(d),
    expectedDenied((from) => ns(from) === "x"),
  );
});

test("default policyTypes: Ingress, plus Egress when egress rules exist", () => {
  const d = decisionWith(
    networkPolicy("x", "p", { podSelector: { matchLabels: { pod: "a" } }, egress: [{}] }),
  );
  assert.equal(
    d.pods.map((p) => `${p.pod} ${p.direction} ${p.isolated}`),
    ["x/a egress true", "x/a ingress true"],
  );
});

test("egress rules without Egress in policyTypes have no effect", () => {
  const d = decisionWith(
    networkPolicy("x", "p", {
      podSelector: {},
      policyTypes: ["Ingress"],
      ingress: [{}],
      egress: [{ to: [] }],
    }),
  );
  assert.equal(
    d.pods.map((p) => p.direction),
    ["ingress", "ingress", "ingress"],
  );
});

test("allow from namespace y (namespaceSelector) to x/a", () => {
  const d = decisionWith(
    networkPolicy("x", "allow-y", {
      podSelector: { matchLabels: { pod: "a" } },
      ingress: [{ from: [{ namespaceSelector: { matchLabels: { ns: "y" } } }] }],
    }),
  );
  assert.equal(
    deniedPairs(d),
    expectedDenied((from, to) => to === "x/a" && ns(from) !== "y"),
  );
  assert.equal(d.addressSets.get("np x/allow-y ingress 0"), ["10.0.2.1", "10.0.2.2", "10.0.2.3"]);
});

test("podSelector and namespaceSelector in one peer: AND", () => {
  const d = decisionWith(
    networkPolicy("x", "and", {
      podSelector: { matchLabels: { pod: "a" } },
      ingress: [
        {
          from: [
            { namespaceSelector: { matchLabels: { ns: "y" } }, podSelector: { matchLabels: { pod: "b" } } },
          ],
        },
      ],
    }),
  );
  assert.equal(
    deniedPairs(d),
    expectedDenied((from, to) => to === "x/a" && from !== "y/b"),
  );
});

test("podSelector and namespaceSelector as separate peers: OR (podSelector alone = own namespace)", () => {
  const d = decisionWith(
    networkPolicy("x", "or", {
      podSelector: { matchLabels: { pod: "a" } },
      ingress: [
        {
          from: [
            { namespaceSelector: { matchLabels: { ns: "y" } } },
            { podSelector: { matchLabels: { pod: "b" } } },
          ],
        },
      ],
    }),
  );
  assert.equal(
    deniedPairs(d),
    expectedDenied((from, to) => to === "x/a" && ns(from) !== "y" && from !== "x/b"),
  );
});

test("empty namespaceSelector: every namespace; empty podSelector in a peer: every pod of the namespace", () => {
  const all = decisionWith(
    networkPolicy("x", "all-ns", {
      podSelector: { matchLabels: { pod: "a" } },
      ingress: [{ from: [{ namespaceSelector: {} }] }],
    }),
  );
  assert.equal(deniedPairs(all), []);
  const own = decisionWith(
    networkPolicy("x", "own-ns", {
      podSelector: { matchLabels: { pod: "a" } },
      ingress: [{ from: [{ podSelector: {} }] }],
    }),
  );
  assert.equal(
    deniedPairs(own),
    expectedDenied((from, to) => to === "x/a" && ns(from) !== "x"),
  );
});

const expressionCases: [string, Record<string, unknown>, (from: string) => boolean][] = [
  ["In", { key: "ns", operator: "In", values: ["y", "z"] }, (from) => ns(from) !== "x"],
  ["NotIn", { key: "ns", operator: "NotIn", values: ["y"] }, (from) => ns(from) !== "y"],
  ["Exists", { key: "ns", operator: "Exists" }, () => true],
  ["DoesNotExist", { key: "ns", operator: "DoesNotExist" }, () => false],
];

for (const [operator, expression, allowed] of expressionCases) {
  test(`namespaceSelector matchExpressions ${operator}`, () => {
    const d = decisionWith(
      networkPolicy("x", "expr", {
        podSelector: { matchLabels: { pod: "a" } },
        ingress: [{ from: [{ namespaceSelector: { matchExpressions: [expression] } }] }],
      }),
    );
    assert.equal(
      deniedPairs(d),
      expectedDenied((from, to) => to === "x/a" && !allowed(from)),
    );
  });
}

test("podSelector matchExpressions on pods (NotIn with a missing key matches)", () => {
  const world = [
    ...baseWorld().filter((o) => o.metadata.name !== "c" || o.metadata.namespace !== "x"),
    podObject("x/c", { labels: {} }),
    networkPolicy("x", "not-b", {
      podSelector: { matchLabels: { pod: "a" } },
      ingress: [
        { from: [{ podSelector: { matchExpressions: [{ key: "pod", operator: "NotIn", values: ["b"] }] } }] },
      ],
    }),
  ];
  const d = evaluatePolicies(snapshotOf(world), { nodeName: "n1" });
  assert.equal(
    deniedPairs(d),
    expectedDenied((from, to) => to === "x/a" && (ns(from) !== "x" || from === "x/b")),
  );
});

test("named ingress port: resolved against the destination pod, name and protocol both", () => {
  const policy = (port: Record<string, unknown>) =>
    decisionWith(
      networkPolicy("x", "named", {
        podSelector: { matchLabels: { pod: "a" } },
        ingress: [{ ports: [port] }],
      }),
    );
  const tcp80 = policy({ port: "serve-80-tcp" });
  assert.equal(deniedPairs(tcp80, "TCP", 80), []);
  assert.equal(
    deniedPairs(tcp80, "TCP", 81),
    expectedDenied((_, to) => to === "x/a"),
  );
  assert.equal(tcp80.pods[0].rules[0].ports, [{ protocol: "TCP", first: 80, last: 80 }]);
  // The name exists, but for UDP: with the default protocol TCP it matches nothing.
  const mismatch = policy({ port: "serve-80-udp" });
  assert.equal(
    deniedPairs(mismatch, "TCP", 80),
    expectedDenied((_, to) => to === "x/a"),
  );
  assert.equal(
    deniedPairs(mismatch, "UDP", 80),
    expectedDenied((_, to) => to === "x/a"),
  );
  assert.equal(mismatch.pods[0].rules, [], "an unresolvable rule is left out; the pod stays isolated");
  const udp = policy({ port: "serve-80-udp", protocol: "UDP" });
  assert.equal(deniedPairs(udp, "UDP", 80), []);
});

test("numeric ports, protocol-only ports and endPort ranges", () => {
  const policy = (ports: Record<string, unknown>[]) =>
    decisionWith(networkPolicy("x", "ports", { podSelector: {}, ingress: [{ ports }] }));
  const range = policy([{ port: 80, endPort: 81 }]);
  assert.equal(deniedPairs(range, "TCP", 81), []);
  assert.equal(
    deniedPairs(range, "UDP", 80),
    expectedDenied((_, to) => ns(to) === "x"),
  );
  const above = policy([{ port: 81, endPort: 90 }]);
  assert.equal(
    deniedPairs(above, "TCP", 80),
    expectedDenied((_, to) => ns(to) === "x"),
  );
  assert.equal(deniedPairs(above, "TCP", 81), []);
  const udpAny = policy([{ protocol: "UDP" }]);
  assert.equal(udpAny.pods[0].rules[0].ports, [{ protocol: "UDP", first: 0, last: 65535 }]);
  assert.equal(deniedPairs(udpAny, "UDP", 81), []);
  assert.equal(
    deniedPairs(udpAny, "TCP", 81),
    expectedDenied((_, to) => ns(to) === "x"),
  );
});

test("ipBlock with except: pod IPs match ipBlocks; the except range is cut out", () => {
  const d = decisionWith(
    networkPolicy("x", "cidr", {
      podSelector: { matchLabels: { pod: "a" } },
      ingress: [{ from: [{ ipBlock: { cidr: "10.0.0.0/16", except: ["10.0.2.0/24"] } }] }],
    }),
  );
  assert.equal(
    deniedPairs(d),
    expectedDenied((from, to) => to === "x/a" && ns(from) === "y"),
  );
  assert.equal(d.addressSets.get("np x/cidr ingress 0"), [
    "10.0.0.0/23",
    "10.0.3.0/24",
    "10.0.4.0/22",
    "10.0.8.0/21",
    "10.0.16.0/20",
    "10.0.32.0/19",
    "10.0.64.0/18",
    "10.0.128.0/17",
  ]);
});

test("ipBlock and a pod peer together: a pod inside the except range is still allowed by the pod peer", () => {
  const d = decisionWith(
    networkPolicy("x", "mix", {
      podSelector: { matchLabels: { pod: "a" } },
      ingress: [
        {
          from: [
            { ipBlock: { cidr: "10.0.0.0/16", except: ["10.0.2.0/24"] } },
            { namespaceSelector: { matchLabels: { ns: "y" } }, podSelector: { matchLabels: { pod: "c" } } },
          ],
        },
      ],
    }),
  );
  assert.equal(
    deniedPairs(d),
    expectedDenied((from, to) => to === "x/a" && ns(from) === "y" && from !== "y/c"),
  );
  const set = d.addressSets.get("np x/mix ingress 0") ?? [];
  assert.ok(set.includes("10.0.2.3"), "the pod address stays a single element");
  assert.not.ok(set.includes("10.0.1.1"), "a pod address inside a CIDR element is not repeated");
});

test("egress to pods of y on port 80 only", () => {
  const d = decisionWith(
    networkPolicy("x", "egress-y", {
      podSelector: { matchLabels: { pod: "a" } },
      policyTypes: ["Egress"],
      egress: [{ to: [{ namespaceSelector: { matchLabels: { ns: "y" } } }], ports: [{ port: 80 }] }],
    }),
  );
  assert.equal(
    deniedPairs(d, "TCP", 80),
    expectedDenied((from, to) => from === "x/a" && ns(to) !== "y"),
  );
  assert.equal(
    deniedPairs(d, "TCP", 81),
    expectedDenied((from) => from === "x/a"),
  );
});

test("egress named port: resolved per destination pod into an address-port set", () => {
  const d = decisionWith(
    networkPolicy("x", "named-egress", {
      podSelector: { matchLabels: { pod: "a" } },
      policyTypes: ["Egress"],
      egress: [
        {
          to: [{ namespaceSelector: { matchLabels: { ns: "y" } } }],
          ports: [{ port: "serve-81-tcp" }, { port: 80 }],
        },
      ],
    }),
  );
  assert.equal(
    deniedPairs(d, "TCP", 81),
    expectedDenied((from, to) => from === "x/a" && ns(to) !== "y"),
  );
  assert.equal(
    deniedPairs(d, "TCP", 80),
    expectedDenied((from, to) => from === "x/a" && ns(to) !== "y"),
  );
  assert.equal(
    deniedPairs(d, "UDP", 81),
    expectedDenied((from) => from === "x/a"),
  );
  assert.equal(d.addressPortSets.get("np x/named-egress egress 0 named-ports"), [
    { address: "10.0.2.1", protocol: "TCP", port: 81 },
    { address: "10.0.2.2", protocol: "TCP", port: 81 },
    { address: "10.0.2.3", protocol: "TCP", port: 81 },
  ]);
  assert.equal(
    d.pods[0].rules.map((r) => [r.peers, r.addressPorts, r.ports.length]),
    [
      ["np x/named-egress egress 0", undefined, 1],
      [undefined, "np x/named-egress egress 0 named-ports", 0],
    ],
  );
});

test("egress named port with only ipBlock peers matches nothing, and says so", () => {
  const d = decisionWith(
    networkPolicy("x", "cidr-named", {
      podSelector: { matchLabels: { pod: "a" } },
      policyTypes: ["Egress"],
      egress: [{ to: [{ ipBlock: { cidr: "10.0.0.0/8" } }], ports: [{ port: "serve-80-tcp" }] }],
    }),
  );
  assert.equal(
    deniedPairs(d),
    expectedDenied((from) => from === "x/a"),
  );
  assert.equal(d.problems, [
    {
      kind: "NetworkPolicy",
      namespace: "x",
      name: "cidr-named",
      field: "spec.egress[0].ports[0].port",
      message:
        'named port "serve-80-tcp" matches nothing: the rule\'s peers are only ipBlocks, and named ports resolve against pods',
    },
  ]);
});

test("multiple policies are additive", () => {
  const d = decisionWith(
    networkPolicy("x", "from-y", {
      podSelector: { matchLabels: { pod: "a" } },
      ingress: [{ from: [{ namespaceSelector: { matchLabels: { ns: "y" } } }] }],
    }),
    networkPolicy("x", "from-z-b", {
      podSelector: {},
      ingress: [
        {
          from: [
            { namespaceSelector: { matchLabels: { ns: "z" } }, podSelector: { matchLabels: { pod: "b" } } },
          ],
        },
      ],
    }),
  );
  assert.equal(
    deniedPairs(d),
    expectedDenied((from, to) => {
      if (ns(to) !== "x") return false;
      if (from === "z/b") return false;
      return !(to === "x/a" && ns(from) === "y");
    }),
  );
  assert.equal(d.pods.find((p) => p.pod === "x/a")?.selectedBy, [
    "NetworkPolicy x/from-y",
    "NetworkPolicy x/from-z-b",
  ]);
});

test("ingress and egress both needed: x/a may send to y/b only if y/b accepts it", () => {
  const d = decisionWith(
    networkPolicy("x", "egress-all", { podSelector: {}, policyTypes: ["Egress"], egress: [{}] }),
    networkPolicy("y", "only-from-c", {
      podSelector: {},
      ingress: [{ from: [{ namespaceSelector: {}, podSelector: { matchLabels: { pod: "c" } } }] }],
    }),
  );
  assert.equal(
    deniedPairs(d),
    expectedDenied((from, to) => ns(to) === "y" && pod(from) !== "c"),
  );
});

test("a pod always reaches itself", () => {
  const d = decisionWith(
    denyAllIngress,
    networkPolicy("x", "deny-egress", { podSelector: {}, policyTypes: ["Egress"] }),
  );
  assert.ok(decide(d, { from: "10.0.1.1", to: "10.0.1.1", protocol: "TCP", port: 80 }).allowed);
  assert.not.ok(decide(d, { from: "10.0.1.1", to: "10.0.1.2", protocol: "TCP", port: 80 }).allowed);
});

test("pods on other nodes are peers but not policed here; host-network and finished pods are neither", () => {
  const world = baseWorld().map((o) => {
    if (o.kind !== "Pod") return o;
    const key = `${o.metadata.namespace}/${o.metadata.name}`;
    if (key === "y/a") return podObject(key, { node: "n2" });
    if (key === "y/b")
      return { ...podObject(key), spec: { ...(podObject(key).spec as object), hostNetwork: true } };
    if (key === "y/c") return { ...podObject(key), status: { phase: "Succeeded", podIP: podIP(key) } };
    return o;
  });
  world.push(
    networkPolicy("y", "deny", { podSelector: {} }),
    networkPolicy("x", "from-y", {
      podSelector: {},
      ingress: [{ from: [{ namespaceSelector: { matchLabels: { ns: "y" } } }] }],
    }),
  );
  const d = evaluatePolicies(snapshotOf(world), { nodeName: "n1" });
  assert.equal(
    d.pods.map((p) => p.pod),
    ["x/a", "x/b", "x/c"],
  );
  assert.equal(d.addressSets.get("np x/from-y ingress 0"), ["10.0.2.1"]);
});

test("a pod whose Namespace object is missing keeps the kubernetes.io/metadata.name label", () => {
  const world = [
    ...baseWorld().filter((o) => !(o.kind === "Namespace" && o.metadata.name === "z")),
    networkPolicy("x", "from-z", {
      podSelector: { matchLabels: { pod: "a" } },
      ingress: [{ from: [{ namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "z" } } }] }],
    }),
  ];
  const d = evaluatePolicies(snapshotOf(world), { nodeName: "n1" });
  assert.equal(d.addressSets.get("np x/from-z ingress 0"), ["10.0.3.1", "10.0.3.2", "10.0.3.3"]);
});

test("set ids name the rule; a relabelled peer pod changes only set elements", () => {
  const policy = networkPolicy("x", "from-b", {
    podSelector: {},
    ingress: [{ from: [{ namespaceSelector: {}, podSelector: { matchLabels: { pod: "b" } } }] }],
  });
  const before = decisionWith(policy);
  const world = baseWorld().map((o) =>
    o.kind === "Pod" && o.metadata.namespace === "z" && o.metadata.name === "c"
      ? podObject("z/c", { labels: { pod: "b" } })
      : o,
  );
  const after = evaluatePolicies(snapshotOf([...world, policy]), { nodeName: "n1" });
  assert.equal(after.pods, before.pods, "rules and ids unchanged");
  assert.equal(before.addressSets.get("np x/from-b ingress 0"), ["10.0.1.2", "10.0.2.2", "10.0.3.2"]);
  assert.equal(after.addressSets.get("np x/from-b ingress 0"), [
    "10.0.1.2",
    "10.0.2.2",
    "10.0.3.2",
    "10.0.3.3",
  ]);
  // One set per rule, shared by the three pods it protects.
  assert.equal(
    before.pods.map((p) => p.rules[0].peers),
    ["np x/from-b ingress 0", "np x/from-b ingress 0", "np x/from-b ingress 0"],
  );
  assert.is(before.addressSets.size, 1);
});

test("the decision is deterministic: same objects in another order, same decision", () => {
  const objects = [
    denyAllIngress,
    networkPolicy("y", "p", { podSelector: {}, ingress: [{ from: [{ podSelector: {} }] }], egress: [{}] }),
    namespaceObject("w"),
  ];
  const forward = evaluatePolicies(snapshotOf([...baseWorld(), ...objects]), { nodeName: "n1" });
  const backward = evaluatePolicies(snapshotOf([...objects, ...baseWorld()].reverse()), { nodeName: "n1" });
  assert.equal(backward, forward);
});

test.run();
