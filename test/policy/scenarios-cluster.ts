// ClusterNetworkPolicy (policy.networking.k8s.io/v1alpha2) scenarios, after the Network Policy API's
// conformance tests. Expectations by hand from the API's semantics: per direction, Admin tier rules by
// priority (lower first) and then in written order, the first match decides (Accept, Deny final; Pass
// skips the rest of the Admin tier); then NetworkPolicies, final for the pods they isolate; then the
// Baseline tier the same way; nothing matched: allowed. A connection needs its source's egress
// verdict and its destination's ingress verdict to allow it (an egress Accept does not override the
// destination's ingress). A pod reaching its own IP is not subject to ClusterNetworkPolicy.
import { allow, allowedByDefault, deny, type Scenario } from "./harness-model.ts";
import { all, cnp, type Manifest, namespaces, netpol, ns, pod, pods } from "./scenarios-support.ts";

type Action = "Accept" | "Deny" | "Pass";

const intoX = namespaces(ns("x"));
const from = (action: Action, peers: Manifest[], protocols?: Manifest[]) => ({
  action,
  from: peers,
  ...(protocols ? { protocols } : {}),
});
const to = (action: Action, peers: Manifest[], protocols?: Manifest[]) => ({
  action,
  to: peers,
  ...(protocols ? { protocols } : {}),
});

const npDenyIngressX = netpol("x", "deny-ingress", { podSelector: all, policyTypes: ["Ingress"] });
const adminDenyYToX = cnp("deny-y-to-x", "Admin", 10, {
  subject: intoX,
  ingress: [from("Deny", [namespaces(ns("y"))])],
});

const admin: Scenario[] = [
  {
    name: "cnp-admin-deny",
    description: "Admin Deny: namespace y may not reach namespace x",
    steps: [
      {
        title: "admin deny y -> x",
        clusterPolicies: [adminDenyYToX],
        expect: allowedByDefault(deny("y/*", "x/*")),
      },
    ],
  },
  {
    name: "cnp-admin-deny-over-np",
    description: "an Admin Deny wins over a NetworkPolicy allowing all ingress",
    steps: [
      {
        title: "admin deny y -> x, NP allows all into x",
        clusterPolicies: [adminDenyYToX],
        policies: [netpol("x", "allow-all", { podSelector: all, policyTypes: ["Ingress"], ingress: [{}] })],
        expect: allowedByDefault(deny("y/*", "x/*")),
      },
    ],
  },
  {
    name: "cnp-admin-accept-over-np",
    description: "an Admin Accept from y wins over a NetworkPolicy denying all ingress to x",
    steps: [
      {
        title: "NP deny into x, admin accept y -> x",
        policies: [npDenyIngressX],
        clusterPolicies: [
          cnp("accept-y", "Admin", 10, { subject: intoX, ingress: [from("Accept", [namespaces(ns("y"))])] }),
        ],
        expect: allowedByDefault(deny("x/*,z/*", "x/*")),
      },
    ],
  },
  {
    name: "cnp-admin-pass-to-np",
    description:
      "Admin Pass for y (priority 5) skips an Admin Deny-all (10); x's NetworkPolicy then admits only y/a",
    steps: [
      {
        title: "pass y, deny all, NP y/a",
        clusterPolicies: [
          cnp("pass-y", "Admin", 5, { subject: intoX, ingress: [from("Pass", [namespaces(ns("y"))])] }),
          cnp("deny-all", "Admin", 10, { subject: intoX, ingress: [from("Deny", [namespaces(all)])] }),
        ],
        policies: [
          netpol("x", "from-y-a", {
            podSelector: all,
            policyTypes: ["Ingress"],
            ingress: [{ from: [{ namespaceSelector: ns("y"), podSelector: pod("a") }] }],
          }),
        ],
        expect: allowedByDefault(deny("*", "x/*"), allow("y/a", "x/*")),
      },
    ],
  },
  {
    name: "cnp-admin-pass-default",
    description: "Admin Pass for y skips the Admin Deny-all; with no NetworkPolicy or Baseline, y is allowed",
    steps: [
      {
        title: "pass y, deny all",
        clusterPolicies: [
          cnp("pass-y", "Admin", 5, { subject: intoX, ingress: [from("Pass", [namespaces(ns("y"))])] }),
          cnp("deny-all", "Admin", 10, { subject: intoX, ingress: [from("Deny", [namespaces(all)])] }),
        ],
        expect: allowedByDefault(deny("x/*,z/*", "x/*")),
      },
    ],
  },
  {
    name: "cnp-admin-priority-accept",
    description: "Accept at priority 10 beats Deny at 20 for the same traffic (NP denies x, Accept shows)",
    steps: [
      {
        title: "accept y (10), deny y (20), NP deny into x",
        policies: [npDenyIngressX],
        clusterPolicies: [
          cnp("deny-y", "Admin", 20, { subject: intoX, ingress: [from("Deny", [namespaces(ns("y"))])] }),
          cnp("accept-y", "Admin", 10, { subject: intoX, ingress: [from("Accept", [namespaces(ns("y"))])] }),
        ],
        expect: allowedByDefault(deny("x/*,z/*", "x/*")),
      },
    ],
  },
  {
    name: "cnp-admin-priority-deny",
    description: "Deny at priority 10 beats Accept at 20 for the same traffic",
    steps: [
      {
        title: "deny y (10), accept y (20)",
        clusterPolicies: [
          cnp("accept-y", "Admin", 20, { subject: intoX, ingress: [from("Accept", [namespaces(ns("y"))])] }),
          cnp("deny-y", "Admin", 10, { subject: intoX, ingress: [from("Deny", [namespaces(ns("y"))])] }),
        ],
        expect: allowedByDefault(deny("y/*", "x/*")),
      },
    ],
  },
  {
    name: "cnp-admin-rule-order",
    description: "within one policy the first rule wins: Accept y/a, then Deny namespace y",
    steps: [
      {
        title: "accept y/a, deny y",
        clusterPolicies: [
          cnp("order", "Admin", 10, {
            subject: intoX,
            ingress: [from("Accept", [pods(ns("y"), pod("a"))]), from("Deny", [namespaces(ns("y"))])],
          }),
        ],
        expect: allowedByDefault(deny("y/b,y/c", "x/*")),
      },
    ],
  },
  {
    name: "cnp-admin-subject-pods",
    description: "subject by pods (namespace y, pod b): only y/b is protected",
    steps: [
      {
        title: "deny all into y/b",
        clusterPolicies: [
          cnp("guard-y-b", "Admin", 10, {
            subject: pods(ns("y"), pod("b")),
            ingress: [from("Deny", [namespaces(all)])],
          }),
        ],
        expect: allowedByDefault(deny("*", "y/b")),
      },
    ],
  },
  {
    name: "cnp-admin-egress-deny",
    description: "Admin egress Deny: namespace x may not reach namespace z",
    steps: [
      {
        title: "x -/-> z",
        clusterPolicies: [
          cnp("x-not-z", "Admin", 10, { subject: intoX, egress: [to("Deny", [namespaces(ns("z"))])] }),
        ],
        expect: allowedByDefault(deny("x/*", "z/*")),
      },
    ],
  },
  {
    name: "cnp-admin-egress-accept",
    description: "Admin egress Accept overrides x's NP egress deny, but y's NP ingress deny still applies",
    steps: [
      {
        title: "accept x out, NP deny x out, NP deny into y",
        clusterPolicies: [
          cnp("x-out", "Admin", 10, { subject: intoX, egress: [to("Accept", [namespaces(all)])] }),
        ],
        policies: [
          netpol("x", "deny-egress", { podSelector: all, policyTypes: ["Egress"] }),
          netpol("y", "deny-ingress", { podSelector: all, policyTypes: ["Ingress"] }),
        ],
        expect: allowedByDefault(deny("*", "y/*")),
      },
    ],
  },
  {
    name: "cnp-admin-networks",
    description: "Admin egress Deny to networks 10.73.1.48/28 (z's pods) from x",
    steps: [
      {
        title: "x -/-> 10.73.1.48/28",
        clusterPolicies: [
          cnp("x-not-net", "Admin", 10, {
            subject: intoX,
            egress: [to("Deny", [{ networks: ["10.73.1.48/28"] }])],
          }),
        ],
        expect: allowedByDefault(deny("x/*", "z/*")),
      },
    ],
  },
  {
    name: "cnp-admin-port",
    description: "Admin Deny into x on TCP 80 only",
    steps: [
      {
        title: "deny TCP 80 into x",
        clusterPolicies: [
          cnp("x-80", "Admin", 10, {
            subject: intoX,
            ingress: [from("Deny", [namespaces(all)], [{ tcp: { destinationPort: { number: 80 } } }])],
          }),
        ],
        expect: allowedByDefault(deny("*", "x/*", "tcp/80")),
      },
    ],
  },
  {
    name: "cnp-admin-port-range",
    description: "Admin egress Deny from x on UDP 80-81 (range)",
    steps: [
      {
        title: "deny UDP 80-81 out of x",
        clusterPolicies: [
          cnp("x-udp", "Admin", 10, {
            subject: intoX,
            egress: [
              to(
                "Deny",
                [namespaces(all)],
                [{ udp: { destinationPort: { range: { start: 80, end: 81 } } } }],
              ),
            ],
          }),
        ],
        expect: allowedByDefault(deny("x/*", "*", "udp/80", "udp/81")),
      },
    ],
  },
  {
    name: "cnp-admin-named-port",
    description: "Admin Deny into every pod a on the named port serve-81-tcp",
    steps: [
      {
        title: "deny serve-81-tcp into */a",
        clusterPolicies: [
          cnp("a-81", "Admin", 10, {
            subject: pods(all, pod("a")),
            ingress: [from("Deny", [namespaces(all)], [{ destinationNamedPort: "serve-81-tcp" }])],
          }),
        ],
        expect: allowedByDefault(deny("*", "*/a", "tcp/81")),
      },
    ],
  },
  {
    name: "cnp-admin-pass-to-baseline",
    description: "Admin Pass for y (1) skips an Admin Accept-all (2), so the Baseline Deny decides y",
    steps: [
      {
        title: "pass y, accept all, baseline deny all",
        clusterPolicies: [
          cnp("pass-y", "Admin", 1, { subject: intoX, ingress: [from("Pass", [namespaces(ns("y"))])] }),
          cnp("accept-all", "Admin", 2, { subject: intoX, ingress: [from("Accept", [namespaces(all)])] }),
          cnp("baseline-deny", "Baseline", 10, {
            subject: intoX,
            ingress: [from("Deny", [namespaces(all)])],
          }),
        ],
        expect: allowedByDefault(deny("y/*", "x/*")),
      },
    ],
  },
  {
    name: "cnp-update-delete",
    description: "an Admin Deny added, widened to z, then deleted",
    steps: [
      {
        title: "deny y -> x",
        clusterPolicies: [adminDenyYToX],
        expect: allowedByDefault(deny("y/*", "x/*")),
      },
      {
        title: "deny y and z -> x (updated)",
        clusterPolicies: [
          cnp("deny-y-to-x", "Admin", 10, {
            subject: intoX,
            ingress: [from("Deny", [namespaces(ns("y")), namespaces(ns("z"))])],
          }),
        ],
        expect: allowedByDefault(deny("y/*,z/*", "x/*")),
      },
      { title: "deleted", expect: allowedByDefault() },
    ],
  },
];

const baseline: Scenario[] = [
  {
    name: "cnp-baseline-deny",
    description: "Baseline Deny into x from every namespace (x itself too)",
    steps: [
      {
        title: "baseline deny into x",
        clusterPolicies: [
          cnp("baseline-x", "Baseline", 10, { subject: intoX, ingress: [from("Deny", [namespaces(all)])] }),
        ],
        expect: allowedByDefault(deny("*", "x/*")),
      },
    ],
  },
  {
    name: "cnp-baseline-under-np",
    description: "Baseline Deny into x; a NetworkPolicy admitting y into x/a overrides it for x/a only",
    steps: [
      {
        title: "baseline deny into x, NP y -> x/a",
        clusterPolicies: [
          cnp("baseline-x", "Baseline", 10, { subject: intoX, ingress: [from("Deny", [namespaces(all)])] }),
        ],
        policies: [
          netpol("x", "a-from-y", {
            podSelector: pod("a"),
            policyTypes: ["Ingress"],
            ingress: [{ from: [{ namespaceSelector: ns("y") }] }],
          }),
        ],
        expect: allowedByDefault(deny("*", "x/*"), allow("y/*", "x/a")),
      },
    ],
  },
  {
    name: "cnp-baseline-accept-below-np",
    description: "a Baseline Accept does not override a NetworkPolicy denying ingress to x",
    steps: [
      {
        title: "NP deny into x, baseline accept all",
        policies: [npDenyIngressX],
        clusterPolicies: [
          cnp("baseline-accept", "Baseline", 10, {
            subject: intoX,
            ingress: [from("Accept", [namespaces(all)])],
          }),
        ],
        expect: allowedByDefault(deny("*", "x/*")),
      },
    ],
  },
  {
    name: "cnp-baseline-priority",
    description: "Baseline Accept from y at 10 beats Baseline Deny-all at 20",
    steps: [
      {
        title: "baseline accept y (10), deny all (20)",
        clusterPolicies: [
          cnp("baseline-deny", "Baseline", 20, {
            subject: intoX,
            ingress: [from("Deny", [namespaces(all)])],
          }),
          cnp("baseline-accept-y", "Baseline", 10, {
            subject: intoX,
            ingress: [from("Accept", [namespaces(ns("y"))])],
          }),
        ],
        expect: allowedByDefault(deny("x/*,z/*", "x/*")),
      },
    ],
  },
  {
    name: "cnp-baseline-egress",
    description: "Baseline egress Deny x -> y; x/a's NetworkPolicy allowing all egress overrides it for x/a",
    steps: [
      {
        title: "baseline deny x -> y, NP x/a allow all out",
        clusterPolicies: [
          cnp("x-not-y", "Baseline", 10, { subject: intoX, egress: [to("Deny", [namespaces(ns("y"))])] }),
        ],
        policies: [netpol("x", "a-out", { podSelector: pod("a"), policyTypes: ["Egress"], egress: [{}] })],
        expect: allowedByDefault(deny("x/b,x/c", "y/*")),
      },
    ],
  },
];

export const clusterPolicyScenarios: Scenario[] = [...admin, ...baseline];
