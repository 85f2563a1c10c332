// Only the requested addresses (CNI_ARGS IP=, runtimeConfig ips, or the pod annotation
// ipam.wasmplane.io/ips), checked against the pod CIDRs and current allocations.
// wasmplane:manifest {"version": "1.0.0", "description": "requested addresses only"}
import { Decision, ipamPlugin, Request, STATUS_INVALID_REQUEST, STATUS_REQUESTED_UNAVAILABLE } from "./lib/ipam";

export * from "../sdk/exports";

ipamPlugin((req: Request): Decision => {
  if (req.requested.length == 0)
    return Decision.refuse(
      STATUS_INVALID_REQUEST,
      "static IPAM needs a requested address (CNI_ARGS IP=, runtimeConfig ips, or annotation ipam.wasmplane.io/ips)",
    );
  const d = new Decision();
  for (let i = 0; i < req.requested.length; i++) {
    const wanted = req.requested[i];
    for (let j = 0; j < i; j++)
      if (req.requested[j].family == wanted.family)
        return Decision.refuse(STATUS_INVALID_REQUEST, "more than one IPv" + wanted.family.toString() + " address requested");
    const problem = req.requestProblem(wanted);
    if (problem.length > 0) return Decision.refuse(STATUS_REQUESTED_UNAVAILABLE, problem);
    d.add(wanted);
  }
  return d;
});
