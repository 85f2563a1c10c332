// Prefer endpoints in the client node's zone (random among them); when the node has no zone or no
// endpoint is in it, fall back to every endpoint, as Kubernetes topology-aware routing does.
// wasmplane:manifest {"version": "1.1.0", "description": "same-zone endpoints first, all endpoints as fallback", "reads": ["nodeZone", "endpoint.zone"]}
import { lbPlugin, Plan, Request } from "../sdk/lb";

export * from "../sdk/exports";

lbPlugin((req: Request): Plan => {
  const local = new Array<u32>();
  for (let i = 0; i < req.endpointCount; i++) {
    if (req.inNodeZone(req.endpoint(i))) local.push(<u32>i);
  }
  return Plan.random(local.length > 0 ? local : req.allSlots());
});
