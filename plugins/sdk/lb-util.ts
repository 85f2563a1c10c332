// Helpers shared by LB plugins: canonical endpoint order, hash-field and weight parameters, and a
// weighted slot table. Pure functions of the request.
import { DADDR, DPORT, L4PROTO, Request, SADDR, SPORT } from "./lb";

let sorting: Request | null = null;

function byEndpoint(a: u32, b: u32): i32 {
  const req = sorting!;
  const c = req.endpoint(<i32>a).compare(req.endpoint(<i32>b));
  return c != 0 ? c : <i32>a - <i32>b;
}

/** Endpoint indices ordered by (address, port), independent of the order they arrived in. */
export function sortedEndpointIndices(req: Request): u32[] {
  const order = req.allSlots();
  sorting = req;
  order.sort(byEndpoint);
  sorting = null;
  return order;
}

/** Bits from param `hash-fields` ("saddr,sport"), `fallback` when absent, 0 when invalid. */
export function hashFieldsParam(req: Request, fallback: u32): u32 {
  const text = req.param("hash-fields", "");
  if (text.length == 0) return fallback;
  let bits: u32 = 0;
  const parts = text.split(",");
  for (let i = 0; i < parts.length; i++) {
    const f = parts[i].trim();
    if (f == "saddr") bits |= SADDR;
    else if (f == "sport") bits |= SPORT;
    else if (f == "daddr") bits |= DADDR;
    else if (f == "dport") bits |= DPORT;
    else if (f == "l4proto") bits |= L4PROTO;
    else return 0;
  }
  return bits;
}

function parseCount(s: string): i64 {
  if (s.length == 0 || s.length > 9) return -1;
  let v: i64 = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 48 || c > 57) return -1;
    v = v * 10 + <i64>(c - 48);
  }
  return v;
}

/**
 * Weight per endpoint: param `weights` ("addr=3,addr:port=1"; address:port wins over address),
 * else the endpoint's own weight. Null when the param is malformed.
 */
export function parseWeights(req: Request): u32[] | null {
  const weights = new Array<u32>(req.endpointCount);
  for (let i = 0; i < req.endpointCount; i++) weights[i] = req.endpoint(i).weight;
  const text = req.param("weights", "");
  if (text.length == 0) return weights;
  const exact = new Array<bool>(req.endpointCount);
  const parts = text.split(",");
  for (let p = 0; p < parts.length; p++) {
    const part = parts[p].trim();
    if (part.length == 0) continue;
    const eq = part.lastIndexOf("=");
    if (eq <= 0) return null;
    const target = part.substring(0, eq).trim();
    const w = parseCount(part.substring(eq + 1).trim());
    if (w < 0) return null;
    for (let i = 0; i < req.endpointCount; i++) {
      const e = req.endpoint(i);
      const full = e.address + ":" + e.port.toString();
      if (target == full) {
        weights[i] = <u32>w;
        exact[i] = true;
      } else if (!exact[i] && e.addressIs(target)) weights[i] = <u32>w;
    }
  }
  return weights;
}

function gcd(a: u32, b: u32): u32 {
  while (b != 0) {
    const t = a % b;
    a = b;
    b = t;
  }
  return a;
}

/** Slot counts proportional to `weights`, at most `maxSlots` in total (each positive weight >= 1). */
export function apportion(weights: u32[], maxSlots: u32): u32[] {
  const n = weights.length;
  const counts = new Array<u32>(n);
  let g: u32 = 0;
  let total: u64 = 0;
  let positive: u32 = 0;
  for (let i = 0; i < n; i++) {
    const w = weights[i];
    if (w == 0) continue;
    g = gcd(g, w);
    positive++;
  }
  if (positive == 0) return counts;
  for (let i = 0; i < n; i++) total += <u64>(weights[i] / g);
  if (total <= <u64>maxSlots) {
    for (let i = 0; i < n; i++) counts[i] = weights[i] / g;
    return counts;
  }
  // Largest remainder over the slots left after every positive weight got one.
  const budget = maxSlots > positive ? maxSlots - positive : 0;
  let sum: f64 = 0;
  for (let i = 0; i < n; i++) sum += <f64>weights[i];
  const rest = new Array<f64>(n);
  let given: u32 = 0;
  for (let i = 0; i < n; i++) {
    if (weights[i] == 0) continue;
    const exactShare = (<f64>weights[i] / sum) * <f64>budget;
    const whole = <u32>Math.floor(exactShare);
    counts[i] = 1 + whole;
    rest[i] = exactShare - <f64>whole;
    given += whole;
  }
  while (given < budget) {
    let best = -1;
    for (let i = 0; i < n; i++) if (weights[i] != 0 && (best < 0 || rest[i] > rest[best])) best = i;
    counts[best] += 1;
    rest[best] = -1;
    given++;
  }
  return counts;
}

/** A slot table with slot counts from `apportion`, interleaved in smooth weighted round-robin order. */
export function smoothWeightedOrder(weights: u32[], maxSlots: u32): u32[] {
  const counts = apportion(weights, maxSlots);
  const n = counts.length;
  let total: i64 = 0;
  for (let i = 0; i < n; i++) total += <i64>counts[i];
  const current = new Array<i64>(n);
  const slots = new Array<u32>(<i32>total);
  for (let s = 0; s < <i32>total; s++) {
    let best = -1;
    for (let i = 0; i < n; i++) {
      if (counts[i] == 0) continue;
      current[i] += <i64>counts[i];
      if (best < 0 || current[i] > current[best]) best = i;
    }
    current[best] -= total;
    slots[s] = <u32>best;
  }
  return slots;
}
