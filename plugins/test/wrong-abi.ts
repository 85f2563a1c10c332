// Fault plugin: claims ABI version 99.
// wasmplane:manifest {"kind": "lb", "version": "0.0.1", "abi": 99, "description": "test fault: unknown ABI version"}
import { lbPlugin, Plan, Request } from "../sdk/lb";

export { wasmplane_alloc, wasmplane_call, wasmplane_free } from "../sdk/exports";
export const wasmplane_abi: u32 = 99;

lbPlugin((req: Request): Plan => Plan.random(req.allSlots()));
