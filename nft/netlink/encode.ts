// Encodes a Transaction as one nf_tables netlink batch (BATCH_BEGIN, one message per operation,
// BATCH_END): the same all-or-nothing transaction `nft -f` would send, without nft's cache dump.
// Pure. Covers tables (comments, flush), chains (base chains, comments), named set and map
// declarations, elements (of interval sets only while the batch that declared the set fills it,
// nft/netlink/encode-elements.ts), rules with their anonymous sets (nft/netlink/rule.ts), flushes
// and deletes. Anything else throws NetlinkUnsupported and nft/apply.ts sends the whole transaction
// through the nft executable. Each operation kind has its own step below; what the batch declared
// so far travels with it (nft/netlink/encode-batch.ts).
import type { DesiredChain, DesiredRule, DesiredSet } from "../desired.ts";
import type { Operation, Transaction } from "../transaction.ts";
import {
  NETLINK,
  NFNL_MSG_BATCH_BEGIN,
  NFNL_MSG_BATCH_END,
  NFNL_SUBSYS_NFTABLES,
  NFPROTO,
  NFT_MSG,
  NFTA_CHAIN,
  NFTA_RULE,
  NFTA_SET_ELEM_LIST,
} from "./constants.ts";
import { writeChainAttributes, writeSetDeclaration, writeTableAttributes } from "./declarations.ts";
import { type Batch, beginMessage, createFlags, newBatch } from "./encode-batch.ts";
import { encodeElements } from "./encode-elements.ts";
import { type AnonymousSet, writeAnonymousElements, writeAnonymousSet } from "./expressions-sets.ts";
import { ruleUserdata, writeRuleWithSets } from "./rule.ts";
import { NetlinkUnsupported } from "./values.ts";
import { NetlinkWriter } from "./writer.ts";

const NFTA_SET_NAME = 2;

export interface EncodeOptions {
  /** The table's named sets and maps (their key and value types); element operations need them. */
  sets: ReadonlyMap<string, DesiredSet>;
  /** First sequence number (the batch begin message). */
  seq?: number;
}

export interface EncodedBatch {
  bytes: Buffer;
  /** Sequence number of the batch begin message. */
  firstSeq: number;
  /** For each message after the batch begin, the index into tx.ops of the operation it encodes. */
  messageOps: number[];
}

type Op<K extends Operation["kind"]> = Extract<Operation, { kind: K }>;

/** Encodes every operation of the transaction, or throws NetlinkUnsupported naming the first it cannot. */
export function encodeTransaction(tx: Transaction, opts: EncodeOptions): EncodedBatch {
  const nfproto = NFPROTO[tx.family as keyof typeof NFPROTO];
  if (nfproto === undefined) throw new NetlinkUnsupported(`family ${tx.family}: not encoded`);
  const w = new NetlinkWriter(Math.max(1 << 16, tx.size * 384));
  const firstSeq = opts.seq ?? 1;
  const b = newBatch(w, tx.family, nfproto, tx.table, opts.sets, firstSeq);
  w.endMessage(w.beginMessage(NFNL_MSG_BATCH_BEGIN, NETLINK.NLM_F_REQUEST, b.seq++, 0, NFNL_SUBSYS_NFTABLES));
  for (const op of tx.ops) {
    encodeOperation(b, op);
    b.opIndex++;
  }
  w.endMessage(w.beginMessage(NFNL_MSG_BATCH_END, NETLINK.NLM_F_REQUEST, b.seq++, 0, NFNL_SUBSYS_NFTABLES));
  return { bytes: w.bytes(), firstSeq, messageOps: b.messageOps };
}

function encodeOperation(b: Batch, op: Operation): void {
  switch (op.kind) {
    case "table":
      encodeTable(b, op);
      break;
    case "chain":
      if ("name" in op) encodeChainByName(b, op);
      else encodeChainDeclaration(b, op);
      break;
    case "rule":
      if (op.verb === "delete") encodeRuleDelete(b, op);
      else encodeRule(b, op.chain, op.rule, op.verb, op.handle);
      break;
    case "set":
    case "map":
      if ("set" in op) encodeSetDeclaration(b, op);
      else encodeSetByName(b, op);
      break;
    case "element":
      encodeElements(b, op);
      break;
  }
}

function encodeTable(b: Batch, op: Op<"table">): void {
  if (op.verb === "flush") {
    // nft flushes a table as one DELRULE naming only the table: every rule of every chain.
    b.w.endMessage(beginMessage(b, NFT_MSG.DELRULE, 0));
    return;
  }
  const del = op.verb === "delete";
  const token = beginMessage(b, del ? NFT_MSG.DELTABLE : NFT_MSG.NEWTABLE, del ? 0 : createFlags(op.verb));
  if (!del) writeTableAttributes(b.w, op.comment);
  b.w.endMessage(token);
  if (del) {
    b.declaredSets.clear();
    b.emptyIntervalSets.clear();
    b.declaredChains.clear();
  }
}

/** Flush (a DELRULE naming only the chain) or delete a chain. */
function encodeChainByName(b: Batch, op: Extract<Op<"chain">, { name: string }>): void {
  const del = op.verb === "delete";
  const token = beginMessage(b, del ? NFT_MSG.DELCHAIN : NFT_MSG.DELRULE, 0);
  b.w.stringAttr(del ? NFTA_CHAIN.NAME : NFTA_RULE.CHAIN, op.name);
  b.w.endMessage(token);
  if (del) b.declaredChains.delete(op.name);
}

function encodeChainDeclaration(b: Batch, op: Extract<Op<"chain">, { chain: DesiredChain }>): void {
  const chain = op.chain;
  // `add chain C { rules }` after `add chain C` in the same batch: nft sends a second NEWCHAIN,
  // which the kernel turns into an empty update transaction. It changes nothing, but tens of
  // thousands of them make the commit measurably slower, so an unchanged re-declaration is
  // left out and only the rules follow.
  const spec = chainSpecKey(chain);
  if (op.verb !== "add" || b.declaredChains.get(chain.name) !== spec) {
    const token = beginMessage(b, NFT_MSG.NEWCHAIN, createFlags(op.verb));
    writeChainAttributes(b.w, chain, b.ruleContext.family);
    b.w.endMessage(token);
    b.declaredChains.set(chain.name, spec);
  }
  if (op.withRules) for (const rule of chain.rules) encodeRule(b, chain.name, rule, "add");
}

/** What a NEWCHAIN carries besides the name: two declarations with equal keys send equal bytes. */
function chainSpecKey(chain: DesiredChain): string {
  return JSON.stringify([chain.base ?? null, chain.comment ?? null]);
}

function encodeRuleDelete(b: Batch, op: Extract<Op<"rule">, { verb: "delete" }>): void {
  const token = beginMessage(b, NFT_MSG.DELRULE, 0);
  b.w.stringAttr(NFTA_RULE.CHAIN, op.chain);
  b.w.u64Attr(NFTA_RULE.HANDLE, op.handle);
  b.w.endMessage(token);
}

/**
 * A NEWRULE. Anonymous sets and maps the rule looks up must come first, in the same batch; which
 * ones it has is known once the rule is written, so a rule with any is written, dropped, and
 * written again after them (its lookups name the same ids).
 */
function encodeRule(
  b: Batch,
  chain: string,
  rule: DesiredRule,
  verb: "add" | "insert" | "replace",
  handle?: number,
): void {
  const flags =
    verb === "replace"
      ? NETLINK.NLM_F_REPLACE
      : NETLINK.NLM_F_CREATE | (verb === "add" ? NETLINK.NLM_F_APPEND : 0);
  const markLength = b.w.length;
  const markSeq = b.seq;
  const markMessages = b.messageOps.length;
  const firstSetId = b.nextSetId;
  const sets = writeRuleMessage(b, chain, rule, flags, verb, handle, firstSetId);
  if (sets.length === 0) return;
  b.w.truncate(markLength);
  b.seq = markSeq;
  b.messageOps.length = markMessages;
  for (const set of sets) writeAnonymousSetMessages(b, set, b.nextSetId++);
  writeRuleMessage(b, chain, rule, flags, verb, handle, firstSetId);
}

function writeAnonymousSetMessages(b: Batch, set: AnonymousSet, id: number): void {
  let token = beginMessage(b, NFT_MSG.NEWSET, NETLINK.NLM_F_CREATE);
  writeAnonymousSet(b.w, set, id);
  b.w.endMessage(token);
  token = beginMessage(b, NFT_MSG.NEWSETELEM, NETLINK.NLM_F_CREATE);
  writeAnonymousElements(b.w, set, id);
  b.w.endMessage(token);
}

function writeRuleMessage(
  b: Batch,
  chain: string,
  rule: DesiredRule,
  flags: number,
  verb: string,
  handle: number | undefined,
  firstSetId: number,
): AnonymousSet[] {
  const token = beginMessage(b, NFT_MSG.NEWRULE, flags);
  b.w.stringAttr(NFTA_RULE.CHAIN, chain);
  if (handle !== undefined) b.w.u64Attr(verb === "replace" ? NFTA_RULE.HANDLE : NFTA_RULE.POSITION, handle);
  const sets = writeRuleWithSets(b.w, rule, b.ruleContext, firstSetId);
  const userdata = ruleUserdata(rule);
  if (userdata) b.w.bytesAttr(NFTA_RULE.USERDATA, userdata);
  b.w.endMessage(token);
  return sets;
}

function encodeSetDeclaration(b: Batch, op: Extract<Op<"set" | "map">, { set: DesiredSet }>): void {
  const id = b.nextSetId++;
  const token = beginMessage(b, NFT_MSG.NEWSET, createFlags(op.verb));
  writeSetDeclaration(b.w, op.set, id);
  b.w.endMessage(token);
  b.declaredSets.set(op.set.name, id);
  if (op.set.flags?.includes("interval")) b.emptyIntervalSets.add(op.set.name);
  else b.emptyIntervalSets.delete(op.set.name);
}

/** Delete a set, or flush it (a DELSETELEM without an element list). */
function encodeSetByName(b: Batch, op: Extract<Op<"set" | "map">, { name: string }>): void {
  const del = op.verb === "delete";
  const token = beginMessage(b, del ? NFT_MSG.DELSET : NFT_MSG.DELSETELEM, 0);
  b.w.stringAttr(del ? NFTA_SET_NAME : NFTA_SET_ELEM_LIST.SET, op.name);
  b.w.endMessage(token);
  if (del) {
    b.declaredSets.delete(op.name);
    b.emptyIntervalSets.delete(op.name);
  } else if (b.declaredSets.has(op.name) && b.sets.get(op.name)?.flags?.includes("interval"))
    b.emptyIntervalSets.add(op.name);
}
