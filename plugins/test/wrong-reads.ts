// Fault plugin: its manifest says it reads nothing, but its plans depend on the key (the jhash seed),
// so leaving the key out changes its answers. The conformance kit must catch the false declaration.
// wasmplane:manifest {"kind": "lb", "version": "0.0.1", "description": "test fault: reads list leaves out the key it uses", "reads": []}
import { lbPlugin, Plan, Request, SADDR } from "../sdk/lb";

export * from "../sdk/exports";

lbPlugin((req: Request): Plan => Plan.hash(SADDR, req.keyHash(), req.allSlots()));
