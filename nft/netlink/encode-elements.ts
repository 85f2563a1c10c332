// Element operations of a batch (nft/netlink/encode.ts): add, create and delete of named set and
// map elements. Interval sets are encoded only while the batch that declared them fills them.
import type { DesiredSet } from "../desired.ts";
import type { Expression, SetElement, Verdict } from "../model.ts";
import type { Operation } from "../transaction.ts";
import { NFT_MSG, NFTA_DATA, NFTA_SET_ELEM, NFTA_SET_ELEM_LIST } from "./constants.ts";
import { commentUserdata, writeIntervalElements } from "./declarations.ts";
import { type Batch, beginMessage, createFlags } from "./encode-batch.ts";
import { writeVerdict } from "./expressions-sets.ts";
import { encodeKey, NetlinkUnsupported } from "./values.ts";
import type { NetlinkWriter } from "./writer.ts";

const NFTA_SET_ELEM_LIST_SET_ID = 4;
/** Start another message once an element list passes this size (one element is far below 1 KiB). */
const ELEMENTS_PER_MESSAGE_BYTES = 60_000;

type ElementOperation = Extract<Operation, { kind: "element" }>;

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

function knownSet(b: Batch, name: string): DesiredSet {
  const set = b.sets.get(name);
  if (!set) throw new NetlinkUnsupported(`set ${name}: type unknown to the encoder`);
  return set;
}

/**
 * Elements of an interval set go only into a set this batch declared (or flushed) and left empty:
 * otherwise nft merges with, and checks against, what the kernel holds.
 */
function encodeIntervalElements(b: Batch, op: ElementOperation, set: DesiredSet): void {
  const id = b.declaredSets.get(set.name);
  if (op.verb === "delete" || id === undefined || !b.emptyIntervalSets.has(set.name))
    throw new NetlinkUnsupported(
      `set ${set.name}: changes to an interval set that holds elements are left to nft`,
    );
  b.emptyIntervalSets.delete(set.name);
  const token = beginMessage(b, NFT_MSG.NEWSETELEM, createFlags(op.verb));
  writeIntervalElements(b.w, set, id, op.elements);
  b.w.endMessage(token);
}

/**
 * The element list is one attribute, at most 64 KiB: a long list goes in several messages (of the
 * same operation, in the same batch), as nft splits it.
 */
function encodeElementList(b: Batch, op: ElementOperation, set: DesiredSet): void {
  const { w } = b;
  const del = op.verb === "delete";
  const id = b.declaredSets.get(set.name);
  let token = -1;
  let list = -1;
  let index = 0;
  for (const el of op.elements) {
    if (token >= 0 && w.length - list > ELEMENTS_PER_MESSAGE_BYTES) {
      w.endNested(list);
      w.endMessage(token);
      token = -1;
    }
    if (token < 0) {
      token = beginMessage(b, del ? NFT_MSG.DELSETELEM : NFT_MSG.NEWSETELEM, del ? 0 : createFlags(op.verb));
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
}

export function encodeElements(b: Batch, op: ElementOperation): void {
  const set = knownSet(b, op.set);
  if (set.flags?.includes("interval")) encodeIntervalElements(b, op, set);
  else encodeElementList(b, op, set);
}
