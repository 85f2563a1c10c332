// Address set contents: pod addresses plus ipBlock CIDRs with their `except` ranges removed, as a
// list of non-overlapping elements (an nftables interval set refuses overlapping ones). CIDR parts
// are merged and re-cut into the fewest CIDRs; a pod address inside one of them is dropped (already
// covered); the remaining pod addresses stay single elements, so a pod coming or going changes one
// element. Order: IPv4 before IPv6, then by address.
import { bigIntToIp, type Family, ipFamily, ipToBigInt, parseCidr } from "../net/cidr.ts";

export interface IpBlock {
  cidr: string;
  except: string[];
}

export interface Range {
  family: Family;
  first: bigint;
  last: bigint;
}

function cidrRange(text: string): Range {
  const c = parseCidr(text);
  return { family: c.family, first: c.base, last: c.base + c.size - 1n };
}

/** `range` minus `cut` (0, 1 or 2 pieces). */
function subtract(range: Range, cut: Range): Range[] {
  if (cut.family !== range.family || cut.last < range.first || cut.first > range.last) return [range];
  const out: Range[] = [];
  if (cut.first > range.first) out.push({ ...range, last: cut.first - 1n });
  if (cut.last < range.last) out.push({ ...range, first: cut.last + 1n });
  return out;
}

/** The addresses of one ipBlock: its CIDR without its excepts. */
export function ipBlockRanges(block: IpBlock): Range[] {
  let pieces = [cidrRange(block.cidr)];
  for (const e of block.except) {
    const cut = cidrRange(e);
    pieces = pieces.flatMap((p) => subtract(p, cut));
  }
  return pieces;
}

function compareRanges(a: Range, b: Range): number {
  if (a.family !== b.family) return a.family - b.family;
  return a.first < b.first ? -1 : a.first > b.first ? 1 : 0;
}

/** Sorted, with overlapping or adjacent ranges of one family joined. */
function mergeRanges(ranges: Range[]): Range[] {
  const sorted = [...ranges].sort(compareRanges);
  const out: Range[] = [];
  for (const r of sorted) {
    const last = out[out.length - 1];
    if (last && last.family === r.family && r.first <= last.last + 1n) {
      if (r.last > last.last) last.last = r.last;
    } else out.push({ ...r });
  }
  return out;
}

/** The fewest CIDRs covering exactly `range`; a single address is written without a prefix. */
function rangeToCidrs(range: Range): string[] {
  const bits = range.family === 4 ? 32 : 128;
  const out: string[] = [];
  let start = range.first;
  while (start <= range.last) {
    let size = 1n;
    let prefix = bits;
    // Grow the block while it stays aligned at `start` and inside the range.
    while (prefix > 0 && start % (size * 2n) === 0n && start + size * 2n - 1n <= range.last) {
      size *= 2n;
      prefix--;
    }
    const ip = bigIntToIp(start, range.family);
    out.push(prefix === bits ? ip : `${ip}/${prefix}`);
    start += size;
  }
  return out;
}

function inRanges(ranges: Range[], family: Family, value: bigint): boolean {
  return ranges.some((r) => r.family === family && r.first <= value && value <= r.last);
}

/** An address as a point range; `cache` (one per evaluation) saves re-parsing the same pod IPs. */
function point(ip: string, cache?: Map<string, Range>): Range {
  let r = cache?.get(ip);
  if (!r) {
    const value = ipToBigInt(ip);
    r = { family: ipFamily(ip), first: value, last: value };
    cache?.set(ip, r);
  }
  return r;
}

/** Set elements for pod addresses and ipBlocks (see the module comment). */
export function addressSetElements(
  podAddresses: Iterable<string>,
  blocks: IpBlock[],
  cache?: Map<string, Range>,
): string[] {
  const ranges = mergeRanges(blocks.flatMap(ipBlockRanges));
  const points = new Map<string, Range>();
  for (const ip of podAddresses) {
    if (points.has(ip)) continue;
    const p = point(ip, cache);
    if (!inRanges(ranges, p.family, p.first)) points.set(ip, p);
  }
  const sortedPoints = [...points].sort((a, b) => compareRanges(a[1], b[1])).map(([ip, r]) => ({ ip, r }));
  // Merge the two sorted lists; points are already canonical text.
  const out: string[] = [];
  let i = 0;
  for (const range of ranges) {
    while (i < sortedPoints.length && compareRanges(sortedPoints[i].r, range) < 0)
      out.push(sortedPoints[i++].ip);
    out.push(...rangeToCidrs(range));
  }
  while (i < sortedPoints.length) out.push(sortedPoints[i++].ip);
  return out;
}

/** Whether an address is in a set built by addressSetElements (elements are addresses or CIDRs). */
export function setContains(elements: readonly string[], address: string): boolean {
  const family = ipFamily(address);
  const value = ipToBigInt(address);
  return elements.some((e) => {
    if (!e.includes("/")) return ipFamily(e) === family && ipToBigInt(e) === value;
    const r = cidrRange(e);
    return r.family === family && r.first <= value && value <= r.last;
  });
}

/** An element of addressSetElements' output as a range (an address or a CIDR). */
function elementRange(element: string): Range {
  return element.includes("/") ? cidrRange(element) : point(element);
}

/** Index of the first element that starts after `r` (family first, then address). */
function upperBound(elements: readonly string[], r: Range): number {
  let lo = 0;
  let hi = elements.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (compareRanges(elementRange(elements[mid]), r) <= 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * addressSetElements' output with pod addresses taken out and put in, as if built again from the
 * changed pods: an address inside one of the set's CIDRs stays out, one already there is not added
 * twice. The caller removes only addresses no remaining pod holds. Returns a new array.
 */
export function patchAddressSetElements(
  elements: readonly string[],
  remove: readonly string[],
  add: readonly string[],
): string[] {
  const out = [...elements];
  for (const ip of remove) {
    const at = upperBound(out, point(ip)) - 1;
    if (at >= 0 && out[at] === ip) out.splice(at, 1);
  }
  for (const ip of add) {
    const p = point(ip);
    const at = upperBound(out, p);
    const previous = at > 0 ? elementRange(out[at - 1]) : undefined;
    const covered = previous?.family === p.family && previous.first <= p.first && p.first <= previous.last;
    if (!covered) out.splice(at, 0, ip);
  }
  return out;
}
