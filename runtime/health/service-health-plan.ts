// Which healthCheckNodePorts this node serves, and what each answers: for every LoadBalancer Service
// with externalTrafficPolicy Local (and a healthCheckNodePort), the number of its ready endpoints on
// this node. A cloud load balancer probes the port and sends traffic only to nodes answering 200.
import type { Snapshot } from "../store/objects.ts";

export interface HealthCheckPort {
  namespace: string;
  name: string;
  port: number;
  /** Distinct ready endpoints on this node (an endpoint listed in two slices counts once). */
  localEndpoints: number;
}

/** Keyed by "namespace/name". Services this proxy does not serve (labelled for another) are left out. */
export function planHealthCheckPorts(snapshot: Snapshot, nodeName: string): Map<string, HealthCheckPort> {
  const out = new Map<string, HealthCheckPort>();
  for (const [key, svc] of snapshot.services) {
    if (svc.type !== "LoadBalancer" || svc.externalTrafficPolicy !== "Local") continue;
    if (!svc.healthCheckNodePort || svc.notProxied) continue;
    out.set(key, {
      namespace: svc.namespace,
      name: svc.name,
      port: svc.healthCheckNodePort,
      localEndpoints: 0,
    });
  }
  if (out.size === 0) return out;
  const local = new Map<string, Set<string>>();
  for (const slice of snapshot.endpointSlices.values()) {
    const key = `${slice.namespace}/${slice.serviceName}`;
    if (!out.has(key) || slice.notProxied) continue;
    for (const ep of slice.endpoints) {
      if (ep.nodeName !== nodeName || !ep.conditions.ready || ep.addresses.length === 0) continue;
      const set = local.get(key) ?? new Set<string>();
      set.add(ep.addresses[0]);
      local.set(key, set);
    }
  }
  for (const [key, set] of local) {
    const entry = out.get(key);
    if (entry) entry.localEndpoints = set.size;
  }
  return out;
}

/** The answer of one service's health check, kube-proxy's body and status. */
export function serviceHealthAnswer(
  check: Pick<HealthCheckPort, "namespace" | "name" | "localEndpoints">,
  proxyHealthy: boolean,
): { status: 200 | 503; body: Record<string, unknown> } {
  return {
    status: check.localEndpoints > 0 && proxyHealthy ? 200 : 503,
    body: {
      service: { namespace: check.namespace, name: check.name },
      localEndpoints: check.localEndpoints,
      serviceProxyHealthy: proxyHealthy,
    },
  };
}
