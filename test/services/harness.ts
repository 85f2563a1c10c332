// Plans services and applies them to a namespace with nft/, as the agent does: one transaction per
// sync, partial after the first, stale UDP conntrack entries deleted after a successful apply.

import { applyTransaction } from "../../nft/apply.ts";
import { type DesiredTable, mergeFragments } from "../../nft/desired.ts";
import { planSync } from "../../nft/diff.ts";
import { builtinLbPlanner, type LbPlanner, type LbResult } from "../../runtime/lb/plan.ts";
import { deleteUdpConntrack } from "../../runtime/services/conntrack.ts";
import { type ServicePlan, ServiceProxy, type ServiceProxyConfig } from "../../runtime/services/proxy.ts";
import type { Snapshot } from "../../runtime/store/objects.ts";

export class Harness {
  readonly proxy: ServiceProxy;
  private applied: DesiredTable | null = null;
  last?: ServicePlan;

  constructor(
    readonly netns: string,
    config: ServiceProxyConfig,
    private readonly lbPlanner: LbPlanner = builtinLbPlanner,
  ) {
    // WASMPLANE_TEST_SERVICE_SHAPE=chains runs the same kernel tests with a chain per port (npm test
    // runs test/services both ways); a config that names its shape keeps it.
    const shape = process.env.WASMPLANE_TEST_SERVICE_SHAPE as ServiceProxyConfig["shape"];
    this.proxy = new ServiceProxy(shape ? { shape, ...config } : config);
  }

  /** Plans and applies; returns the transaction size in bytes. */
  async sync(snapshot: Snapshot, opts: { clearConntrack?: boolean } = {}): Promise<number> {
    const requests = this.proxy.lbRequests(snapshot);
    const results = await this.lbPlanner.plan(requests);
    const lb = new Map<string, LbResult>(requests.map((r, i) => [r.key, results[i]]));
    const plan = this.proxy.plan(snapshot, lb);
    if (plan.problems.length > 0) throw new Error(`plan problems: ${JSON.stringify(plan.problems)}`);
    this.last = plan;
    const desired = mergeFragments("inet", "wasmplane", [plan.fragment], ["services"]);
    const sync = planSync(this.applied, desired);
    const result = await applyTransaction(sync.tx, { netns: this.netns });
    this.applied = sync.applied;
    const stale = this.proxy.staleUdpEndpoints();
    if (stale.length > 0 && opts.clearConntrack !== false)
      await deleteUdpConntrack(stale, { netns: this.netns });
    return result.bytes;
  }
}
