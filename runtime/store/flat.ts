// Strings kept as long as an object lives (keys, ids, names) are joined, not built with a template
// or `+`: V8 keeps a concatenation of 13 or more characters as a rope, a tree of 32-byte nodes over
// its parts, and nothing flattens a string that is only stored and compared. At 100,000 Services
// the planner's ids and names were about 40 rope nodes per Service (1.3 KB); join() makes one flat
// string. (nft/render-text.ts flattens finished texts in place instead, which leaves a 32-byte rope
// head in front of the flat copy: fine for its per-chain caches, not for ids kept per element.)

/** The parts as one flat string (of two or more parts: join() returns a single part as it is). */
export const flat = (...parts: (string | number)[]): string => parts.join("");
