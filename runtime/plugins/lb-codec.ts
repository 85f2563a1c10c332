// The `lb` kind's items in ABI v1 (docs/plugin-abi.md, "lb"): LbRequest → bytes, bytes → LbPlan,
// with every index and size checked before a plan is used. Both directions are written for batches
// of 10,000 service ports: requests are encoded straight into one reusable buffer (no per-item
// objects), and answers are decoded with shared selection objects and pre-sized slot arrays.
import type { HashField, LbPlan, LbRequest, LbResult, LbSelection } from "../lb/plan.ts";
import { type ByteReader, type ByteWriter, readOutputHeader } from "./envelope.ts";

export const LB_KIND_CODE = 1;
export const LB_OP_PLAN = 0;
/** The most slots one plan may have (a Maglev table for 600 endpoints fits; nftables maps stay sane). */
export const MAX_SLOTS = 65536;
export const MAX_ENDPOINTS = 65535;
export const PARAM_PREFIX = "lb.wasmplane.io/";

/**
 * Request fields a plugin may declare it reads (manifest `reads`); the host leaves the others out of
 * the items it sends and says so in the op word. The endpoint count is always sent.
 */
export const LB_INPUT_FIELDS = {
  key: 1,
  nodeZone: 2,
  params: 4,
  "endpoint.address": 8,
  "endpoint.port": 16,
  "endpoint.weight": 32,
  "endpoint.zone": 64,
  "endpoint.nodeName": 128,
} as const;
export type LbInputField = keyof typeof LB_INPUT_FIELDS;
const ALL_FIELDS = 255;
const ENDPOINT_FIELDS = 8 | 16 | 32 | 64 | 128;

/**
 * Fields added in ABI 1.1, sent only to a plugin whose `reads` names them (so a 1.0 plugin never
 * sees a layout it does not know); their bits go in the op word's third byte.
 */
export const LB_ADDED_FIELDS = { nodeName: 1 } as const;
/** The added-field bits as they sit in a field word (above the 8 omitted-field bits). */
const ADDED_NODE_NAME = LB_ADDED_FIELDS.nodeName << 8;

/**
 * The field word for a `reads` list: the bits of the ABI 1 fields it leaves out (low byte; 0 when
 * the plugin declares nothing) and, above them, the 1.1 fields it asks for.
 */
export function omittedLbFields(reads: readonly string[] | undefined): number {
  if (reads === undefined) return 0;
  let kept = 0;
  let added = 0;
  for (const f of reads) {
    kept |= LB_INPUT_FIELDS[f as LbInputField] ?? 0;
    added |= (LB_ADDED_FIELDS[f as keyof typeof LB_ADDED_FIELDS] ?? 0) << 8;
  }
  return (ALL_FIELDS & ~kept) | added;
}

/** The envelope's op word: the operation in the low byte, then the field word (omitted, added). */
export function lbOpWord(fields: number): number {
  return LB_OP_PLAN | (fields << 8);
}

/** Answer flag (the byte after the hash fields): the table is every endpoint once, in order; no slot words follow. */
export const PLAN_EVERY_ENDPOINT = 1;

export const HASH_FIELD_BITS: Record<HashField, number> = {
  saddr: 1,
  sport: 2,
  daddr: 4,
  dport: 8,
  l4proto: 16,
};
const HASH_FIELDS = Object.keys(HASH_FIELD_BITS) as HashField[];

// Plans are never mutated once decoded, so selections without per-plan data are shared (and frozen,
// so a consumer that tried to change one would fail loudly instead of changing every plan).
const RANDOM: LbSelection = Object.freeze({ mode: "random" });
const ROUND_ROBIN: LbSelection = Object.freeze({ mode: "round-robin" });
const FIELD_LISTS: HashField[][] = Array.from(
  { length: 32 },
  (_, bits) => Object.freeze(HASH_FIELDS.filter((f) => bits & HASH_FIELD_BITS[f])) as HashField[],
);

function portProblem(key: string, i: number, port: number): string {
  return `${key}: endpoints[${i}].port ${port} is not a port number`;
}

function weightProblem(key: string, i: number, weight: number): string {
  return `${key}: endpoints[${i}].weight ${weight} is not a non-negative number`;
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
 * Appends one request item to `w`, leaving out the `omitted` fields (a field word, see omittedLbFields):
 * str key, str nodeZone, [str nodeName when added], u16 paramCount × (str name, str value),
 * u32 endpointCount × (str address, u16 port, u32 weight, str zone, str nodeName).
 * Returns why the request cannot be sent (and leaves `w` as it was), or null.
 */
export function writeLbRequest(w: ByteWriter, r: LbRequest, omitted = 0): string | null {
  const start = w.length;
  const eps = r.endpoints;
  const n = eps.length;
  if (n > MAX_ENDPOINTS) return `${r.key}: ${n} endpoints, more than the ${MAX_ENDPOINTS} ABI v1 allows`;
  if ((omitted & 1) === 0) w.str(r.key);
  if ((omitted & 2) === 0) w.str(r.nodeZone ?? "");
  if ((omitted & ADDED_NODE_NAME) !== 0) w.str(r.nodeName ?? "");
  if ((omitted & 4) === 0) {
    const params = hasKeys(r.params) ? paramEntries(r.params) : [];
    w.u16(params.length);
    for (const [k, v] of params) {
      w.str(k);
      w.str(v);
    }
  }
  w.u32(n);
  if ((omitted & ENDPOINT_FIELDS) === ENDPOINT_FIELDS) return null;
  for (let i = 0; i < n; i++) {
    const e = eps[i];
    // A field is checked when it is sent: a port or weight the encoding cannot carry fails the request.
    if ((omitted & 16) === 0) {
      const port = e.port;
      if (!Number.isInteger(port) || port < 0 || port > 65535) {
        w.length = start;
        return portProblem(r.key, i, port);
      }
    }
    if ((omitted & 32) === 0) {
      const weight = e.weight;
      if (!(weight >= 0) || weight === Number.POSITIVE_INFINITY) {
        w.length = start;
        return weightProblem(r.key, i, weight);
      }
    }
    if ((omitted & 8) === 0) w.str(e.address);
    if ((omitted & 16) === 0) w.u16(e.port);
    if ((omitted & 32) === 0) w.u32(e.weight >= 0xffffffff ? 0xffffffff : Math.round(e.weight));
    if ((omitted & 64) === 0) w.str(e.zone ?? "");
    if ((omitted & 128) === 0) w.str(e.nodeName ?? "");
  }
  return null;
}

/**
 * Encodes each request separately (tests and the conformance kit); offsets[i]..offsets[i+1] is item i.
 * Throws on a request that cannot be sent.
 */
export function encodeLbItems(
  requests: LbRequest[],
  w: ByteWriter,
  omitted = 0,
): { bytes: Uint8Array; offsets: number[] } {
  const offsets = [w.length];
  for (const r of requests) {
    const problem = writeLbRequest(w, r, omitted);
    if (problem) throw new Error(problem);
    offsets.push(w.length);
  }
  return { bytes: w.bytes.subarray(offsets[0], w.length), offsets: offsets.map((o) => o - offsets[0]) };
}

function invalid(message: string): LbResult {
  return { ok: false, error: `invalid plan: ${message}` };
}

/** Reads one answer for `req` (whose endpoint count is `n`); structural problems throw. */
function readPlan(r: ByteReader, words: Uint32Array | null, key: string, n: number): LbResult {
  const status = r.u8("item status");
  if (status === 1) return { ok: false, error: r.str("item error message") };
  if (status !== 0) throw new Error(`item status ${status} is neither 0 (plan) nor 1 (error)`);
  r.need(11, "plan header");
  const bytes = r.bytes;
  const modeCode = bytes[r.pos];
  const fieldBits = bytes[r.pos + 1];
  const flags = bytes[r.pos + 2];
  r.pos += 3;
  const seed = r.u32("seed");
  const slotCount = r.u32("slot count");
  if (slotCount > MAX_SLOTS)
    throw new Error(`${key}: ${slotCount} slots, more than the ${MAX_SLOTS} allowed`);
  const every = (flags & PLAN_EVERY_ENDPOINT) !== 0;
  if (flags > PLAN_EVERY_ENDPOINT) throw new Error(`${key}: plan flags ${flags} has unknown bits`);
  if (!every) r.need(slotCount * 4, "slots");
  let slots: number[];
  let outOfRange = -1;
  if (every) {
    slots = new Array<number>(slotCount);
    for (let i = 0; i < slotCount; i++) slots[i] = i;
  } else {
    // Pre-sized and filled, the array is packed small integers from the start (faster than push()).
    slots = new Array<number>(slotCount).fill(0);
    const at = r.pos;
    if (words !== null && (at & 3) === 0) {
      // Slots are 4-byte aligned whenever every earlier item was a plan with a table: read them in place.
      const base = at >>> 2;
      for (let i = 0; i < slotCount; i++) {
        const s = words[base + i];
        if (s >= n && outOfRange < 0) outOfRange = i;
        slots[i] = s;
      }
    } else {
      for (let i = 0; i < slotCount; i++) {
        const s = r.view.getUint32(at + i * 4, true);
        if (s >= n && outOfRange < 0) outOfRange = i;
        slots[i] = s;
      }
    }
    r.pos += slotCount * 4;
  }
  let selection: LbSelection;
  if (modeCode === 0) selection = RANDOM;
  else if (modeCode === 1) selection = ROUND_ROBIN;
  else if (modeCode === 2) {
    if (fieldBits === 0 || fieldBits > 31) return invalid(`hash fields bits ${fieldBits} not in 1..31`);
    selection = { mode: "hash", fields: FIELD_LISTS[fieldBits], seed };
  } else return invalid(`mode ${modeCode} is not 0 (random), 1 (round-robin) or 2 (hash)`);
  if (n > 0 && slotCount === 0) return invalid(`no slots for ${n} endpoints`);
  if (n === 0 && slotCount > 0) return invalid(`${slotCount} slots but no endpoints`);
  if (every && slotCount !== n)
    return invalid(`every-endpoint table of ${slotCount} slots for ${n} endpoints`);
  if (outOfRange >= 0)
    return invalid(`slot ${outOfRange} names endpoint ${slots[outOfRange]}, out of range (${n} endpoints)`);
  const plan: LbPlan = { selection, slots };
  return { ok: true, plan };
}

/**
 * Decodes and validates an output envelope for `requests` (in order). A structural problem throws
 * (the whole call is bad); a plugin's error or an invalid plan fails only that request.
 */
export function decodeLbOutput(
  output: Uint8Array,
  requests: readonly { key: string; endpoints: { length: number } }[],
): LbResult[] | { batchError: string } {
  const header = readOutputHeader(output, requests.length);
  if (!header.ok) return { batchError: header.error };
  const r = header.reader;
  const words =
    output.byteOffset % 4 === 0
      ? new Uint32Array(output.buffer, output.byteOffset, output.length >>> 2)
      : null;
  const results = new Array<LbResult>(requests.length);
  for (let i = 0; i < requests.length; i++) {
    const req = requests[i];
    results[i] = readPlan(r, words, req.key, req.endpoints.length);
  }
  if (r.pos !== output.length) throw new Error(`${output.length - r.pos} bytes left after the last item`);
  return results;
}
