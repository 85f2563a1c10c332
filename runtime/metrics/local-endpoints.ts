// kube-proxy's kubeproxy_sync_proxy_rules_no_local_endpoints_total: services whose Local traffic
// policy (internal or external) finds no usable endpoint on this node, so their local traffic drops.
import type { Snapshot } from "../store/objects.ts";

/** Counts per policy; an endpoint counts when ready, or serving while terminating (kube-proxy's fallback). */
export function noLocalEndpoints(
  snapshot: Snapshot,
  nodeName: string,
): { internal: number; external: number } {
  const withLocal = new Set<string>();
  for (const slice of snapshot.endpointSlices.values()) {
    if (slice.notProxied) continue;
    const local = slice.endpoints.some(
      (e) => e.nodeName === nodeName && (e.conditions.ready || e.conditions.serving),
    );
    if (local) withLocal.add(`${slice.namespace}/${slice.serviceName}`);
  }
  let internal = 0;
  let external = 0;
  for (const [key, svc] of snapshot.services) {
    if (svc.notProxied || svc.type === "ExternalName" || withLocal.has(key)) continue;
    if (svc.internalTrafficPolicy === "Local" && svc.clusterIPs.length > 0) internal++;
    const external_ = svc.type === "NodePort" || svc.type === "LoadBalancer" || svc.externalIPs.length > 0;
    if (svc.externalTrafficPolicy === "Local" && external_) external++;
  }
  return { internal, external };
}
