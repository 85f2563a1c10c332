// Maglev consistent hashing (Eisenbud et al., NSDI 2016) of source address and port: a lookup table
// of prime size M where each endpoint fills slots along its own permutation. When one of N endpoints
// leaves, about 1/N of the keys move; slot counts differ by at most one, so with M >= 100·N each
// endpoint's share is within 1% of 1/N. M is the smallest of a fixed ladder of primes >= 100·N, so
// it does not change on every scale step (which would remap every key), or param `table-size`.
// Endpoints are ordered canonically (by address, port) and identified by FNV-1a of address and port.
// wasmplane:manifest {"version": "1.0.0", "description": "Maglev consistent hashing on source address and port"}
import { hashFieldsParam, sortedEndpointIndices } from "../sdk/lb-util";
import { FNV_OFFSET, lbPlugin, Plan, Request, SADDR, SPORT } from "../sdk/lb";

export * from "../sdk/exports";

const TABLE_PRIMES: u32[] = [251, 509, 1021, 2039, 4093, 8191, 16381, 32749, 65521];
const OFFSET_SEED: u32 = FNV_OFFSET;
const SKIP_SEED: u32 = 0x9747b28c;

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
  const want = <u32>n * 100;
  for (let i = 0; i < TABLE_PRIMES.length; i++) if (unchecked(TABLE_PRIMES[i]) >= want) return unchecked(TABLE_PRIMES[i]);
  return TABLE_PRIMES[TABLE_PRIMES.length - 1];
}

lbPlugin((req: Request): Plan => {
  const fields = hashFieldsParam(req, SADDR | SPORT);
  if (fields == 0) return Plan.fail("hash-fields: want a comma-separated list of saddr, sport, daddr, dport, l4proto");
  const order = sortedEndpointIndices(req);
  const n = order.length;
  if (n == 0) return Plan.hash(fields, req.keyHash(), []);
  const m = tableSize(req, n);
  if (m == 0) return Plan.fail("table-size: want a prime between the endpoint count and 65536");
  // pos[i] walks endpoint i's permutation (offset + j·skip) mod M without multiplying.
  const pos = new StaticArray<u32>(n);
  const skip = new StaticArray<u32>(n);
  for (let i = 0; i < n; i++) {
    const e = req.endpoint(<i32>unchecked(order[i]));
    unchecked((pos[i] = e.identityHash(OFFSET_SEED) % m));
    unchecked((skip[i] = (e.identityHash(SKIP_SEED) % (m - 1)) + 1));
  }
  const empty: u32 = 0xffffffff;
  const table = new Array<u32>(<i32>m);
  table.fill(empty);
  let filled: u32 = 0;
  while (true) {
    for (let i = 0; i < n; i++) {
      const step = unchecked(skip[i]);
      let c = unchecked(pos[i]);
      while (unchecked(table[c]) != empty) {
        c += step;
        if (c >= m) c -= m;
      }
      unchecked((table[c] = unchecked(order[i])));
      c += step;
      if (c >= m) c -= m;
      unchecked((pos[i] = c));
      filled++;
      if (filled == m) return Plan.hash(fields, req.keyHash(), table);
    }
  }
});
