// The node rules (runtime/cni/node-rules.ts) for a dual-stack node with two attached pods, as one
// desired table: shared by the read-back and netlink encoder kernel tests.
import { type DesiredTable, mergeFragments } from "../../nft/desired.ts";
import { HOST_IF_PREFIX } from "../../runtime/cni/attachment.ts";
import { planNodeRules } from "../../runtime/cni/node-rules.ts";

export function nodeRulesTable(name = "wasmplane"): DesiredTable {
  const fragment = planNodeRules({
    podCIDRs: ["10.244.1.0/24", "fd44:1::/64"],
    clusterCIDRs: ["10.244.0.0/16", "fd44::/48"],
    attachments: [
      { hostInterface: `${HOST_IF_PREFIX}a1b2c3`, addresses: ["10.244.1.2", "fd44:1::2"] },
      { hostInterface: `${HOST_IF_PREFIX}f0f0f0`, addresses: ["10.244.1.3"] },
    ],
  });
  return mergeFragments("inet", name, [fragment]);
}
