// The policy renderer without a kernel: names, verdicts per tier, peers and ports, determinism,
// element-only diffs for set changes, and errors that name the pod, rule and field.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { type DesiredTable, mergeFragments, type TableFragment } from "../../nft/desired.ts";
import { planSync } from "../../nft/diff.ts";
import { chainCanonicalText, statementText } from "../../nft/render-text.ts";
import { validateTable } from "../../nft/validate.ts";
import { planNodeRules } from "../../runtime/cni/node-rules.ts";
import { renderPolicy } from "../../runtime/policy/render.ts";
import {
  addressPortSetName,
  addressSetName,
  nftComment,
  POLICY_MAPS,
  podChainName,
  podPassChainName,
} from "../../runtime/policy/render-names.ts";
import { addressSets } from "../../runtime/policy/render-sets.ts";
import type {
  PodDirectionPolicy,
  PolicyDecision,
  PolicyRule,
  PortRange,
} from "../../runtime/policy/types.ts";

const test = suite("policy render");

const tcp = (first: number, last = first): PortRange => ({ protocol: "TCP", first, last });

function r(
  tier: PolicyRule["tier"],
  verdict: PolicyRule["verdict"],
  extra: Partial<PolicyRule> = {},
): PolicyRule {
  return { tier, verdict, origin: `${tier} ${verdict}`, ports: [], ...extra };
}

function pod(
  name: string,
  direction: "ingress" | "egress",
  isolated: boolean,
  rules: PolicyRule[],
  addresses = ["10.0.0.2"],
): PodDirectionPolicy {
  return { pod: name, addresses, direction, isolated, selectedBy: [], rules };
}

function decision(
  pods: PodDirectionPolicy[],
  sets: Record<string, string[]> = {},
  addressPorts = {},
): PolicyDecision {
  return {
    pods,
    addressSets: new Map(Object.entries(sets)),
    addressPortSets: new Map(Object.entries(addressPorts)),
    problems: [],
  };
}

/** The rules of one chain as text, without comments. */
function rules(f: TableFragment, name: string): string[] {
  const chain = f.chains.get(name);
  assert.ok(chain, `chain ${name} exists; have ${[...f.chains.keys()].join(", ")}`);
  return chain!.rules.map((x) => x.expr.map(statementText).join(" "));
}

function table(d: PolicyDecision): DesiredTable {
  const rendered = renderPolicy(d);
  const node = planNodeRules({ attachments: [], podCIDRs: ["10.0.0.0/24"], hooks: rendered.hooks });
  return mergeFragments("inet", "wasmplane", [node, rendered.fragment], ["node", "policy"]);
}

const A = "x/a";
const ingressA = podChainName("ingress", A);

test("names: pol- prefix, stable, per pod and direction, per set id and family", () => {
  assert.is(ingressA, podChainName("ingress", A));
  assert.match(ingressA, /^pol-i-[0-9a-f]{16}$/);
  assert.match(podChainName("egress", A), /^pol-e-[0-9a-f]{16}$/);
  assert.is.not(podChainName("ingress", "x/b"), ingressA);
  assert.is(podPassChainName("ingress", A), `${ingressA}-np`);
  const id = "np x/web ingress 0 peers";
  assert.match(addressSetName(id, 4, "h"), /^pol-a4h-[0-9a-f]{16}$/);
  assert.is.not(addressSetName(id, 6, "n"), addressSetName(id, 4, "n"));
  assert.match(addressPortSetName(id, 6), /^pol-p6-/);
  assert.equal(Object.values(POLICY_MAPS), ["pol-in4", "pol-in6", "pol-eg4", "pol-eg6"]);
  const f = renderPolicy(
    decision([pod(A, "ingress", true, [r("networkpolicy", "allow", { peers: id })])], { [id]: [] }),
  );
  for (const name of [...f.fragment.chains.keys(), ...f.fragment.sets.keys()]) assert.match(name, /^pol-/);
});

test("hooks: established and related first, then dispatch by the pod's address per family", () => {
  const { hooks } = renderPolicy(decision([]));
  const text = (rs: typeof hooks.egress) => rs.map((x) => x.expr.map(statementText).join(" "));
  assert.equal(text(hooks.ingress), [
    "ct state established,related return",
    "ip daddr vmap @pol-in4",
    "ip6 daddr vmap @pol-in6",
  ]);
  assert.equal(text(hooks.egress), [
    "ct state established,related return",
    "meta l4proto icmpv6 ip6 hoplimit 255 return",
    "ip saddr vmap @pol-eg4",
    "ip6 saddr vmap @pol-eg6",
  ]);
});

test("dispatch maps: each pod address goes to its chain; maps exist when empty", () => {
  const empty = renderPolicy(decision([])).fragment;
  for (const name of Object.values(POLICY_MAPS)) assert.equal(empty.sets.get(name)?.elements, []);
  const f = renderPolicy(
    decision([
      pod(A, "ingress", true, [], ["10.0.0.2", "fd00::2"]),
      pod(A, "egress", true, [], ["10.0.0.2", "fd00::2"]),
      pod("x/b", "ingress", true, [], ["10.0.0.1"]),
    ]),
  ).fragment;
  const els = (name: string) => f.sets.get(name)!.elements.map((e) => [e.key, e.value]);
  assert.equal(els(POLICY_MAPS.ingress4), [
    ["10.0.0.1", { goto: { target: podChainName("ingress", "x/b") } }],
    ["10.0.0.2", { goto: { target: ingressA } }],
  ]);
  assert.equal(els(POLICY_MAPS.ingress6), [["fd00::2", { goto: { target: ingressA } }]]);
  assert.equal(els(POLICY_MAPS.egress4), [["10.0.0.2", { goto: { target: podChainName("egress", A) } }]]);
  assert.equal(f.sets.get(POLICY_MAPS.ingress4)!.map, "verdict");
});

test("verdicts per tier: admin allow/deny, networkpolicy allow, isolation drop, baseline", () => {
  const f = renderPolicy(
    decision(
      [
        pod(A, "ingress", true, [
          r("baseline", "deny", { peers: "s" }),
          r("admin", "allow", { peers: "s" }),
          r("networkpolicy", "allow", { ports: [tcp(80)] }),
          r("admin", "deny"),
          r("baseline", "allow"),
        ]),
      ],
      { s: [] },
    ),
  ).fragment;
  const h = addressSetName("s", 4, "h");
  // Set s has no CIDRs: only its single-address set is looked up.
  assert.equal(rules(f, ingressA), [
    "ip saddr 10.0.0.2 return",
    `ip saddr @${h} return`,
    "counter drop",
    "meta l4proto tcp th dport 80 return",
    "counter drop",
    `ip saddr @${h} counter drop`,
    "return",
  ]);
  assert.equal(f.chains.get(ingressA)!.rules[4].comment, "isolated for ingress: no NetworkPolicy allows it");
  assert.equal(f.chains.get(ingressA)!.rules[1].comment, "admin allow");
  assert.not.ok(f.chains.has(podPassChainName("ingress", A)), "no pass rule, no second chain");
});

test("not isolated: no drop between the networkpolicy and baseline tiers; the end returns", () => {
  const f = renderPolicy(
    decision([pod(A, "egress", false, [r("baseline", "deny", { ports: [tcp(53)] })])]),
  ).fragment;
  assert.equal(rules(f, podChainName("egress", A)), [
    "ip daddr 10.0.0.2 return",
    "meta l4proto tcp th dport 53 counter drop",
  ]);
});

test("admin pass: goto the pod's networkpolicy chain, and the admin part ends there", () => {
  const f = renderPolicy(
    decision(
      [
        pod(A, "ingress", true, [
          r("admin", "pass", { peers: "p" }),
          r("admin", "deny"),
          r("networkpolicy", "allow", { peers: "p" }),
        ]),
      ],
      {
        p: ["10.1.0.0/16"],
      },
    ),
  ).fragment;
  const np = podPassChainName("ingress", A);
  const h = addressSetName("p", 4, "h");
  const n = addressSetName("p", 4, "n");
  assert.equal(rules(f, ingressA), [
    "ip saddr 10.0.0.2 return",
    `ip saddr @${h} goto ${np}`,
    `ip saddr @${n} goto ${np}`,
    "counter drop",
    `goto ${np}`,
  ]);
  assert.equal(rules(f, np), [`ip saddr @${h} return`, `ip saddr @${n} return`, "counter drop"]);
});

test("the pod reaches itself first, per family, whatever the tiers say", () => {
  const f = renderPolicy(
    decision([pod(A, "ingress", true, [r("admin", "deny")], ["fd00::3", "10.0.0.2", "10.0.0.9"])]),
  ).fragment;
  assert.equal(rules(f, ingressA).slice(0, 2), [
    "ip saddr { 10.0.0.2, 10.0.0.9 } return",
    "ip6 saddr fd00::3 return",
  ]);
});

test("ports: per protocol, sorted and merged, single ports, ranges and sets; SCTP like TCP", () => {
  const ports: PortRange[] = [
    { protocol: "UDP", first: 53, last: 53 },
    tcp(8080, 8090),
    tcp(80),
    tcp(8085, 8100),
    tcp(81),
    { protocol: "SCTP", first: 9000, last: 9000 },
  ];
  const f = renderPolicy(
    decision([pod(A, "ingress", true, [r("networkpolicy", "allow", { ports })])]),
  ).fragment;
  assert.equal(rules(f, ingressA).slice(1, 4), [
    "meta l4proto tcp th dport { 80-81, 8080-8100 } return",
    "meta l4proto udp th dport 53 return",
    "meta l4proto sctp th dport 9000 return",
  ]);
});

test("ports: 0-65535 (a protocol without a port) is the protocol alone; a range from 0 starts at 1", () => {
  const ports: PortRange[] = [tcp(0, 65535), tcp(80), { protocol: "UDP", first: 0, last: 100 }];
  const f = renderPolicy(
    decision([pod(A, "ingress", true, [r("networkpolicy", "allow", { ports })])]),
  ).fragment;
  assert.equal(rules(f, ingressA).slice(1, 3), [
    "meta l4proto tcp return",
    "meta l4proto udp th dport 1-100 return",
  ]);
});

test("peers: egress matches the destination; a dual-stack pod gets both families", () => {
  const f = renderPolicy(
    decision(
      [
        pod(
          A,
          "egress",
          true,
          [r("networkpolicy", "allow", { peers: "to", ports: [tcp(443)] })],
          ["10.0.0.2", "fd00::2"],
        ),
      ],
      {
        to: ["10.9.0.1"],
      },
    ),
  ).fragment;
  const got = rules(f, podChainName("egress", A));
  assert.equal(got.slice(2, 4), [
    `ip daddr @${addressSetName("to", 4, "h")} meta l4proto tcp th dport 443 return`,
    `ip6 daddr @${addressSetName("to", 6, "h")} meta l4proto tcp th dport 443 return`,
  ]);
});

test("an IPv6-only pod gets IPv6 rules and IPv6 dispatch only", () => {
  const f = renderPolicy(
    decision(
      [pod(A, "ingress", true, [r("networkpolicy", "allow", { peers: "s", ports: [tcp(80)] })], ["fd00::2"])],
      {
        s: ["fd00::/64", "10.0.0.0/8"],
      },
    ),
  ).fragment;
  assert.equal(rules(f, ingressA), [
    "ip6 saddr fd00::2 return",
    `ip6 saddr @${addressSetName("s", 6, "h")} meta l4proto tcp th dport 80 return`,
    `ip6 saddr @${addressSetName("s", 6, "n")} meta l4proto tcp th dport 80 return`,
    "counter drop",
  ]);
  assert.is(f.sets.get(POLICY_MAPS.ingress4)!.elements.length, 0);
  assert.is(f.sets.get(POLICY_MAPS.ingress6)!.elements.length, 1);
});

test("address sets: single addresses apart from CIDRs, nested CIDRs dropped, a CIDR set only with CIDRs", () => {
  const sets = addressSets("s", [
    "10.0.0.3",
    "10.1.2.0/24",
    "10.0.0.0/8",
    "10.0.0.3/32",
    "192.168.0.0/16",
    "fd00:0::0009",
    "fd00::/64",
  ]);
  const get = (part: "h" | "n", family: 4 | 6) =>
    sets.find((x) => x.name === addressSetName("s", family, part))!;
  const keys = (part: "h" | "n", family: 4 | 6) => get(part, family).elements.map((e) => e.key);
  assert.equal(keys("h", 4), ["10.0.0.3"]);
  assert.equal(keys("n", 4), [
    { prefix: { addr: "10.0.0.0", len: 8 } },
    { prefix: { addr: "192.168.0.0", len: 16 } },
  ]);
  assert.equal(keys("h", 6), ["fd00::9"]);
  assert.equal(keys("n", 6), [{ prefix: { addr: "fd00::", len: 64 } }]);
  assert.equal(get("n", 4).flags, ["interval"]);
  assert.is(get("h", 4).flags, undefined);
  // Without CIDRs there is no interval set; the single-address sets exist even when empty.
  assert.equal(
    addressSets("e", []).map((x) => [x.name, x.elements.length]),
    [
      [addressSetName("e", 4, "h"), 0],
      [addressSetName("e", 6, "h"), 0],
    ],
  );
});

test("only the sets a rule refers to are rendered (an IPv4-only pod needs no IPv6 sets)", () => {
  const f = renderPolicy(
    decision([pod(A, "ingress", true, [r("networkpolicy", "allow", { peers: "s" })])], {
      s: ["10.0.0.3", "fd00::3", "10.9.0.0/16"],
      unused: ["10.0.0.4"],
    }),
  ).fragment;
  const names = [...f.sets.keys()].filter((n) => n.startsWith("pol-a"));
  assert.equal(names.sort(), [addressSetName("s", 4, "h"), addressSetName("s", 4, "n")].sort());
});

test("address-port sets: destination . protocol . port, per family", () => {
  const ap = {
    named: [
      { address: "10.0.0.7", protocol: "TCP", port: 8080 },
      { address: "fd00::7", protocol: "UDP", port: 53 },
      { address: "10.0.0.5", protocol: "SCTP", port: 80 },
    ],
  };
  const f = renderPolicy(
    decision(
      [
        pod(
          A,
          "egress",
          true,
          [r("networkpolicy", "allow", { addressPorts: "named" })],
          ["10.0.0.2", "fd00::2"],
        ),
      ],
      {},
      ap,
    ),
  ).fragment;
  const set4 = f.sets.get(addressPortSetName("named", 4))!;
  assert.equal(set4.type, ["ipv4_addr", "inet_proto", "inet_service"]);
  assert.equal(
    set4.elements.map((e) => e.key),
    [{ concat: ["10.0.0.5", "sctp", 80] }, { concat: ["10.0.0.7", "tcp", 8080] }],
  );
  assert.equal(
    f.sets.get(addressPortSetName("named", 6))!.elements.map((e) => e.key),
    [{ concat: ["fd00::7", "udp", 53] }],
  );
  assert.ok(
    rules(f, podChainName("egress", A)).includes(
      `ip daddr . meta l4proto . th dport @${addressPortSetName("named", 4)} return`,
    ),
  );
});

test("deterministic: the same decision in another order renders the same table", () => {
  const pods = [
    pod(A, "ingress", true, [r("networkpolicy", "allow", { peers: "s1" })]),
    pod("x/b", "egress", true, [r("networkpolicy", "allow", { peers: "s2" })], ["10.0.0.3"]),
  ];
  const one = table(decision(pods, { s1: ["10.0.0.3", "10.2.0.0/16"], s2: ["10.0.0.2"] }));
  const two = table(decision([...pods].reverse(), { s2: ["10.0.0.2"], s1: ["10.2.0.0/16", "10.0.0.3"] }));
  assert.equal(planSync(one, two).tx.size, 0, "no difference");
  assert.equal([...one.chains.keys()].sort(), [...two.chains.keys()].sort());
  for (const [name, chain] of one.chains)
    assert.is(chainCanonicalText(chain, "inet"), chainCanonicalText(two.chains.get(name)!, "inet"));
});

test("a decision differing only in set contents diffs to element operations only", () => {
  const pods = [
    pod(A, "ingress", true, [
      r("admin", "deny", { peers: "d" }),
      r("networkpolicy", "allow", { peers: "s", ports: [tcp(80)] }),
    ]),
    pod(A, "egress", true, [r("networkpolicy", "allow", { addressPorts: "ap" })]),
  ];
  // Peer pods come and go (single addresses); the ipBlock's CIDR changes within the CIDR set.
  const before = table(
    decision(
      pods,
      { s: ["10.0.0.3", "10.5.0.0/16"], d: [] },
      { ap: [{ address: "10.0.0.3", protocol: "TCP", port: 80 }] },
    ),
  );
  const after = table(
    decision(
      pods,
      { s: ["10.0.0.4", "fd00::4", "10.6.0.0/16"], d: ["10.0.0.9"] },
      { ap: [{ address: "10.0.0.4", protocol: "TCP", port: 80 }] },
    ),
  );
  const plan = planSync(before, after);
  assert.ok(plan.tx.size > 0);
  assert.equal([...new Set(plan.tx.ops.map((op) => op.kind))], ["element"]);
  assert.equal(
    { ...plan.stats, elementsAdded: 0, elementsDeleted: 0 },
    {
      chainsAdded: 0,
      chainsChanged: 0,
      chainsDeleted: 0,
      setsAdded: 0,
      setsRecreated: 0,
      setsDeleted: 0,
      elementsAdded: 0,
      elementsDeleted: 0,
    },
  );
  assert.is(plan.stats.elementsAdded, 4);
  assert.is(plan.stats.elementsDeleted, 3);
  // No verdict-map element among them: the kernel does not revalidate the jump graph.
  for (const op of plan.tx.ops) if (op.kind === "element") assert.not.ok(op.isMap, `${op.set} is a set`);
});

test("the rendered table with the node rules validates", () => {
  const d = decision(
    [
      pod(
        A,
        "ingress",
        true,
        [
          r("admin", "pass", { peers: "s" }),
          r("networkpolicy", "allow", { peers: "s", ports: [tcp(80, 90)] }),
        ],
        ["10.0.0.2", "fd00::2"],
      ),
      pod(A, "egress", false, [r("baseline", "deny", { addressPorts: "ap" })], ["10.0.0.2", "fd00::2"]),
    ],
    { s: ["10.0.0.0/8", "10.0.0.3", "fd00::/64"] },
    { ap: [{ address: "fd00::3", protocol: "UDP", port: 53 }] },
  );
  validateTable(table(d));
});

test("node rules and policy planned again as new, equal objects diff to nothing; one changed address to its element", () => {
  const attachments = (n: number, last = "10.0.0.99") =>
    Array.from({ length: n }, (_, i) => ({
      hostInterface: `wp${String(i).padStart(11, "0")}`,
      addresses: [i === n - 1 ? last : `10.0.0.${i + 10}`],
    }));
  const plan = (d: PolicyDecision, last?: string) => {
    const rendered = renderPolicy(d);
    const node = planNodeRules({
      attachments: attachments(40, last),
      podCIDRs: ["10.0.0.0/24"],
      hooks: rendered.hooks,
    });
    return mergeFragments("inet", "wasmplane", [node, rendered.fragment], ["node", "policy"]);
  };
  const d = () =>
    decision([pod(A, "ingress", true, [r("networkpolicy", "allow", { peers: "s", ports: [tcp(80)] })])], {
      s: ["10.0.0.3", "10.0.0.4"],
    });
  const first = plan(d());
  assert.is(planSync(first, plan(d())).tx.size, 0, "equal new objects: nothing to do");
  const moved = planSync(first, plan(d(), "10.0.0.98"));
  assert.equal(
    moved.tx.ops.map((op) => op.kind),
    ["element", "element"],
  );
  assert.equal(
    {
      added: moved.stats.elementsAdded,
      deleted: moved.stats.elementsDeleted,
      chains: moved.stats.chainsChanged,
    },
    { added: 1, deleted: 1, chains: 0 },
  );
});

test("inconsistent decisions are errors naming the pod, the rule and the field", () => {
  const one =
    (rule: PolicyRule, sets = {}) =>
    () =>
      renderPolicy(decision([pod(A, "ingress", true, [r("admin", "allow"), rule])], sets));
  assert.throws(
    one(r("networkpolicy", "allow", { peers: "nope" })),
    /pod x\/a ingress rules\[1\]\.peers: unknown address set "nope"/,
  );
  assert.throws(
    one(r("networkpolicy", "allow", { addressPorts: "nope" })),
    /rules\[1\]\.addressPorts: unknown address-port set/,
  );
  assert.throws(
    one(r("networkpolicy", "deny")),
    /rules\[1\]\.verdict: "deny" is not allowed in the networkpolicy tier/,
  );
  assert.throws(
    one(r("baseline", "pass")),
    /rules\[1\]\.verdict: "pass" is not allowed in the baseline tier/,
  );
  assert.throws(
    one(r("networkpolicy", "allow", { ports: [tcp(90, 80)] })),
    /rules\[1\]\.ports\[0\]: last 80 is below first 90/,
  );
  assert.throws(
    one(r("networkpolicy", "allow", { ports: [tcp(0)] })),
    /rules\[1\]\.ports\[0\]\.last: 0 is not a port/,
  );
  assert.throws(
    one(r("networkpolicy", "allow", { ports: [{ protocol: "ICMP" as "TCP", first: 1, last: 1 }] })),
    /ports\[0\]\.protocol: "ICMP"/,
  );
  assert.throws(
    () => renderPolicy(decision([], { bad: ["10.0.0.0/8", "10.0.0.300"] })),
    /address set "bad" \[1\]/,
  );
  assert.throws(
    () => renderPolicy(decision([pod(A, "ingress", true, []), pod("x/b", "ingress", true, [])])),
    /pods x\/a and x\/b share the address 10\.0\.0\.2 \(ingress\)/,
  );
  assert.throws(
    () => renderPolicy(decision([pod(A, "ingress", true, []), pod(A, "ingress", false, [])])),
    /x\/a ingress: listed twice/,
  );
  assert.throws(
    () => renderPolicy(decision([pod(A, "ingress", true, [], ["10.0.0.2", "nope"])])),
    /x\/a ingress addresses\[1\]/,
  );
});

test("comments are safe for nft: no quotes or line breaks, at most 128 bytes", () => {
  assert.is(nftComment('NetworkPolicy "x"\nnext'), "NetworkPolicy 'x' next");
  const long = nftComment("é".repeat(200));
  assert.ok(Buffer.byteLength(long) <= 128, `${Buffer.byteLength(long)} bytes`);
  assert.ok(long.endsWith("…"));
});

test("with the previous result, unchanged objects are handed back identical; the output is the same", () => {
  const pods = [
    pod(A, "ingress", true, [r("networkpolicy", "allow", { peers: "s1" })]),
    pod("x/b", "ingress", true, [r("networkpolicy", "allow", { peers: "s2" })], ["10.0.0.3"]),
  ];
  const sets = { s1: ["10.0.0.3", "10.0.0.4", "10.2.0.0/16"], s2: ["10.0.0.2"] };
  const first = renderPolicy(decision(pods, sets));
  const changed = decision([pods[0], { ...pods[1], isolated: false }], {
    ...sets,
    s1: ["10.0.0.3", "10.0.0.5", "10.2.0.0/16"],
  });
  const second = renderPolicy(changed, first);
  const f1 = first.fragment;
  const f2 = second.fragment;
  // Same output as without the previous result.
  const fresh = renderPolicy(changed).fragment;
  const asTable = (f: TableFragment) => mergeFragments("inet", "wasmplane", [f]);
  assert.is(planSync(asTable(fresh), asTable(f2)).tx.size, 0);
  // Unchanged: s2's sets, pod a's chain, the hooks, s1's CIDR set and its kept element.
  assert.is(f2.sets.get(addressSetName("s2", 4, "h")), f1.sets.get(addressSetName("s2", 4, "h")));
  assert.is(f2.sets.get(addressSetName("s1", 4, "n")), f1.sets.get(addressSetName("s1", 4, "n")));
  assert.is(f2.chains.get(ingressA), f1.chains.get(ingressA));
  assert.is(second.hooks, first.hooks);
  assert.is(f2.sets.get(POLICY_MAPS.ingress4), f1.sets.get(POLICY_MAPS.ingress4));
  const h1 = f1.sets.get(addressSetName("s1", 4, "h"))!;
  const h2 = f2.sets.get(addressSetName("s1", 4, "h"))!;
  assert.is.not(h2, h1);
  assert.is(h2.elements[0], h1.elements[0], "10.0.0.3 kept as the same object");
  assert.equal(
    h2.elements.map((e) => e.key),
    ["10.0.0.3", "10.0.0.5"],
  );
  // Changed: pod b's chain (no longer isolated).
  const b = podChainName("ingress", "x/b");
  assert.is.not(f2.chains.get(b), f1.chains.get(b));
  assert.is(f2.chains.get(b)!.rules.length, f1.chains.get(b)!.rules.length - 1);
});

test("with the previous result, a set's new contents are seen, and the same array counts as unchanged", () => {
  const pods = [pod(A, "ingress", true, [r("networkpolicy", "allow", { peers: "s" })])];
  const list = ["10.0.0.3"];
  const first = renderPolicy(decision(pods, { s: list }));
  const second = renderPolicy(decision(pods, { s: [...list, "10.0.0.4"] }), first);
  assert.equal(
    second.fragment.sets.get(addressSetName("s", 4, "h"))!.elements.map((e) => e.key),
    ["10.0.0.3", "10.0.0.4"],
  );
  // Decisions are read-only: the very array of the last render is taken as the same contents.
  const d = decision(pods, { s: list });
  const third = renderPolicy(d, renderPolicy(d));
  assert.is(third.fragment.sets.get(addressSetName("s", 4, "h"))!.elements.length, 1);
  // A reused pod chain is checked against the decision's set ids all the same.
  const fourth = renderPolicy(decision(pods, { s: [] }), second);
  assert.throws(
    () => renderPolicy(decision(pods), fourth),
    /x\/a ingress rules\[0\]\.peers: unknown address set "s"/,
  );
});

test("a peer set changed by single addresses under the same pods renders as a fresh render would", () => {
  const rules = [r("networkpolicy", "allow", { peers: "s" }), r("networkpolicy", "allow", { peers: "t" })];
  const pods = [pod(A, "ingress", true, rules), pod("x/b", "egress", true, rules, ["10.0.0.8"])];
  const steps: Record<string, string[]>[] = [
    { s: ["10.0.0.3", "10.0.0.9"], t: ["10.1.0.0/16", "10.2.0.1", "fd00::1"] },
    { s: ["10.0.0.3", "10.0.0.5", "10.0.0.9"], t: ["10.1.0.0/16", "10.2.0.1", "fd00::1"] },
    { s: ["10.0.0.9"], t: ["10.1.0.0/16", "fd00::1", "fd00::2"] },
    { s: [], t: ["10.0.0.7", "10.1.0.0/16"] },
    { s: ["10.0.0.1", "10.0.0.2", "10.0.0.3"], t: ["10.1.0.0/16", "10.3.0.1"] },
  ];
  let previous: ReturnType<typeof renderPolicy> | undefined;
  for (const [i, sets] of steps.entries()) {
    const d = { ...decision(pods, sets), pods: previous ? (previous.memo.podsSource as typeof pods) : pods };
    const patched = renderPolicy(d, previous);
    const fresh = renderPolicy(d);
    const text = (x: ReturnType<typeof renderPolicy>) =>
      JSON.stringify([[...x.fragment.chains], [...x.fragment.sets].sort(([a], [b]) => (a < b ? -1 : 1))]);
    assert.is(text(patched), text(fresh), `step ${i}`);
    if (previous) assert.is(patched.fragment.chains, previous.fragment.chains, `step ${i}: the chains stand`);
    previous = patched;
  }
});

test("with the previous result, a set gaining its first CIDR rewrites the rules that use it", () => {
  const pods = [pod(A, "ingress", true, [r("networkpolicy", "allow", { peers: "s" })])];
  const first = renderPolicy(decision(pods, { s: ["10.0.0.3"] }));
  const second = renderPolicy(decision(pods, { s: ["10.0.0.3", "10.9.0.0/16"] }), first);
  assert.ok(rules(second.fragment, ingressA).includes(`ip saddr @${addressSetName("s", 4, "n")} return`));
  assert.ok(second.fragment.sets.has(addressSetName("s", 4, "n")));
  const third = renderPolicy(decision(pods, { s: ["10.0.0.3"] }), second);
  assert.not.ok(third.fragment.sets.has(addressSetName("s", 4, "n")));
  assert.equal(rules(third.fragment, ingressA), rules(first.fragment, ingressA));
});

test.run();
