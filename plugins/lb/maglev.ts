// Maglev consistent hashing of source address and port: a lookup table of prime size M, each
// endpoint walking its own permutation of the slots (offset + j·skip mod M, from FNV-1a of its address
// and port), as in Maglev (Eisenbud et al., NSDI 2016). The population step differs from the paper in
// one way, measured to halve the extra disruption: instead of endpoints taking turns at their next
// *free* preferred slot, all endpoints advance through their permutations in lock-step (rank j for
// everyone, then rank j+1) and claim the slot at rank j only if it is free and they are below their
// quota. Quotas are exact (floor or ceil of M/N, the extra slot going to the endpoints with the lowest
// quota hash), so slot counts differ by at most one.
//
// Table size: the smallest of a fixed ladder of primes 251 ... 65521 that is >= max(200·N, 20·N²)
// (20·N² is what ≤ 1.2/N needs; measured up to N = 100 in the ABI doc), so up to 10 endpoints get
// ≤ 2039 slots, 40 get 32749 and more than 57 get 65521 (ABI v1's limit; the service renderer draws
// tables with many runs as one map lookup, runtime/services/selection.ts). Param `max-table-size`
// caps the ladder (251..65536; e.g. 4093 for the smaller tables of version 1.1), param `table-size`
// asks for any prime up to 65521. Measured (test/plugins/distribution.test.ts): slots within 1% of
// 1/N for N <= 40, and at most 1.2/N of the keys move when any one of N <= 40 endpoints leaves, as
// long as M stays on the same rung.
// Crossing a rung (e.g. 11 -> 10 endpoints) remaps every key; pin M with param `table-size` to avoid
// that. Endpoints are ordered canonically (by address, port), so input order does not matter.
// wasmplane:manifest {"version": "1.2.0", "description": "Maglev consistent hashing of source address and port", "reads": ["key", "params", "endpoint.address", "endpoint.port"]}
import { hashFieldsParam, sortedEndpointIndices } from "../sdk/lb-util";
import { FNV_OFFSET, fmix32, lbPlugin, Plan, Request, SADDR, SPORT } from "../sdk/lb";

export * from "../sdk/exports";

const TABLE_PRIMES: u32[] = [251, 509, 1021, 2039, 4093, 8191, 16381, 32749, 65521];
/** Without param max-table-size the whole ladder is used (ABI v1 allows 65,536 slots per plan). */
const DEFAULT_MAX_TABLE: u32 = 65521;
const OFFSET_SEED: u32 = FNV_OFFSET;
const SKIP_SEED: u32 = 0x9747b28c;
const QUOTA_SEED: u32 = 0x5bd1e995;
const scratch = new Array<u32>(0);

function isPrime(n: u32): bool {
  if (n < 2) return false;
  for (let d: u32 = 2; d * d <= n; d++) if (n % d == 0) return false;
  return true;
}

function tableSize(req: Request, n: i32): u32 {
  const explicit = req.param("table-size", "");
  if (explicit.length > 0) {
    const m = <u32>I32.parseInt(explicit);
    return isPrime(m) && m <= 65536 && m >= <u32>n ? m : 0;
  }
  const capText = req.param("max-table-size", "");
  const cap: u32 = capText.length > 0 ? <u32>I32.parseInt(capText) : DEFAULT_MAX_TABLE;
  if (cap < TABLE_PRIMES[0] || cap > 65536) return 0;
  // ≤ 1.2/N of the keys move when one endpoint leaves once M ≥ ~20·N² (docs/plugin-abi.md, "Maglev").
  const want = max<f64>(<f64>n * 200, <f64>n * <f64>n * 20);
  let best = TABLE_PRIMES[0];
  for (let i = 0; i < TABLE_PRIMES.length; i++) {
    const p = unchecked(TABLE_PRIMES[i]);
    if (p > cap) break;
    best = p;
    if (<f64>p >= want) break;
  }
  return best;
}

lbPlugin((req: Request): Plan => {
  const fields = hashFieldsParam(req, SADDR | SPORT);
  if (fields == 0) return Plan.fail("hash-fields: want a comma-separated list of saddr, sport, daddr, dport, l4proto");
  const order = sortedEndpointIndices(req);
  const n = order.length;
  if (n == 0) return Plan.hash(fields, req.keyHash(), []);
  const m = tableSize(req, n);
  if (m == 0)
    return Plan.fail(
      "table-size: want a prime between the endpoint count and 65536; max-table-size: want 251..65536",
    );
  // Exact quotas: M / N each, one more for the (M mod N) endpoints with the lowest quota hash.
  const quota = new StaticArray<u32>(n);
  const byQuotaHash = new Array<u64>(n);
  for (let i = 0; i < n; i++) {
    const h = fmix32(req.endpoint(<i32>unchecked(order[i])).identityHash(QUOTA_SEED));
    unchecked((byQuotaHash[i] = (<u64>h << 32) | <u64>i));
    unchecked((quota[i] = m / <u32>n));
  }
  byQuotaHash.sort();
  for (let k: u32 = 0; k < m % <u32>n; k++) {
    const i = <i32>(unchecked(byQuotaHash[k]) & 0xffffffff);
    unchecked((quota[i] += 1));
  }
  // pos[i] walks endpoint i's permutation (offset + j·skip) mod M without multiplying.
  const pos = new StaticArray<u32>(n);
  const skip = new StaticArray<u32>(n);
  const load = new StaticArray<u32>(n);
  for (let i = 0; i < n; i++) {
    const e = req.endpoint(<i32>unchecked(order[i]));
    unchecked((pos[i] = fmix32(e.identityHash(OFFSET_SEED)) % m));
    unchecked((skip[i] = (fmix32(e.identityHash(SKIP_SEED)) % (m - 1)) + 1));
  }
  const empty: u32 = 0xffffffff;
  // One table buffer for the whole batch: the SDK copies a plan's slots out before the next request,
  // so reusing it spares the collector ~8 KiB of garbage per service.
  const table = scratch;
  table.length = <i32>m;
  table.fill(empty);
  // Endpoints still below quota, in canonical order; full ones drop out so the tail of the fill is cheap.
  const active = new StaticArray<i32>(n);
  for (let i = 0; i < n; i++) unchecked((active[i] = i));
  let activeCount = n;
  let filled: u32 = 0;
  for (let j: u32 = 0; j < m && filled < m; j++) {
    let kept = 0;
    for (let k = 0; k < activeCount; k++) {
      const i = unchecked(active[k]);
      const c = unchecked(pos[i]);
      let next = c + unchecked(skip[i]);
      if (next >= m) next -= m;
      unchecked((pos[i] = next));
      if (unchecked(table[c]) == empty) {
        unchecked((table[c] = unchecked(order[i])));
        unchecked((load[i] += 1));
        filled++;
      }
      if (unchecked(load[i]) < unchecked(quota[i])) unchecked((active[kept++] = i));
    }
    activeCount = kept;
  }
  return Plan.hash(fields, req.keyHash(), table);
});
