// Encodes a Transaction as one nf_tables netlink batch (BATCH_BEGIN, one message per operation,
// BATCH_END): the same all-or-nothing transaction `nft -f` would send, without nft's cache dump.
// Pure. Covers what syncs after the first send: elements, regular chains, flushes, rules. Anything
// else (base chains, set declarations, interval sets, anonymous sets) throws NetlinkUnsupported and
// nft/apply.ts falls back to the nft executable for the whole transaction.
import type { DesiredChain, DesiredRule, DesiredSet } from "../desired.ts";
import type { DataType, Expression, SetElement, Verdict } from "../model.ts";
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
  NFTA_LIST_ELEM,
  NFTA_RULE,
  NFTA_SET_ELEM,
  NFTA_SET_ELEM_LIST,
  NFTA_VERDICT,
  nftMsgType,
  VERDICT_CODE,
} from "./constants.ts";
import { writeAnonymousElements, writeAnonymousSet } from "./expressions-sets.ts";
import { prepareRule, ruleUserdata } from "./rule.ts";
import { encodeKey, NetlinkUnsupported } from "./values.ts";
import { NetlinkWriter } from "./writer.ts";

const NFTA_TABLE_NAME = 1;
const NFTA_SET_NAME = 2;
/** nftnl user-data TLV type of a comment (tables, chains, rules and elements alike). */
const UDATA_COMMENT = 0;

/** Encodes a rule's statements (nft/netlink/rule.ts; tests may substitute their own). */
export type RuleWriter = (w: NetlinkWriter, rule: DesiredRule, sets: ReadonlyMap<string, DesiredSet>) => void;

export interface EncodeOptions {
  /** The table's named sets and maps (their key and value types); element operations need them. */
  sets: ReadonlyMap<string, DesiredSet>;
  /** Encodes rule statements; nft/netlink/rule.ts by default. */
  writeRule?: RuleWriter;
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

/** The nftnl user-data block holding one comment: type, length, NUL-terminated text. */
export function commentUserdata(comment: string): Buffer {
  const text = Buffer.from(`${comment}\0`);
  if (text.length > 255)
    throw new NetlinkUnsupported(`comment "${comment.slice(0, 40)}…": longer than 254 bytes`);
  return Buffer.concat([Buffer.from([UDATA_COMMENT, text.length]), text]);
}

function keyParts(key: Expression): unknown[] {
  if (typeof key === "object" && key !== null && !Array.isArray(key) && "concat" in key) return key.concat;
  if (typeof key === "object" && key !== null && !Array.isArray(key))
    throw new NetlinkUnsupported(
      `element key ${JSON.stringify(key)}: only values and concatenations are encoded`,
    );
  return [key];
}

function isVerdict(v: unknown): v is Verdict {
  if (typeof v !== "object" || v === null || Array.isArray(v)) return false;
  const k = Object.keys(v)[0];
  return k in VERDICT_CODE;
}

export function writeVerdict(w: NetlinkWriter, verdict: Verdict): void {
  const kind = Object.keys(verdict)[0] as keyof typeof VERDICT_CODE;
  w.nested(NFTA_DATA.VERDICT, () => {
    w.u32Attr(NFTA_VERDICT.CODE, VERDICT_CODE[kind]);
    if (kind === "jump" || kind === "goto") {
      const target = (verdict as { jump?: { target: string }; goto?: { target: string } })[kind]?.target;
      if (!target) throw new NetlinkUnsupported(`${kind} without a target chain`);
      w.stringAttr(NFTA_VERDICT.CHAIN, target);
    }
  });
}

function writeElement(w: NetlinkWriter, set: DesiredSet, el: SetElement, withData: boolean): void {
  w.nested(NFTA_LIST_ELEM, () => {
    w.nested(NFTA_SET_ELEM.KEY, () => w.bytesAttr(NFTA_DATA.VALUE, encodeKey(set.type, keyParts(el.key))));
    if (withData && set.map !== undefined) {
      if (el.value === undefined) throw new NetlinkUnsupported(`map ${set.name}: element without a value`);
      if (set.map === "verdict") {
        if (!isVerdict(el.value)) throw new NetlinkUnsupported(`map ${set.name}: value is not a verdict`);
        const verdict = el.value;
        w.nested(NFTA_SET_ELEM.DATA, () => writeVerdict(w, verdict));
      } else {
        const types = set.map as DataType | DataType[];
        const value = el.value as Expression;
        w.nested(NFTA_SET_ELEM.DATA, () => w.bytesAttr(NFTA_DATA.VALUE, encodeKey(types, keyParts(value))));
      }
    }
    if (withData && el.timeout !== undefined) w.u64Attr(NFTA_SET_ELEM.TIMEOUT, Math.round(el.timeout * 1000));
    if (withData && el.comment !== undefined)
      w.bytesAttr(NFTA_SET_ELEM.USERDATA, commentUserdata(el.comment));
  });
}

function knownSet(name: string, opts: EncodeOptions): DesiredSet {
  const set = opts.sets.get(name);
  if (!set) throw new NetlinkUnsupported(`set ${name}: type unknown to the encoder`);
  if (set.flags?.includes("interval"))
    throw new NetlinkUnsupported(`set ${name}: interval sets are left to nft`);
  return set;
}

function writeChainMessage(w: NetlinkWriter, chain: DesiredChain): void {
  if (chain.base) throw new NetlinkUnsupported(`chain ${chain.name}: base chains are left to nft`);
  w.stringAttr(NFTA_CHAIN.NAME, chain.name);
}

/** Encodes every operation of the transaction, or throws NetlinkUnsupported naming the first it cannot. */
export function encodeTransaction(tx: Transaction, opts: EncodeOptions): EncodedBatch {
  const family = NFPROTO[tx.family as keyof typeof NFPROTO];
  if (family === undefined) throw new NetlinkUnsupported(`family ${tx.family}: not encoded`);
  const w = new NetlinkWriter(1 << 16);
  const firstSeq = opts.seq ?? 1;
  let seq = firstSeq;
  w.endMessage(w.beginMessage(NFNL_MSG_BATCH_BEGIN, NETLINK.NLM_F_REQUEST, seq++, 0, NFNL_SUBSYS_NFTABLES));
  const messageOps: number[] = [];
  let nextSetId = 1;
  let opIndex = 0;
  const message = (type: number, flags: number, fill: () => void) => {
    messageOps.push(opIndex);
    const token = w.beginMessage(nftMsgType(type), NETLINK.NLM_F_REQUEST | flags, seq++, family);
    fill();
    w.endMessage(token);
  };
  const create = (verb: string) => NETLINK.NLM_F_CREATE | (verb === "create" ? NETLINK.NLM_F_EXCL : 0);
  for (const op of tx.ops) {
    encodeOperation(op);
    opIndex++;
  }
  w.endMessage(w.beginMessage(NFNL_MSG_BATCH_END, NETLINK.NLM_F_REQUEST, seq++, 0, NFNL_SUBSYS_NFTABLES));
  return { bytes: w.bytes(), firstSeq, messageOps };

  function encodeOperation(op: Operation): void {
    const table = () => {
      w.stringAttr(NFTA_TABLE_NAME, tx.table);
    };
    switch (op.kind) {
      case "table": {
        if (op.verb === "flush" || op.comment !== undefined)
          throw new NetlinkUnsupported(`${op.verb} table: left to nft`);
        const del = op.verb === "delete";
        message(del ? NFT_MSG.DELTABLE : NFT_MSG.NEWTABLE, del ? 0 : create(op.verb), table);
        break;
      }
      case "chain": {
        if ("name" in op) {
          const name = op.name;
          const del = op.verb === "delete";
          message(del ? NFT_MSG.DELCHAIN : NFT_MSG.DELRULE, 0, () => {
            table();
            w.stringAttr(del ? NFTA_CHAIN.NAME : NFTA_RULE.CHAIN, name);
          });
          break;
        }
        const chain = op.chain;
        if (chain.comment !== undefined)
          throw new NetlinkUnsupported(`chain ${chain.name}: comments are left to nft`);
        message(NFT_MSG.NEWCHAIN, create(op.verb), () => {
          table();
          writeChainMessage(w, chain);
        });
        if (op.withRules) for (const rule of chain.rules) addRule(chain.name, rule, "add");
        break;
      }
      case "rule": {
        if (op.verb === "delete") {
          const { chain, handle } = op;
          message(NFT_MSG.DELRULE, 0, () => {
            table();
            w.stringAttr(NFTA_RULE.CHAIN, chain);
            w.u64Attr(NFTA_RULE.HANDLE, handle);
          });
        } else addRule(op.chain, op.rule, op.verb, op.handle);
        break;
      }
      case "set":
      case "map": {
        if ("set" in op)
          throw new NetlinkUnsupported(
            `${op.verb} ${op.kind} ${op.set.name}: set declarations are left to nft`,
          );
        const name = op.name;
        const del = op.verb === "delete";
        // DELSETELEM without an element list flushes the set.
        message(del ? NFT_MSG.DELSET : NFT_MSG.DELSETELEM, 0, () => {
          table();
          w.stringAttr(del ? NFTA_SET_NAME : NFTA_SET_ELEM_LIST.SET, name);
        });
        break;
      }
      case "element": {
        const set = knownSet(op.set, opts);
        const del = op.verb === "delete";
        const elements = op.elements;
        message(del ? NFT_MSG.DELSETELEM : NFT_MSG.NEWSETELEM, del ? 0 : create(op.verb), () => {
          table();
          w.stringAttr(NFTA_SET_ELEM_LIST.SET, set.name);
          w.nested(NFTA_SET_ELEM_LIST.ELEMENTS, () => {
            for (const el of elements) writeElement(w, set, el, !del);
          });
        });
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
    let writeExpressions: (w: NetlinkWriter) => void;
    if (opts.writeRule) {
      const writeRule = opts.writeRule;
      writeExpressions = (w) => writeRule(w, rule, opts.sets);
    } else {
      // Anonymous sets and maps the rule looks up are declared in the same batch, just before it.
      const prepared = prepareRule(rule, { family: tx.family, sets: opts.sets });
      const ids = prepared.anonymousSets.map((set) => {
        const id = nextSetId++;
        message(NFT_MSG.NEWSET, NETLINK.NLM_F_CREATE, () => {
          w.stringAttr(NFTA_TABLE_NAME, tx.table);
          writeAnonymousSet(w, set, id);
        });
        message(NFT_MSG.NEWSETELEM, NETLINK.NLM_F_CREATE, () => {
          w.stringAttr(NFTA_TABLE_NAME, tx.table);
          writeAnonymousElements(w, set, id);
        });
        return id;
      });
      writeExpressions = (w) => prepared.writeExpressions(w, ids);
    }
    const flags =
      verb === "replace"
        ? NETLINK.NLM_F_REPLACE
        : NETLINK.NLM_F_CREATE | (verb === "add" ? NETLINK.NLM_F_APPEND : 0);
    message(NFT_MSG.NEWRULE, flags, () => {
      w.stringAttr(NFTA_TABLE_NAME, tx.table);
      w.stringAttr(NFTA_RULE.CHAIN, chain);
      if (handle !== undefined) w.u64Attr(verb === "replace" ? NFTA_RULE.HANDLE : NFTA_RULE.POSITION, handle);
      writeExpressions(w);
      const userdata = ruleUserdata(rule);
      if (userdata) w.bytesAttr(NFTA_RULE.USERDATA, userdata);
    });
  }
}
