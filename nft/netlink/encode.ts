// Encodes a Transaction as one nf_tables netlink batch (BATCH_BEGIN, one message per operation,
// BATCH_END): the same all-or-nothing transaction `nft -f` would send, without nft's cache dump.
// Pure. Covers tables (comments, flush), chains (base chains, comments), named set and map
// declarations, elements (of interval sets only while the batch that declared the set fills it),
// rules with their anonymous sets (nft/netlink/rule.ts), flushes and deletes. Anything else throws
// NetlinkUnsupported and nft/apply.ts sends the whole transaction through the nft executable.
import type { DesiredChain, DesiredRule, DesiredSet } from "../desired.ts";
import type { Expression, SetElement, Verdict } from "../model.ts";
import type { Operation, Transaction } from "../transaction.ts";
import {
  NETLINK,
  NFNL_MSG_BATCH_BEGIN,
  NFNL_MSG_BATCH_END,
  NFNL_SUBSYS_NFTABLES,
  NFPROTO,
  NFT_MSG,
  NFTA_CHAIN,
  NFTA_DATA,
  NFTA_RULE,
  NFTA_SET_ELEM,
  NFTA_SET_ELEM_LIST,
  nftMsgType,
} from "./constants.ts";
import {
  commentUserdata,
  writeChainAttributes,
  writeIntervalElements,
  writeSetDeclaration,
  writeTableAttributes,
} from "./declarations.ts";
import {
  type AnonymousSet,
  writeAnonymousElements,
  writeAnonymousSet,
  writeVerdict,
} from "./expressions-sets.ts";
import { ruleUserdata, writeRuleWithSets } from "./rule.ts";
import { encodeKey, NetlinkUnsupported } from "./values.ts";
import { NetlinkWriter } from "./writer.ts";

const NFTA_TABLE_NAME = 1;
const NFTA_SET_NAME = 2;
const NFTA_SET_ELEM_LIST_SET_ID = 4;
/** Start another message once an element list passes this size (one element is far below 1 KiB). */
const ELEMENTS_PER_MESSAGE_BYTES = 60_000;

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

export { commentUserdata };

function keyParts(key: Expression): unknown[] {
  if (typeof key === "object" && key !== null && !Array.isArray(key) && "concat" in key) return key.concat;
  if (typeof key === "object" && key !== null && !Array.isArray(key))
    throw new NetlinkUnsupported(
      `element key ${JSON.stringify(key)}: only values and concatenations are encoded`,
    );
  return [key];
}

// Attribute order as libnftnl builds an element: flags, timeout, key, data, user data.
function writeElement(
  w: NetlinkWriter,
  set: DesiredSet,
  el: SetElement,
  withData: boolean,
  index: number,
): void {
  const item = w.beginNested(index);
  if (withData && el.timeout !== undefined) {
    if (!Number.isFinite(el.timeout) || el.timeout < 0)
      throw new NetlinkUnsupported(`set ${set.name}: element timeout ${el.timeout}`);
    w.u64Attr(NFTA_SET_ELEM.TIMEOUT, Math.round(el.timeout * 1000));
  }
  const key = w.beginNested(NFTA_SET_ELEM.KEY);
  w.bytesAttr(NFTA_DATA.VALUE, encodeKey(set.type, keyParts(el.key)));
  w.endNested(key);
  if (withData && set.map !== undefined) {
    if (el.value === undefined) throw new NetlinkUnsupported(`map ${set.name}: element without a value`);
    const data = w.beginNested(NFTA_SET_ELEM.DATA);
    if (set.map === "verdict") writeVerdict(w, el.value as Verdict);
    else w.bytesAttr(NFTA_DATA.VALUE, encodeKey(set.map, keyParts(el.value as Expression)));
    w.endNested(data);
  }
  if (withData && el.comment !== undefined)
    w.bytesAttr(NFTA_SET_ELEM.USERDATA, commentUserdata(el.comment, `set ${set.name} element`));
  w.endNested(item);
}

function knownSet(name: string, opts: EncodeOptions): DesiredSet {
  const set = opts.sets.get(name);
  if (!set) throw new NetlinkUnsupported(`set ${name}: type unknown to the encoder`);
  return set;
}

/** Encodes every operation of the transaction, or throws NetlinkUnsupported naming the first it cannot. */
export function encodeTransaction(tx: Transaction, opts: EncodeOptions): EncodedBatch {
  const family = NFPROTO[tx.family as keyof typeof NFPROTO];
  if (family === undefined) throw new NetlinkUnsupported(`family ${tx.family}: not encoded`);
  const w = new NetlinkWriter(Math.max(1 << 16, tx.size * 384));
  const firstSeq = opts.seq ?? 1;
  let seq = firstSeq;
  w.endMessage(w.beginMessage(NFNL_MSG_BATCH_BEGIN, NETLINK.NLM_F_REQUEST, seq++, 0, NFNL_SUBSYS_NFTABLES));
  const messageOps: number[] = [];
  let nextSetId = 1;
  /** Sets declared in this batch, with their NFTA_SET_ID. */
  const declared = new Map<string, number>();
  /** Interval sets declared in this batch that no element has gone into yet. */
  const emptyIntervalSets = new Set<string>();
  /** Chains declared in this batch, with the spec they were declared with (chainSpecKey). */
  const declaredChains = new Map<string, string>();
  let opIndex = 0;
  /** Starts a message of the current operation, with the table name written. */
  const begin = (type: number, flags: number): number => {
    messageOps.push(opIndex);
    const token = w.beginMessage(nftMsgType(type), NETLINK.NLM_F_REQUEST | flags, seq++, family);
    w.stringAttr(NFTA_TABLE_NAME, tx.table);
    return token;
  };
  const create = (verb: string) => NETLINK.NLM_F_CREATE | (verb === "create" ? NETLINK.NLM_F_EXCL : 0);
  const prepareContext = { family: tx.family, sets: opts.sets };
  for (const op of tx.ops) {
    encodeOperation(op);
    opIndex++;
  }
  w.endMessage(w.beginMessage(NFNL_MSG_BATCH_END, NETLINK.NLM_F_REQUEST, seq++, 0, NFNL_SUBSYS_NFTABLES));
  return { bytes: w.bytes(), firstSeq, messageOps };

  function encodeOperation(op: Operation): void {
    switch (op.kind) {
      case "table": {
        if (op.verb === "flush") {
          // nft flushes a table as one DELRULE naming only the table: every rule of every chain.
          w.endMessage(begin(NFT_MSG.DELRULE, 0));
          break;
        }
        const del = op.verb === "delete";
        const token = begin(del ? NFT_MSG.DELTABLE : NFT_MSG.NEWTABLE, del ? 0 : create(op.verb));
        if (!del) writeTableAttributes(w, op.comment);
        w.endMessage(token);
        if (del) {
          declared.clear();
          emptyIntervalSets.clear();
          declaredChains.clear();
        }
        break;
      }
      case "chain": {
        if ("name" in op) {
          const del = op.verb === "delete";
          const token = begin(del ? NFT_MSG.DELCHAIN : NFT_MSG.DELRULE, 0);
          w.stringAttr(del ? NFTA_CHAIN.NAME : NFTA_RULE.CHAIN, op.name);
          w.endMessage(token);
          if (del) declaredChains.delete(op.name);
          break;
        }
        const chain = op.chain;
        // `add chain C { rules }` after `add chain C` in the same batch: nft sends a second NEWCHAIN,
        // which the kernel turns into an empty update transaction. It changes nothing, but tens of
        // thousands of them make the commit measurably slower, so an unchanged re-declaration is
        // left out and only the rules follow.
        const spec = chainSpecKey(chain);
        if (op.verb !== "add" || declaredChains.get(chain.name) !== spec) {
          const token = begin(NFT_MSG.NEWCHAIN, create(op.verb));
          writeChainAttributes(w, chain, tx.family);
          w.endMessage(token);
          declaredChains.set(chain.name, spec);
        }
        if (op.withRules) for (const rule of chain.rules) addRule(chain.name, rule, "add");
        break;
      }
      case "rule": {
        if (op.verb === "delete") {
          const token = begin(NFT_MSG.DELRULE, 0);
          w.stringAttr(NFTA_RULE.CHAIN, op.chain);
          w.u64Attr(NFTA_RULE.HANDLE, op.handle);
          w.endMessage(token);
        } else addRule(op.chain, op.rule, op.verb, op.handle);
        break;
      }
      case "set":
      case "map": {
        if ("set" in op) {
          const id = nextSetId++;
          const token = begin(NFT_MSG.NEWSET, create(op.verb));
          writeSetDeclaration(w, op.set, id);
          w.endMessage(token);
          declared.set(op.set.name, id);
          if (op.set.flags?.includes("interval")) emptyIntervalSets.add(op.set.name);
          else emptyIntervalSets.delete(op.set.name);
          break;
        }
        const del = op.verb === "delete";
        // DELSETELEM without an element list flushes the set.
        const token = begin(del ? NFT_MSG.DELSET : NFT_MSG.DELSETELEM, 0);
        w.stringAttr(del ? NFTA_SET_NAME : NFTA_SET_ELEM_LIST.SET, op.name);
        w.endMessage(token);
        if (del) declared.delete(op.name);
        if (del) emptyIntervalSets.delete(op.name);
        else if (declared.has(op.name) && opts.sets.get(op.name)?.flags?.includes("interval"))
          emptyIntervalSets.add(op.name);
        break;
      }
      case "element": {
        const set = knownSet(op.set, opts);
        const del = op.verb === "delete";
        const elements = op.elements;
        if (set.flags?.includes("interval")) {
          // Only into a set this batch declared (or flushed) and left empty: otherwise nft merges
          // with, and checks against, what the kernel holds.
          const id = declared.get(set.name);
          if (del || id === undefined || !emptyIntervalSets.has(set.name))
            throw new NetlinkUnsupported(
              `set ${set.name}: changes to an interval set that holds elements are left to nft`,
            );
          emptyIntervalSets.delete(set.name);
          const token = begin(NFT_MSG.NEWSETELEM, create(op.verb));
          writeIntervalElements(w, set, id, elements);
          w.endMessage(token);
          break;
        }
        // The element list is one attribute, at most 64 KiB: a long list goes in several messages
        // (of the same operation, in the same batch), as nft splits it.
        const id = declared.get(set.name);
        let token = -1;
        let list = -1;
        let index = 0;
        for (const el of elements) {
          if (token >= 0 && w.length - list > ELEMENTS_PER_MESSAGE_BYTES) {
            w.endNested(list);
            w.endMessage(token);
            token = -1;
          }
          if (token < 0) {
            token = begin(del ? NFT_MSG.DELSETELEM : NFT_MSG.NEWSETELEM, del ? 0 : create(op.verb));
            w.stringAttr(NFTA_SET_ELEM_LIST.SET, set.name);
            if (id !== undefined) w.u32Attr(NFTA_SET_ELEM_LIST_SET_ID, id);
            list = w.beginNested(NFTA_SET_ELEM_LIST.ELEMENTS);
            index = 0;
          }
          writeElement(w, set, el, !del, ++index);
        }
        if (token >= 0) {
          w.endNested(list);
          w.endMessage(token);
        }
        break;
      }
    }
  }

  function addRule(
    chain: string,
    rule: DesiredRule,
    verb: "add" | "insert" | "replace",
    handle?: number,
  ): void {
    const flags =
      verb === "replace"
        ? NETLINK.NLM_F_REPLACE
        : NETLINK.NLM_F_CREATE | (verb === "add" ? NETLINK.NLM_F_APPEND : 0);
    const markLength = w.length;
    const markSeq = seq;
    const markMessages = messageOps.length;
    const firstSetId = nextSetId;
    const sets = writeRuleMessage(chain, rule, flags, verb, handle, firstSetId);
    if (sets.length === 0) return;
    // Anonymous sets and maps the rule looks up go first, in the same batch: write them, then the
    // rule again (its lookups name the same ids).
    w.truncate(markLength);
    seq = markSeq;
    messageOps.length = markMessages;
    for (const set of sets) {
      const id = nextSetId++;
      let token = begin(NFT_MSG.NEWSET, NETLINK.NLM_F_CREATE);
      writeAnonymousSet(w, set, id);
      w.endMessage(token);
      token = begin(NFT_MSG.NEWSETELEM, NETLINK.NLM_F_CREATE);
      writeAnonymousElements(w, set, id);
      w.endMessage(token);
    }
    writeRuleMessage(chain, rule, flags, verb, handle, firstSetId);
  }

  function writeRuleMessage(
    chain: string,
    rule: DesiredRule,
    flags: number,
    verb: string,
    handle: number | undefined,
    firstSetId: number,
  ): AnonymousSet[] {
    const token = begin(NFT_MSG.NEWRULE, flags);
    w.stringAttr(NFTA_RULE.CHAIN, chain);
    if (handle !== undefined) w.u64Attr(verb === "replace" ? NFTA_RULE.HANDLE : NFTA_RULE.POSITION, handle);
    const sets = writeRuleWithSets(w, rule, prepareContext, firstSetId);
    const userdata = ruleUserdata(rule);
    if (userdata) w.bytesAttr(NFTA_RULE.USERDATA, userdata);
    w.endMessage(token);
    return sets;
  }
}

/** What a NEWCHAIN carries besides the name: two declarations with equal keys send equal bytes. */
function chainSpecKey(chain: DesiredChain): string {
  return JSON.stringify([chain.base ?? null, chain.comment ?? null]);
}
