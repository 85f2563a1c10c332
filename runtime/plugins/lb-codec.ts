// The `lb` kind's items in ABI v1 (docs/plugin-abi.md, "lb"): LbRequest → bytes, bytes → LbPlan,
// with every index and size checked before a plan is used.
import type { HashField, LbPlan, LbRequest, LbResult, LbSelection } from "../lb/plan.ts";
import { type ByteReader, ByteWriter, readOutputHeader } from "./envelope.ts";

export const LB_KIND_CODE = 1;
export const LB_OP_PLAN = 0;
/** The most slots one plan may have (a Maglev table for 600 endpoints fits; nftables maps stay sane). */
export const MAX_SLOTS = 65536;
export const MAX_ENDPOINTS = 65535;
export const PARAM_PREFIX = "lb.wasmplane.io/";

export const HASH_FIELD_BITS: Record<HashField, number> = {
  saddr: 1,
  sport: 2,
  daddr: 4,
  dport: 8,
  l4proto: 16,
};
const HASH_FIELDS = Object.keys(HASH_FIELD_BITS) as HashField[];
const MODES = ["random", "round-robin", "hash"] as const;

/** Why a request cannot be sent to a plugin at all, or null. */
export function lbRequestProblem(r: LbRequest): string | null {
  if (r.endpoints.length > MAX_ENDPOINTS)
    return `${r.key}: ${r.endpoints.length} endpoints, more than the ${MAX_ENDPOINTS} ABI v1 allows`;
  for (const [i, e] of r.endpoints.entries()) {
    if (!Number.isInteger(e.port) || e.port < 0 || e.port > 65535)
      return `${r.key}: endpoints[${i}].port ${e.port} is not a port number`;
    if (!(e.weight >= 0) || !Number.isFinite(e.weight))
      return `${r.key}: endpoints[${i}].weight ${e.weight} is not a non-negative number`;
  }
  return null;
}

function hasKeys(o: Record<string, string>): boolean {
  for (const _ in o) return true;
  return false;
}

/** Params go to the plugin without the `lb.wasmplane.io/` prefix, sorted by name. */
function paramEntries(params: Record<string, string>): [string, string][] {
  const entries = Object.entries(params).map(
    ([k, v]) => [k.startsWith(PARAM_PREFIX) ? k.slice(PARAM_PREFIX.length) : k, v] as [string, string],
  );
  return entries.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
}

/**
 * Appends one request item to `w`:
 * str key, str nodeZone, u16 paramCount × (str name, str value),
 * u32 endpointCount × (str address, u16 port, u32 weight, str zone, str nodeName).
 */
export function writeLbRequest(w: ByteWriter, r: LbRequest): void {
  w.str(r.key);
  w.str(r.nodeZone ?? "");
  const params = hasKeys(r.params) ? paramEntries(r.params) : [];
  w.u16(params.length);
  for (const [k, v] of params) {
    w.str(k);
    w.str(v);
  }
  w.u32(r.endpoints.length);
  for (const e of r.endpoints) {
    w.str(e.address);
    w.u16(e.port);
    w.u32(Math.min(0xffffffff, Math.round(e.weight)));
    w.str(e.zone ?? "");
    w.str(e.nodeName ?? "");
  }
}

/** Encodes each request separately (the planner caches per request); offsets[i]..offsets[i+1] is item i. */
export function encodeLbItems(requests: LbRequest[]): { bytes: Uint8Array; offsets: number[] } {
  const w = new ByteWriter(Math.max(1 << 16, requests.length * 256));
  const offsets = [0];
  for (const r of requests) {
    writeLbRequest(w, r);
    offsets.push(w.length);
  }
  return { bytes: w.bytes.subarray(0, w.length), offsets };
}

function readPlan(r: ByteReader, req: LbRequest): LbResult {
  const status = r.u8("item status");
  if (status === 1) return { ok: false, error: r.str("item error message") };
  if (status !== 0) throw new Error(`item status ${status} is neither 0 (plan) nor 1 (error)`);
  const modeCode = r.u8("mode");
  const fieldBits = r.u8("hash fields");
  r.u8("reserved");
  const seed = r.u32("seed");
  const slotCount = r.u32("slot count");
  if (slotCount > MAX_SLOTS)
    throw new Error(`${req.key}: ${slotCount} slots, more than the ${MAX_SLOTS} allowed`);
  r.need(slotCount * 4, "slots");
  const n = req.endpoints.length;
  const mode = MODES[modeCode];
  const problem = (): string | null => {
    if (!mode) return `mode ${modeCode} is not 0 (random), 1 (round-robin) or 2 (hash)`;
    if (mode === "hash" && (fieldBits === 0 || fieldBits > 31))
      return `hash fields bits ${fieldBits} not in 1..31`;
    if (n > 0 && slotCount === 0) return `no slots for ${n} endpoints`;
    if (n === 0 && slotCount > 0) return `${slotCount} slots but no endpoints`;
    return null;
  };
  const bad = problem();
  const at = r.bytes.byteOffset + r.pos;
  // Slots are 4-byte aligned whenever every earlier item was a plan (12 + 4n bytes): view them in place.
  const words =
    at % 4 === 0
      ? new Uint32Array(r.bytes.buffer, at, slotCount)
      : new Uint32Array(r.bytes.slice(r.pos, r.pos + slotCount * 4).buffer);
  // Pre-sized and filled, the array is packed small integers from the start (faster than push()).
  const slots = new Array<number>(slotCount).fill(0);
  let outOfRange = -1;
  for (let i = 0; i < slotCount; i++) {
    const s = words[i];
    if (s >= n && outOfRange < 0) outOfRange = i;
    slots[i] = s;
  }
  r.pos += slotCount * 4;
  if (bad) return { ok: false, error: `invalid plan: ${bad}` };
  if (outOfRange >= 0)
    return {
      ok: false,
      error: `invalid plan: slot ${outOfRange} names endpoint ${slots[outOfRange]}, out of range (${n} endpoints)`,
    };
  let selection: LbSelection;
  if (mode === "hash")
    selection = { mode, fields: HASH_FIELDS.filter((f) => fieldBits & HASH_FIELD_BITS[f]), seed };
  else selection = { mode };
  const plan: LbPlan = { selection, slots };
  return { ok: true, plan };
}

/**
 * Decodes and validates an output envelope for `requests` (in order). A structural problem throws
 * (the whole call is bad); a plugin's error or an invalid plan fails only that request.
 */
export function decodeLbOutput(
  output: Uint8Array,
  requests: LbRequest[],
): LbResult[] | { batchError: string } {
  const header = readOutputHeader(output, requests.length);
  if (!header.ok) return { batchError: header.error };
  const r = header.reader;
  const results = requests.map((req) => readPlan(r, req));
  if (r.pos !== output.length) throw new Error(`${output.length - r.pos} bytes left after the last item`);
  return results;
}
