// Equal-probability random choice over every endpoint, as kube-proxy does: `numgen random mod N`.
// wasmplane:manifest {"version": "1.1.0", "description": "uniform random over all endpoints", "reads": []}
import { lbPlugin, Plan, Request } from "../sdk/lb";

export * from "../sdk/exports";

lbPlugin((_req: Request): Plan => Plan.randomOverAll());
