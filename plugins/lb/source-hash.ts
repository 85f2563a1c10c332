// Client stickiness without state: `jhash ip saddr mod N` over the endpoints in a canonical order
// (sorted by address and port), so the same endpoint set maps a client to the same endpoint
// whatever order the endpoints arrive in. Param `hash-fields` (e.g. "saddr,sport") overrides.
// wasmplane:manifest {"version": "1.1.0", "description": "stateless source-address affinity", "reads": ["key", "params", "endpoint.address", "endpoint.port"]}
import { hashFieldsParam, sortedEndpointIndices } from "../sdk/lb-util";
import { lbPlugin, Plan, Request, SADDR } from "../sdk/lb";

export * from "../sdk/exports";

lbPlugin((req: Request): Plan => {
  const fields = hashFieldsParam(req, SADDR);
  if (fields == 0) return Plan.fail("hash-fields: want a comma-separated list of saddr, sport, daddr, dport, l4proto");
  return Plan.hash(fields, req.keyHash(), sortedEndpointIndices(req));
});
