// The shipped LB algorithms in TypeScript, byte-for-byte the same decisions as the Wasm plugins in
// plugins/lb/. Two uses: the baseline bench/plugins.ts compares Wasm against, and a cross-check in
// tests that the language-neutral contract really is neutral (same input, same plan).
import type { LbEndpoint, LbPlan, LbPlanner, LbRequest } from "./plan.ts";

const FNV_OFFSET = 2166136261;
const FNV_PRIME = 16777619;
const encoder = new TextEncoder();

export function fnv1a(seed: number, bytes: Uint8Array): number {
  let h = seed >>> 0;
  for (let i = 0; i < bytes.length; i++) h = Math.imul(h ^ bytes[i], FNV_PRIME) >>> 0;
  return h;
}

/** murmur3's 32-bit finalizer: spreads FNV's output so near-identical addresses get unrelated values. */
export function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** FNV-1a of the address's UTF-8 bytes, then the port's two bytes (big-endian). */
export function identityHash(e: LbEndpoint, seed: number): number {
  let h = fnv1a(seed, encoder.encode(e.address));
  h = Math.imul(h ^ (e.port >>> 8), FNV_PRIME) >>> 0;
  h = Math.imul(h ^ (e.port & 0xff), FNV_PRIME) >>> 0;
  return h;
}

export function keyHash(key: string): number {
  return fnv1a(FNV_OFFSET, encoder.encode(key));
}

/** Endpoint indices by (address bytes, port): the canonical order the plugins use. */
export function canonicalOrder(endpoints: LbEndpoint[]): number[] {
  const bytes = endpoints.map((e) => encoder.encode(e.address));
  return endpoints
    .map((_, i) => i)
    .sort((a, b) => Buffer.compare(bytes[a], bytes[b]) || endpoints[a].port - endpoints[b].port || a - b);
}

const TABLE_PRIMES = [251, 509, 1021, 2039, 4093, 8191, 16381, 32749, 65521];
/** The default cap: the whole ladder (ABI v1 allows 65,536 slots per plan). */
export const MAGLEV_DEFAULT_MAX_TABLE = 65521;
const OFFSET_SEED = FNV_OFFSET;
const SKIP_SEED = 0x9747b28c;
const QUOTA_SEED = 0x5bd1e995;

/** The plugin's table size for `n` endpoints: the smallest ladder prime ≥ max(200·N, 20·N²) up to `cap`. */
export function maglevTableSize(n: number, cap = MAGLEV_DEFAULT_MAX_TABLE): number {
  const want = Math.max(n * 200, n * n * 20);
  let best = TABLE_PRIMES[0];
  for (const p of TABLE_PRIMES) {
    if (p > cap) break;
    best = p;
    if (p >= want) break;
  }
  return best;
}

/** The Maglev table of plugins/lb/maglev.ts (lock-step population with exact quotas). */
export function maglevTable(endpoints: LbEndpoint[], m = maglevTableSize(endpoints.length)): number[] {
  const order = canonicalOrder(endpoints);
  const n = order.length;
  if (n === 0) return [];
  const quota = new Uint32Array(n).fill(Math.floor(m / n));
  const byQuotaHash = order.map((idx, i) => [fmix32(identityHash(endpoints[idx], QUOTA_SEED)), i]);
  byQuotaHash.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  for (let k = 0; k < m % n; k++) quota[byQuotaHash[k][1]]++;
  const pos = new Uint32Array(n);
  const skip = new Uint32Array(n);
  const load = new Uint32Array(n);
  for (let i = 0; i < n; i++) {
    const e = endpoints[order[i]];
    pos[i] = fmix32(identityHash(e, OFFSET_SEED)) % m;
    skip[i] = (fmix32(identityHash(e, SKIP_SEED)) % (m - 1)) + 1;
  }
  const table = new Array<number>(m).fill(-1);
  const active = Int32Array.from(order.keys());
  let activeCount = n;
  let filled = 0;
  for (let j = 0; j < m && filled < m; j++) {
    let kept = 0;
    for (let k = 0; k < activeCount; k++) {
      const i = active[k];
      const c = pos[i];
      const next = c + skip[i];
      pos[i] = next >= m ? next - m : next;
      if (table[c] === -1) {
        table[c] = order[i];
        load[i]++;
        filled++;
      }
      if (load[i] < quota[i]) active[kept++] = i;
    }
    activeCount = kept;
  }
  return table;
}

function allSlots(n: number): number[] {
  const slots: number[] = [];
  for (let i = 0; i < n; i++) slots.push(i);
  return slots;
}

export const referenceAlgorithms: Record<string, (req: LbRequest) => LbPlan> = {
  random: (req) => ({ selection: { mode: "random" }, slots: allSlots(req.endpoints.length) }),
  "round-robin": (req) => ({ selection: { mode: "round-robin" }, slots: allSlots(req.endpoints.length) }),
  maglev: (req) => {
    // The plugin's table-size params, unchecked (the plugin refuses bad values; this is a reference).
    const pinned = Number(req.params["table-size"] ?? 0);
    const cap = Number(req.params["max-table-size"] ?? MAGLEV_DEFAULT_MAX_TABLE);
    return {
      selection: { mode: "hash", fields: ["saddr", "sport"], seed: keyHash(req.key) },
      slots: maglevTable(req.endpoints, pinned || maglevTableSize(req.endpoints.length, cap)),
    };
  },
};

/** The reference algorithms as an LbPlanner (Maglev reads its table-size params; nothing else does). */
export function referenceLbPlanner(defaultAlgorithm: string): LbPlanner {
  return {
    async plan(requests) {
      return requests.map((r) => {
        const algorithm = referenceAlgorithms[r.algorithm || defaultAlgorithm];
        return algorithm
          ? { ok: true, plan: algorithm(r) }
          : { ok: false, error: `no reference for ${r.algorithm}` };
      });
    },
  };
}
