// Fault plugin: traps (unreachable) on every call.
// wasmplane:manifest {"kind": "lb", "version": "0.0.1", "description": "test fault: traps"}
import { lbPlugin, Plan, Request } from "../sdk/lb";

export * from "../sdk/exports";

lbPlugin((req: Request): Plan => {
  if (req.endpointCount >= 0) unreachable();
  return Plan.random(req.allSlots());
});
