// Reads a ServicePlan back as nft text, so planner tests assert on what nft will be given.
import type { TableFragment } from "../../nft/desired.ts";
import { elementText, ruleText } from "../../nft/render-text.ts";
import type { LbPlan, LbResult } from "../../runtime/lb/plan.ts";
import { type ServicePlan, ServiceProxy, type ServiceProxyConfig } from "../../runtime/services/proxy.ts";
import type { Snapshot } from "../../runtime/store/objects.ts";

export const baseConfig: ServiceProxyConfig = {
  nodeName: "node-a",
  nodeIPs: ["192.168.1.1", "fd00::1"],
  clusterCIDRs: ["10.1.0.0/16", "fd01::/64"],
  serviceCIDRs: ["10.96.0.0/16", "fd96::/112"],
  masqueradeAll: false,
};

/** baseConfig in the chains shape: for tests that read the per-service chains. */
export const chainsConfig: ServiceProxyConfig = { ...baseConfig, shape: "chains" };

export class View {
  constructor(readonly plan: ServicePlan) {}
  get fragment(): TableFragment {
    return this.plan.fragment;
  }
  /** The chain's rules as text, or undefined when the chain does not exist. */
  chain(name: string): string[] | undefined {
    return this.fragment.chains.get(name)?.rules.map(ruleText);
  }
  elements(set: string): string[] {
    const s = this.fragment.sets.get(set);
    if (!s) throw new Error(`no set ${set}`);
    return s.elements.map(elementText);
  }
  chainNames(prefix = "svc-"): string[] {
    return [...this.fragment.chains.keys()].filter((n) => n.startsWith(prefix)).sort();
  }
}

/** Plans once with the built-in LB plan for every request (or `plans` by key). */
export function planOnce(
  snap: Snapshot,
  config: Partial<ServiceProxyConfig> = {},
  plans: Record<string, LbPlan | string> = {},
): { proxy: ServiceProxy; view: View } {
  // The planner tests read the chains shape's structure; maps-shape.test.ts asks for shape "maps".
  const proxy = new ServiceProxy({ ...chainsConfig, ...config });
  const view = new View(proxy.plan(snap, lbResults(proxy, snap, plans)));
  return { proxy, view };
}

/** LB results for the proxy's current requests: the given plan (a string is an error), else equal random. */
export function lbResults(
  proxy: ServiceProxy,
  snap: Snapshot,
  plans: Record<string, LbPlan | string> = {},
): Map<string, LbResult> {
  return new Map(
    proxy.lbRequests(snap).map((r): [string, LbResult] => {
      const given = plans[r.key];
      if (typeof given === "string") return [r.key, { ok: false, error: given }];
      return [
        r.key,
        { ok: true, plan: given ?? { selection: { mode: "random" }, slots: r.endpoints.map((_, i) => i) } },
      ];
    }),
  );
}
