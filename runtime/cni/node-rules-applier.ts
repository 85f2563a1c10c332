// Applies the node-rules fragment alone, as the whole `inet wasmplane` table of a namespace: for
// `wasmplane cni serve --node-rules` and tests. The agent does not use this: it merges the fragment
// with the service rules into one transaction.
import { applyTransaction } from "../../nft/apply.ts";
import { type DesiredTable, mergeFragments, type TableFragment } from "../../nft/desired.ts";
import { diffTables } from "../../nft/diff.ts";
import { type NodeAttachment, planNodeRules } from "./node-rules.ts";

export interface NodeRulesApplierOptions {
  netns?: string;
  podCIDRs: string[];
  clusterCIDRs?: string[];
  masquerade?: boolean;
  /** Other fragments to merge into the same transaction (e.g. service rules in tests). */
  extraFragments?: () => TableFragment[];
}

export function createNodeRulesApplier(
  options: NodeRulesApplierOptions,
): (attachments: NodeAttachment[]) => Promise<void> {
  let applied: DesiredTable | null = null;
  return async (attachments) => {
    const desired = mergeFragments("inet", "wasmplane", [
      planNodeRules({
        attachments,
        podCIDRs: options.podCIDRs,
        clusterCIDRs: options.clusterCIDRs,
        masquerade: options.masquerade,
      }),
      ...(options.extraFragments?.() ?? []),
    ]);
    try {
      await applyTransaction(diffTables(applied, desired), { netns: options.netns });
      applied = desired;
    } catch (err) {
      // Unknown kernel state after a failure: rebuild the table next time.
      applied = null;
      throw err;
    }
  };
}
