// The policy renderer given its previous result against a render from scratch: random runs of
// decision changes as deciders make them (a set's contents, a pod's rules or addresses, pods and
// directions coming and going, sets added and dropped, CIDRs gained and lost, entries listed twice,
// the very same decision again, or an equal decision of new objects). After every step the
// fragment must hold the same chains and sets as a fresh render of that decision, and a decision a
// fresh render refuses must be refused too (the previous result then stays the one to pass on).
import fc from "fast-check";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import type { TableFragment } from "../../nft/desired.ts";
import { type RenderedPolicy, renderPolicy } from "../../runtime/policy/render.ts";
import type {
  AddressPort,
  PodDirectionPolicy,
  PolicyDecision,
  PolicyDirection,
  PolicyRule,
} from "../../runtime/policy/types.ts";
import { holds } from "../properties/support.ts";

const test = suite("policy render: with the previous result as from scratch");

const ENTRIES = [
  "10.0.0.1",
  "10.0.0.2",
  "10.0.0.3",
  "10.0.0.9",
  "10.1.0.0/16",
  "10.2.3.0/24",
  "fd00::1",
  "fd00::2",
  "fd00:1::/64",
];
const SET_IDS = ["s0", "s1", "s2", "s3"];
const PORT_SET_IDS = ["p0", "p1"];
const PODS = ["x/a", "x/b", "y/c"];
const OWN: string[][] = [["10.0.0.1"], ["10.0.0.2", "fd00::2"], ["fd00::1"], ["10.0.0.7"]];
const PORTS: AddressPort[] = [
  { address: "10.0.0.3", protocol: "TCP", port: 80 },
  { address: "fd00::1", protocol: "UDP", port: 53 },
  { address: "10.0.0.2", protocol: "TCP", port: 8080 },
];

type RuleSpec = { kind: number; set: number; port: number; ports: boolean };
type Op =
  | { op: "entries"; set: number; pick: number[] }
  | { op: "ports"; set: number; pick: number[] }
  | { op: "rules"; pod: number; direction: PolicyDirection; isolated: boolean; rules: RuleSpec[] }
  | { op: "drop-pod"; pod: number; direction: PolicyDirection }
  | { op: "addresses"; pod: number; own: number }
  | { op: "drop-set"; set: number }
  | { op: "drop-port-set"; set: number }
  | { op: "same" }
  | { op: "copy" };

const ruleArb: fc.Arbitrary<RuleSpec> = fc.record({
  kind: fc.nat(6),
  set: fc.nat(SET_IDS.length - 1),
  port: fc.nat(PORT_SET_IDS.length - 1),
  ports: fc.boolean(),
});
const direction = fc.constantFrom<PolicyDirection>("ingress", "egress");
const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      op: fc.constant("entries" as const),
      set: fc.nat(SET_IDS.length - 1),
      pick: fc.array(fc.nat(ENTRIES.length - 1), { maxLength: 6 }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant("ports" as const),
      set: fc.nat(PORT_SET_IDS.length - 1),
      pick: fc.array(fc.nat(PORTS.length - 1), { maxLength: 3 }),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      op: fc.constant("rules" as const),
      pod: fc.nat(PODS.length - 1),
      direction,
      isolated: fc.boolean(),
      rules: fc.array(ruleArb, { maxLength: 4 }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ op: fc.constant("drop-pod" as const), pod: fc.nat(PODS.length - 1), direction }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant("addresses" as const),
      pod: fc.nat(PODS.length - 1),
      own: fc.nat(OWN.length - 1),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ op: fc.constant("drop-set" as const), set: fc.nat(SET_IDS.length - 1) }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant("drop-port-set" as const),
      set: fc.nat(PORT_SET_IDS.length - 1),
    }),
  },
  { weight: 1, arbitrary: fc.constant({ op: "same" as const }) },
  { weight: 1, arbitrary: fc.constant({ op: "copy" as const }) },
);

/** One rule of each shape the renderer knows (tiers, verdicts, peers, ports, address-port sets). */
function rule(spec: RuleSpec): PolicyRule {
  const peers = SET_IDS[spec.set];
  const ports = spec.ports ? [{ protocol: "TCP" as const, first: 80, last: 90 }] : [];
  const shapes: PolicyRule[] = [
    { tier: "networkpolicy", verdict: "allow", origin: "np allow", peers, ports },
    { tier: "networkpolicy", verdict: "allow", origin: "np any", ports },
    { tier: "admin", verdict: "deny", origin: "admin deny", peers, ports },
    { tier: "admin", verdict: "pass", origin: "admin pass", peers, ports: [] },
    { tier: "admin", verdict: "allow", origin: "admin allow", peers, ports },
    { tier: "baseline", verdict: "deny", origin: "baseline deny", peers, ports },
    {
      tier: "networkpolicy",
      verdict: "allow",
      origin: "np named",
      ports: [],
      addressPorts: PORT_SET_IDS[spec.port],
    },
  ];
  return shapes[spec.kind];
}

const podKey = (p: PodDirectionPolicy) => `${p.pod} ${p.direction}`;

/** The next decision: changed parts are new objects, everything else the same objects (decisions are read-only). */
function step(d: PolicyDecision, op: Op, own: Map<string, string[]>): PolicyDecision {
  switch (op.op) {
    case "entries":
      return {
        ...d,
        addressSets: new Map(d.addressSets).set(
          SET_IDS[op.set],
          op.pick.map((i) => ENTRIES[i]),
        ),
      };
    case "ports":
      return {
        ...d,
        addressPortSets: new Map(d.addressPortSets).set(
          PORT_SET_IDS[op.set],
          op.pick.map((i) => PORTS[i]),
        ),
      };
    case "rules": {
      const pod = PODS[op.pod];
      const next: PodDirectionPolicy = {
        pod,
        addresses: own.get(pod) ?? OWN[op.pod],
        direction: op.direction,
        isolated: op.isolated,
        selectedBy: [],
        rules: op.rules.map(rule),
      };
      const pods = d.pods.filter((p) => podKey(p) !== podKey(next));
      return { ...d, pods: [...pods, next].sort((a, b) => (podKey(a) < podKey(b) ? -1 : 1)) };
    }
    case "drop-pod":
      return { ...d, pods: d.pods.filter((p) => podKey(p) !== `${PODS[op.pod]} ${op.direction}`) };
    case "addresses": {
      const pod = PODS[op.pod];
      own.set(pod, OWN[op.own]);
      return { ...d, pods: d.pods.map((p) => (p.pod === pod ? { ...p, addresses: OWN[op.own] } : p)) };
    }
    case "drop-set": {
      const addressSets = new Map(d.addressSets);
      addressSets.delete(SET_IDS[op.set]);
      return { ...d, addressSets };
    }
    case "drop-port-set": {
      const addressPortSets = new Map(d.addressPortSets);
      addressPortSets.delete(PORT_SET_IDS[op.set]);
      return { ...d, addressPortSets };
    }
    case "same":
      return d;
    case "copy":
      return {
        pods: structuredClone(d.pods),
        addressSets: structuredClone(d.addressSets),
        addressPortSets: structuredClone(d.addressPortSets),
        problems: [],
      };
  }
}

const sorted = (m: ReadonlyMap<string, unknown>) =>
  JSON.stringify([...m].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));

/** A fragment as text: chains and sets by name, whatever the order of the maps. */
function text(f: TableFragment): string {
  return `${sorted(f.chains)}${sorted(f.sets)}`;
}

function render(d: PolicyDecision, previous?: RenderedPolicy): RenderedPolicy | Error {
  try {
    return renderPolicy(d, previous);
  } catch (err) {
    return err as Error;
  }
}

test("after every change the fragment equals a fresh render's; refusals agree", async () => {
  const seen = { rendered: 0, refused: 0, kept: 0 };
  await holds(
    "incremental policy render",
    fc.property(fc.array(opArb, { minLength: 1, maxLength: 30 }), (ops) => {
      const own = new Map<string, string[]>();
      let decision: PolicyDecision = {
        pods: [],
        addressSets: new Map(SET_IDS.map((id) => [id, []])),
        addressPortSets: new Map(PORT_SET_IDS.map((id) => [id, []])),
        problems: [],
      };
      let previous = renderPolicy(decision);
      /** `previous` rendered the decision this step starts from (no refusal since). */
      let previousIsCurrent = true;
      for (const [i, op] of ops.entries()) {
        decision = step(decision, op, own);
        const fresh = render(decision);
        const kept = render(decision, previous);
        const where = `op ${i}: ${JSON.stringify(op)}`;
        if (fresh instanceof Error) {
          assert.ok(
            kept instanceof Error,
            `${where}: a fresh render refuses (${fresh.message}), the kept one renders`,
          );
          seen.refused++;
          previousIsCurrent = false;
          continue;
        }
        if (kept instanceof Error) throw new Error(`${where}: the kept render refuses: ${kept.message}`);
        assert.is(text(kept.fragment), text(fresh.fragment), where);
        // The bookkeeping the next render starts from: who holds each name, how often a set is used.
        assert.is(sorted(kept.memo.owners), sorted(fresh.memo.owners), `${where}: owners`);
        assert.is(sorted(kept.memo.uses), sorted(fresh.memo.uses), `${where}: uses`);
        assert.is(kept.hooks, previous.hooks, `${where}: hooks`);
        if ((op.op === "same" || op.op === "copy") && previousIsCurrent) {
          // An equal decision keeps the previous render's objects: nothing for nft/ to compare.
          assert.is(kept.fragment.chains, previous.fragment.chains, `${where}: chains kept`);
          assert.is(kept.fragment.sets, previous.fragment.sets, `${where}: sets kept`);
          assert.is(kept.memo.owners, previous.memo.owners, `${where}: owners kept`);
          seen.kept++;
        }
        seen.rendered++;
        previousIsCurrent = true;
        previous = kept;
      }
    }),
    60,
    1000,
  );
  assert.ok(seen.rendered > 300 && seen.refused > 3 && seen.kept > 30, `steps: ${JSON.stringify(seen)}`);
});

test("an address listed twice that leaves one place stays in the set", () => {
  const pods = [
    {
      pod: "x/a",
      addresses: ["10.0.0.1"],
      direction: "ingress" as const,
      isolated: true,
      selectedBy: [],
      rules: [rule({ kind: 0, set: 0, port: 0, ports: false })],
    },
  ];
  const sets = (entries: string[]) => ({
    pods,
    addressSets: new Map([["s0", entries]]),
    addressPortSets: new Map(),
    problems: [],
  });
  const first = renderPolicy(sets(["10.0.0.3", "10.0.0.1", "10.0.0.3"]));
  const second = renderPolicy(sets(["10.0.0.1", "10.0.0.3"]), first);
  assert.is(text(second.fragment), text(renderPolicy(sets(["10.0.0.1", "10.0.0.3"])).fragment));
});

test.run();
