// A pseudo-random address per attachment: the pool offset is a hash of the container id and
// interface, then the next free address. Pure (same request, same answer) and needs no grant;
// spreads addresses so a recreated pod rarely gets its predecessor's address.
// wasmplane:manifest {"version": "1.0.0", "description": "hash-spread addresses, the next free one on collision"}
import { Decision, hashString, ipamPlugin, Request, STATUS_EXHAUSTED, STATUS_REQUESTED_UNAVAILABLE } from "./lib/ipam";

export * from "../sdk/exports";

ipamPlugin((req: Request): Decision => {
  const d = new Decision();
  const h = hashString(req.containerId + "/" + req.ifName);
  for (let i = 0; i < req.pools.length; i++) {
    const pool = req.pools[i];
    const wanted = req.requestedFor(pool.family);
    if (wanted) {
      const problem = req.requestProblem(wanted);
      if (problem.length > 0) return Decision.refuse(STATUS_REQUESTED_UNAVAILABLE, problem);
      d.add(wanted);
      continue;
    }
    const span = pool.last - pool.first;
    const offset = span == u64.MAX_VALUE ? h : h % (span + 1);
    const free = req.freeFrom(pool, pool.first + offset);
    if (!free) return Decision.refuse(STATUS_EXHAUSTED, "pool " + pool.text() + " is exhausted");
    d.add(free);
  }
  return d;
});
