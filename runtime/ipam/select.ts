// Chooses the IPAM decider from its configured name: the built-in `range`, or (later) a Wasm plugin.
import type { IpamDecider } from "./decider.ts";
import { rangeDecider } from "./range.ts";

export async function ipamDeciderFromSpec(spec: string): Promise<IpamDecider> {
  if (spec === "range") return rangeDecider;
  throw new Error(`ipam: unknown decider '${spec}' (available: range)`);
}
