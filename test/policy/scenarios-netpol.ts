// NetworkPolicy (networking.k8s.io/v1) scenarios, after upstream's test/e2e/network/netpol suite.
// Every expectation is written by hand from the Kubernetes semantics: a pod is isolated in a direction
// only when a policy selecting it has that type; policies are additive; a connection needs the
// source's egress and the destination's ingress; replies pass; a pod always reaches itself.
// Pod addresses: x 10.73.1.16-18, y 10.73.1.32-34, z 10.73.1.48-50 (harness-model.ts).
import { allow, allowedByDefault, deniedByDefault, deny, type Scenario } from "./harness-model.ts";
import {
  all,
  expr,
  labels,
  type Manifest,
  netpol,
  ns,
  pod,
  type Selector,
  tcp,
  udp,
} from "./scenarios-support.ts";

const ingressOnly = ["Ingress"];
const egressOnly = ["Egress"];
const both = ["Ingress", "Egress"];

/** A policy in namespace `namespace` selecting `podSelector`, isolating for `policyTypes`. */
function policy(
  namespace: string,
  name: string,
  podSelector: Selector,
  policyTypes: string[],
  rules: Manifest = {},
) {
  return netpol(namespace, name, { podSelector, policyTypes, ...rules });
}

/** x/a isolated for ingress, allowing `ingress`. */
const toXA = (name: string, ingress: Manifest[]) => policy("x", name, pod("a"), ingressOnly, { ingress });
/** x/a isolated for egress, allowing `egress`. */
const fromXA = (name: string, egress: Manifest[]) => policy("x", name, pod("a"), egressOnly, { egress });
const denyAllIngressX = policy("x", "deny-ingress", all, ingressOnly);

const isolation: Scenario[] = [
  {
    name: "deny-all-ingress",
    description: "default-deny-ingress in x: nothing reaches x, x reaches everyone",
    steps: [
      { title: "deny ingress in x", policies: [denyAllIngressX], expect: allowedByDefault(deny("*", "x/*")) },
    ],
  },
  {
    name: "deny-all-egress",
    description: "default-deny-egress in x: x reaches nobody, everyone reaches x",
    steps: [
      {
        title: "deny egress in x",
        policies: [policy("x", "deny-egress", all, egressOnly)],
        expect: allowedByDefault(deny("x/*", "*")),
      },
    ],
  },
  {
    name: "deny-all",
    description: "default-deny-all (ingress and egress) in x",
    steps: [
      {
        title: "deny all in x",
        policies: [policy("x", "deny-all", all, both)],
        expect: allowedByDefault(deny("*", "x/*"), deny("x/*", "*")),
      },
    ],
  },
  {
    name: "isolated-self",
    description: "every pod isolated both ways: only a pod reaching itself remains",
    steps: [
      {
        title: "deny all in x, y and z",
        policies: ["x", "y", "z"].map((n) => policy(n, "deny-all", all, both)),
        expect: deniedByDefault(),
      },
    ],
  },
  {
    name: "allow-all-ingress",
    description: "deny-all ingress in x plus an allow-all ingress policy: additive, all allowed",
    steps: [
      { title: "deny ingress in x", policies: [denyAllIngressX], expect: allowedByDefault(deny("*", "x/*")) },
      {
        title: "plus allow all ingress in x",
        policies: [denyAllIngressX, policy("x", "allow-all", all, ingressOnly, { ingress: [{}] })],
        expect: allowedByDefault(),
      },
    ],
  },
  {
    name: "allow-all-egress",
    description: "deny-all egress in x plus an allow-all egress policy: additive, all allowed",
    steps: [
      {
        title: "deny egress in x",
        policies: [policy("x", "deny-egress", all, egressOnly)],
        expect: allowedByDefault(deny("x/*", "*")),
      },
      {
        title: "plus allow all egress in x",
        policies: [
          policy("x", "deny-egress", all, egressOnly),
          policy("x", "allow-all", all, egressOnly, { egress: [{}] }),
        ],
        expect: allowedByDefault(),
      },
    ],
  },
  {
    name: "deny-other-namespaces",
    description: "x allows ingress from its own namespace only (podSelector {} without namespaceSelector)",
    steps: [
      {
        title: "x from x",
        policies: [policy("x", "same-ns", all, ingressOnly, { ingress: [{ from: [{ podSelector: all }] }] })],
        expect: allowedByDefault(deny("y/*,z/*", "x/*")),
      },
    ],
  },
  {
    name: "default-types-ingress",
    description: "a policy without policyTypes and without egress rules isolates for Ingress only",
    steps: [
      {
        title: "x/a selected, no types",
        policies: [netpol("x", "no-types", { podSelector: pod("a") })],
        expect: allowedByDefault(deny("*", "x/a")),
      },
    ],
  },
  {
    name: "default-types-egress",
    description: "a policy without policyTypes but with egress rules isolates for Ingress and Egress",
    steps: [
      {
        title: "x/a egress to y, no types",
        policies: [
          netpol("x", "no-types", {
            podSelector: pod("a"),
            egress: [{ to: [{ namespaceSelector: ns("y") }] }],
          }),
        ],
        expect: allowedByDefault(deny("*", "x/a"), deny("x/a", "*"), allow("x/a", "y/*")),
      },
    ],
  },
];

const peers: Scenario[] = [
  {
    name: "allow-ingress-target",
    description: "deny-all ingress in x, then all pods of all namespaces allowed to x/a",
    steps: [
      {
        title: "deny x, allow to x/a",
        policies: [
          denyAllIngressX,
          toXA("allow-all-to-a", [{ from: [{ podSelector: all, namespaceSelector: all }] }]),
        ],
        expect: allowedByDefault(deny("*", "x/b,x/c")),
      },
    ],
  },
  {
    name: "allow-from-all-namespaces",
    description: "deny-all ingress in x, x/a allows namespaceSelector {} (every namespace)",
    steps: [
      {
        title: "deny x, x/a from every namespace",
        policies: [denyAllIngressX, toXA("from-all-ns", [{ from: [{ namespaceSelector: all }] }])],
        expect: allowedByDefault(deny("*", "x/b,x/c")),
      },
    ],
  },
  {
    name: "allow-from-pod",
    description: "x/a allows ingress from x/b only (podSelector in the policy's namespace)",
    steps: [
      {
        title: "x/a from pod b",
        policies: [toXA("a-from-b", [{ from: [{ podSelector: pod("b") }] }])],
        expect: allowedByDefault(deny("*", "x/a"), allow("x/b", "x/a")),
      },
    ],
  },
  {
    name: "allow-from-ns",
    description: "x/a allows ingress from namespace y only (namespaceSelector matchLabels)",
    steps: [
      {
        title: "x/a from ns y",
        policies: [toXA("a-from-y", [{ from: [{ namespaceSelector: ns("y") }] }])],
        expect: allowedByDefault(deny("x/*,z/*", "x/a")),
      },
    ],
  },
  {
    name: "allow-from-ns-default-label",
    description: "x/a allows namespace y selected by kubernetes.io/metadata.name",
    steps: [
      {
        title: "x/a from metadata.name y",
        policies: [
          toXA("a-from-y", [
            { from: [{ namespaceSelector: labels({ "kubernetes.io/metadata.name": "y" }) }] },
          ]),
        ],
        expect: allowedByDefault(deny("x/*,z/*", "x/a")),
      },
    ],
  },
  {
    name: "pod-match-expressions",
    description: "x/a allows podSelector pod In [b]",
    steps: [
      {
        title: "x/a from pod In [b]",
        policies: [toXA("a-from-b", [{ from: [{ podSelector: expr("pod", "In", ["b"]) }] }])],
        expect: allowedByDefault(deny("*", "x/a"), allow("x/b", "x/a")),
      },
    ],
  },
  {
    name: "ns-match-expressions",
    description: "x/a allows namespaceSelector ns In [y]",
    steps: [
      {
        title: "x/a from ns In [y]",
        policies: [toXA("a-from-y", [{ from: [{ namespaceSelector: expr("ns", "In", ["y"]) }] }])],
        expect: allowedByDefault(deny("x/*,z/*", "x/a")),
      },
    ],
  },
  {
    name: "pod-or-ns",
    description: "two peers (OR): namespaces NotIn [x], or pod b of x; x/c is the only one left out",
    steps: [
      {
        title: "x/a from ns NotIn [x] or pod b",
        policies: [
          toXA("or", [
            { from: [{ namespaceSelector: expr("ns", "NotIn", ["x"]) }, { podSelector: pod("b") }] },
          ]),
        ],
        expect: allowedByDefault(deny("x/c", "x/a")),
      },
    ],
  },
  {
    name: "pod-and-ns",
    description: "one peer with both selectors (AND): pods b of namespaces NotIn [x]",
    steps: [
      {
        title: "x/a from (ns NotIn [x] and pod b)",
        policies: [
          toXA("and", [{ from: [{ namespaceSelector: expr("ns", "NotIn", ["x"]), podSelector: pod("b") }] }]),
        ],
        expect: allowedByDefault(deny("*", "x/a"), allow("y/b,z/b", "x/a")),
      },
    ],
  },
  {
    name: "pod-and-ns-in",
    description: "AND with podSelector pod In [b, c]: y/b, y/c, z/b, z/c",
    steps: [
      {
        title: "x/a from (ns NotIn [x] and pod In [b, c])",
        policies: [
          toXA("and-in", [
            {
              from: [
                { namespaceSelector: expr("ns", "NotIn", ["x"]), podSelector: expr("pod", "In", ["b", "c"]) },
              ],
            },
          ]),
        ],
        expect: allowedByDefault(deny("*", "x/a"), allow("y/b,y/c,z/b,z/c", "x/a")),
      },
    ],
  },
  {
    name: "selected-by-expression",
    description: "the policy's own podSelector pod NotIn [a] isolates x/b and x/c",
    steps: [
      {
        title: "deny ingress to pod NotIn [a] in x",
        policies: [policy("x", "not-a", expr("pod", "NotIn", ["a"]), ingressOnly)],
        expect: allowedByDefault(deny("*", "x/b,x/c")),
      },
    ],
  },
  {
    name: "exists-doesnotexist",
    description: "peer: namespaces where ns Exists AND pods where role DoesNotExist; y/c carries role=db",
    steps: [
      {
        title: "x/a from (ns Exists and role DoesNotExist)",
        policies: [
          toXA("exists", [
            {
              from: [{ namespaceSelector: expr("ns", "Exists"), podSelector: expr("role", "DoesNotExist") }],
            },
          ]),
        ],
        podLabels: { "y/c": { role: "db" } },
        expect: allowedByDefault(deny("y/c", "x/a")),
      },
    ],
  },
  {
    name: "deny-client-side",
    description: "egress denied at the client even though the server's namespace allows all ingress",
    steps: [
      {
        title: "x/a no egress, y allows all ingress",
        policies: [
          policy("x", "a-no-egress", pod("a"), egressOnly),
          policy("y", "allow-all", all, ingressOnly, { ingress: [{}] }),
        ],
        expect: allowedByDefault(deny("x/a", "*")),
      },
    ],
  },
];

const ports: Scenario[] = [
  {
    name: "ingress-port",
    description: "x/a allows namespace y on TCP 81 only",
    steps: [
      {
        title: "x/a from ns y on TCP 81",
        policies: [toXA("y-81", [{ from: [{ namespaceSelector: ns("y") }], ports: [tcp(81)] }])],
        expect: allowedByDefault(deny("*", "x/a"), allow("y/*", "x/a", "tcp/81")),
      },
    ],
  },
  {
    name: "tcp-any-port",
    description: "x/a allows protocol TCP without a port: every TCP port, no UDP",
    steps: [
      {
        title: "x/a on TCP",
        policies: [toXA("tcp", [{ ports: [{ protocol: "TCP" }] }])],
        expect: allowedByDefault(deny("*", "x/a", "udp/80", "udp/81")),
      },
    ],
  },
  {
    name: "udp-only",
    description: "x/a allows protocol UDP only: TCP is not allowed by a UDP rule",
    steps: [
      {
        title: "x/a on UDP",
        policies: [toXA("udp", [{ ports: [{ protocol: "UDP" }] }])],
        expect: allowedByDefault(deny("*", "x/a", "tcp/80", "tcp/81")),
      },
    ],
  },
  {
    name: "endport-both",
    description: "x/a allows TCP 80-81 (endPort)",
    steps: [
      {
        title: "x/a on TCP 80-81",
        policies: [toXA("range", [{ ports: [tcp(80, 81)] }])],
        expect: allowedByDefault(deny("*", "x/a", "udp/80", "udp/81")),
      },
    ],
  },
  {
    name: "endport-upper",
    description: "x/a allows UDP 81-90: only UDP 81 of the served ports",
    steps: [
      {
        title: "x/a on UDP 81-90",
        policies: [toXA("range", [{ ports: [udp(81, 90)] }])],
        expect: allowedByDefault(deny("*", "x/a", "tcp/80", "tcp/81", "udp/80")),
      },
    ],
  },
  {
    name: "endport-lower",
    description: "x/a allows TCP 70-80: only TCP 80 of the served ports",
    steps: [
      {
        title: "x/a on TCP 70-80",
        policies: [toXA("range", [{ ports: [tcp(70, 80)] }])],
        expect: allowedByDefault(deny("*", "x/a", "tcp/81", "udp/80", "udp/81")),
      },
    ],
  },
  {
    name: "named-port",
    description: "x/a allows the named port serve-80-tcp (protocol defaults to TCP)",
    steps: [
      {
        title: "x/a on serve-80-tcp",
        policies: [toXA("named", [{ ports: [{ port: "serve-80-tcp" }] }])],
        expect: allowedByDefault(deny("*", "x/a", "tcp/81", "udp/80", "udp/81")),
      },
    ],
  },
  {
    name: "named-port-udp",
    description: "x/a allows the named port serve-81-udp with protocol UDP",
    steps: [
      {
        title: "x/a on UDP serve-81-udp",
        policies: [toXA("named", [{ ports: [udp("serve-81-udp")] }])],
        expect: allowedByDefault(deny("*", "x/a", "tcp/80", "tcp/81", "udp/80")),
      },
    ],
  },
  {
    name: "named-port-protocol-mismatch",
    description: "TCP serve-80-udp names no TCP port of x/a: the rule allows nothing",
    steps: [
      {
        title: "x/a on TCP serve-80-udp",
        policies: [toXA("mismatch", [{ ports: [tcp("serve-80-udp")] }])],
        expect: allowedByDefault(deny("*", "x/a")),
      },
    ],
  },
  {
    name: "named-port-from-ns",
    description: "x/a allows namespace y on the named port serve-81-tcp",
    steps: [
      {
        title: "x/a from ns y on serve-81-tcp",
        policies: [
          toXA("y-named", [{ from: [{ namespaceSelector: ns("y") }], ports: [{ port: "serve-81-tcp" }] }]),
        ],
        expect: allowedByDefault(deny("*", "x/a"), allow("y/*", "x/a", "tcp/81")),
      },
    ],
  },
  {
    name: "stacked-ports",
    description: "x allows TCP 80 to all its pods, a second policy TCP 81 to x/a: additive per pod",
    steps: [
      {
        title: "x on TCP 80, x/a on TCP 81",
        policies: [
          policy("x", "all-80", all, ingressOnly, { ingress: [{ ports: [tcp(80)] }] }),
          toXA("a-81", [{ ports: [tcp(81)] }]),
        ],
        expect: allowedByDefault(deny("*", "x/*", "udp/80", "udp/81"), deny("*", "x/b,x/c", "tcp/81")),
      },
    ],
  },
  {
    name: "allow-all-precedence-ingress",
    description: "x/a on TCP 80 only, then an allow-all ingress policy on x/a widens it to all",
    steps: [
      {
        title: "x/a on TCP 80",
        policies: [toXA("a-80", [{ ports: [tcp(80)] }])],
        expect: allowedByDefault(deny("*", "x/a", "tcp/81", "udp/80", "udp/81")),
      },
      {
        title: "plus allow all to x/a",
        policies: [toXA("a-80", [{ ports: [tcp(80)] }]), toXA("a-all", [{}])],
        expect: allowedByDefault(),
      },
    ],
  },
];

const egress: Scenario[] = [
  {
    name: "egress-to-ns",
    description: "x/a may reach namespace y only",
    steps: [
      {
        title: "x/a to ns y",
        policies: [fromXA("to-y", [{ to: [{ namespaceSelector: ns("y") }] }])],
        expect: allowedByDefault(deny("x/a", "*"), allow("x/a", "y/*")),
      },
    ],
  },
  {
    name: "egress-to-pod-port",
    description: "x/a may reach x/b on TCP 80 only",
    steps: [
      {
        title: "x/a to pod b on TCP 80",
        policies: [fromXA("to-b-80", [{ to: [{ podSelector: pod("b") }], ports: [tcp(80)] }])],
        expect: allowedByDefault(deny("x/a", "*"), allow("x/a", "x/b", "tcp/80")),
      },
    ],
  },
  {
    name: "egress-pod-and-ns",
    description: "x/a may reach pods a of namespace y (AND in one egress peer)",
    steps: [
      {
        title: "x/a to (ns y and pod a)",
        policies: [fromXA("to-y-a", [{ to: [{ namespaceSelector: ns("y"), podSelector: pod("a") }] }])],
        expect: allowedByDefault(deny("x/a", "*"), allow("x/a", "y/a")),
      },
    ],
  },
  {
    name: "egress-deny-pod",
    description: "x/a isolated for egress with no rules reaches nobody",
    steps: [
      {
        title: "x/a no egress",
        policies: [policy("x", "a-no-egress", pod("a"), egressOnly)],
        expect: allowedByDefault(deny("x/a", "*")),
      },
    ],
  },
  {
    name: "egress-udp-only",
    description: "x/a may send UDP to any port, no TCP",
    steps: [
      {
        title: "x/a UDP out",
        policies: [fromXA("udp-out", [{ ports: [{ protocol: "UDP" }] }])],
        expect: allowedByDefault(deny("x/a", "*", "tcp/80", "tcp/81")),
      },
    ],
  },
  {
    name: "egress-named-port",
    description: "x/a may reach the named port serve-81-udp of any pod (resolved per destination pod)",
    steps: [
      {
        title: "x/a to UDP serve-81-udp",
        policies: [fromXA("named-out", [{ ports: [udp("serve-81-udp")] }])],
        expect: allowedByDefault(deny("x/a", "*", "tcp/80", "tcp/81", "udp/80")),
      },
    ],
  },
  {
    name: "ingress-and-egress",
    description: "x/a: ingress from x/b only and egress to namespace y only, in one policy",
    steps: [
      {
        title: "x/a both ways",
        policies: [
          policy("x", "both", pod("a"), both, {
            ingress: [{ from: [{ podSelector: pod("b") }] }],
            egress: [{ to: [{ namespaceSelector: ns("y") }] }],
          }),
        ],
        expect: allowedByDefault(
          deny("*", "x/a"),
          allow("x/b", "x/a"),
          deny("x/a", "*"),
          allow("x/a", "y/*"),
        ),
      },
    ],
  },
  {
    name: "ingress-egress-independent",
    description: "x/a may reach only x/b, but x/b admits only x/c: both ends must allow",
    steps: [
      {
        title: "x/a to b, b from c",
        policies: [
          fromXA("a-to-b", [{ to: [{ podSelector: pod("b") }] }]),
          policy("x", "b-from-c", pod("b"), ingressOnly, {
            ingress: [{ from: [{ podSelector: pod("c") }] }],
          }),
        ],
        expect: allowedByDefault(deny("x/a", "*"), deny("*", "x/b"), allow("x/c", "x/b")),
      },
    ],
  },
  {
    name: "allow-all-precedence-egress",
    description: "x/a may send TCP 80 only, then an allow-all egress policy widens it to all",
    steps: [
      {
        title: "x/a out on TCP 80",
        policies: [fromXA("out-80", [{ ports: [tcp(80)] }])],
        expect: allowedByDefault(deny("x/a", "*", "tcp/81", "udp/80", "udp/81")),
      },
      {
        title: "plus allow all out",
        policies: [fromXA("out-80", [{ ports: [tcp(80)] }]), fromXA("out-all", [{}])],
        expect: allowedByDefault(),
      },
    ],
  },
];

const exceptCidr = { cidr: "10.73.1.32/27", except: ["10.73.1.48/28"] };

const ipBlocks: Scenario[] = [
  {
    name: "ipblock-egress",
    description: "x/a may reach 10.73.1.32/27 (namespaces y and z by pod IP)",
    steps: [
      {
        title: "x/a to 10.73.1.32/27",
        policies: [fromXA("cidr", [{ to: [{ ipBlock: { cidr: "10.73.1.32/27" } }] }])],
        expect: allowedByDefault(deny("x/a", "*"), allow("x/a", "y/*,z/*")),
      },
    ],
  },
  {
    name: "ipblock-except",
    description: "x/a may reach 10.73.1.32/27 except 10.73.1.48/28: y but not z",
    steps: [
      {
        title: "x/a to /27 except z's /28",
        policies: [fromXA("cidr-except", [{ to: [{ ipBlock: exceptCidr }] }])],
        expect: allowedByDefault(deny("x/a", "*"), allow("x/a", "y/*")),
      },
    ],
  },
  {
    name: "ipblock-overlap",
    description: "an address in one policy's except and another policy's cidr is allowed (additive)",
    steps: [
      {
        title: "x/a to /27 except z, and to z's /28",
        policies: [
          fromXA("cidr-except", [{ to: [{ ipBlock: exceptCidr }] }]),
          fromXA("cidr-z", [{ to: [{ ipBlock: { cidr: "10.73.1.48/28" } }] }]),
        ],
        expect: allowedByDefault(deny("x/a", "*"), allow("x/a", "y/*,z/*")),
      },
    ],
  },
  {
    name: "ipblock-ingress-except",
    description: "x/a admits 10.73.1.0/24 except y's 10.73.1.32/28",
    steps: [
      {
        title: "x/a from /24 except y",
        policies: [
          toXA("from-cidr", [{ from: [{ ipBlock: { cidr: "10.73.1.0/24", except: ["10.73.1.32/28"] } }] }]),
        ],
        expect: allowedByDefault(deny("y/*", "x/a")),
      },
    ],
  },
  {
    name: "ipblock-host-port",
    description: "x/a admits y/b's /32 on UDP 81 only",
    steps: [
      {
        title: "x/a from 10.73.1.33/32 on UDP 81",
        policies: [toXA("from-yb", [{ from: [{ ipBlock: { cidr: "10.73.1.33/32" } }], ports: [udp(81)] }])],
        expect: allowedByDefault(deny("*", "x/a"), allow("y/b", "x/a", "udp/81")),
      },
    ],
  },
];

const changes: Scenario[] = [
  {
    name: "policy-update",
    description: "a policy changed in place: x/a from x/b, then from x/c instead",
    steps: [
      {
        title: "x/a from b",
        policies: [toXA("a-from", [{ from: [{ podSelector: pod("b") }] }])],
        expect: allowedByDefault(deny("*", "x/a"), allow("x/b", "x/a")),
      },
      {
        title: "x/a from c (same policy, updated)",
        policies: [toXA("a-from", [{ from: [{ podSelector: pod("c") }] }])],
        expect: allowedByDefault(deny("*", "x/a"), allow("x/c", "x/a")),
      },
    ],
  },
  {
    name: "policy-delete",
    description: "deny-all in x, then the policy deleted: enforcement stops",
    steps: [
      {
        title: "deny all in x",
        policies: [policy("x", "deny-all", all, both)],
        expect: allowedByDefault(deny("*", "x/*"), deny("x/*", "*")),
      },
      { title: "deleted", expect: allowedByDefault() },
    ],
  },
  {
    name: "multiple-additive",
    description: "two policies on x/a (from x/b; from namespace y) allow the union",
    steps: [
      {
        title: "x/a from b, x/a from y",
        policies: [
          toXA("from-b", [{ from: [{ podSelector: pod("b") }] }]),
          toXA("from-y", [{ from: [{ namespaceSelector: ns("y") }] }]),
        ],
        expect: allowedByDefault(deny("*", "x/a"), allow("x/b,y/*", "x/a")),
      },
    ],
  },
  {
    name: "relabel-pod",
    description: "x/a admits role=client: x/b gains the label, then loses it",
    steps: [
      {
        title: "nobody has role=client",
        policies: [toXA("clients", [{ from: [{ podSelector: labels({ role: "client" }) }] }])],
        expect: allowedByDefault(deny("*", "x/a")),
      },
      {
        title: "x/b labelled role=client",
        policies: [toXA("clients", [{ from: [{ podSelector: labels({ role: "client" }) }] }])],
        podLabels: { "x/b": { role: "client" } },
        expect: allowedByDefault(deny("*", "x/a"), allow("x/b", "x/a")),
      },
      {
        title: "label removed",
        policies: [toXA("clients", [{ from: [{ podSelector: labels({ role: "client" }) }] }])],
        expect: allowedByDefault(deny("*", "x/a")),
      },
    ],
  },
  {
    name: "relabel-namespace",
    description: "x/a admits namespaces team=blue: y gains the label, then z instead",
    steps: [
      {
        title: "no namespace is blue",
        policies: [toXA("blue", [{ from: [{ namespaceSelector: labels({ team: "blue" }) }] }])],
        expect: allowedByDefault(deny("*", "x/a")),
      },
      {
        title: "y is blue",
        policies: [toXA("blue", [{ from: [{ namespaceSelector: labels({ team: "blue" }) }] }])],
        namespaceLabels: { y: { team: "blue" } },
        expect: allowedByDefault(deny("*", "x/a"), allow("y/*", "x/a")),
      },
      {
        title: "z is blue, y no longer",
        policies: [toXA("blue", [{ from: [{ namespaceSelector: labels({ team: "blue" }) }] }])],
        namespaceLabels: { z: { team: "blue" } },
        expect: allowedByDefault(deny("*", "x/a"), allow("z/*", "x/a")),
      },
    ],
  },
  {
    name: "relabel-target",
    description: "a deny-ingress policy selecting isolated=true: x/a gains the label, then loses it",
    steps: [
      {
        title: "nobody selected",
        policies: [policy("x", "isolate", labels({ isolated: "true" }), ingressOnly)],
        expect: allowedByDefault(),
      },
      {
        title: "x/a labelled isolated=true",
        policies: [policy("x", "isolate", labels({ isolated: "true" }), ingressOnly)],
        podLabels: { "x/a": { isolated: "true" } },
        expect: allowedByDefault(deny("*", "x/a")),
      },
      {
        title: "label removed",
        policies: [policy("x", "isolate", labels({ isolated: "true" }), ingressOnly)],
        expect: allowedByDefault(),
      },
    ],
  },
];

export const networkPolicyScenarios: Scenario[] = [
  ...isolation,
  ...peers,
  ...ports,
  ...egress,
  ...ipBlocks,
  ...changes,
];
