import { suite } from "uvu";
import * as assert from "uvu/assert";
import { jump, rule } from "../../nft/build.ts";
import { mergeFragments } from "../../nft/desired.ts";
import { diffTables } from "../../nft/diff.ts";
import { chainCanonicalText, renderText } from "../../nft/render-text.ts";
import { NODE_RULE_NAMES, planNodeRules } from "../../runtime/cni/node-rules.ts";

const test = suite("cni node rules");
const n = NODE_RULE_NAMES;

const input = {
  attachments: [
    { hostInterface: "wpbbbbbbbbbbb", addresses: ["10.244.1.3", "fd00:1::3"] },
    { hostInterface: "wpaaaaaaaaaaa", addresses: ["10.244.1.2"] },
  ],
  podCIDRs: ["10.244.1.0/24", "fd00:1::/64"],
  clusterCIDRs: ["10.244.0.0/16", "fd00::/48"],
};

const text = (fragment: ReturnType<typeof planNodeRules>, name: string) =>
  chainCanonicalText(fragment.chains.get(name)!, "inet");

test("anti-spoofing sets hold every pod veth with its own addresses, sorted", () => {
  const f = planNodeRules(input);
  const v4 = f.sets.get(n.ifaddr4)!;
  assert.equal(v4.type, ["ifname", "ipv4_addr"]);
  assert.equal(
    v4.elements.map((e) => e.key),
    [{ concat: ["wpaaaaaaaaaaa", "10.244.1.2"] }, { concat: ["wpbbbbbbbbbbb", "10.244.1.3"] }],
  );
  assert.equal(
    f.sets.get(n.ifaddr6)!.elements.map((e) => e.key),
    [{ concat: ["wpbbbbbbbbbbb", "fd00:1::3"] }],
  );
  const antispoof = text(f, n.antispoof);
  assert.match(antispoof, "iifname . ip saddr @pod-ifaddr4 return");
  assert.match(antispoof, "iifname . ip6 saddr @pod-ifaddr6 return");
  assert.match(antispoof, /drop/);
  assert.match(text(f, n.prerouting), 'iifname "wp*" jump pod-antispoof');
});

test("forward accepts pod traffic after the policy hooks; hooks are empty unless given", () => {
  const f = planNodeRules(input);
  const forward = text(f, n.forward);
  assert.ok(forward.indexOf("jump pod-egress-hook") < forward.indexOf('"wp*" accept'), forward);
  assert.match(forward, 'oifname "wp*" jump pod-ingress-hook');
  assert.is(f.chains.get(n.egressHook)!.rules.length, 0);
  const hooked = planNodeRules({ ...input, hooks: { egress: [rule(jump("pol-egress"))] } });
  assert.match(text(hooked, n.egressHook), "jump pol-egress");
  assert.equal(f.chains.get(n.forward)!.base, {
    type: "filter",
    hook: "forward",
    priority: "filter",
    policy: "accept",
  });
});

test("masquerade: local pod sources leaving the cluster CIDRs, per family; off when disabled", () => {
  const f = planNodeRules(input);
  const nat = text(f, n.postrouting);
  assert.match(nat, 'ip saddr 10.244.1.0/24 ip daddr != 10.244.0.0/16 meta oifname != "wp*" masquerade');
  assert.match(nat, 'ip6 saddr fd00:1::/64 ip6 daddr != fd00::/48 meta oifname != "wp*" masquerade');
  assert.match(nat, "masquerade");
  const own = text(planNodeRules({ ...input, clusterCIDRs: [] }), n.postrouting);
  assert.match(own, "ip daddr != 10.244.1.0/24");
  assert.is(planNodeRules({ ...input, masquerade: false }).chains.get(n.postrouting)!.rules.length, 0);
});

test("merges with other fragments and renders as one transaction; bad input is named", () => {
  const table = mergeFragments("inet", "wasmplane", [planNodeRules(input)], ["cni"]);
  const script = renderText(diffTables(null, table));
  assert.match(script, "pod-prerouting");
  assert.throws(
    () => planNodeRules({ ...input, attachments: [{ hostInterface: "eth0", addresses: ["10.244.1.9"] }] }),
    /eth0/,
  );
  assert.throws(() => planNodeRules({ ...input, podCIDRs: ["nope"] }), /nope/);
});

test.run();
