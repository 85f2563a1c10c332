// Equal-probability random choice over every endpoint, as kube-proxy does: `numgen random mod N`.
// wasmplane:manifest {"version": "1.0.0", "description": "uniform random over all endpoints"}
import { lbPlugin, Plan, Request } from "../sdk/lb";

export * from "../sdk/exports";

lbPlugin((req: Request): Plan => Plan.random(req.allSlots()));
