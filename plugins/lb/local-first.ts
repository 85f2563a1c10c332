// Prefer endpoints on this node, else endpoints in this node's zone, else every endpoint (random
// among the chosen ones). Needs this node's name, which ABI 1.1 sends to plugins that read it.
// wasmplane:manifest {"version": "1.0.0", "description": "endpoints on this node, else in this zone, else all", "reads": ["nodeName", "nodeZone", "endpoint.nodeName", "endpoint.zone"]}
import { lbPlugin, Plan, Request } from "../sdk/lb";

export * from "../sdk/exports";

lbPlugin((req: Request): Plan => {
  const onNode = new Array<u32>();
  const inZone = new Array<u32>();
  for (let i = 0; i < req.endpointCount; i++) {
    const e = req.endpoint(i);
    if (req.onThisNode(e)) onNode.push(<u32>i);
    else if (req.inNodeZone(e)) inZone.push(<u32>i);
  }
  if (onNode.length > 0) return Plan.random(onNode);
  if (inZone.length > 0) return Plan.random(inZone);
  return Plan.randomOverAll();
});
