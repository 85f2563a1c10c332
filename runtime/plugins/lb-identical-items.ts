// Identical items of one batch are sent once. A plugin that does not read the key sees only what
// varies between services (e.g. random: the endpoint count), so many items are byte-identical;
// plugins are pure, so one answer serves all of them ("twins" of the item that is sent).
import type { LbRequest, LbResult } from "../lb/plan.ts";
import type { LbResultCache } from "./lb-cache.ts";
import { LB_INPUT_FIELDS } from "./lb-codec.ts";

const KEY_FIELD = LB_INPUT_FIELDS.key;
/** Every field bit set: an item is nothing but the endpoint count. */
const ONLY_COUNT = Object.values(LB_INPUT_FIELDS).reduce((a, b) => a | b, 0);

/** Whether `bytes[a, aEnd)` equals `bytes[b, bEnd)`. */
function sameRange(bytes: Uint8Array, a: number, aEnd: number, b: number, bEnd: number): boolean {
  if (aEnd - a !== bEnd - b) return false;
  for (let i = 0; a + i < aEnd; i++) if (bytes[a + i] !== bytes[b + i]) return false;
  return true;
}

/** FNV-1a of `bytes[start, end)`: buckets items for the identical-item check. */
function hashBytes(bytes: Uint8Array, start: number, end: number): number {
  let h = 2166136261;
  for (let i = start; i < end; i++) h = Math.imul(h ^ bytes[i], 16777619);
  return h >>> 0;
}

/** The twins found while encoding one batch; positions are indices into the batch's pending items. */
export class IdenticalItems {
  /** twins[k] is the request answered by the pending item at position twinOf[k]. */
  readonly twins: number[] = [];
  readonly twinOf: number[] = [];
  /** Endpoint count → pending position, when only the count is sent (random, round-robin). */
  private readonly byCount: Map<number, number> | null;
  /** Item hash → pending position of the first item with that hash. */
  private readonly byHash = new Map<number, number>();

  /** The checker for a plugin that leaves out the `omitted` fields, or null when no items can be twins. */
  static forPlugin(omitted: number, enabled: boolean): IdenticalItems | null {
    return enabled && (omitted & KEY_FIELD) !== 0 ? new IdenticalItems(omitted === ONLY_COUNT) : null;
  }

  private constructor(onlyCount: boolean) {
    this.byCount = onlyCount ? new Map() : null;
  }

  /** Before encoding: whether request `index` is a twin by its endpoint count alone. */
  matchCount(index: number, endpoints: number): boolean {
    const of = this.byCount?.get(endpoints);
    if (of === undefined) return false;
    this.addTwin(index, of);
    return true;
  }

  /**
   * After encoding `bytes[start, end)`: whether it is a twin of an earlier pending item (`ends[i]`
   * is where pending item i ends); if not, remembers it as the pending item at `position`.
   */
  matchBytes(
    index: number,
    endpoints: number,
    item: { bytes: Uint8Array; start: number; end: number },
    ends: readonly number[],
    position: number,
  ): boolean {
    if (this.byCount) {
      this.byCount.set(endpoints, position);
      return false;
    }
    const { bytes, start, end } = item;
    const hash = hashBytes(bytes, start, end);
    const of = this.byHash.get(hash);
    if (of === undefined) {
      this.byHash.set(hash, position);
      return false;
    }
    if (!sameRange(bytes, of === 0 ? 0 : ends[of - 1], ends[of], start, end)) return false;
    this.addTwin(index, of);
    return true;
  }

  /** Gives each twin the answer of the item sent for it, cached under its own key when it succeeded. */
  answer(
    requests: readonly LbRequest[],
    pending: readonly number[],
    out: LbResult[],
    cache: LbResultCache | null,
    sha256: string,
  ): void {
    for (let k = 0; k < this.twins.length; k++) {
      const index = this.twins[k];
      const of = this.twinOf[k];
      const result = out[pending[of]];
      const first = requests[pending[of]].key;
      out[index] = result.ok
        ? result
        : { ok: false, error: `${requests[index].key}: the same request as ${first}: ${result.error}` };
      const item = cache && result.ok ? cache.item(first) : undefined;
      if (item) cache?.set(requests[index].key, sha256, item, result);
    }
  }

  private addTwin(index: number, of: number): void {
    this.twins.push(index);
    this.twinOf.push(of);
  }
}
