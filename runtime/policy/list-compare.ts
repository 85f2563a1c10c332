// Comparisons of the renderer's lists, for telling what it can keep from the previous render.

/** The same length and pairwise `same` entries. */
export function sameEntries<E>(a: readonly E[], b: readonly E[], same: (x: E, y: E) => boolean): boolean {
  return a.length === b.length && a.every((x, i) => same(x, b[i]));
}

export const sameText = (a: string, b: string) => a === b;

/** Strictly ascending (so also without repeats). */
export function isSorted(ids: readonly string[]): boolean {
  for (let i = 1; i < ids.length; i++) if (ids[i - 1] >= ids[i]) return false;
  return true;
}
