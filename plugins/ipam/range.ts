// Sequential allocation with a reuse delay, like host-local: per family, the next free address
// after the last one handed out, wrapping around; a requested address when one is given.
// wasmplane:manifest {"version": "1.0.0", "description": "sequential after the last allocation, like host-local"}
import { Decision, ipamPlugin, Request, STATUS_EXHAUSTED, STATUS_REQUESTED_UNAVAILABLE } from "./lib/ipam";

export * from "../sdk/exports";

ipamPlugin((req: Request): Decision => {
  const d = new Decision();
  for (let i = 0; i < req.pools.length; i++) {
    const pool = req.pools[i];
    const wanted = req.requestedFor(pool.family);
    if (wanted) {
      const problem = req.requestProblem(wanted);
      if (problem.length > 0) return Decision.refuse(STATUS_REQUESTED_UNAVAILABLE, problem);
      d.add(wanted);
      continue;
    }
    const last = req.lastFor(pool.family);
    const start = last && pool.contains(last) ? last.lo + 1 : pool.first;
    const free = req.freeFrom(pool, start);
    if (!free) return Decision.refuse(STATUS_EXHAUSTED, "pool " + pool.text() + " is exhausted");
    d.add(free);
  }
  return d;
});
