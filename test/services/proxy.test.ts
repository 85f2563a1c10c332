// The proxy's bookkeeping: LB plans and their selection rules, problems, partial re-planning,
// failed LB results, stale UDP endpoints, conflicts. No kernel.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import type { LbPlan } from "../../runtime/lb/plan.ts";
import { conntrackDeleteArgs } from "../../runtime/services/conntrack.ts";
import { ServiceProxy } from "../../runtime/services/proxy.ts";
import { MAX_CASCADE_RUNS, MAX_SLOTS } from "../../runtime/services/selection.ts";
import { port, service, slice, snapshot } from "./fixtures.ts";
import { baseConfig, chainsConfig, lbResults, planOnce, View } from "./render.ts";

const C4 = "svc-c4-default/web/tcp/http";
const web = (over: Parameters<typeof service>[2] = {}) => service("default", "web", over);
const dnats = (rules: string[] | undefined) =>
  (rules ?? []).map((r) => /dnat ip6? to (\S+)/.exec(r)?.[1]).filter((x): x is string => !!x);
const three = ["10.1.0.1", "10.1.0.2", "10.1.0.3"];

const selection = suite("selection from LB plans");
const selectionCases: { name: string; plan: LbPlan; expect: string[] }[] = [
  {
    name: "random with weights from repeated slots",
    plan: { selection: { mode: "random" }, slots: [0, 1, 1, 2] },
    expect: [
      "numgen random mod 4 < 1 meta l4proto tcp dnat ip to 10.1.0.1:8080",
      "numgen random mod 3 < 2 meta l4proto tcp dnat ip to 10.1.0.2:8080",
      "meta l4proto tcp dnat ip to 10.1.0.3:8080",
    ],
  },
  {
    name: "random leaves out endpoints without slots",
    plan: { selection: { mode: "random" }, slots: [2, 0] },
    expect: [
      "numgen random mod 2 < 1 meta l4proto tcp dnat ip to 10.1.0.3:8080",
      "meta l4proto tcp dnat ip to 10.1.0.1:8080",
    ],
  },
  {
    name: "round-robin walks the slot table in order",
    plan: { selection: { mode: "round-robin" }, slots: [0, 1, 2] },
    expect: [
      "numgen inc mod 3 0 meta l4proto tcp dnat ip to 10.1.0.1:8080",
      "numgen inc mod 2 0 meta l4proto tcp dnat ip to 10.1.0.2:8080",
      "meta l4proto tcp dnat ip to 10.1.0.3:8080",
    ],
  },
  {
    name: "hash matches runs of slots",
    plan: { selection: { mode: "hash", fields: ["saddr"], seed: 42 }, slots: [0, 0, 1, 2, 2, 0] },
    expect: [
      "jhash ip saddr mod 6 seed 0x2a 0-1 meta l4proto tcp dnat ip to 10.1.0.1:8080",
      "jhash ip saddr mod 6 seed 0x2a 2 meta l4proto tcp dnat ip to 10.1.0.2:8080",
      "jhash ip saddr mod 6 seed 0x2a 3-4 meta l4proto tcp dnat ip to 10.1.0.3:8080",
      "meta l4proto tcp dnat ip to 10.1.0.1:8080",
    ],
  },
  {
    name: "hash over several fields",
    plan: { selection: { mode: "hash", fields: ["saddr", "sport", "l4proto"], seed: 1 }, slots: [1, 0] },
    expect: [
      "jhash ip saddr . th sport . meta l4proto mod 2 seed 0x1 0 meta l4proto tcp dnat ip to 10.1.0.2:8080",
      "meta l4proto tcp dnat ip to 10.1.0.1:8080",
    ],
  },
];
for (const c of selectionCases) {
  selection(c.name, () => {
    const svc = web();
    const { view } = planOnce(snapshot([svc], [slice(svc, three)]), {}, { "default/web:http": c.plan });
    assert.equal(view.chain(C4), c.expect);
  });
}
// A hash plan is a rule cascade up to MAX_CASCADE_RUNS runs of equal slots, and one map lookup above.
const hashPlan = (slots: number[]): LbPlan => ({
  selection: { mode: "hash", fields: ["saddr"], seed: 42 },
  slots,
});
const mapRule = (m: number, entries: string[]) =>
  `meta l4proto tcp dnat ip to jhash ip saddr mod ${m} seed 0x2a map { ${entries.join(", ")} }`;
selection(`a hash plan with ${MAX_CASCADE_RUNS} runs is a cascade, with one more a single map lookup`, () => {
  const svc = web();
  const plan = (slots: number[]) =>
    planOnce(snapshot([svc], [slice(svc, three)]), {}, { "default/web:http": hashPlan(slots) }).view.chain(
      C4,
    )!;
  const atThreshold = Array.from({ length: MAX_CASCADE_RUNS }, (_, i) => i % 3);
  const cascade = plan(atThreshold);
  assert.is(cascade.length, MAX_CASCADE_RUNS);
  assert.is(
    cascade[1],
    `jhash ip saddr mod ${MAX_CASCADE_RUNS} seed 0x2a 1 meta l4proto tcp dnat ip to 10.1.0.2:8080`,
  );

  // One element per slot: fewer kernel elements than one interval (two) per run.
  const above = Array.from({ length: MAX_CASCADE_RUNS + 1 }, (_, i) => i % 3);
  assert.equal(plan(above), [
    mapRule(
      above.length,
      above.map((e, s) => `${s} : ${three[e]} . 8080`),
    ),
  ]);

  // Long runs: one interval per run is fewer elements than one per slot.
  const runs = 3 * MAX_CASCADE_RUNS;
  const long = Array.from({ length: runs * 4 }, (_, i) => Math.floor(i / 4) % 3);
  const entries = Array.from({ length: runs }, (_, r) => `${4 * r}-${4 * r + 3} : ${three[r % 3]} . 8080`);
  assert.equal(plan(long), [mapRule(long.length, entries)]);
});
selection(`a round-robin table of more than ${MAX_CASCADE_RUNS} slots is one numgen map lookup`, () => {
  const svc = web();
  const plan = (slots: number[]) =>
    planOnce(
      snapshot([svc], [slice(svc, three)]),
      {},
      {
        "default/web:http": { selection: { mode: "round-robin" }, slots },
      },
    ).view.chain(C4)!;
  assert.is(plan(Array.from({ length: MAX_CASCADE_RUNS }, (_, i) => i % 3)).length, MAX_CASCADE_RUNS);
  const above = Array.from({ length: MAX_CASCADE_RUNS + 1 }, (_, i) => i % 3);
  assert.equal(plan(above), [
    `meta l4proto tcp dnat ip to numgen inc mod ${above.length} map { ${above.map((e, s) => `${s} : ${three[e]} . 8080`).join(", ")} }`,
  ]);
});
selection("with ClientIP affinity a hash plan stays a cascade, whatever its runs", () => {
  const svc = web({ sessionAffinityTimeoutSeconds: 60 });
  const slots = Array.from({ length: MAX_CASCADE_RUNS + 1 }, (_, i) => i % 3);
  const { view } = planOnce(
    snapshot([svc], [slice(svc, three)]),
    {},
    { "default/web:http": hashPlan(slots) },
  );
  const rules = view.chain(C4)!;
  assert.is(rules.length, 3 + slots.length, "an affinity rule per endpoint, then a rule per run");
  assert.is(
    rules[3],
    "jhash ip saddr mod 65 seed 0x2a 0 meta l4proto tcp update @svc-a4-default/web/tcp/http/10.1.0.1/8080 { ip saddr } dnat ip to 10.1.0.1:8080",
  );
});
selection(`plans up to ${MAX_SLOTS} slots are drawn; more are refused as invalid`, () => {
  const svc = web();
  const big = Array.from({ length: MAX_SLOTS }, (_, i) => i % 3);
  const ok = planOnce(snapshot([svc], [slice(svc, three)]), {}, { "default/web:http": hashPlan(big) }).view;
  assert.equal(ok.plan.problems, []);
  assert.is(ok.fragment.chains.get(C4)!.rules.length, 1);
  const tooBig = planOnce(
    snapshot([svc], [slice(svc, three)]),
    {},
    { "default/web:http": hashPlan([...big, 0]) },
  ).view;
  assert.match(tooBig.plan.problems[0]?.message ?? "", `${MAX_SLOTS + 1} slots (at most ${MAX_SLOTS})`);
});
selection("requests carry the algorithm annotation, parameters, endpoints and this node's name", () => {
  const svc = web({
    annotations: { "lb.wasmplane.io/algorithm": "maglev", "lb.wasmplane.io/table-size": "7", other: "x" },
  });
  const proxy = new ServiceProxy({ ...chainsConfig, nodeZone: "zone-a" });
  const [req] = proxy.lbRequests(
    snapshot([svc], [slice(svc, [{ ip: "10.1.0.1", node: "node-a", zone: "zone-a" }])]),
  );
  assert.equal(req, {
    key: "default/web:http",
    algorithm: "maglev",
    endpoints: [{ address: "10.1.0.1", port: 8080, nodeName: "node-a", zone: "zone-a", weight: 1 }],
    nodeName: baseConfig.nodeName,
    nodeZone: "zone-a",
    params: { "table-size": "7" },
  });
});
selection.run();

const problems = suite("problems");
problems(
  "a targetPort name no slice serves is reported by field; other services are still programmed",
  () => {
    const broken = service("default", "broken", {
      clusterIPs: ["10.96.0.20"],
      ports: [port("http", "TCP", 80, "web")],
    });
    const good = web();
    const badSlice = {
      ...slice(broken, ["10.1.0.9"]),
      ports: [{ name: "metrics", protocol: "TCP" as const, port: 9090 }],
    };
    const { view } = planOnce(snapshot([broken, good], [badSlice, slice(good, ["10.1.0.1"])]));
    assert.is(view.plan.problems.length, 1);
    const p = view.plan.problems[0];
    assert.equal(
      [p.kind, p.namespace, p.name, p.field],
      ["Service", "default", "broken", "spec.ports[0].targetPort"],
    );
    assert.match(p.message, 'targetPort "web"');
    assert.equal(view.elements("services-ips4"), [`10.96.0.10 . tcp . 80 : goto ${C4}`]);
    assert.equal(view.plan.stats, { services: 1, servicePorts: 1, endpoints: 1 });
  },
);
problems("a cluster IP of the wrong family is reported and the service skipped", () => {
  const bad = web({ clusterIPs: ["10.96.0.10"], ipFamilies: ["IPv6"] });
  const { view } = planOnce(snapshot([bad], [slice(bad, ["10.1.0.1"])]));
  assert.equal(
    view.plan.problems.map((p) => p.field),
    ["spec.ipFamilies[0]"],
  );
  assert.equal(view.chainNames(), []);
});
problems("two services claiming one address and port: the first keeps it, the second is reported", () => {
  const a = service("default", "a", { externalIPs: ["192.168.5.5"] });
  const b = service("default", "b", { clusterIPs: ["10.96.0.11"], externalIPs: ["192.168.5.5"] });
  const { view } = planOnce(snapshot([a, b], [slice(a, ["10.1.0.1"]), slice(b, ["10.1.0.2"])]));
  assert.equal(
    view.elements("services-ips4").filter((e) => e.startsWith("192.168.5.5")),
    ["192.168.5.5 . tcp . 80 : goto svc-x4-default/a/tcp/http"],
  );
  assert.equal(
    view.plan.problems.map((p) => `${p.name} ${p.field}`),
    ["b spec.externalIPs"],
  );
});
problems("an invalid LB plan is reported and replaced by the built-in one", () => {
  const svc = web();
  const { view } = planOnce(
    snapshot([svc], [slice(svc, three)]),
    {},
    {
      "default/web:http": { selection: { mode: "random" }, slots: [0, 7] },
    },
  );
  assert.match(view.plan.problems[0].message, "slot 7 is not an endpoint index");
  assert.is(view.chain(C4)?.length, 3);
});
problems("a bad config names the field", () => {
  assert.throws(
    () => new ServiceProxy({ ...chainsConfig, serviceCIDRs: ["10.96.0.0/33"] }),
    /serviceCIDRs\[0\]/,
  );
  assert.throws(() => new ServiceProxy({ ...chainsConfig, nodeIPs: ["node"] }), /nodeIPs\[0\]/);
});
problems.run();

const partial = suite("partial re-planning");
function many(n: number) {
  const services = Array.from({ length: n }, (_, i) =>
    service("ns", `svc-${i}`, { clusterIPs: [`10.96.${i >> 8}.${i & 255}`] }),
  );
  const slices = services.map((s, i) => slice(s, [`10.1.${i >> 8}.${i & 255}`]));
  return { services, slices };
}

partial("after the first plan only changed services are re-planned and asked for", () => {
  const { services, slices } = many(50);
  const proxy = new ServiceProxy(chainsConfig);
  const snap1 = snapshot(services, slices);
  assert.is(proxy.lbRequests(snap1).length, 50);
  const first = new View(proxy.plan(snap1, lbResults(proxy, snap1)));
  assert.equal(proxy.lbRequests(snap1), [], "nothing to ask when nothing changed");
  const again = new View(proxy.plan(snap1, new Map()));
  for (const [name, chain] of first.fragment.chains)
    assert.ok(again.fragment.chains.get(name) === chain, name);

  const changed = slice(services[7], ["10.1.0.7", "10.1.9.9"]);
  const snap2 = snapshot(
    services,
    slices.map((s, i) => (i === 7 ? changed : s)),
  );
  const requests = proxy.lbRequests(snap2);
  assert.equal(
    requests.map((r) => r.key),
    ["ns/svc-7:http"],
  );
  const second = new View(proxy.plan(snap2, lbResults(proxy, snap2)));
  const name7 = "svc-c4-ns/svc-7/tcp/http";
  for (const [name, chain] of first.fragment.chains) {
    if (name === name7) assert.ok(second.fragment.chains.get(name) !== chain);
    else assert.ok(second.fragment.chains.get(name) === chain, `${name} kept its object`);
  }
  assert.is(second.chain(name7)?.length, 2);
});

partial("a deleted service disappears; an added one appears", () => {
  const { services, slices } = many(3);
  const proxy = new ServiceProxy(chainsConfig);
  const snap1 = snapshot(services, slices);
  proxy.plan(snap1, lbResults(proxy, snap1));
  const added = service("ns", "new", { clusterIPs: ["10.96.9.9"] });
  const snap2 = snapshot(
    [services[0], services[2], added],
    [slices[0], slices[2], slice(added, ["10.1.9.9"])],
  );
  const view = new View(proxy.plan(snap2, lbResults(proxy, snap2)));
  assert.equal(view.chainNames(), [
    "svc-c4-ns/new/tcp/http",
    "svc-c4-ns/svc-0/tcp/http",
    "svc-c4-ns/svc-2/tcp/http",
  ]);
});

partial("a failed LB result keeps the last good plan for that key", () => {
  const svc = web();
  const proxy = new ServiceProxy(chainsConfig);
  const snap1 = snapshot([svc], [slice(svc, three)]);
  const rr: LbPlan = { selection: { mode: "round-robin" }, slots: [2, 1] };
  proxy.plan(snap1, lbResults(proxy, snap1, { "default/web:http": rr }));
  // An endpoint is added and the planner fails: the old plan stays (on the endpoints still present).
  const snap2 = snapshot([svc], [slice(svc, [...three, "10.1.0.4"])]);
  const view = new View(proxy.plan(snap2, lbResults(proxy, snap2, { "default/web:http": "plugin trapped" })));
  assert.equal(view.chain(C4), [
    "numgen inc mod 2 0 meta l4proto tcp dnat ip to 10.1.0.3:8080",
    "meta l4proto tcp dnat ip to 10.1.0.2:8080",
  ]);
  assert.equal(
    proxy.lbRequests(snap2).map((r) => r.key),
    ["default/web:http"],
    "asked again next time",
  );
});

partial("invalidateLbPlans asks for every plan again", () => {
  const { services, slices } = many(4);
  const proxy = new ServiceProxy(chainsConfig);
  const snap = snapshot(services, slices);
  proxy.plan(snap, lbResults(proxy, snap));
  assert.is(proxy.lbRequests(snap).length, 0);
  proxy.invalidateLbPlans();
  assert.is(proxy.lbRequests(snap).length, 4);
});
partial("an algorithm swap by annotation draws only the selection chains again", () => {
  const ann = (alg: string) => ({ "lb.wasmplane.io/algorithm": alg });
  const nodePort = (alg: string) =>
    web({ type: "NodePort", ports: [port("http", "TCP", 80, 8080, 30080)], annotations: ann(alg) });
  const other = service("default", "other", { clusterIPs: ["10.96.0.11"], annotations: ann("random") });
  const proxy = new ServiceProxy(chainsConfig);
  const before = nodePort("random");
  const slices = [slice(before, three), slice(other, ["10.1.0.9"])];
  const snap1 = snapshot([before, other], slices);
  const first = new View(proxy.plan(snap1, lbResults(proxy, snap1)));

  // The Service object is replaced (its annotation), and the slices are re-sent as new, equal objects.
  const after = nodePort("round-robin");
  const snap2 = snapshot(
    [after, other],
    slices.map((s) => structuredClone(s)),
  );
  const requests = proxy.lbRequests(snap2);
  assert.equal(
    requests.map((r) => [r.key, r.algorithm]),
    [["default/web:http", "round-robin"]],
  );
  const rr: LbPlan = { selection: { mode: "round-robin" }, slots: [0, 1, 2] };
  const second = new View(proxy.plan(snap2, lbResults(proxy, snap2, { "default/web:http": rr })));
  assert.equal(second.chain(C4), [
    "numgen inc mod 3 0 meta l4proto tcp dnat ip to 10.1.0.1:8080",
    "numgen inc mod 2 0 meta l4proto tcp dnat ip to 10.1.0.2:8080",
    "meta l4proto tcp dnat ip to 10.1.0.3:8080",
  ]);
  for (const [name, chain] of first.fragment.chains)
    if (name === C4) assert.ok(second.fragment.chains.get(name) !== chain, name);
    else assert.ok(second.fragment.chains.get(name) === chain, `${name} kept its object`);
  for (const [name, set] of first.fragment.sets)
    assert.ok(second.fragment.sets.get(name) === set, `${name} kept its object`);
  assert.equal(second.plan.stats, first.plan.stats);

  // An annotation the planner does not read, and equal slices again: nothing to ask, nothing redrawn.
  const relabelled = { ...after, annotations: { ...after.annotations, note: "x" } };
  const snap3 = snapshot(
    [relabelled, other],
    slices.map((s) => structuredClone(s)),
  );
  assert.equal(proxy.lbRequests(snap3), []);
  const third = new View(proxy.plan(snap3, new Map()));
  for (const [name, chain] of second.fragment.chains)
    assert.ok(third.fragment.chains.get(name) === chain, `${name} kept its object`);

  // A parameter annotation changes the request: asked again; the same answer keeps the chain.
  const param = { ...after, annotations: { ...after.annotations, "lb.wasmplane.io/x": "1" } };
  const snap4 = snapshot([param, other], slices);
  const [req] = proxy.lbRequests(snap4);
  assert.equal(req.params, { x: "1" });
  const fourth = new View(proxy.plan(snap4, lbResults(proxy, snap4, { "default/web:http": rr })));
  assert.ok(fourth.fragment.chains.get(C4) === second.fragment.chains.get(C4), "same plan, same chain");
  assert.equal(proxy.lbRequests(snap4), [], "answered");

  // A change beyond annotations (the port) is planned in full.
  const moved = { ...param, ports: [port("http", "TCP", 81, 8080, 30080)] };
  const snap5 = snapshot([moved, other], slices);
  const fifth = new View(proxy.plan(snap5, lbResults(proxy, snap5, { "default/web:http": rr })));
  assert.ok(fifth.elements("services-ips4").includes(`10.96.0.10 . tcp . 81 : goto ${C4}`));
  assert.not.ok(fifth.elements("services-ips4").includes(`10.96.0.10 . tcp . 80 : goto ${C4}`));
  assert.is(dnats(fifth.chain(C4)).length, 3);
});

partial("a re-sent slice that differs in one field is planned again", () => {
  const svc = web();
  const base = slice(svc, [
    { ip: "10.1.0.1", node: "node-a" },
    { ip: "10.1.0.2", node: "node-b" },
  ]);
  const variants: [string, (s: typeof base) => void, (v: View) => void][] = [
    [
      "ready",
      (s) => {
        s.endpoints[1].conditions.ready = false;
        s.endpoints[1].conditions.serving = false;
      },
      (v) => assert.equal(dnats(v.chain(C4)), ["10.1.0.1:8080"]),
    ],
    [
      "nodeName",
      (s) => {
        s.endpoints[1].nodeName = "node-a";
      },
      (v) => assert.is(v.elements("services-hairpin4").length, 2),
    ],
    [
      "port",
      (s) => {
        s.ports[0].port = 9090;
      },
      (v) => assert.equal(dnats(v.chain(C4)), ["10.1.0.1:9090", "10.1.0.2:9090"]),
    ],
  ];
  for (const [field, change, check] of variants) {
    const proxy = new ServiceProxy(chainsConfig);
    const snap1 = snapshot([svc], [base]);
    const first = new View(proxy.plan(snap1, lbResults(proxy, snap1)));
    assert.is(first.elements("services-hairpin4").length, 1, field);
    const changed = structuredClone(base);
    change(changed);
    const snap2 = snapshot([svc], [changed]);
    check(new View(proxy.plan(snap2, lbResults(proxy, snap2))));
  }
});

partial("after invalidateLbPlans, answers equal to the stored plans keep every chain", () => {
  const { services, slices } = many(5);
  const proxy = new ServiceProxy(chainsConfig);
  const snap = snapshot(services, slices);
  const first = new View(proxy.plan(snap, lbResults(proxy, snap)));
  proxy.invalidateLbPlans();
  const second = new View(proxy.plan(snap, lbResults(proxy, snap)));
  assert.is(second.fragment.chains.size, first.fragment.chains.size);
  for (const [name, chain] of first.fragment.chains)
    assert.ok(second.fragment.chains.get(name) === chain, `${name} kept its object`);
  assert.equal(proxy.lbRequests(snap), []);
});
partial.run();

const udp = suite("stale UDP endpoints");
udp("a removed UDP endpoint is reported for each address clients use", () => {
  const svc = web({
    type: "NodePort",
    ports: [port("dns", "UDP", 53, 5353, 30053), port("http", "TCP", 80, 8080)],
    externalIPs: ["192.168.5.5"],
  });
  const proxy = new ServiceProxy(chainsConfig);
  const snap1 = snapshot([svc], [slice(svc, ["10.1.0.1", "10.1.0.2"])]);
  proxy.plan(snap1, lbResults(proxy, snap1));
  assert.equal(proxy.staleUdpEndpoints(), []);
  const snap2 = snapshot([svc], [slice(svc, ["10.1.0.1"])]);
  proxy.plan(snap2, lbResults(proxy, snap2));
  assert.equal(proxy.staleUdpEndpoints(), [
    { address: "10.1.0.2", port: 5353, serviceIP: "10.96.0.10" },
    { address: "10.1.0.2", port: 5353, serviceIP: "192.168.5.5" },
    { address: "10.1.0.2", port: 5353, serviceIP: "192.168.1.1" },
  ]);
  proxy.plan(snap2, new Map());
  assert.equal(proxy.staleUdpEndpoints(), [], "reported once");
  proxy.plan(snapshot([], []), new Map());
  assert.equal(
    proxy.staleUdpEndpoints().map((e) => e.address),
    ["10.1.0.1", "10.1.0.1", "10.1.0.1"],
  );
});
udp("conntrack delete arguments", () => {
  assert.equal(conntrackDeleteArgs({ address: "10.1.0.2", port: 5353, serviceIP: "10.96.0.10" }), [
    "-D",
    "-f",
    "ipv4",
    "-p",
    "udp",
    "--orig-dst",
    "10.96.0.10",
    "--reply-src",
    "10.1.0.2",
    "--reply-port-src",
    "5353",
  ]);
  assert.equal(conntrackDeleteArgs({ address: "fd01::2", port: 53 }).slice(0, 3), ["-D", "-f", "ipv6"]);
});
udp.run();

const shared = suite("shared elements");
shared("a pod behind two ports of one service keeps its hairpin element across re-plans", () => {
  const svc = web({ ports: [port("http", "TCP", 80, 8080), port("metrics", "TCP", 9090, 9090)] });
  const proxy = new ServiceProxy(chainsConfig);
  const snap1 = snapshot([svc], [slice(svc, ["10.1.0.1"])]);
  proxy.plan(snap1, lbResults(proxy, snap1));
  const snap2 = snapshot([svc], [slice(svc, ["10.1.0.1", "10.1.0.2"])]);
  const view = new View(proxy.plan(snap2, lbResults(proxy, snap2)));
  assert.equal(view.elements("services-hairpin4"), ["10.1.0.1 . 10.1.0.1", "10.1.0.2 . 10.1.0.2"]);
});
shared("a pod behind two services stays until both are gone; unchanged sets keep their object", () => {
  const a = service("default", "a", { clusterIPs: ["10.96.0.1"] });
  const b = service("default", "b", { clusterIPs: ["10.96.0.2"] });
  const proxy = new ServiceProxy(chainsConfig);
  const snap1 = snapshot([a, b], [slice(a, ["10.1.0.1"]), slice(b, ["10.1.0.1"])]);
  const first = new View(proxy.plan(snap1, lbResults(proxy, snap1)));
  const snap2 = snapshot([a, b], [slice(a, ["10.1.0.1"]), slice(b, ["10.1.0.2"])]);
  const second = new View(proxy.plan(snap2, lbResults(proxy, snap2)));
  assert.equal(second.elements("services-hairpin4"), ["10.1.0.1 . 10.1.0.1", "10.1.0.2 . 10.1.0.2"]);
  assert.ok(
    first.fragment.sets.get("services-ips4") === second.fragment.sets.get("services-ips4"),
    "services-ips4 did not change",
  );
  const snap3 = snapshot([b], [slice(b, ["10.1.0.2"])]);
  const third = new View(proxy.plan(snap3, lbResults(proxy, snap3)));
  assert.equal(third.elements("services-hairpin4"), ["10.1.0.2 . 10.1.0.2"]);
});
shared("when the first claimant of a key goes, the next one takes it over", () => {
  const a = service("default", "a", { externalIPs: ["192.168.5.5"] });
  const b = service("default", "b", { clusterIPs: ["10.96.0.11"], externalIPs: ["192.168.5.5"] });
  const proxy = new ServiceProxy(chainsConfig);
  const snap1 = snapshot([a, b], [slice(a, ["10.1.0.1"]), slice(b, ["10.1.0.2"])]);
  proxy.plan(snap1, lbResults(proxy, snap1));
  const snap2 = snapshot([b], [slice(b, ["10.1.0.2"])]);
  const view = new View(proxy.plan(snap2, lbResults(proxy, snap2)));
  assert.ok(
    view.elements("services-ips4").includes("192.168.5.5 . tcp . 80 : goto svc-x4-default/b/tcp/http"),
  );
  assert.equal(view.plan.problems, []);
});
shared.run();

const inputs = suite("input changes");
inputs("a slice that moves to another service, and a deleted slice, re-plan both services", () => {
  const a = service("default", "a", { clusterIPs: ["10.96.0.1"] });
  const b = service("default", "b", { clusterIPs: ["10.96.0.2"] });
  const proxy = new ServiceProxy(chainsConfig);
  const sliceA = { ...slice(a, ["10.1.0.1"]), name: "shared-slice" };
  const snap1 = snapshot([a, b], [sliceA]);
  const first = new View(proxy.plan(snap1, lbResults(proxy, snap1)));
  assert.equal(first.chainNames(), ["svc-c4-default/a/tcp/http"]);
  const moved = { ...sliceA, serviceName: "b" };
  const snap2 = snapshot([a, b], [moved]);
  const second = new View(proxy.plan(snap2, lbResults(proxy, snap2)));
  assert.equal(second.chainNames(), ["svc-c4-default/b/tcp/http"]);
  assert.equal(second.elements("services-no-endpoints4"), ["10.96.0.1 . tcp . 80 : goto services-reject"]);
  const snap3 = snapshot([a, b], []);
  const third = new View(proxy.plan(snap3, lbResults(proxy, snap3)));
  assert.equal(third.chainNames(), []);
  assert.is(third.elements("services-no-endpoints4").length, 2);
});
inputs("the same snapshot planned twice changes nothing and asks nothing", () => {
  const svc = web();
  const proxy = new ServiceProxy(chainsConfig);
  const snap = snapshot([svc], [slice(svc, three)]);
  const first = proxy.plan(snap, lbResults(proxy, snap));
  assert.equal(proxy.lbRequests(snap), []);
  const second = proxy.plan(snap, new Map());
  for (const [name, set] of first.fragment.sets) assert.ok(second.fragment.sets.get(name) === set, name);
});
inputs.run();

const multi = suite("several slices per service");
multi("changing one of several slices and deleting another keeps the rest", () => {
  const svc = web();
  const proxy = new ServiceProxy(chainsConfig);
  const s1 = slice(svc, ["10.1.0.1"], { suffix: "a" });
  const s2 = slice(svc, ["10.1.0.2"], { suffix: "b" });
  const s3 = slice(svc, ["10.1.0.3"], { suffix: "c" });
  const snap1 = snapshot([svc], [s1, s2, s3]);
  assert.equal(dnats(new View(proxy.plan(snap1, lbResults(proxy, snap1))).chain(C4)), [
    "10.1.0.1:8080",
    "10.1.0.2:8080",
    "10.1.0.3:8080",
  ]);
  const snap2 = snapshot([svc], [s1, slice(svc, ["10.1.0.9"], { suffix: "b" })]);
  assert.equal(dnats(new View(proxy.plan(snap2, lbResults(proxy, snap2))).chain(C4)), [
    "10.1.0.1:8080",
    "10.1.0.9:8080",
  ]);
  const snap3 = snapshot([svc], [slice(svc, ["10.1.0.9"], { suffix: "b" })]);
  assert.equal(dnats(new View(proxy.plan(snap3, lbResults(proxy, snap3))).chain(C4)), ["10.1.0.9:8080"]);
});
multi.run();

const order = suite("element order");
order("a replaced element takes the removed one's place; the others keep their index and object", () => {
  const svcs = [0, 1, 2].map((i) => service("default", `s${i}`, { clusterIPs: [`10.96.0.${i + 1}`] }));
  const proxy = new ServiceProxy(chainsConfig);
  const slices = svcs.map((s, i) => slice(s, [`10.1.0.${i + 1}`]));
  const snap1 = snapshot(svcs, slices);
  const before = proxy.plan(snap1, lbResults(proxy, snap1)).fragment.sets.get("services-hairpin4")!.elements;
  const snap2 = snapshot(svcs, [slices[0], slice(svcs[1], ["10.1.0.9"]), slices[2]]);
  const after = proxy.plan(snap2, lbResults(proxy, snap2)).fragment.sets.get("services-hairpin4")!.elements;
  assert.equal(
    new View({
      fragment: {
        chains: new Map(),
        sets: new Map([["h", { name: "h", type: "ipv4_addr", elements: after }]]),
      },
      problems: [],
      stats: { services: 0, servicePorts: 0, endpoints: 0 },
    }).elements("h"),
    ["10.1.0.1 . 10.1.0.1", "10.1.0.9 . 10.1.0.9", "10.1.0.3 . 10.1.0.3"],
  );
  assert.ok(before[0] === after[0] && before[2] === after[2]);
});
order.run();

// The store hands out objects that are shared and never mutated; the planner (which trims the arrays
// of what it keeps) must not touch them: every kind of service planned from deeply frozen inputs.
const frozen = suite("store objects stay untouched");
const deepFreeze = <T>(value: T): T => {
  if (typeof value === "object" && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
};
frozen("every service type plans from frozen Services and EndpointSlices", () => {
  const services = [
    service("default", "cluster", { sessionAffinityTimeoutSeconds: 60 }),
    service("default", "nodeport", {
      type: "NodePort",
      clusterIPs: ["10.96.0.11"],
      ports: [port("http", "TCP", 80, 8080, 30080), port("dns", "UDP", 53, 5353, 30053)],
      externalTrafficPolicy: "Local",
    }),
    service("default", "lb", {
      type: "LoadBalancer",
      clusterIPs: ["10.96.0.12", "fd00::12"],
      ipFamilies: ["IPv4", "IPv6"],
      ports: [port("http", "TCP", 80, "web", 30081)],
      externalIPs: ["192.0.2.7"],
      loadBalancerIPs: ["192.0.2.8"],
      loadBalancerSourceRanges: ["198.51.100.0/24"],
      internalTrafficPolicy: "Local",
    }),
  ];
  const slices = [
    slice(services[0], three),
    slice(services[1], [{ ip: "10.1.1.1", node: "node-a" }, "10.1.1.2"]),
    slice(services[2], ["10.1.2.1"]),
    slice(services[2], ["fd00:1::1"], { suffix: "v6" }),
  ];
  const before = structuredClone({ services, slices });
  const snap = snapshot(deepFreeze(services), deepFreeze(slices));
  const { view } = planOnce(snap);
  assert.ok(view.chain("svc-c4-default/lb/tcp/http") !== undefined);
  assert.equal({ services, slices }, before);
});
frozen.run();
