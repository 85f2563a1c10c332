// Table-driven tests of the service planner's semantics (kube-proxy nftables mode), no kernel.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { type endpoint, port, service, slice, snapshot } from "./fixtures.ts";
import { planOnce } from "./render.ts";

const web = (over: Parameters<typeof service>[2] = {}) => service("default", "web", over);
const C4 = "svc-c4-default/web/tcp/http";
const L4 = "svc-l4-default/web/tcp/http";
const X4 = "svc-x4-default/web/tcp/http";
const F4 = "svc-f4-default/web/tcp/http";

const dnats = (rules: string[] | undefined) =>
  (rules ?? []).map((r) => /dnat ip6? to (\S+)/.exec(r)?.[1]).filter((x): x is string => !!x);

const endpointChoice = suite("endpoint choice");
const choiceCases: { name: string; endpoints: Parameters<typeof endpoint>[0][]; expect: string[] }[] = [
  {
    name: "ready endpoints only",
    endpoints: ["10.1.0.1", { ip: "10.1.0.2", ready: false }],
    expect: ["10.1.0.1:8080"],
  },
  {
    name: "ready preferred over serving+terminating",
    endpoints: ["10.1.0.1", { ip: "10.1.0.2", ready: false, serving: true, terminating: true }],
    expect: ["10.1.0.1:8080"],
  },
  {
    name: "serving+terminating when none is ready",
    endpoints: [
      { ip: "10.1.0.2", ready: false, serving: true, terminating: true },
      { ip: "10.1.0.3", ready: false, serving: false, terminating: true },
    ],
    expect: ["10.1.0.2:8080"],
  },
  {
    name: "never an endpoint that is neither ready nor serving+terminating",
    endpoints: [
      { ip: "10.1.0.2", ready: false, serving: true, terminating: false },
      { ip: "10.1.0.3", ready: false, serving: false, terminating: true },
    ],
    expect: [],
  },
];
for (const c of choiceCases) {
  endpointChoice(c.name, () => {
    const svc = web();
    const { view } = planOnce(snapshot([svc], [slice(svc, c.endpoints)]));
    assert.equal(dnats(view.chain(C4)).sort(), c.expect);
    if (c.expect.length === 0) {
      assert.is(view.chain(C4), undefined);
      assert.equal(view.elements("services-no-endpoints4"), ["10.96.0.10 . tcp . 80 : goto services-reject"]);
    }
  });
}
endpointChoice.run();

const types = suite("service types");
types("ClusterIP dispatches through services-ips4 to the cluster chain", () => {
  const svc = web();
  const { view } = planOnce(snapshot([svc], [slice(svc, ["10.1.0.1", "10.1.0.2"])]));
  assert.equal(view.elements("services-ips4"), [`10.96.0.10 . tcp . 80 : goto ${C4}`]);
  assert.equal(view.elements("services-cluster-ips4"), ["10.96.0.10"]);
  assert.equal(view.chain(C4), [
    "numgen random mod 2 < 1 meta l4proto tcp dnat ip to 10.1.0.1:8080",
    "meta l4proto tcp dnat ip to 10.1.0.2:8080",
  ]);
  assert.equal(view.elements("services-hairpin4"), ["10.1.0.1 . 10.1.0.1", "10.1.0.2 . 10.1.0.2"]);
  assert.is(view.chain(X4), undefined, "no external chain for a ClusterIP-only service");
});

types("NodePort, external IPs and load-balancer IPs go through the external chain, which masquerades", () => {
  const svc = web({
    type: "LoadBalancer",
    ports: [port("http", "TCP", 80, 8080, 30080)],
    externalIPs: ["192.168.5.5"],
    loadBalancerIPs: ["192.168.6.6"],
  });
  const { view } = planOnce(snapshot([svc], [slice(svc, ["10.1.0.1"])]));
  assert.equal(view.elements("services-ips4"), [
    `10.96.0.10 . tcp . 80 : goto ${C4}`,
    `192.168.5.5 . tcp . 80 : goto ${X4}`,
    `192.168.6.6 . tcp . 80 : goto ${X4}`,
  ]);
  assert.equal(view.elements("services-nodeports4"), [`tcp . 30080 : goto ${X4}`]);
  assert.equal(view.elements("services-nodeport-ips4"), ["192.168.1.1"]);
  assert.equal(view.chain(X4), ["jump services-mark-masquerade", `goto ${C4}`]);
  assert.equal(view.elements("services-no-endpoints4"), []);
});

types("a service without endpoints is rejected on every address and node port", () => {
  const svc = web({
    type: "NodePort",
    ports: [port("http", "TCP", 80, 8080, 30080)],
    externalIPs: ["192.168.5.5"],
  });
  const { view } = planOnce(snapshot([svc], []));
  assert.equal(view.elements("services-ips4"), []);
  assert.equal(view.elements("services-no-endpoints4"), [
    "10.96.0.10 . tcp . 80 : goto services-reject",
    "192.168.5.5 . tcp . 80 : goto services-reject",
  ]);
  assert.equal(view.elements("services-no-endpoint-nodeports4"), ["tcp . 30080 : goto services-reject"]);
  assert.equal(view.chainNames(), []);
  assert.equal(view.elements("services-cluster-ips4"), ["10.96.0.10"], "still an active ClusterIP");
});

types("UDP and SCTP ports are programmed with their protocol", () => {
  const svc = web({ ports: [port("dns", "UDP", 53, 5353), port("sig", "SCTP", 9000, 9000)] });
  const { view } = planOnce(snapshot([svc], [slice(svc, ["10.1.0.1"])]));
  assert.equal(view.elements("services-ips4"), [
    "10.96.0.10 . udp . 53 : goto svc-c4-default/web/udp/dns",
    "10.96.0.10 . sctp . 9000 : goto svc-c4-default/web/sctp/sig",
  ]);
  assert.equal(view.chain("svc-c4-default/web/udp/dns"), ["meta l4proto udp dnat ip to 10.1.0.1:5353"]);
  assert.equal(view.chain("svc-c4-default/web/sctp/sig"), ["meta l4proto sctp dnat ip to 10.1.0.1:9000"]);
});

types("headless and ExternalName services are not programmed", () => {
  const headless = service("default", "headless", { clusterIPs: [], ipFamilies: [] });
  const ext = service("default", "ext", { type: "ExternalName", clusterIPs: [], ipFamilies: [] });
  const { view } = planOnce(snapshot([headless, ext], [slice(headless, ["10.1.0.1"])]));
  assert.equal(view.chainNames(), []);
  assert.equal(view.plan.stats, { services: 0, servicePorts: 0, endpoints: 0 });
  assert.equal(view.plan.problems, []);
});
types.run();

const policies = suite("traffic policies");
const local = { ip: "10.1.0.1", node: "node-a" };
const remote = { ip: "10.1.1.1", node: "node-b" };
const external = {
  type: "NodePort" as const,
  ports: [port("http", "TCP", 80, 8080, 30080)],
  externalIPs: ["192.168.5.5"],
};

policies("eTP=Local: short-circuits for pods and the node, then only local endpoints", () => {
  const svc = web({ ...external, externalTrafficPolicy: "Local" });
  const { view } = planOnce(snapshot([svc], [slice(svc, [local, remote])]));
  assert.equal(view.chain(X4), [
    `ip saddr @services-cluster-cidrs4 goto ${C4} comment "short-circuit pod traffic"`,
    'fib saddr type local jump services-mark-masquerade comment "masquerade local traffic"',
    `fib saddr type local goto ${C4} comment "short-circuit local traffic"`,
    `goto ${L4}`,
  ]);
  assert.equal(dnats(view.chain(L4)), ["10.1.0.1:8080"]);
  assert.equal(dnats(view.chain(C4)).sort(), ["10.1.0.1:8080", "10.1.1.1:8080"]);
  assert.equal(view.elements("services-no-endpoints4"), []);
  assert.equal(
    view.elements("services-hairpin4"),
    ["10.1.0.1 . 10.1.0.1"],
    "only this node's pods can hairpin",
  );
});

policies("eTP=Local without a local endpoint drops external traffic but keeps the short-circuits", () => {
  const svc = web({ ...external, externalTrafficPolicy: "Local" });
  const { view } = planOnce(snapshot([svc], [slice(svc, [remote])]));
  assert.equal(view.chain(L4), undefined);
  assert.equal(view.chain(X4)?.length, 3);
  assert.not.ok(view.chain(X4)!.some((r) => r.includes(L4)));
  assert.equal(view.elements("services-ips4"), [
    `10.96.0.10 . tcp . 80 : goto ${C4}`,
    `192.168.5.5 . tcp . 80 : goto ${X4}`,
  ]);
  assert.equal(view.elements("services-no-endpoints4"), ["192.168.5.5 . tcp . 80 : drop"]);
  assert.equal(view.elements("services-no-endpoint-nodeports4"), ["tcp . 30080 : drop"]);
});

policies("iTP=Local: ClusterIP traffic only to local endpoints, dropped when there is none", () => {
  const svc = web({ internalTrafficPolicy: "Local" });
  const withLocal = planOnce(snapshot([svc], [slice(svc, [local, remote])])).view;
  assert.equal(withLocal.elements("services-ips4"), [`10.96.0.10 . tcp . 80 : goto ${L4}`]);
  assert.equal(dnats(withLocal.chain(L4)), ["10.1.0.1:8080"]);
  assert.equal(withLocal.chain(C4), undefined);
  const without = planOnce(snapshot([svc], [slice(svc, [remote])])).view;
  assert.equal(without.elements("services-ips4"), []);
  assert.equal(without.elements("services-no-endpoints4"), ["10.96.0.10 . tcp . 80 : drop"]);
});

policies(
  "iTP=Local with eTP=Local: pod traffic short-circuits to the local chain, the node's to the cluster chain",
  () => {
    const svc = web({ ...external, externalTrafficPolicy: "Local", internalTrafficPolicy: "Local" });
    const { view } = planOnce(snapshot([svc], [slice(svc, [local, remote])]));
    assert.equal(view.elements("services-ips4")[0], `10.96.0.10 . tcp . 80 : goto ${L4}`);
    assert.equal(view.chain(X4), [
      `ip saddr @services-cluster-cidrs4 goto ${L4} comment "short-circuit pod traffic"`,
      'fib saddr type local jump services-mark-masquerade comment "masquerade local traffic"',
      `fib saddr type local goto ${C4} comment "short-circuit local traffic"`,
      `goto ${L4}`,
    ]);
  },
);

policies("local endpoints fall back to serving+terminating ones of this node", () => {
  const svc = web({ internalTrafficPolicy: "Local" });
  const eps = [{ ...local, ready: false, serving: true, terminating: true }, remote];
  const { view } = planOnce(snapshot([svc], [slice(svc, eps)]));
  assert.equal(dnats(view.chain(L4)), ["10.1.0.1:8080"]);
});

policies("topology hints restrict cluster endpoints to this node's zone when all have hints", () => {
  const svc = web();
  const eps = [
    { ip: "10.1.0.1", hints: ["zone-a"] },
    { ip: "10.1.0.2", hints: ["zone-b"] },
  ];
  const zoned = planOnce(snapshot([svc], [slice(svc, eps)]), { nodeZone: "zone-a" }).view;
  assert.equal(dnats(zoned.chain(C4)), ["10.1.0.1:8080"]);
  const unhinted = planOnce(snapshot([svc], [slice(svc, [eps[0], "10.1.0.2"])]), { nodeZone: "zone-a" }).view;
  assert.equal(dnats(unhinted.chain(C4)).length, 2);
});
policies.run();

const filtering = suite("reject, drop, source ranges, masquerade");
filtering("undefined ports of ClusterIPs are rejected and unallocated service IPs dropped", () => {
  const svc = web();
  const { view } = planOnce(snapshot([svc], [slice(svc, ["10.1.0.1"])]));
  assert.equal(view.chain("services-cluster-ips-check"), [
    'ip daddr @services-cluster-ips4 reject with icmp port-unreachable comment "undefined port of a ClusterIP"',
    'ip daddr 10.96.0.0/16 drop comment "unallocated ClusterIP"',
    'ip6 daddr @services-cluster-ips6 reject with icmpv6 port-unreachable comment "undefined port of a ClusterIP"',
    'ip6 daddr fd96::/112 drop comment "unallocated ClusterIP"',
  ]);
  assert.equal(view.chain("services-filter-forward"), [
    "ct state new jump services-endpoints-check",
    "ct state new jump services-cluster-ips-check",
  ]);
});

filtering("loadBalancerSourceRanges guard the load-balancer IPs only", () => {
  const svc = web({
    type: "LoadBalancer",
    externalIPs: ["192.168.5.5"],
    loadBalancerIPs: ["192.168.6.6"],
    loadBalancerSourceRanges: ["203.0.113.0/24", "2001:db8::/64"],
  });
  const { view } = planOnce(snapshot([svc], [slice(svc, ["10.1.0.1"])]));
  assert.equal(view.elements("services-firewall4"), [`192.168.6.6 . tcp . 80 : goto ${F4}`]);
  assert.equal(view.chain(F4), ["ip saddr 203.0.113.0/24 return", "drop"]);
});

filtering("a source range that contains the node IP also allows the VIP itself", () => {
  const svc = web({
    type: "LoadBalancer",
    loadBalancerIPs: ["192.168.6.6"],
    loadBalancerSourceRanges: ["192.168.0.0/16"],
  });
  const { view } = planOnce(snapshot([svc], [slice(svc, ["10.1.0.1"])]));
  assert.equal(view.chain(F4), ["ip saddr 192.168.0.0/16 return", "ip saddr 192.168.6.6 return", "drop"]);
});

const dispatchCases = [
  {
    name: "off-cluster traffic to ClusterIPs is masqueraded",
    config: {},
    expect:
      "ip daddr @services-cluster-ips4 ip saddr != @services-cluster-cidrs4 jump services-mark-masquerade",
  },
  {
    name: "masqueradeAll masquerades all ClusterIP traffic",
    config: { masqueradeAll: true },
    expect: "ip daddr @services-cluster-ips4 jump services-mark-masquerade",
  },
  {
    name: "without cluster CIDRs there is no off-cluster rule",
    config: { clusterCIDRs: [] },
    expect: undefined,
  },
];
for (const c of dispatchCases) {
  filtering(c.name, () => {
    const svc = web();
    const { view } = planOnce(snapshot([svc], [slice(svc, ["10.1.0.1"])]), c.config);
    const rules = view.chain("services-dispatch")!;
    const masq = rules.filter((r) => r.startsWith("ip daddr @services-cluster-ips4"));
    assert.equal(masq, c.expect ? [c.expect] : []);
    assert.ok(rules.includes("ip daddr . meta l4proto . th dport vmap @services-ips4"));
  });
}

filtering("hairpin and marked traffic are masqueraded in postrouting", () => {
  const svc = web();
  const { view } = planOnce(snapshot([svc], [slice(svc, ["10.1.0.1"])]));
  assert.equal(view.chain("services-masquerading"), [
    "ct status dnat ip saddr . ip daddr @services-hairpin4 jump services-mark-masquerade",
    "ct status dnat ip6 saddr . ip6 daddr @services-hairpin6 jump services-mark-masquerade",
    "meta mark & 16384 != 16384 return",
    "meta mark set meta mark ^ 16384",
    "masquerade fully-random",
  ]);
});
filtering.run();

const affinity = suite("session affinity");
affinity("ClientIP affinity: one timed set per endpoint, checked first, updated on choice", () => {
  const svc = web({ sessionAffinityTimeoutSeconds: 600 });
  const { view } = planOnce(snapshot([svc], [slice(svc, ["10.1.0.1", "10.1.0.2"])]));
  const setA = "svc-a4-default/web/tcp/http/10.1.0.1/8080";
  const set = view.fragment.sets.get(setA)!;
  assert.equal(set.flags, ["dynamic", "timeout"]);
  assert.is(set.timeout, 600);
  assert.equal(view.chain(C4), [
    `ip saddr @${setA} meta l4proto tcp dnat ip to 10.1.0.1:8080`,
    "ip saddr @svc-a4-default/web/tcp/http/10.1.0.2/8080 meta l4proto tcp dnat ip to 10.1.0.2:8080",
    `numgen random mod 2 < 1 meta l4proto tcp update @${setA} { ip saddr } dnat ip to 10.1.0.1:8080`,
    "meta l4proto tcp update @svc-a4-default/web/tcp/http/10.1.0.2/8080 { ip saddr } dnat ip to 10.1.0.2:8080",
  ]);
});
affinity.run();

const dual = suite("dual stack");
dual("a dual-stack service gets one chain per family with that family's endpoints", () => {
  const svc = web({ clusterIPs: ["10.96.0.10", "fd96::10"] });
  const { view } = planOnce(
    snapshot([svc], [slice(svc, ["10.1.0.1"], { suffix: "v4" }), slice(svc, ["fd01::1"], { suffix: "v6" })]),
  );
  assert.equal(view.elements("services-ips6"), ["fd96::10 . tcp . 80 : goto svc-c6-default/web/tcp/http"]);
  assert.equal(dnats(view.chain(C4)), ["10.1.0.1:8080"]);
  assert.equal(view.chain("svc-c6-default/web/tcp/http"), ["meta l4proto tcp dnat ip6 to [fd01::1]:8080"]);
  assert.equal(view.elements("services-hairpin6"), ["fd01::1 . fd01::1"]);
});
dual("an IPv6-only service ignores IPv4 external IPs", () => {
  const svc = web({ clusterIPs: ["fd96::10"], externalIPs: ["192.168.5.5", "2001:db8::5"] });
  const { view } = planOnce(snapshot([svc], [slice(svc, ["fd01::1"])]));
  assert.equal(view.elements("services-ips4"), []);
  assert.equal(view.elements("services-ips6"), [
    "fd96::10 . tcp . 80 : goto svc-c6-default/web/tcp/http",
    "2001:db8::5 . tcp . 80 : goto svc-x6-default/web/tcp/http",
  ]);
});
dual.run();
