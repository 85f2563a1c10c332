// The node's topology zone comes from its Node object (label topology.kubernetes.io/zone) unless
// --node-zone sets it. The service planner resolves its config once, so a zone that appears or
// changes (rare: a node is labelled once) gets a new planner; the next sync plans every service
// again and the diff sends what changed (topology hints, LB requests of zone-aware plugins).
import type { LbResult } from "../lb/plan.ts";
import { ServiceProxy, type ServiceProxyConfig } from "../services/proxy.ts";
import type { Snapshot } from "../store/objects.ts";
import type { ServicePlanner } from "./dependencies.ts";

export class ZoneFollowingPlanner implements ServicePlanner {
  private zone: string | undefined;
  private inner: ServiceProxy;

  constructor(private readonly config: ServiceProxyConfig) {
    this.zone = config.nodeZone;
    this.inner = new ServiceProxy(config);
  }

  /** The zone the planner plans with now (the configured one, or the Node object's). */
  get nodeZone(): string | undefined {
    return this.zone;
  }

  private follow(snapshot: Snapshot): void {
    if (this.config.nodeZone) return;
    const zone = snapshot.nodes.get(this.config.nodeName)?.zone;
    if (zone === this.zone) return;
    this.zone = zone;
    this.inner = new ServiceProxy({ ...this.config, ...(zone ? { nodeZone: zone } : {}) });
  }

  lbRequests(snapshot: Snapshot) {
    this.follow(snapshot);
    return this.inner.lbRequests(snapshot);
  }

  plan(snapshot: Snapshot, lb: Map<string, LbResult>) {
    this.follow(snapshot);
    return this.inner.plan(snapshot, lb);
  }

  staleUdpEndpoints() {
    return this.inner.staleUdpEndpoints();
  }

  invalidateLbPlans(): void {
    this.inner.invalidateLbPlans();
  }
}
