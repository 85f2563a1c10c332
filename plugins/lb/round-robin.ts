// Every endpoint in turn: `numgen inc mod N`.
// wasmplane:manifest {"version": "1.0.0", "description": "round-robin over all endpoints"}
import { lbPlugin, Plan, Request } from "../sdk/lb";

export * from "../sdk/exports";

lbPlugin((req: Request): Plan => Plan.roundRobin(req.allSlots()));
