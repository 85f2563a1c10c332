// Fault plugin: keeps every allocation alive until memory growth hits the host's cap.
// wasmplane:manifest {"kind": "lb", "version": "0.0.1", "description": "test fault: grows memory without bound"}
import { lbPlugin, Plan, Request } from "../sdk/lb";

export * from "../sdk/exports";

const hoard = new Array<StaticArray<u8>>();

lbPlugin((req: Request): Plan => {
  for (let i = 0; i < 1 << 30; i++) hoard.push(new StaticArray<u8>(1 << 20));
  return Plan.random(req.allSlots());
});
