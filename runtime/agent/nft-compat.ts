// Works around an nft 1.0.6 limitation until nft/ renders around it: `add chain T C { … @set … }`
// fails with "No such file or directory" when the set exists only in the kernel (not created in the
// same batch), because nft does not load existing sets into its cache for a chain body. The same
// rules as separate `add rule` commands work. So a transaction on an existing table declares chains
// without a body and appends their rules one by one.
import { type Operation, Transaction } from "../../nft/transaction.ts";

export function splitChainBodies(tx: Transaction): Transaction {
  if (
    !tx.ops.some(
      (op) => op.kind === "chain" && "withRules" in op && op.withRules && op.chain.rules.length > 0,
    )
  ) {
    return tx;
  }
  const out = new Transaction(tx.family, tx.table);
  const ops = out.ops as Operation[];
  for (const op of tx.ops) {
    if (op.kind === "chain" && "withRules" in op && op.withRules && op.chain.rules.length > 0) {
      ops.push({ ...op, withRules: false });
      for (const rule of op.chain.rules) out.addRule(op.chain.name, rule);
    } else ops.push(op);
  }
  return out;
}
