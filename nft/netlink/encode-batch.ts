// The state of one netlink batch while nft/netlink/encode.ts writes it: the writer, the next
// sequence number and set id, which operation each message belongs to, and what this batch has
// declared so far (later operations depend on it). Passed explicitly to each encoding step.
import type { DesiredSet } from "../desired.ts";
import type { Family } from "../model.ts";
import { NETLINK, nftMsgType } from "./constants.ts";
import type { RuleEncodeContext } from "./rule.ts";
import type { NetlinkWriter } from "./writer.ts";

const NFTA_TABLE_NAME = 1;

export interface Batch {
  readonly w: NetlinkWriter;
  /** The table's NFPROTO number, for every message header. */
  readonly nfproto: number;
  readonly table: string;
  /** The table's named sets and maps (key and value types), as EncodeOptions gave them. */
  readonly sets: ReadonlyMap<string, DesiredSet>;
  /** What rule encoding needs to know about the table. */
  readonly ruleContext: RuleEncodeContext;
  /** Sequence number of the next message. */
  seq: number;
  /** Index into tx.ops of the operation being encoded. */
  opIndex: number;
  /** For each message after the batch begin, the index into tx.ops of the operation it encodes. */
  readonly messageOps: number[];
  /** NFTA_SET_ID of the next set declared (named or anonymous). */
  nextSetId: number;
  /** Sets declared in this batch, with their NFTA_SET_ID. */
  readonly declaredSets: Map<string, number>;
  /** Interval sets declared (or flushed) in this batch that no element has gone into yet. */
  readonly emptyIntervalSets: Set<string>;
  /** Chains declared in this batch, with the spec they were declared with (chainSpecKey). */
  readonly declaredChains: Map<string, string>;
}

export function newBatch(
  w: NetlinkWriter,
  family: Family,
  nfproto: number,
  table: string,
  sets: ReadonlyMap<string, DesiredSet>,
  seq: number,
): Batch {
  return {
    w,
    nfproto,
    table,
    sets,
    ruleContext: { family, sets },
    seq,
    opIndex: 0,
    messageOps: [],
    nextSetId: 1,
    declaredSets: new Map(),
    emptyIntervalSets: new Set(),
    declaredChains: new Map(),
  };
}

/** Starts a message of the current operation, with the table name written; returns its token. */
export function beginMessage(b: Batch, type: number, flags: number): number {
  b.messageOps.push(b.opIndex);
  const token = b.w.beginMessage(nftMsgType(type), NETLINK.NLM_F_REQUEST | flags, b.seq++, b.nfproto);
  b.w.stringAttr(NFTA_TABLE_NAME, b.table);
  return token;
}

/** The flags of a NEW* message: `create` must not find the object already there. */
export function createFlags(verb: string): number {
  return NETLINK.NLM_F_CREATE | (verb === "create" ? NETLINK.NLM_F_EXCL : 0);
}
