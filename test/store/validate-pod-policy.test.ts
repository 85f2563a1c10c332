// Pod fields policy needs (named container ports, hostNetwork, phase) and ClusterNetworkPolicy
// validation: accepted objects normalise as documented in runtime/store/objects.ts; rejected ones
// name the field.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import type { RawObject } from "../../runtime/sources/source.ts";
import { formatProblem } from "../../runtime/store/problems.ts";
import { Store } from "../../runtime/store/store.ts";
import { validateObject } from "../../runtime/store/validate.ts";

const test = suite("store validation: pod ports, ClusterNetworkPolicy");

function pod(spec: Record<string, unknown>, status: Record<string, unknown> = {}): RawObject {
  return { kind: "Pod", metadata: { name: "p", namespace: "x" }, spec, status };
}

function cnp(spec: Record<string, unknown>): RawObject {
  return {
    apiVersion: "policy.networking.k8s.io/v1alpha2",
    kind: "ClusterNetworkPolicy",
    metadata: { name: "guard" },
    spec: { tier: "Admin", priority: 10, subject: { namespaces: {} }, ...spec },
  };
}

function problems(raw: RawObject): string[] {
  const result = validateObject(raw.kind, raw);
  return result.ok ? [] : result.problems.map(formatProblem);
}

test("pod: container ports (and sidecar init containers), hostNetwork, phase", () => {
  const result = validateObject(
    "Pod",
    pod(
      {
        hostNetwork: true,
        containers: [
          {
            name: "a",
            ports: [
              { name: "http", containerPort: 80 },
              { containerPort: 81, protocol: "UDP" },
            ],
          },
          { name: "b" },
        ],
        initContainers: [
          { name: "setup", ports: [{ name: "ignored", containerPort: 9 }] },
          {
            name: "proxy",
            restartPolicy: "Always",
            ports: [{ name: "dns", containerPort: 53, protocol: "UDP" }],
          },
        ],
      },
      { phase: "Running", podIP: "10.244.1.5" },
    ),
  );
  if (!result.ok) return assert.unreachable(result.problems.map(formatProblem).join("\n"));
  assert.equal(result.value.containerPorts, [
    { name: "http", protocol: "TCP", port: 80 },
    { name: "", protocol: "UDP", port: 81 },
    { name: "dns", protocol: "UDP", port: 53 },
  ]);
  assert.is(result.value.hostNetwork, true);
  assert.is(result.value.phase, "Running");
});

test("pod: bad container ports name the field", () => {
  assert.equal(
    problems(pod({ containers: [{ ports: [{ name: "Http_1", containerPort: 70000, protocol: "ICMP" }] }] })),
    [
      'Pod x/p: spec.containers[0].ports[0].name: must be a port name (IANA_SVC_NAME), got "Http_1"',
      "Pod x/p: spec.containers[0].ports[0].containerPort: must be 1-65535, got 70000",
      'Pod x/p: spec.containers[0].ports[0].protocol: must be one of TCP, UDP, SCTP, got "ICMP"',
    ],
  );
  assert.equal(problems(pod({ containers: [{ ports: [{ name: "web" }] }] })), [
    "Pod x/p: spec.containers[0].ports[0].containerPort: required",
  ]);
  assert.equal(problems(pod({ hostNetwork: "yes" })), [
    'Pod x/p: spec.hostNetwork: must be true or false, got "yes"',
  ]);
});

test("ClusterNetworkPolicy: every supported field normalises", () => {
  const result = validateObject(
    "ClusterNetworkPolicy",
    cnp({
      tier: "Baseline",
      priority: 5,
      subject: { pods: { namespaceSelector: { matchLabels: { team: "a" } }, podSelector: {} } },
      ingress: [
        {
          name: "from-x",
          action: "Accept",
          from: [
            { namespaces: { matchLabels: { ns: "x" } } },
            { pods: { podSelector: { matchLabels: { app: "a" } } } },
          ],
          protocols: [
            { tcp: { destinationPort: { number: 80 } } },
            { udp: { destinationPort: { range: { start: 1000, end: 2000 } } } },
            { destinationNamedPort: "http" },
          ],
        },
      ],
      egress: [{ action: "Deny", to: [{ networks: ["10.0.0.1/8", "fd00::/64"] }] }],
    }),
  );
  if (!result.ok) return assert.unreachable(result.problems.map(formatProblem).join("\n"));
  const empty = { matchLabels: {}, matchExpressions: [] };
  assert.equal(result.value, {
    name: "guard",
    tier: "Baseline",
    priority: 5,
    subject: {
      pods: { namespaceSelector: { matchLabels: { team: "a" }, matchExpressions: [] }, podSelector: empty },
    },
    ingress: [
      {
        name: "from-x",
        action: "Accept",
        peers: [
          { namespaces: { matchLabels: { ns: "x" }, matchExpressions: [] } },
          {
            pods: {
              namespaceSelector: empty,
              podSelector: { matchLabels: { app: "a" }, matchExpressions: [] },
            },
          },
        ],
        ports: [
          { protocol: "TCP", port: 80 },
          { protocol: "UDP", port: 1000, endPort: 2000 },
          { port: "http" },
        ],
      },
    ],
    egress: [{ name: "", action: "Deny", peers: [{ networks: ["10.0.0.0/8", "fd00::/64"] }], ports: [] }],
  });
});

test("ClusterNetworkPolicy: unsupported peer types are kept as unsupported (enforced closed)", () => {
  const result = validateObject(
    "ClusterNetworkPolicy",
    cnp({
      egress: [
        { action: "Deny", to: [{ nodes: {} }, { domainNames: ["example.com"] }] },
        { action: "Accept", to: [{ pods: { podSelector: {} } }] },
      ],
      ingress: [{ action: "Deny", from: [{ networks: ["10.0.0.0/8"] }] }],
    }),
  );
  if (!result.ok) return assert.unreachable(result.problems.map(formatProblem).join("\n"));
  assert.equal(result.value.egress[0].peers, [
    { unsupported: "spec.egress[0].to[0].nodes" },
    { unsupported: "spec.egress[0].to[1].domainNames" },
  ]);
  assert.equal(result.value.ingress[0].peers, [{ unsupported: "spec.ingress[0].from[0].networks" }]);
});

// Each bad ClusterNetworkPolicy is rejected with exactly these messages.
const rejections: [string, Record<string, unknown>, string[]][] = [
  ["missing tier", { tier: undefined }, ["spec.tier: required: Admin or Baseline"]],
  ["bad tier", { tier: "Developer" }, ['spec.tier: must be one of Admin, Baseline, got "Developer"']],
  ["priority out of range", { priority: 1001 }, ["spec.priority: must be 0-1000, got 1001"]],
  ["missing subject", { subject: undefined }, ["spec.subject: required"]],
  [
    "two subjects",
    { subject: { namespaces: {}, pods: { podSelector: {} } } },
    ["spec.subject: must set exactly one of namespaces, pods, got namespaces, pods"],
  ],
  [
    "unknown spec field",
    { tenancy: {} },
    ["spec.tenancy: unknown or unsupported field; supported: tier, priority, subject, ingress, egress"],
  ],
  [
    "unknown rule field",
    { ingress: [{ action: "Accept", from: [{ namespaces: {} }], ports: [] }] },
    ["spec.ingress[0].ports: unknown or unsupported field; supported: name, action, from, protocols"],
  ],
  [
    "no action",
    { ingress: [{ from: [{ namespaces: {} }] }] },
    ["spec.ingress[0].action: required: one of Accept, Deny, Pass"],
  ],
  [
    "empty from",
    { ingress: [{ action: "Deny", from: [] }] },
    ["spec.ingress[0].from: must have 1-25 items, got 0"],
  ],
  [
    "empty peer",
    { ingress: [{ action: "Deny", from: [{}] }] },
    ["spec.ingress[0].from[0]: must set exactly one of namespaces, pods, got none"],
  ],
  [
    "pods without podSelector",
    { egress: [{ action: "Deny", to: [{ pods: { namespaceSelector: {} } }] }] },
    ["spec.egress[0].to[0].pods.podSelector: required"],
  ],
  [
    "bad network",
    { egress: [{ action: "Deny", to: [{ networks: ["10.0.0.0/33"] }] }] },
    ['spec.egress[0].to[0].networks[0]: must be a CIDR such as 10.0.0.0/8 or fd00::/64, got "10.0.0.0/33"'],
  ],
  [
    "named port with networks",
    {
      egress: [
        {
          action: "Accept",
          to: [{ networks: ["10.0.0.0/8"] }],
          protocols: [{ destinationNamedPort: "dns" }],
        },
      ],
    },
    [
      "spec.egress[0].to[0].networks: cannot be combined with destinationNamedPort: networks have no named ports",
    ],
  ],
  [
    "tcp without destinationPort",
    { ingress: [{ action: "Deny", from: [{ namespaces: {} }], protocols: [{ tcp: {} }] }] },
    ["spec.ingress[0].protocols[0].tcp.destinationPort: required"],
  ],
  [
    "backwards range",
    {
      ingress: [
        {
          action: "Deny",
          from: [{ namespaces: {} }],
          protocols: [{ sctp: { destinationPort: { range: { start: 90, end: 80 } } } }],
        },
      ],
    },
    ["spec.ingress[0].protocols[0].sctp.destinationPort.range: start must be less than end, got 90-80"],
  ],
  [
    "icmp",
    { ingress: [{ action: "Deny", from: [{ namespaces: {} }], protocols: [{ icmp: {} }] }] },
    [
      "spec.ingress[0].protocols[0].icmp: unknown or unsupported field; supported: tcp, udp, sctp, destinationNamedPort",
    ],
  ],
  [
    "bad selector operator",
    { subject: { namespaces: { matchExpressions: [{ key: "a", operator: "Equals" }] } } },
    [
      'spec.subject.namespaces.matchExpressions[0].operator: must be one of In, NotIn, Exists, DoesNotExist, got "Equals"',
    ],
  ],
];

for (const [name, spec, expected] of rejections) {
  test(`ClusterNetworkPolicy rejected: ${name}`, () => {
    assert.equal(
      problems(cnp(spec)),
      expected.map((m) => `ClusterNetworkPolicy guard: ${m}`),
    );
  });
}

test("ClusterNetworkPolicy: a different apiVersion is rejected", () => {
  assert.equal(problems({ ...cnp({}), apiVersion: "policy.networking.k8s.io/v1alpha1" }), [
    'ClusterNetworkPolicy guard: apiVersion: must be policy.networking.k8s.io/v1alpha2, got "policy.networking.k8s.io/v1alpha1"',
  ]);
});

test("store: ClusterNetworkPolicies are cluster-scoped, keyed by name, in the snapshot", () => {
  const store = new Store();
  const object = { ...cnp({}), metadata: { name: "guard", namespace: "ignored" } };
  assert.ok(store.apply([{ type: "add", kind: "ClusterNetworkPolicy", key: "guard", object }]));
  assert.equal([...(store.snapshot().clusterNetworkPolicies?.keys() ?? [])], ["guard"]);
  assert.is(store.counts().ClusterNetworkPolicy, 1);
  assert.ok(store.apply([{ type: "delete", kind: "ClusterNetworkPolicy", key: "guard", object }]));
  assert.is(store.snapshot().clusterNetworkPolicies?.size, 0);
});

test.run();
