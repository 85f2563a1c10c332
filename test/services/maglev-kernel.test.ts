// A Maglev service with 40 endpoints in the kernel. Its table (32,749 slots by default) is drawn as
// one rule with a map from slot to endpoint; real connections from an off-cluster client spread over
// the endpoints, a client address and port keeps its endpoint, and few keep-alive keys move when an
// endpoint leaves. With ClientIP affinity the same table is a rule cascade and still answers. A
// round-robin table of 70 slots is one `numgen inc` map lookup that visits every endpoint in turn.
// The 32,749-element anonymous map is more than one netlink attribute can hold (64 KiB), which the
// netlink encoder leaves to nft: the sync takes the nft path on its own.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { referenceLbPlanner } from "../../runtime/lb/reference.ts";
import { kernelTest } from "../support/kernel.ts";
import { ip } from "../support/netns.ts";
import { service, slice, snapshot } from "./fixtures.ts";
import { Harness } from "./harness.ts";
import { addresses as A, createTopology, deleteTopology, type Topology } from "./topology.ts";
import { endpointsReached, probe, type Server, startServer } from "./traffic.ts";

const test = suite("Maglev in the kernel");
let topo: Topology | undefined;
let servers: Server[] = [];
let h: Harness;

// 35 extra addresses on each of two pods; the Maglev service uses 20 of each: 40 endpoints, half of
// them on this node.
const extra = (pod: 1 | 2) => Array.from({ length: 35 }, (_, i) => `10.1.${pod}.${10 + i}`);
const all = [
  ...extra(1).map((ip) => ({ ip, node: "node-a" })),
  ...extra(2).map((ip) => ({ ip, node: "node-b" })),
];
const endpoints = [...all.slice(0, 20), ...all.slice(35, 55)];
const chainName = "svc-c4-default/mg/tcp/http";

async function sync(snap: Parameters<Harness["sync"]>[0]): Promise<void> {
  await h.sync(snap);
}

test.before(async () => {
  if (process.getuid?.() !== 0) return;
  topo = createTopology();
  for (const [pod, ns] of [
    [1, topo.pods.pod1],
    [2, topo.pods.pod2],
  ] as const)
    for (const address of extra(pod)) ip("-n", ns, "addr", "add", `${address}/32`, "dev", "eth0");
  servers = await Promise.all([
    startServer(topo.pods.pod1, "pod1", 8080, 5353),
    startServer(topo.pods.pod2, "pod2", 8080, 5353),
  ]);
  h = new Harness(
    topo.node,
    {
      nodeName: "node-a",
      nodeIPs: [A.nodeExternal],
      clusterCIDRs: ["10.1.0.0/16"],
      serviceCIDRs: ["10.96.0.0/16"],
      masqueradeAll: false,
    },
    referenceLbPlanner("random"),
  );
});

test.after(() => {
  for (const s of servers) s.stop();
  deleteTopology(topo);
});

const maglev = (over: Parameters<typeof service>[2] = {}) =>
  service("default", "mg", {
    clusterIPs: ["10.96.0.40"],
    annotations: { "lb.wasmplane.io/algorithm": "maglev" },
    ...over,
  });
// Fixed client ports, each connected to twice: the same key must reach the same endpoint.
const ports = Array.from({ length: 12 }, (_, i) => 41000 + i * 7);

kernelTest(
  test,
  "40 endpoints: one map lookup; connections spread, and a client port keeps its endpoint",
  async () => {
    const svc = maglev();
    await sync(snapshot([svc], [slice(svc, endpoints)]));
    const rules = h.last!.fragment.chains.get(chainName)!.rules;
    assert.is(rules.length, 1, "one rule with a map");

    const spread = endpointsReached(
      await probe(topo!.client, { proto: "tcp", host: "10.96.0.40", port: 80, count: 40 }),
    );
    assert.not.ok(
      spread.some((r) => r.startsWith("ERR")),
      spread.join(","),
    );
    const distinct = new Set(spread);
    // 40 keys over 40 equal shares reach ~25 endpoints; fewer than 15 would mean the map is not used.
    assert.ok(distinct.size >= 15, `only ${distinct.size} endpoints reached: ${[...distinct].join(",")}`);
    for (const e of distinct)
      assert.ok(
        endpoints.some((x) => x.ip === e),
        `${e} is an endpoint`,
      );

    const twice = endpointsReached(
      await probe(topo!.client, {
        proto: "tcp",
        host: "10.96.0.40",
        port: 80,
        localPorts: ports,
        count: ports.length * 2,
      }),
    );
    const first = twice.slice(0, ports.length);
    assert.not.ok(
      first.some((r) => r.startsWith("ERR")),
      twice.join(","),
    );
    assert.equal(twice.slice(ports.length), first, "each client port reached the same endpoint again");

    // One endpoint no fixed port reached leaves: the new table moves few keys (≤ 1.2/N of them).
    const leaver = endpoints.find((e) => !first.includes(e.ip))!;
    await sync(
      snapshot(
        [svc],
        [
          slice(
            svc,
            endpoints.filter((e) => e !== leaver),
          ),
        ],
      ),
    );
    const after = endpointsReached(
      await probe(topo!.client, {
        proto: "tcp",
        host: "10.96.0.40",
        port: 80,
        localPorts: ports,
        count: ports.length,
      }),
    );
    const moved = after.filter((e, i) => e !== first[i]);
    assert.ok(moved.length <= 1, `${moved.length} of ${ports.length} keys moved: ${first} → ${after}`);
  },
);

kernelTest(
  test,
  "40 endpoints with ClientIP affinity: a rule cascade that sticks to the first choice",
  async () => {
    // A 509-slot table (~500 runs) keeps the cascade short to load; the rule is the same at any size.
    const svc = maglev({
      sessionAffinityTimeoutSeconds: 300,
      annotations: { "lb.wasmplane.io/algorithm": "maglev", "lb.wasmplane.io/max-table-size": "509" },
    });
    await sync(snapshot([svc], [slice(svc, endpoints)]));
    const rules = h.last!.fragment.chains.get(chainName)!.rules;
    assert.ok(rules.length > 40 + 64, `${rules.length} rules: affinity rules and a cascade`);
    assert.ok(
      rules.every((r) => !JSON.stringify(r).includes('"map"')),
      "no map lookup: each rule records its endpoint",
    );
    const reached = endpointsReached(
      await probe(topo!.client, { proto: "tcp", host: "10.96.0.40", port: 80, count: 8 }),
    );
    assert.not.ok(
      reached.some((r) => r.startsWith("ERR")),
      reached.join(","),
    );
    assert.is(new Set(reached).size, 1, `affinity keeps one endpoint: ${reached.join(",")}`);
  },
);

kernelTest(
  test,
  "round-robin over 70 endpoints: one numgen map lookup, 70 connections reach all 70",
  async () => {
    const svc = service("default", "rr", {
      clusterIPs: ["10.96.0.41"],
      annotations: { "lb.wasmplane.io/algorithm": "round-robin" },
    });
    await sync(snapshot([svc], [slice(svc, all)]));
    const rules = h.last!.fragment.chains.get("svc-c4-default/rr/tcp/http")!.rules;
    assert.is(rules.length, 1, "one rule with a map");
    const reached = endpointsReached(
      await probe(topo!.client, { proto: "tcp", host: "10.96.0.41", port: 80, count: all.length }),
    );
    assert.not.ok(
      reached.some((r) => r.startsWith("ERR")),
      reached.join(","),
    );
    assert.is(
      new Set(reached).size,
      all.length,
      `consecutive connections take consecutive slots: ${reached}`,
    );
  },
);

test.run();
