// UDP endpoints that lost their service in a re-plan. UDP has no connection end, so after the apply
// their conntrack entries are deleted (runtime/services/conntrack.ts), as kube-proxy does.
import type { ServiceFrame } from "./service-plan.ts";

/** A UDP endpoint that lost its service: delete conntrack entries of `serviceIP` → `address:port`. */
export interface StaleUdpEndpoint {
  address: string;
  port: number;
  serviceIP?: string;
}

/** Appends to `out` the UDP targets of `before` that `after` (absent: the service is gone) lacks. */
export function collectStale(
  before: ServiceFrame,
  after: ServiceFrame | undefined,
  out: StaleUdpEndpoint[],
): void {
  if (!before.udpTargets) return;
  for (const [id, target] of before.udpTargets) {
    if (after?.udpTargets?.has(id)) continue;
    for (const serviceIP of target.serviceIPs)
      out.push({ address: target.address, port: target.port, serviceIP });
  }
}
