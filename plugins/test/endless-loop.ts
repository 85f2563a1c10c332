// Fault plugin: never returns.
// wasmplane:manifest {"kind": "lb", "version": "0.0.1", "description": "test fault: spins forever"}
import { lbPlugin, Plan, Request } from "../sdk/lb";

export * from "../sdk/exports";

let spins: u64 = 0;

lbPlugin((req: Request): Plan => {
  while (spins != 0xffffffffffffffff || req.endpointCount >= 0) spins++;
  return Plan.random(req.allSlots());
});
