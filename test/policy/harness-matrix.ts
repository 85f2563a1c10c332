// Compares an observed connectivity matrix with the expected one and renders the difference as
// upstream's netpol e2e prints truth tables: rows from, columns to, `.` allowed, `X` denied, `!` wrong.
import { fillMatrix, type Matrix, type ProbeKind, podKeys, probeKinds } from "./harness-model.ts";

/** One probe's outcome as the prober reported it. */
export interface ProbeOutcome {
  ok: boolean;
  /** What the server answered (its pod name) when ok. */
  answer: string;
  /** Why not ok: "timeout" (dropped), "ECONNREFUSED" (rejected)… */
  error: string | null;
  ms: number;
}

export interface Mismatch {
  kind: ProbeKind;
  from: string;
  to: string;
  expected: boolean;
  outcome: ProbeOutcome;
}

/**
 * Allowed means the target itself answered: an answer from any other pod is a mismatch however the
 * expectation reads (traffic went somewhere it should not).
 */
function allowedAsObserved(outcome: ProbeOutcome, to: string): boolean | "wrong-answer" {
  if (!outcome.ok) return false;
  return outcome.answer === to ? true : "wrong-answer";
}

export function compareMatrices(expected: Matrix<boolean>, observed: Matrix<ProbeOutcome>): Mismatch[] {
  const out: Mismatch[] = [];
  for (const kind of probeKinds) {
    podKeys.forEach((from, f) => {
      podKeys.forEach((to, t) => {
        const outcome = observed[kind][f][t];
        if (allowedAsObserved(outcome, to) !== expected[kind][f][t])
          out.push({ kind, from, to, expected: expected[kind][f][t], outcome });
      });
    });
  }
  return out;
}

function describe(m: Mismatch): string {
  const got = m.outcome.ok
    ? m.outcome.answer === m.to
      ? "allowed"
      : `answered by ${JSON.stringify(m.outcome.answer)}`
    : `denied (${m.outcome.error})`;
  return `  ${m.kind} ${m.from} -> ${m.to}: expected ${m.expected ? "allowed" : "denied"}, got ${got}`;
}

/** At most this many mismatches are listed one per line after the grids. */
const listedMismatches = 24;

/** One grid per kind that has mismatches, then one line per mismatch (the first few). */
export function renderDiff(expected: Matrix<boolean>, mismatches: Mismatch[]): string {
  const wrong = new Set(mismatches.map((m) => `${m.kind} ${m.from} ${m.to}`));
  const kinds = probeKinds.filter((k) => mismatches.some((m) => m.kind === k));
  const lines: string[] = [];
  for (const kind of kinds) {
    lines.push(`${kind}: rows from, columns to; . allowed, X denied (both as expected), ! wrong`);
    lines.push(`      ${podKeys.join(" ")}`);
    podKeys.forEach((from, f) => {
      const cells = podKeys.map((to, t) =>
        wrong.has(`${kind} ${from} ${to}`) ? "!" : expected[kind][f][t] ? "." : "X",
      );
      lines.push(`  ${from} ${cells.map((c) => ` ${c} `).join(" ")}`);
    });
  }
  lines.push(...mismatches.slice(0, listedMismatches).map(describe));
  if (mismatches.length > listedMismatches)
    lines.push(`  … and ${mismatches.length - listedMismatches} more`);
  return lines.join("\n");
}

/** A matrix of outcomes from per-source answers, failing on a missing cell (a prober bug). */
export function assembleMatrix(
  results: Map<string, { to: string; kind: ProbeKind; outcome: ProbeOutcome }[]>,
): Matrix<ProbeOutcome> {
  const cells = new Map<string, ProbeOutcome>();
  for (const [from, list] of results) for (const r of list) cells.set(`${r.kind} ${from} ${r.to}`, r.outcome);
  return fillMatrix((kind, f, t) => {
    const cell = cells.get(`${kind} ${podKeys[f]} ${podKeys[t]}`);
    if (!cell) throw new Error(`no probe result for ${kind} ${podKeys[f]} -> ${podKeys[t]}`);
    return cell;
  });
}
