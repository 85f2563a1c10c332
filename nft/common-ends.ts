// The equal leading and trailing items of two lists (by identity), so a diff compares only the
// middle: a change at one place of a long list, an append or a removal at the end costs that place.

export interface CommonEnds {
  /** Items before this index are the same in both lists. */
  start: number;
  /** `before.slice(start, endBefore)` and `after.slice(start, endAfter)` are what differs. */
  endBefore: number;
  endAfter: number;
}

export function commonEnds<T>(before: readonly T[], after: readonly T[]): CommonEnds {
  let start = 0;
  const shorter = Math.min(before.length, after.length);
  while (start < shorter && before[start] === after[start]) start++;
  let endBefore = before.length;
  let endAfter = after.length;
  while (endBefore > start && endAfter > start && before[endBefore - 1] === after[endAfter - 1]) {
    endBefore--;
    endAfter--;
  }
  return { start, endBefore, endAfter };
}
