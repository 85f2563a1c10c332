// Test plugin: uses the granted `log`, `random` and `clock` capabilities and plans like `random`.
// wasmplane:manifest {"kind": "lb", "version": "0.0.1", "capabilities": ["log", "random", "clock"], "description": "test: granted capabilities"}
import { log, randomU32, clockMs } from "../sdk/capabilities";
import { lbPlugin, Plan, Request } from "../sdk/lb";

export * from "../sdk/exports";

lbPlugin((req: Request): Plan => {
  const r = randomU32();
  log("planning " + req.key + " random=" + r.toString() + " clock=" + (clockMs() > 0 ? "yes" : "no"));
  return Plan.random(req.allSlots());
});
