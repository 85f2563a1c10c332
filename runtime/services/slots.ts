// The "maps" shape (issue 15): a plain ClusterIP port is the N slot elements (N ≤ 16) of one data map,
//   services-backends4: ip daddr . meta l4proto . th dport . integer : ip daddr . th dport
// read by the services-slots chain, so an endpoint change is element updates only. That chain has
// one rule per slot count, from 16 down to 1: `… numgen random mod K map @services-backends4`. A port
// with N slots (0 … N-1) misses the rules with K > N whenever the draw is N or more, and the rule
// with K = N always hits: rejection sampling, so each of its N slots is drawn with probability 1/N
// exactly, whatever N is, from one map. This file turns an LB plan's slot table (any length) into
// those N slots.
//
// Slot count: the plan's weights divided by their greatest common divisor, when they sum to at most
// 16 (3 equal endpoints are 3 slots, weights 3:1 are 4, 10:1 are 11), which keeps the proportions
// exactly with the fewest elements; one or two such slots are repeated to four (one endpoint: 4
// slots), which bounds the rejection walk's average at 4.3 map lookups. Otherwise 16 slots and
// quantisation: an endpoint with w of the plan's W slots gets round(16·w/W) slots by the largest
// remainder method, and at least one, so no endpoint of the plan is left out (a plan naming more
// than 16 distinct endpoints does not fit and keeps its chain): weights 1:99 get 1/15, 20:11 get 10/6.
// Placement: each endpoint has its own preference order over the slots (a start and a step coprime
// with N, both from a hash of its address and port, as Maglev's permutations), and endpoints take
// their slots in turns, the next free one in their order, so an endpoint replaced mostly moves only
// the slots it held.

import { concat, element } from "../../nft/build.ts";
import { flat } from "../store/flat.ts";
import { endpointId } from "./endpoints.ts";
import { addressId } from "./names.ts";
import type { ResolvedPlan, SelectionEndpoint } from "./selection.ts";

/** The largest slot count: the services-slots chain has a rule per count 1 … MAX_SLOT_COUNT. */
export const MAX_SLOT_COUNT = 16;

/** One or two reduced slots are repeated to this many; three and more are kept. */
const SHORT_TABLE_SLOTS = 4;

const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));

/**
 * Slots per endpoint id (in the plan's order of first appearance), or null when the plan does not
 * fit: the reduced weights when they sum to at most MAX_SLOT_COUNT, else a quantisation to it.
 */
export function quantize(slots: readonly string[]): Map<string, number> | null {
  const weights = new Map<string, number>();
  for (const id of slots) weights.set(id, (weights.get(id) ?? 0) + 1);
  if (weights.size === 0 || weights.size > MAX_SLOT_COUNT) return null;
  let g = 0;
  for (const w of weights.values()) g = gcd(w, g);
  const reduced = slots.length / g;
  if (reduced <= MAX_SLOT_COUNT) {
    // One or two slots are repeated to four: the rejection walk from mod 16 then takes 3.4 lookups
    // on average instead of 8.5 (one slot) or 5.7 (two); three slots take 4.3, the most of any count.
    const times = reduced <= 2 ? SHORT_TABLE_SLOTS / reduced : 1;
    const out = new Map<string, number>();
    for (const [id, w] of weights) out.set(id, (w / g) * times);
    return out;
  }
  return quantizeTo(weights, slots.length, MAX_SLOT_COUNT);
}

function quantizeTo(weights: Map<string, number>, total: number, count: number): Map<string, number> {
  const out = new Map<string, number>();
  const remainders: { id: string; rest: number }[] = [];
  let given = 0;
  for (const [id, w] of weights) {
    const exact = (count * w) / total;
    const n = Math.max(1, Math.floor(exact));
    out.set(id, n);
    given += n;
    remainders.push({ id, rest: exact - Math.floor(exact) });
  }
  // Largest remainders first (ties: the plan's order), then take back from the largest shares.
  remainders.sort((a, b) => b.rest - a.rest);
  for (let i = 0; given < count; i = (i + 1) % remainders.length) {
    out.set(remainders[i].id, out.get(remainders[i].id)! + 1);
    given++;
  }
  while (given > count) {
    let top = "";
    for (const [id, n] of out) if (top === "" || n > out.get(top)!) top = id;
    out.set(top, out.get(top)! - 1);
    given--;
  }
  return out;
}

/** FNV-1a of a string: a stable hash, the same in every process. */
function hash(text: string, seed: number): number {
  let h = (0x811c9dc5 ^ seed) >>> 0;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

/** A step in 1 … count-1 coprime with count (1 for count 1), so the order visits every slot. */
function coprimeStep(id: string, count: number): number {
  if (count <= 2) return 1;
  let step = 1 + (hash(id, 2) % (count - 1));
  while (gcd(step, count) !== 1) step = step === count - 1 ? 1 : step + 1;
  return step;
}

/** Slot → endpoint id over sum(quota) slots: each endpoint takes its quota, in turns, from its own preference order. */
export function placeSlots(quota: Map<string, number>): string[] {
  let count = 0;
  for (const n of quota.values()) count += n;
  const ids = [...quota.keys()].sort();
  const order = new Map(
    ids.map((id) => [id, { start: hash(id, 1) % count, step: coprimeStep(id, count), k: 0 }]),
  );
  const out: (string | undefined)[] = new Array(count).fill(undefined);
  const left = new Map(quota);
  let placed = 0;
  while (placed < count) {
    for (const id of ids) {
      if (left.get(id)! === 0) continue;
      const o = order.get(id)!;
      let slot = (o.start + o.k * o.step) % count;
      while (out[slot] !== undefined) {
        o.k++;
        slot = (o.start + o.k * o.step) % count;
      }
      out[slot] = id;
      o.k++;
      left.set(id, left.get(id)! - 1);
      placed++;
    }
  }
  return out as string[];
}

/** The slot table of a random plan over `endpoints`, or null when it needs a chain (not random, too many endpoints). */
export function slotTable(
  plan: ResolvedPlan,
  endpoints: readonly SelectionEndpoint[],
): SelectionEndpoint[] | null {
  if (plan.selection.mode !== "random") return null;
  const byId = new Map(endpoints.map((e) => [endpointId(e), e]));
  const usable = plan.slots.filter((id) => byId.has(id));
  const quota = quantize(usable.length > 0 ? usable : [...byId.keys()]);
  if (!quota) return null;
  return placeSlots(quota).map((id) => byId.get(id)!);
}

/** The map elements of one service address: `ip . proto . port . slot : endpoint . port`. */
export function slotElements(ip: string, proto: string, port: number, table: readonly SelectionEndpoint[]) {
  // One value object and text per endpoint, shared by its slots (immutable once handed to nft/).
  const values = new Map<SelectionEndpoint, { text: string; expr: ReturnType<typeof concat> }>();
  return table.map((e, slot) => {
    let v = values.get(e);
    if (!v) {
      v = { text: flat(e.address, " . ", e.port), expr: concat(e.address, e.port) };
      values.set(e, v);
    }
    return {
      id: flat(addressId(ip, proto, port), " . ", slot),
      value: v.text,
      element: element(concat(ip, proto, port, slot), v.expr),
      ...(slot > 0 ? { quiet: true } : {}),
    };
  });
}
