// Fault plugin: imports capabilities (log, clock) and a host function nobody can grant.
// wasmplane:manifest {"kind": "lb", "version": "0.0.1", "capabilities": ["log", "clock"], "description": "test fault: imports beyond its grants"}
import { lbPlugin, Plan, Request } from "../sdk/lb";

export * from "../sdk/exports";

@external("wasmplane", "clock_ms")
declare function clockMs(): f64;

@external("wasmplane", "log")
declare function log(ptr: usize, len: usize): void;

@external("host", "exec")
declare function exec(ptr: usize): i32;

lbPlugin((req: Request): Plan => {
  const line = String.UTF8.encode("planning " + req.key);
  log(changetype<usize>(line), <usize>line.byteLength);
  if (clockMs() < 0) exec(0);
  return Plan.random(req.allSlots());
});
