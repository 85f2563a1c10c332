// A SourceSink that records what a source delivers, and a bounded wait; shared by the source tests.
import type { SourceEvent, SourceProblem, SourceSink } from "../../runtime/sources/source.ts";

export function recorder() {
  const state = { events: [] as SourceEvent[], problems: [] as SourceProblem[], synced: 0 };
  const sink: SourceSink = {
    events: (e: SourceEvent[]) => state.events.push(...e),
    synced: () => state.synced++,
    problems: (p: SourceProblem[]) => {
      state.problems = p;
    },
  };
  return { state, sink };
}

export async function waitFor(check: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** `type key` of each event, e.g. "add default/a". */
export const eventNames = (events: SourceEvent[]) => events.map((e) => `${e.type} ${e.key}`);
