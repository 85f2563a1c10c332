// The "maps" shape (issue 15): a plain ClusterIP port is SLOT_COUNT elements of one data map,
//   services-backends4: ip daddr . meta l4proto . th dport . numgen random mod 16 : ip daddr . th dport
// read by one rule of the dispatch chain, so an endpoint change is element updates only. This file
// turns an LB plan's slot table (any length) into those SLOT_COUNT slots.
//
// Quantisation: an endpoint with w of the plan's W slots gets round(16·w/W) slots by the largest
// remainder method, and at least one, so no endpoint of the plan is left out (a plan naming more
// than 16 distinct endpoints does not fit and keeps its chain). So proportions are kept to 1/16:
// 3 equal endpoints get 6/5/5, weights 3:1 get 12/4, 10:1 get 15/1 (not 14.5/1.5).
// Placement: each endpoint has its own preference order over the slots (an odd step from a start,
// both from a hash of its address and port, as Maglev's permutations), and endpoints take their
// slots in turns, the next free one in their order. An endpoint added or removed therefore moves
// about the slots its share changes by, not the whole table: 3 → 4 equal endpoints moves 4–6 of 16.

import { concat, element } from "../../nft/build.ts";
import { endpointId } from "./endpoints.ts";
import type { ResolvedPlan, SelectionEndpoint } from "./selection.ts";

export const SLOT_COUNT = 16;

/** Slots per endpoint id (in the plan's order of first appearance), or null when the plan does not fit. */
export function quantize(slots: readonly string[], count = SLOT_COUNT): Map<string, number> | null {
  const weights = new Map<string, number>();
  for (const id of slots) weights.set(id, (weights.get(id) ?? 0) + 1);
  if (weights.size === 0 || weights.size > count) return null;
  const total = slots.length;
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

/** Slot → endpoint id: each endpoint takes its quota, in turns, from its own preference order. */
export function placeSlots(quota: Map<string, number>, count = SLOT_COUNT): string[] {
  const ids = [...quota.keys()].sort();
  const next = new Map<string, number>();
  const step = (id: string) => 2 * (hash(id, 2) % (count / 2)) + 1; // odd: visits every slot of 2^k
  const start = (id: string) => hash(id, 1) % count;
  const out: (string | undefined)[] = new Array(count).fill(undefined);
  const left = new Map(quota);
  let placed = 0;
  while (placed < count) {
    for (const id of ids) {
      if (left.get(id)! === 0) continue;
      let k = next.get(id) ?? 0;
      let slot = (start(id) + k * step(id)) % count;
      while (out[slot] !== undefined) {
        k++;
        slot = (start(id) + k * step(id)) % count;
      }
      out[slot] = id;
      next.set(id, k + 1);
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
      v = { text: `${e.address} . ${e.port}`, expr: concat(e.address, e.port) };
      values.set(e, v);
    }
    return {
      id: `${ip} . ${proto} . ${port} . ${slot}`,
      value: v.text,
      element: element(concat(ip, proto, port, slot), v.expr),
      ...(slot > 0 ? { quiet: true } : {}),
    };
  });
}
