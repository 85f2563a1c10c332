// Every endpoint in turn: `numgen inc mod N`.
// wasmplane:manifest {"version": "1.1.0", "description": "round-robin over all endpoints", "reads": []}
import { lbPlugin, Plan, Request } from "../sdk/lb";

export * from "../sdk/exports";

lbPlugin((_req: Request): Plan => Plan.roundRobinOverAll());
