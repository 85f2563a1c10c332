import { suite } from "uvu";
import * as assert from "uvu/assert";
import type { IpamAllocation, IpamInput } from "../../runtime/ipam/decider.ts";
import { decideRange } from "../../runtime/ipam/range.ts";
import { bigIntToIp, canonicalIp, ipToBigInt, parseCidr } from "../../runtime/net/cidr.ts";

const test = suite("ipam range");

function input(partial: Partial<IpamInput> & { requested?: string[] } = {}): IpamInput {
  return {
    podCIDRs: partial.podCIDRs ?? ["10.1.0.0/29", "fd00:1::/125"],
    allocations: partial.allocations ?? [],
    lastAllocated: partial.lastAllocated ?? {},
    request: { containerId: "c-new", ifName: "eth0", requestedIPs: partial.requested ?? [] },
  };
}

function held(ip: string, containerId = `c-${ip}`): IpamAllocation {
  return { ip, containerId, ifName: "eth0" };
}

test("cidr arithmetic round-trips and canonicalises", () => {
  assert.is(bigIntToIp(ipToBigInt("10.1.2.3"), 4), "10.1.2.3");
  assert.is(canonicalIp("FD00:0:0:0:0:0:0:1"), "fd00::1");
  assert.is(canonicalIp("2001:db8:0:0:1:0:0:1"), "2001:db8::1:0:0:1");
  assert.is(canonicalIp("::ffff:10.0.0.1"), "::ffff:a00:1");
  assert.is(parseCidr("10.1.2.3/24").text, "10.1.2.0/24");
  assert.throws(() => parseCidr("10.1.2.3/33"), /prefix length/);
  assert.throws(() => parseCidr("10.1.2.3"), /not a CIDR/);
});

test("hands out the first usable address of each family, as /32 and /128 with default routes", () => {
  const d = decideRange(input());
  assert.ok(d.ok);
  if (!d.ok) return;
  assert.equal(d.addresses, [
    { ip: "10.1.0.1", prefixLength: 32 },
    { ip: "fd00:1::1", prefixLength: 128 },
  ]);
  assert.equal(d.routes, [{ dst: "0.0.0.0/0" }, { dst: "::/0" }]);
});

test("continues after the last allocated address and wraps: a released address waits its turn", () => {
  const d = decideRange(
    input({ podCIDRs: ["10.1.0.0/29"], allocations: [held("10.1.0.2")], lastAllocated: { v4: "10.1.0.3" } }),
  );
  assert.ok(d.ok && d.addresses[0].ip === "10.1.0.4");
  const wrapped = decideRange(
    input({ podCIDRs: ["10.1.0.0/29"], allocations: [held("10.1.0.1")], lastAllocated: { v4: "10.1.0.6" } }),
  );
  assert.ok(wrapped.ok && wrapped.addresses[0].ip === "10.1.0.2");
});

test("never returns the network or broadcast address, and refuses when exhausted", () => {
  const all = ["10.1.0.1", "10.1.0.2", "10.1.0.3", "10.1.0.4", "10.1.0.5", "10.1.0.6"].map((ip) => held(ip));
  const d = decideRange(input({ podCIDRs: ["10.1.0.0/29"], allocations: all }));
  assert.is(d.ok, false);
  if (!d.ok) {
    assert.is(d.reason, "exhausted");
    assert.match(d.message, "10.1.0.0/29");
  }
});

test("requested addresses: taken, outside, network address, two of a family, not an IP", () => {
  const taken = decideRange(input({ allocations: [held("10.1.0.3", "other")], requested: ["10.1.0.3"] }));
  assert.ok(!taken.ok && taken.reason === "requested-unavailable" && taken.message.includes("other"));
  const outside = decideRange(input({ requested: ["10.2.0.3"] }));
  assert.ok(!outside.ok && outside.reason === "requested-unavailable");
  const network = decideRange(input({ requested: ["10.1.0.0"] }));
  assert.ok(!network.ok && network.reason === "requested-unavailable");
  const two = decideRange(input({ requested: ["10.1.0.3", "10.1.0.4"] }));
  assert.ok(!two.ok && two.reason === "invalid-request");
  const junk = decideRange(input({ requested: ["banana"] }));
  assert.ok(!junk.ok && junk.reason === "invalid-request");
  const ok = decideRange(input({ requested: ["10.1.0.5"] }));
  assert.ok(ok.ok && ok.addresses[0].ip === "10.1.0.5" && ok.addresses[1].ip === "fd00:1::1");
});

test("an address held by the same attachment counts as free for it", () => {
  const d = decideRange(
    input({
      allocations: [{ ip: "10.1.0.3", containerId: "c-new", ifName: "eth0" }],
      requested: ["10.1.0.3"],
    }),
  );
  assert.ok(d.ok);
});

test("bad pod CIDRs are an error naming them", () => {
  assert.throws(() => decideRange(input({ podCIDRs: ["10.1.0.0/24", "10.2.0.0/24"] })), /more than one IPv4/);
  const none = decideRange(input({ podCIDRs: [] }));
  assert.ok(!none.ok && none.reason === "exhausted");
});

test.run();
