// Metrics read at scrape time from the agent's state: services without local endpoints (kube-proxy's
// gauge), the apply path, plugins (plugin-metrics.ts), IPAM pools, policy. Reading at scrape time keeps the sync path
// free of work nobody may ask for.
import type { Registry } from "prom-client";
import type { ApplyPathStats } from "../../nft/apply-guard.ts";
import type { PodPolicyStatus } from "../policy/enforcer.ts";
import type { Snapshot } from "../store/objects.ts";
import { type Collect, counter, gauge } from "./collected.ts";
import { ipamPools } from "./ipam-pools.ts";
import { noLocalEndpoints } from "./local-endpoints.ts";
import { type PluginMetricsState, registerPluginMetrics } from "./plugin-metrics.ts";

/** What the agent shows; each function is called once per scrape. */
export interface MetricsState extends PluginMetricsState {
  nodeName: string;
  snapshot(): Snapshot;
  applyStats?(): ApplyPathStats;
  /** Per local pod, the policies selecting it; null while policy enforcement is off. */
  policyPods?(): PodPolicyStatus[] | null;
  /** Addresses IPAM handed out; null without pod networking. */
  ipAllocations?(): { ip: string }[] | null;
}

function registerApplyMetrics(registry: Registry, state: MetricsState): void {
  const stats = state.applyStats;
  if (!stats) return;
  gauge(
    registry,
    "wasmplane_apply_path_info",
    "The route transactions take (1 for the current one): netlink, nft or pending",
    ["path"],
    function () {
      this.reset();
      this.set({ path: stats().path }, 1);
    },
  );
  counter(
    registry,
    "wasmplane_transactions_applied_total",
    "Transactions applied, per route (netlink, nft)",
    ["path"],
    () => {
      const s = stats();
      return [
        [{ path: "netlink" }, s.applied.netlink],
        [{ path: "nft" }, s.applied.nft],
      ];
    },
  );
  counter(
    registry,
    "wasmplane_netlink_refused_transactions_total",
    "Netlink batches the kernel refused (each retried once through nft -f)",
    [],
    () => [[{}, stats().netlinkRefused]],
  );
  counter(
    registry,
    "wasmplane_nft_retries_total",
    "Retries through nft -f after a refused netlink batch, by result (ok, failed)",
    ["result"],
    () => {
      const s = stats();
      return [
        [{ result: "ok" }, s.nftRetries.ok],
        [{ result: "failed" }, s.nftRetries.failed],
      ];
    },
  );
}

function registerIpamMetrics(registry: Registry, state: MetricsState): void {
  const allocations = state.ipAllocations;
  if (!allocations) return;
  const pools = () => {
    const allocated = allocations();
    if (!allocated) return [];
    return ipamPools(state.snapshot().nodes.get(state.nodeName)?.podCIDRs ?? [], allocated);
  };
  const each = (pick: (p: ReturnType<typeof pools>[number]) => number): Collect =>
    function () {
      this.reset();
      for (const p of pools()) this.set({ cidr: p.cidr }, pick(p));
    };
  gauge(
    registry,
    "wasmplane_ipam_pool_addresses",
    "Addresses IPAM may hand out in the node's pod CIDR",
    ["cidr"],
    each((p) => p.size),
  );
  gauge(
    registry,
    "wasmplane_ipam_used_addresses",
    "Addresses handed out in the node's pod CIDR",
    ["cidr"],
    each((p) => p.used),
  );
  gauge(
    registry,
    "wasmplane_ipam_free_addresses",
    "Addresses still free in the node's pod CIDR",
    ["cidr"],
    each((p) => p.free),
  );
}

function registerPolicyMetrics(registry: Registry, state: MetricsState): void {
  gauge(
    registry,
    "wasmplane_policy_policies",
    "Policies in the store, per kind (NetworkPolicy, ClusterNetworkPolicy)",
    ["kind"],
    function () {
      const s = state.snapshot();
      this.set({ kind: "NetworkPolicy" }, s.networkPolicies?.size ?? 0);
      this.set({ kind: "ClusterNetworkPolicy" }, s.clusterNetworkPolicies?.size ?? 0);
    },
  );
  const pods = state.policyPods;
  if (!pods) return;
  const perDirection = (pick: (d: { isolated: boolean; rules: number }) => number): Collect =>
    function () {
      let ingress = 0;
      let egress = 0;
      for (const p of pods() ?? []) {
        if (p.ingress) ingress += pick(p.ingress);
        if (p.egress) egress += pick(p.egress);
      }
      this.set({ direction: "ingress" }, ingress);
      this.set({ direction: "egress" }, egress);
    };
  gauge(
    registry,
    "wasmplane_policy_isolated_pods",
    "Local pods isolated by policy, per direction",
    ["direction"],
    perDirection((d) => (d.isolated ? 1 : 0)),
  );
  gauge(
    registry,
    "wasmplane_policy_rules",
    "Policy rules that apply to local pods, per direction",
    ["direction"],
    perDirection((d) => d.rules),
  );
}

export function registerStateMetrics(registry: Registry, state: MetricsState): void {
  gauge(
    registry,
    "kubeproxy_sync_proxy_rules_no_local_endpoints_total",
    "Number of services with a Local traffic policy and no endpoints",
    ["traffic_policy"],
    function () {
      const counts = noLocalEndpoints(state.snapshot(), state.nodeName);
      this.set({ traffic_policy: "internal" }, counts.internal);
      this.set({ traffic_policy: "external" }, counts.external);
    },
  );
  registerApplyMetrics(registry, state);
  registerPluginMetrics(registry, state);
  registerIpamMetrics(registry, state);
  registerPolicyMetrics(registry, state);
}
