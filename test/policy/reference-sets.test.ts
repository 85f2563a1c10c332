// Address set contents (ipBlock except subtraction, pod addresses, IPv6) and the oracle's handling
// of tiers, pass and isolation on a hand-written decision.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { addressSetElements, setContains } from "../../runtime/policy/address-sets.ts";
import { decide } from "../../runtime/policy/oracle.ts";
import type { PolicyDecision, PolicyRule } from "../../runtime/policy/types.ts";

const test = suite("policy reference: address sets and oracle");

test("a CIDR minus excepts is re-cut into the fewest CIDRs", () => {
  assert.equal(addressSetElements([], [{ cidr: "10.0.0.0/24", except: ["10.0.0.128/25"] }]), ["10.0.0.0/25"]);
  assert.equal(addressSetElements([], [{ cidr: "10.0.0.0/24", except: ["10.0.0.64/26"] }]), [
    "10.0.0.0/26",
    "10.0.0.128/25",
  ]);
  assert.equal(addressSetElements([], [{ cidr: "10.0.0.0/30", except: ["10.0.0.1/32"] }]), [
    "10.0.0.0",
    "10.0.0.2/31",
  ]);
  assert.equal(addressSetElements([], [{ cidr: "10.0.0.0/24", except: ["10.0.0.0/24"] }]), []);
});

test("overlapping and adjacent blocks merge; order is IPv4 then IPv6, by address", () => {
  assert.equal(
    addressSetElements(
      [],
      [
        { cidr: "fd00::/64", except: ["fd00::/65"] },
        { cidr: "10.0.1.0/24", except: [] },
        { cidr: "10.0.0.0/24", except: [] },
        { cidr: "10.0.0.0/16", except: ["10.0.128.0/17"] },
      ],
    ),
    ["10.0.0.0/17", "fd00::8000:0:0:0/65"],
  );
});

test("pod addresses: deduplicated, dropped inside a CIDR element, otherwise single elements", () => {
  assert.equal(
    addressSetElements(
      ["10.0.0.9", "192.168.0.2", "10.0.0.9", "fd00::1", "192.168.0.1", "10.1.0.1"],
      [{ cidr: "10.0.0.0/16", except: ["10.0.0.0/28"] }],
    ),
    [
      "10.0.0.9",
      "10.0.0.16/28",
      "10.0.0.32/27",
      "10.0.0.64/26",
      "10.0.0.128/25",
      "10.0.1.0/24",
      "10.0.2.0/23",
      "10.0.4.0/22",
      "10.0.8.0/21",
      "10.0.16.0/20",
      "10.0.32.0/19",
      "10.0.64.0/18",
      "10.0.128.0/17",
      "10.1.0.1",
      "192.168.0.1",
      "192.168.0.2",
      "fd00::1",
    ],
  );
});

test("setContains: addresses and CIDRs, both families", () => {
  const set = ["10.0.0.0/8", "192.168.1.1", "fd00::/64"];
  assert.ok(setContains(set, "10.200.0.1"));
  assert.ok(setContains(set, "192.168.1.1"));
  assert.not.ok(setContains(set, "192.168.1.2"));
  assert.ok(setContains(set, "fd00::abcd"));
  assert.not.ok(setContains(set, "fd01::1"));
});

const any: Omit<PolicyRule, "tier" | "verdict" | "origin"> = { ports: [] };

function oneSided(rules: PolicyRule[], isolated: boolean): PolicyDecision {
  return {
    pods: [{ pod: "x/a", addresses: ["10.0.0.1"], direction: "ingress", isolated, selectedBy: [], rules }],
    addressSets: new Map([
      ["from-b", ["10.0.0.2"]],
      ["from-c", ["10.0.0.3"]],
    ]),
    addressPortSets: new Map(),
    problems: [],
  };
}

const allowedFrom = (d: PolicyDecision, from: string) =>
  decide(d, { from, to: "10.0.0.1", protocol: "TCP", port: 80 }).allowed;

test("oracle: pass skips the rest of the admin tier, not the networkpolicy or baseline tier", () => {
  const d = oneSided(
    [
      { ...any, tier: "admin", verdict: "pass", origin: "pass b", peers: "from-b" },
      { ...any, tier: "admin", verdict: "deny", origin: "deny all" },
      { ...any, tier: "baseline", verdict: "deny", origin: "baseline deny b", peers: "from-b" },
    ],
    false,
  );
  assert.not.ok(allowedFrom(d, "10.0.0.2"), "passed to baseline, which denies b");
  assert.not.ok(allowedFrom(d, "10.0.0.3"), "admin deny all");
  const np = oneSided(
    [
      { ...any, tier: "admin", verdict: "pass", origin: "pass b", peers: "from-b" },
      { ...any, tier: "networkpolicy", verdict: "allow", origin: "np b", peers: "from-b" },
      { ...any, tier: "baseline", verdict: "deny", origin: "baseline deny b", peers: "from-b" },
    ],
    true,
  );
  assert.equal(decide(np, { from: "10.0.0.2", to: "10.0.0.1", protocol: "TCP", port: 80 }).ingress, {
    allowed: true,
    by: "np b",
  });
  assert.equal(decide(np, { from: "10.0.0.3", to: "10.0.0.1", protocol: "TCP", port: 80 }).ingress, {
    allowed: false,
    by: "isolated, no rule allows",
  });
});

test("oracle: ports and address-port sets", () => {
  const d: PolicyDecision = {
    pods: [
      {
        pod: "x/a",
        addresses: ["10.0.0.1"],
        direction: "egress",
        isolated: true,
        selectedBy: [],
        rules: [
          {
            tier: "networkpolicy",
            verdict: "allow",
            origin: "dns",
            ports: [{ protocol: "UDP", first: 53, last: 53 }],
          },
          { tier: "networkpolicy", verdict: "allow", origin: "named", ports: [], addressPorts: "named" },
        ],
      },
    ],
    addressSets: new Map(),
    addressPortSets: new Map([["named", [{ address: "10.0.0.5", protocol: "TCP", port: 8080 }]]]),
    problems: [],
  };
  const to = (address: string, protocol: "TCP" | "UDP", port: number) =>
    decide(d, { from: "10.0.0.1", to: address, protocol, port }).allowed;
  assert.ok(to("10.9.9.9", "UDP", 53));
  assert.not.ok(to("10.9.9.9", "TCP", 53));
  assert.ok(to("10.0.0.5", "TCP", 8080));
  assert.not.ok(to("10.0.0.6", "TCP", 8080));
  assert.ok(to("10.0.0.1", "TCP", 1), "a pod always reaches itself");
});

test.run();
