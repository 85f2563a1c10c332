// The last good answer per service port key, valid while the same module is sent the same bytes:
// plugins are pure, so an unchanged request needs no call.
import type { LbRequest, LbResult } from "../lb/plan.ts";

interface CacheEntry {
  sha256: string;
  item: Uint8Array;
  result: LbResult;
}

/** Whether `cached` equals `bytes[start, end)`; a plain loop beats making a view for short items. */
function sameBytes(cached: Uint8Array, bytes: Uint8Array, start: number, end: number): boolean {
  if (cached.length !== end - start) return false;
  for (let i = 0; i < cached.length; i++) if (cached[i] !== bytes[start + i]) return false;
  return true;
}

export class LbResultCache {
  private readonly entries = new Map<string, CacheEntry>();

  /** The result cached for `key` when module `sha256` was sent exactly `bytes[start, end)`. */
  hit(key: string, sha256: string, bytes: Uint8Array, start: number, end: number): LbResult | undefined {
    const entry = this.entries.get(key);
    if (entry && entry.sha256 === sha256 && sameBytes(entry.item, bytes, start, end)) return entry.result;
    return undefined;
  }

  /** The item bytes cached for `key`, whichever module answered them. */
  item(key: string): Uint8Array | undefined {
    return this.entries.get(key)?.item;
  }

  set(key: string, sha256: string, item: Uint8Array, result: LbResult): void {
    this.entries.set(key, { sha256, item, result });
  }

  /** Once the cache has grown well past one batch, forgets the keys `requests` no longer has. */
  prune(requests: readonly LbRequest[]): void {
    if (this.entries.size <= requests.length * 2 + 1024) return;
    const live = new Set(requests.map((r) => r.key));
    for (const key of this.entries.keys()) if (!live.has(key)) this.entries.delete(key);
  }
}
