// Fault plugin: names an endpoint index past the end of the list.
// wasmplane:manifest {"kind": "lb", "version": "0.0.1", "description": "test fault: slot index out of range"}
import { lbPlugin, Plan, Request } from "../sdk/lb";

export * from "../sdk/exports";

lbPlugin((req: Request): Plan => {
  const slots = req.allSlots();
  slots.push(<u32>req.endpointCount + 5);
  return Plan.random(slots);
});
