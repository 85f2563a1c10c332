// Weighted random: a slot table where each endpoint holds slots in proportion to its weight, picked
// by `numgen random mod <slots>`. Weights come from param `weights` (annotation
// `lb.wasmplane.io/weights: "10.0.0.1=3,10.0.0.2:8080=1"`, by address or address:port), else from
// each endpoint's weight (hints). Weight 0 removes an endpoint. Exact when the reduced weights sum to
// at most `max-slots` (default 1024); otherwise apportioned by largest remainder, each kept endpoint
// holding at least one slot. Slots are interleaved (smooth weighted round-robin order).
// wasmplane:manifest {"version": "1.1.0", "description": "weighted random via a slot table", "reads": ["params", "endpoint.address", "endpoint.port", "endpoint.weight"]}
import { parseWeights, smoothWeightedOrder } from "../sdk/lb-util";
import { lbPlugin, Plan, Request } from "../sdk/lb";

export * from "../sdk/exports";

lbPlugin((req: Request): Plan => {
  const weights = parseWeights(req);
  if (weights == null) return Plan.fail("weights: want comma-separated address[:port]=non-negative integer pairs");
  const maxSlots = <u32>I32.parseInt(req.param("max-slots", "1024"));
  if (maxSlots < 1 || maxSlots > 65536) return Plan.fail("max-slots: want 1..65536");
  const slots = smoothWeightedOrder(weights!, maxSlots);
  if (slots.length == 0 && req.endpointCount > 0) return Plan.fail("weights: every endpoint has weight 0");
  return Plan.random(slots);
});
